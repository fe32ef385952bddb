#!/usr/bin/env bash
# Backbone throughput: nucleate's ET and CT (burn CPU backend) and TorchMD-Net's ET (PyTorch CPU)
# on the same real QM9 molecules, forward and forward+backward, with ratios.
#
#   scripts/bench-backbones.sh [--device cpu|flex|wgpu|cuda] [--batches 32,128] [--repeats 2] [--threads 1]
#
# Ours runs in the release profile (the dev profile keeps ndarray's debug assertions, which cost
# ~3x on the CPU backend); the first run compiles burn with wgpu in release (many minutes on 2
# cores). `--device wgpu` measures burn's wgpu backend (a GPU, or lavapipe without one),
# `--device cuda` needs `--features cuda` (set CARGO_FEATURES=cuda); `--device flex` (burn's flex
# CPU backend) builds the `flex` feature itself.
#
# Molecules: tests/data/datasets/qm9_stride650.extxyz.gz (every 650th QM9 molecule).
# PyTorch side: $PYTHON (default /tmp/tmdvenv/bin/python) with torch, torchmd-net 3.1.0 and ase,
# installed as in tests/fixtures/torchmdnet/README.md when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BATCHES=32,128 REPEATS=2 THREADS=1 DEVICE=cpu
while [[ $# -gt 0 ]]; do
  case "$1" in
    --batches) BATCHES="$2"; shift 2 ;;
    --device) DEVICE="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nucleate-target}"
if [[ "$DEVICE" == flex ]]; then CARGO_FEATURES="${CARGO_FEATURES:+$CARGO_FEATURES,}flex"; fi
PYTHON="${PYTHON:-/tmp/tmdvenv/bin/python}"
if ! "$PYTHON" -c "import torchmdnet.models.model, ase" 2>/dev/null; then
  python3 -m venv /tmp/tmdvenv
  /tmp/tmdvenv/bin/pip install -q torch==2.15.0 numpy pyyaml ase==3.29.0 lightning_utilities warp-lang
  /tmp/tmdvenv/bin/pip install -q --no-deps torchmd-net==3.1.0
  PYTHON=/tmp/tmdvenv/bin/python
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
zcat tests/data/datasets/qm9_stride650.extxyz.gz > "$work/qm9.extxyz"
export OMP_NUM_THREADS=$THREADS RAYON_NUM_THREADS=$THREADS
cargo run --release -q -p nucleate ${CARGO_FEATURES:+--features "$CARGO_FEATURES"} --example backbone_bench -- \
  "$work/qm9.extxyz" --device "$DEVICE" --batches "$BATCHES" --repeats "$REPEATS" --json "$work/ours.json"
echo
"$PYTHON" native/examples/backbone_bench.py "$work/qm9.extxyz" "$work/ours.json" \
  --batches "$BATCHES" --repeats "$REPEATS" --threads "$THREADS" 2>&1 | grep -v -i -e warn -e "load on device"
