"""Run by the torchrun test on every rank: a fresh data-parallel run, then a resumed one.

Usage: ``torchrun ... ddp_main.py FRESH_DIR RESUME_DIR FLAGS...`` — ``prlstm train FLAGS`` into
FRESH_DIR, then ``prlstm train FLAGS --resume`` of the partial run in RESUME_DIR.
"""

from __future__ import annotations

import sys

from prlstm.cli import main

if __name__ == "__main__":
    fresh, resume, *flags = sys.argv[1:]
    status = main(["train", *flags, "--run-dir", fresh])
    status = status or main(["train", *flags, "--run-dir", resume, "--resume"])
    sys.exit(status)
