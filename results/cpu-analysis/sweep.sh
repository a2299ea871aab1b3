#!/usr/bin/env bash
# The cpu-analysis runs: resumable — finished runs are skipped, killed ones resume.
# Usage: results/cpu-analysis/sweep.sh [probe|merge|all]
#   env: TASKS, SEEDS, WORKERS, VARIANTS, MODELS (probe; default "pr_lstm lstm"), EXTRA (more
#   sweep flags, e.g. EXTRA="--lr-decay-fraction 0" for the constant-lr parity_check budget)
# probe: trained pr_lstm and lstm for the probe / CKA analysis (cpu preset budget; the
#        parity_check runs were trained before that preset gained its final lr decay).
# all: probe and merge on parity_check, then probe on cycle_navigation (the order of value).
# merge: the merge ablation (docs/model.md#merge-variants) for pr_lstm (merge x R in {0,1}, + sequential);
#        the gated R=1 tree runs are the probe runs. The full grid is
#        TASKS="even_pairs modular_arithmetic parity_check cycle_navigation" SEEDS="0 1 2".
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=results/cpu-analysis/runs
PART=${1:-all}
WORKERS=${WORKERS:-2}
export OMP_NUM_THREADS=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
sweep() { nice -n 15 prlstm sweep --preset cpu --quiet --out "$OUT" --workers "$WORKERS" ${EXTRA:-} "$@" || echo "sweep failed: $*" >&2; }
probe() { sweep --tasks "$@" --models ${MODELS:-pr_lstm lstm} --seeds ${SEEDS:-0 1 2}; }
if [[ $PART == probe ]]; then probe ${TASKS:-parity_check cycle_navigation}; fi
if [[ $PART == all ]]; then probe ${TASKS:-parity_check}; fi
if [[ $PART == merge || $PART == all ]]; then
  # cheapest and most telling first; VARIANTS="a=b c=d;e=f" runs a subset
  variants=("merge=sum refinements=0" "merge=gated refinements=0" "merge=concat refinements=0"
            "merge=sum refinements=1" "merge=concat refinements=1" "schedule=sequential")
  if [[ -n ${VARIANTS:-} ]]; then IFS=';' read -r -a variants <<< "$VARIANTS"; fi
  for variant in "${variants[@]}"; do  # one sweep per variant (one sweep per --out at a time)
    flags=()
    for kv in $variant; do flags+=(--hparam "$kv"); done
    sweep --tasks ${TASKS:-parity_check} --models pr_lstm --seeds ${SEEDS:-0} "${flags[@]}"
  done
fi
if [[ $PART == all && -z ${TASKS:-} ]]; then probe cycle_navigation; fi
