"""Run by the torchrun crash test on every rank: rank 1 dies after its second update.

Usage: ``torchrun ... ddp_crash.py RUN_DIR FLAGS...``. Rank 0 is then blocked in the next
gradient all-reduce; the whole job must fail at once, not wait for rank 1 at an exit barrier.
"""

from __future__ import annotations

import os
import sys

from prlstm.experiments.orchestrate.presets import make_config
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.train import train


def die_on_rank_1(step: int) -> None:
    if step == 2 and os.environ.get("RANK") == "1":
        raise RuntimeError("rank 1 killed at step 2")


if __name__ == "__main__":
    run_dir = sys.argv[1]
    config: RunConfig = make_config("parity_check", "pr_lstm", "smoke", batch_size=8, steps=50)
    train(config, run_dir, progress=False, on_step=die_on_rank_1)
