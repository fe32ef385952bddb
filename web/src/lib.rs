//! nucleate in the browser: a wasm-bindgen entry point that parses a bundled molecule with
//! `nucleate-core` and draws it with the shared wgpu renderer (`nucleate-shaders`) on a canvas,
//! through WebGPU where the browser has it and WebGL2 otherwise.
//!
//! Natively this crate compiles to an empty library (so workspace-wide checks include it); the
//! page is built by trunk from `www/`.

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod backend;
#[cfg(target_arch = "wasm32")]
mod generate;
#[cfg(target_arch = "wasm32")]
mod predict;
#[cfg(target_arch = "wasm32")]
mod train;
