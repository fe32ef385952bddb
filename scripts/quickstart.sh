#!/usr/bin/env bash
# The main job on bundled data: install what is missing, render the bundled molecule natively
# (offscreen, to out/molecule.png) and build the web page that draws it in the browser
# (www/dist; serve it with `python3 -m http.server -d www/dist 8080`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nucleate-target}"
export PATH="$HOME/.cargo/bin:$PATH"
scripts/setup.sh
cargo run --locked -p nucleate -- render www/assets/molecule.xyz -o out/molecule.png --size 800x600
scripts/build-web.sh
echo "quickstart: wrote out/molecule.png and www/dist/ (serve: python3 -m http.server -d www/dist 8080)"
