"""The parts of ``benchmarks/speed.py`` (run that script; these modules have no CLI).

* :mod:`.models`: the models timed (PR-LSTM per backend, nn.LSTM, the transformer);
* :mod:`.timing`: timing, peak memory, bytes saved for backward, inputs, autocast;
* :mod:`.e5`: E5 of experiments.md, inference time and memory vs length;
* :mod:`.training`: training steps, training memory vs length, linearity in T;
* :mod:`.targets`: the targets of issue 5 (GPU) and issue 2 (CPU), PASS/FAIL;
* :mod:`.tiles`: Triton tile and chunk-size candidates (GPU);
* :mod:`.plotting`: the PNG of a results JSON.
"""
