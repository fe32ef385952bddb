#!/usr/bin/env bash
# Run every fuzz target for RUNS executions (default 1000000) each, seeded with the committed
# sample files, and print executions, rate, wall time and findings per target.
# Usage: scripts/fuzz.sh [RUNS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
runs=${1:-1000000}
shift || true
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nucleate-target}/fuzz"
seed() { # target → extensions of sample files that seed its corpus
  case $1 in
    xyz) echo "xyz" ;; sdf) echo "sdf mol" ;; mol2) echo mol2 ;; pdb) echo pdb ;;
    mmcif) echo "mmcif cif" ;; cif) echo cif ;; poscar) echo poscar ;; npz) echo npz ;;
    csv_datasets) echo csv ;; torch) echo "pt ckpt" ;; safetensors) echo safetensors ;;
  esac
}
targets=${*:-$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v nucleate-fuzz)}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
printf '%-14s %12s %10s %8s %s\n' target executions exec/s wall_s findings
for target in $targets; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  for ext in $(seed "$target"); do
    find tests/data tests/fixtures/torch -type f -iname "*.$ext" -size -200k -exec cp {} "$corpus/" \; 2>/dev/null || true
  done
  log=$(mktemp)
  start=$(date +%s)
  # Run from outside the repository: its .cargo/config.toml turns on build-std for the wasm
  # build, which would make cargo-fuzz rebuild std from sources rustup does not ship here.
  (cd /tmp && cargo fuzz run --fuzz-dir "$root/fuzz" "$target" "$root/$corpus" -- -runs="$runs" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1) >"$log" 2>&1 || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  wall=$(( $(date +%s) - start ))
  findings=$( (find "fuzz/artifacts/$target" -type f 2>/dev/null || true) | wc -l)
  printf '%-14s %12s %10s %8s %s\n' "$target" "${execs:-?}" "${rate:-?}" "$wall" "$findings"
  if [ "$findings" != 0 ] || [ -z "$execs" ]; then tail -30 "$log"; fi
  rm -f "$log"
done
