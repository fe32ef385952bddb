#!/usr/bin/env bash
# The main job on bundled data: install what is missing; pretrain a small CT briefly with SCD and
# with coordinate denoising on the bundled 655-molecule QM9 slice, fine-tune HOMO from scratch,
# from coord and from SCD, evaluate on the held-out molecules and print the table (run
# directories with checkpoints, metrics, loss plots and models in out/scd-gain/); predict the
# HOMO of the bundled molecule with the SCD-initialised model; render that molecule natively
# (offscreen, to out/molecule.png); generate molecules with the shipped UniGEM model
# (out/generated.extxyz, its sampling trajectory out/trajectory.extxyz for the web viewer, and
# their EDM metrics); and build the web page (www/dist; serve it with
# `python3 -m http.server -d www/dist 8080`). A few minutes on 2 cores once built.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nucleate-target}"
export PATH="$HOME/.cargo/bin:$PATH"
scripts/setup.sh
scripts/scd-gain.sh --quick --fresh --seeds 0 --pretrain-steps 40 --finetune-steps 40 --jobs 2 --device flex --out out/scd-gain
cargo run --locked -q -p nucleate -- predict --model out/scd-gain/finetune-scd-s0/model www/assets/molecule.xyz
cargo run --locked -p nucleate -- render www/assets/molecule.xyz -o out/molecule.png --size 800x600
cargo run --locked -q -p nucleate -- generate --model models/unigem-small --n 10 --seed 0 \
  -o out/generated.extxyz --trajectory out/trajectory.extxyz --every 50
cargo run --locked -q -p nucleate -- metrics out/generated.extxyz
scripts/build-web.sh
echo "quickstart: wrote out/scd-gain/ (runs, loss.svg/parity.svg plots, models), out/molecule.png, out/generated.extxyz, out/trajectory.extxyz and www/dist/"
echo "quickstart: serve the page with python3 -m http.server -d www/dist 8080 and drop out/trajectory.extxyz on it"
