#!/usr/bin/env bash
# Install what nucleate's builds and tests need on a fresh Debian machine with rustup (run as
# root). Idempotent: each step is skipped when its tool is already there at the right version.
#   - Debian: rustc-web, cargo-web, rust-web-src, rust-web-clippy, lld (the wasm32 route without
#     a rustup target; clippy lints the wasm-only code),
#     mesa-vulkan-drivers + libvulkan1 (lavapipe: wgpu without a GPU), chromium (browser tests)
#   - cargo: wasm-bindgen-cli at the Cargo.lock version, trunk 0.21.14
#   - npm (www/): binaryen 132 (wasm-opt), playwright-core, pngjs
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf 'setup: %s\n' "$*"; }

missing=()
for pkg in rustc-web cargo-web rust-web-src rust-web-clippy lld mesa-vulkan-drivers libvulkan1 chromium; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

# Tools built from source: a faster profile than their own (no fat LTO, parallel codegen).
fast_install() {
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install --quiet "$@"
}
wbg_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -qF "$wbg_version"; then
  say "cargo install wasm-bindgen-cli $wbg_version"
  # Not --locked: its lock file pins a webpki-roots release the registry no longer serves.
  fast_install wasm-bindgen-cli --version "$wbg_version"
fi
if ! trunk --version 2>/dev/null | grep -qF 0.21.14; then
  say "cargo install trunk 0.21.14"
  fast_install trunk --version 0.21.14 --locked
fi

if [ ! -x www/node_modules/.bin/wasm-opt ] || [ ! -d www/node_modules/playwright-core ] || [ ! -d www/node_modules/pngjs ]; then
  say "npm ci in www/"
  (cd www && npm ci --no-audit --no-fund --loglevel=error)
fi
say "ok: $(rustc --version | cut -d' ' -f1-2), $(/usr/bin/rustc --version | cut -d' ' -f1-2) (web), wasm-bindgen $wbg_version, $(trunk --version), $(www/node_modules/.bin/wasm-opt --version | cut -d' ' -f1-3), $(/usr/bin/chromium --version 2>/dev/null | head -1)"
