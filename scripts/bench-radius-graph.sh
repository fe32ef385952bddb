#!/usr/bin/env bash
# Radius-graph benchmark: nucleate's cell list vs matscipy and ASE on the same structures.
#
#   scripts/bench-radius-graph.sh [--max-atoms N] [--ase-max-atoms N]
#
# 1. builds and runs core/examples/radius_graph_bench.rs (release, single thread), which times
#    our builds and writes the structures (and small edge lists) to $BENCH_DIR;
# 2. runs core/examples/radius_graph_bench.py on them with matscipy and ASE (single-threaded BLAS)
#    in the Python environment $PYTHON (a throwaway venv is created at /tmp/nlvenv if missing),
#    checking edge counts / edge sets and printing times and ratios ours / theirs.
# ASE takes ~30 s per 10⁵-atom system (and minutes, >10 GB, for 10⁶), so by default it stops at
# 10⁴ atoms; pass --ase-max-atoms 100000 to include the 10⁵-atom systems.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_ATOMS=1000000
ASE_MAX_ATOMS=10000
while [[ $# -gt 0 ]]; do
    case "$1" in
        --max-atoms) MAX_ATOMS="$2"; shift 2 ;;
        --ase-max-atoms) ASE_MAX_ATOMS="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
BENCH_DIR="${BENCH_DIR:-/tmp/nucleate-radius-graph-bench}"
PYTHON="${PYTHON:-/tmp/nlvenv/bin/python}"
if [[ ! -x "$PYTHON" ]]; then
    python3 -m venv /tmp/nlvenv
    /tmp/nlvenv/bin/pip install -q matscipy ase numpy
    PYTHON=/tmp/nlvenv/bin/python
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

echo "== $(rustc --version); $(uname -m); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== nucleate (cargo run --release --example radius_graph_bench)"
cargo run --release -q -p nucleate-core --example radius_graph_bench -- \
    --out "$BENCH_DIR" --max-atoms "$MAX_ATOMS"
echo
echo "== side by side (times: best of repeated builds; ratio < 1 means nucleate is faster)"
"$PYTHON" core/examples/radius_graph_bench.py "$BENCH_DIR" --ase-max-atoms "$ASE_MAX_ATOMS"
