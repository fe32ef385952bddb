//! wgpu renderers over the WGSL in `wgsl/`, used by `nucleate render` (offscreen) and by the
//! web page (on a canvas surface). Nothing here knows which platform it runs on.

mod camera;
mod gpu_types;
mod molecule;
mod offscreen;
mod scene;

pub use camera::{OrbitCamera, pick};
pub use gpu_types::{AtomInstance, BondInstance, CameraUniform};
pub use molecule::MoleculeRenderer;
pub use offscreen::{OffscreenError, headless_device, render_offscreen};
pub use scene::{BACKGROUND_SRGB, IMAGE_MARGIN, MoleculeScene, SceneOptions, srgb_to_linear};

/// Depth buffer format of every renderer (supported by WebGL2 and all native backends).
pub const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
