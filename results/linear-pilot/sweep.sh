#!/usr/bin/env bash
# Pilot of the linear-recurrence and xLSTM baselines on parity_check: the `cpu` preset's budget
# (H = 128, 2,000 steps, lr 1e-3, final 10 % lr decay), seeds 0-2, pinned CPU kernels.
# Finished runs are skipped, so this resumes. Then:
#   prlstm report results/linear-pilot/runs --out results/linear-pilot/report
set -eu
cd "$(dirname "$0")/../.."
S="prlstm sweep --preset cpu --tasks parity_check --seeds 0 1 2 --workers 2 --out results/linear-pilot/runs"
$S --models linear_rnn deltanet --hparam eigenvalues=negative
$S --models mamba mingru minlstm mlstm slstm
$S --models linear_rnn deltanet   # eigenvalues=positive, the registry default
