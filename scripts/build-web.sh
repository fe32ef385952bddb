#!/usr/bin/env bash
# Build the web page (www/ → www/dist) with trunk.
#
# Where rustup has a wasm32-unknown-unknown target, trunk uses it directly. Otherwise (this
# project's usual machines) it uses Debian's rustc-web toolchain and builds std for wasm32 from
# source: `.cargo/config.toml` holds `[unstable] build-std` and the `wasm-ld` linker, and
# RUSTC_BOOTSTRAP=1 unlocks them for this build only (host builds keep the rustup toolchain).
# Prints the wasm size before and after wasm-opt.
#
#   scripts/build-web.sh [TRUNK ARGS...]   build www/dist
#   scripts/build-web.sh --clippy          lint the web crate and core as compiled for wasm32
#                                          (code behind cfg(target_arch = "wasm32") included)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export PATH="$root/www/node_modules/.bin:$HOME/.cargo/bin:$PATH"

if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "build-web: using rustup's wasm32-unknown-unknown target"
  toolchain="rustup"
else
  [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] || {
    echo "build-web: no wasm32 target in rustup and no Debian rustc-web; run scripts/setup.sh" >&2
    exit 1
  }
  shim=$(mktemp -d)
  trap 'rm -rf "$shim"' EXIT
  ln -s /usr/bin/cargo "$shim/cargo"
  ln -s /usr/bin/rustc "$shim/rustc"
  for tool in cargo-clippy clippy-driver; do
    if [ -x "/usr/bin/$tool" ]; then ln -s "/usr/bin/$tool" "$shim/$tool"; fi
  done
  export PATH="$shim:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
  unset RUSTUP_TOOLCHAIN
  toolchain="debian $(/usr/bin/rustc --version) with build-std"
  echo "build-web: $toolchain"
fi

if [ "${1:-}" = --clippy ]; then
  exec cargo clippy --target wasm32-unknown-unknown --manifest-path web/Cargo.toml --release \
    --locked -- -D warnings
fi

# trunk runs cargo with --offline (Trunk.toml); build once online first so that the crates
# std itself depends on under build-std (dlmalloc, …) are fetched.
cargo build --target wasm32-unknown-unknown --manifest-path web/Cargo.toml --release
(cd www && trunk build --release "$@")

raw="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/nucleate_web.wasm"
final=$(ls www/dist/*.wasm)
size() { stat -c %s "$1"; }
echo "build-web: wasm from rustc            $(size "$raw") bytes ($raw)"
echo "build-web: wasm after bindgen+opt -Oz $(size "$final") bytes, $(gzip -9 -c "$final" | wc -c) gzipped ($final)"
echo "build-web: page total                 $(du -cb www/dist/* | tail -1 | cut -f1) bytes in www/dist"
