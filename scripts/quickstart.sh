#!/usr/bin/env bash
# The main job on bundled data: install what is missing, render the bundled molecule natively
# (offscreen, to out/molecule.png), generate molecules with the shipped UniGEM model
# (out/generated.extxyz, its sampling trajectory out/trajectory.extxyz for the web viewer, and
# their EDM metrics), and build the web page (www/dist; serve it with
# `python3 -m http.server -d www/dist 8080`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nucleate-target}"
export PATH="$HOME/.cargo/bin:$PATH"
scripts/setup.sh
cargo run --locked -p nucleate -- render www/assets/molecule.xyz -o out/molecule.png --size 800x600
cargo run --locked -q -p nucleate -- generate --model models/unigem-small --n 10 --seed 0 \
  -o out/generated.extxyz --trajectory out/trajectory.extxyz --every 50
cargo run --locked -q -p nucleate -- metrics out/generated.extxyz
scripts/build-web.sh
echo "quickstart: wrote out/molecule.png, out/generated.extxyz, out/trajectory.extxyz and www/dist/"
echo "quickstart: serve the page with python3 -m http.server -d www/dist 8080 and drop out/trajectory.extxyz on it"
