#!/usr/bin/env bash
# Every test: the real engine, Snakemake, and the local SLURM cluster with accounting.
# The SLURM test spends most of its ten minutes waiting on the executor plugin's status
# checks, so it runs beside the rest of the suite instead of after it. The rest runs on
# two workers, a module at a time each (module fixtures share an engine between tests):
# a run spends much of its time starting processes on one core, leaving the other idle.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

tools/slurm/up.sh --accounting || exit 1
slurm_log=$(mktemp)
"$PY" -m pytest -m slurm -p no:cacheprovider --basetemp "${TMPDIR:-/tmp}/vp-slurm-tests" \
    >"$slurm_log" 2>&1 &
slurm=$!
"$PY" -m pytest -m "not slurm" -n "${TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder \
    --durations=30
rc=$?
wait "$slurm"
slurm_rc=$?
echo "--- SLURM tests (exit $slurm_rc) ---"
cat "$slurm_log"
rm -f "$slurm_log"
tools/slurm/down.sh
[[ $rc == 0 && $slurm_rc == 0 ]]
