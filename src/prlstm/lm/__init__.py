"""A character-level language-model demo: PR-LSTM vs ``nn.LSTM`` vs a small Transformer.

Bytes of real text files (by default the Python standard library's own ``*.py`` sources,
present on every machine with Python) are split into training and validation sets *by file*;
``prlstm lm train`` trains one model, ``prlstm lm generate`` samples from a trained run and
``prlstm lm report`` writes the bits-per-character table and learning curves.
"""
