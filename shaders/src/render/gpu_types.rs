//! Plain-old-data mirrors of WGSL structs.

use bytemuck::{Pod, Zeroable};

/// Needs to be kept in sync with `Camera` in `wgsl/common/camera.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct CameraUniform {
    /// World → view, column-major.
    pub view: [[f32; 4]; 4],
    /// View → clip, column-major.
    pub proj: [[f32; 4]; 4],
    /// Direction towards the light in view space (xyz), normalised.
    pub light_dir: [f32; 4],
    /// Ambient, specular strength, shininess, unused.
    pub params: [f32; 4],
}

/// One atom. Needs to be kept in sync with `AtomIn` in `wgsl/molecule.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct AtomInstance {
    /// Centre in world space (Å).
    pub center: [f32; 3],
    /// Drawn radius (Å).
    pub radius: f32,
    /// Linear RGB, alpha unused.
    pub color: [f32; 4],
}

/// One bond. Needs to be kept in sync with `BondIn` in `wgsl/molecule.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BondInstance {
    /// First end (Å).
    pub a: [f32; 3],
    /// Cylinder radius (Å).
    pub radius: f32,
    /// Second end (Å).
    pub b: [f32; 3],
    /// Padding to 16 bytes.
    pub _pad: f32,
    /// Linear RGB of the half at `a`.
    pub color_a: [f32; 4],
    /// Linear RGB of the half at `b`.
    pub color_b: [f32; 4],
}

impl AtomInstance {
    pub(crate) const ATTRIBUTES: [wgpu::VertexAttribute; 3] =
        wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32, 2 => Float32x4];
}

impl BondInstance {
    // Explicit offsets: `vertex_attr_array!` would not skip `_pad`.
    pub(crate) const ATTRIBUTES: [wgpu::VertexAttribute; 5] = [
        attr(0, wgpu::VertexFormat::Float32x3, 0),
        attr(1, wgpu::VertexFormat::Float32, 12),
        attr(2, wgpu::VertexFormat::Float32x3, 16),
        attr(3, wgpu::VertexFormat::Float32x4, 32),
        attr(4, wgpu::VertexFormat::Float32x4, 48),
    ];
}

const fn attr(
    shader_location: u32,
    format: wgpu::VertexFormat,
    offset: u64,
) -> wgpu::VertexAttribute {
    wgpu::VertexAttribute {
        format,
        offset,
        shader_location,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_offsets_match_the_rust_layout() {
        assert_eq!(std::mem::size_of::<AtomInstance>(), 32);
        assert_eq!(std::mem::offset_of!(AtomInstance, color), 16);
        assert_eq!(std::mem::size_of::<BondInstance>(), 64);
        let offsets = [
            std::mem::offset_of!(BondInstance, a),
            std::mem::offset_of!(BondInstance, radius),
            std::mem::offset_of!(BondInstance, b),
            std::mem::offset_of!(BondInstance, color_a),
            std::mem::offset_of!(BondInstance, color_b),
        ];
        for (attr, offset) in BondInstance::ATTRIBUTES.iter().zip(offsets) {
            assert_eq!(
                attr.offset, offset as u64,
                "location {}",
                attr.shader_location
            );
        }
        for (attr, offset) in AtomInstance::ATTRIBUTES.iter().zip([0, 12, 16]) {
            assert_eq!(attr.offset, offset, "location {}", attr.shader_location);
        }
    }
}
