#!/usr/bin/env bash
# The capacity-matched comparison: preset `cpu-fair` (5 tasks x 11 model variants, lr tuned
# per cell on validation over {3e-4, 1e-3, 3e-3} with tuning seed 100, then seeds 0-7 at the
# chosen lr; 1,000 steps, bucket_sort 500), 2 workers with one torch thread each, pinned CPU
# kernels. Finished runs are skipped, so this resumes. Then:
#   prlstm report results/cpu-fair/runs --out results/cpu-fair/report
set -eu
cd "$(dirname "$0")/../.."
prlstm sweep --preset cpu-fair --workers 2 --out results/cpu-fair/runs
