#!/usr/bin/env bash
# The test command: installs what is missing, then runs every check CI runs, timing each stage.
#   setup · fmt · clippy · type check of the CUDA build · native tests · naga shader validation ·
#   render test (lavapipe) · clippy of the wasm build · trunk build of www/ · headless-Chromium
#   test of the page
# Build outputs go to $CARGO_TARGET_DIR (default: ~/.cache/nucleate-target, outside the clone,
# so repeated runs and fresh clones reuse it). Host stages share one dev-profile build.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nucleate-target}"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never
mkdir -p "$CARGO_TARGET_DIR"

declare -a names=() secs=()
total_start=$(date +%s)
stage() {
  local name=$1; shift
  echo "=== [$name] $*"
  local t0=$(date +%s)
  "$@"
  local dt=$(( $(date +%s) - t0 ))
  names+=("$name"); secs+=("$dt")
  echo "=== [$name] ok in ${dt}s"
}

stage setup scripts/setup.sh
stage fmt cargo fmt --all -- --check
stage clippy cargo clippy --workspace --all-targets --locked -- -D warnings
# `nucleate --features cuda` type-checked without a GPU, a CUDA toolkit or network: CUDARC_CUDA_VERSION
# names the CUDA API cudarc binds (it loads the libraries at run time), and DOCS_RS makes the build
# scripts of tracel-llvm-bundler and cubecl-llvm skip the LLVM bundle they would download and link
# (a check links nothing). A real CUDA build needs that download (README, Quickstart).
stage cuda env DOCS_RS=1 CUDARC_CUDA_VERSION=12080 cargo clippy -p nucleate --features cuda --locked -- -D warnings
stage test cargo test --workspace --locked -- --skip gpu_render
# The same targets as the test stage, selected by test name, so cargo reuses its build
# (`--test NAME` would resolve features for fewer targets and rebuild burn and wgpu: 11 min cold).
stage shaders cargo test --workspace --tests --locked -- --nocapture shader
stage render cargo test --workspace --tests --locked -- --nocapture gpu_render
stage clippy-wasm scripts/build-web.sh --clippy
stage web scripts/build-web.sh
stage browser node www/tests/browser.mjs

echo
echo "stage      seconds"
for i in "${!names[@]}"; do printf '%-10s %7s\n' "${names[$i]}" "${secs[$i]}"; done
printf '%-10s %7s\n' total $(( $(date +%s) - total_start ))
echo "all checks passed (target dir: $CARGO_TARGET_DIR)"
