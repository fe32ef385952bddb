//! nucleate's WGSL shaders, included the same way by native and web builds, and (feature
//! `render`) the wgpu renderers that use them.
//!
//! Each renderer is a pair: `src/render/<name>.rs` + `wgsl/<name>.wgsl`. Shared WGSL pieces live
//! in `wgsl/common/` and are prepended with `concat!`, so nothing is read at run time and Cargo
//! rebuilds when a `.wgsl` file changes.

/// Camera uniform and lighting helpers shared by every renderer.
pub const CAMERA: &str = include_str!("../wgsl/common/camera.wgsl");

/// Ball-and-stick molecule renderer: entry points `vs_atom`/`fs_atom`, `vs_bond`/`fs_bond`.
pub const MOLECULE: &str = concat!(
    include_str!("../wgsl/common/camera.wgsl"),
    include_str!("../wgsl/molecule.wgsl")
);

/// Every complete shader module, by name (validated by `tests/validate.rs`).
pub const ALL: &[(&str, &str)] = &[("molecule", MOLECULE)];

#[cfg(feature = "render")]
pub mod render;
