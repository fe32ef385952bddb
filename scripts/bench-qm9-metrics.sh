#!/usr/bin/env bash
# EDM's generation metrics of QM9 itself (all 130,831 molecules): a benchmark that prints the
# figures quoted in docs/benchmarks.md ("EDM metrics of QM9 itself"); not a test.
#   scripts/bench-qm9-metrics.sh [QM9_DIR]   (default: ../shared/data/qm9 beside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nucleate-target}"
qm9="${1:-../shared/data/qm9}"
files=("$qm9"/qm9_part1.csv.gz "$qm9"/qm9_part2.csv.gz "$qm9"/qm9_part3.csv.gz)
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "missing $f (give the directory holding qm9_part{1,2,3}.csv.gz)" >&2; exit 1; }
done
cargo build --release --locked -p nucleate --quiet
start=$(date +%s)
"$CARGO_TARGET_DIR/release/nucleate" metrics "${files[@]}" --json
echo "($(( $(date +%s) - start )) s; EDM's paper, Table 1, Data row: atom stability 0.990, molecule stability 0.952)"
