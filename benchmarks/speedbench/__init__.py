"""The parts of ``benchmarks/speed.py`` (run that script; these modules have no CLI).

* :mod:`.models`: the models timed (PR-LSTM per backend, nn.LSTM, the transformer);
* :mod:`.timing`: timing, peak memory, bytes saved for backward, inputs, autocast;
* :mod:`.e5`: E5 (docs/experiments.md#e5-inference-time-and-memory), inference time and
  memory vs length;
* :mod:`.training`: training steps, training memory vs length, linearity in T;
* :mod:`.targets`: the GPU and the CPU speed targets, PASS/FAIL;
* :mod:`.tiles`: Triton tile and chunk-size candidates (GPU);
* :mod:`.plotting`: the PNG of a results JSON.
"""
