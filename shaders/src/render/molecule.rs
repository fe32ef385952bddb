//! Ball-and-stick renderer, paired with `wgsl/molecule.wgsl`.
//!
//! How it works: each atom is one instanced billboard; its fragment shader casts the eye ray
//! against the sphere, discards misses and writes the true depth, so spheres intersect each
//! other and the bonds exactly. Bonds are instanced 16-sided cylinders whose two halves take
//! their atoms' colours. One uniform buffer holds the camera; both pipelines share its layout.

use super::{AtomInstance, BondInstance, CameraUniform, DEPTH_FORMAT, MoleculeScene, OrbitCamera};
use wgpu::util::DeviceExt;

/// Vertices per atom billboard (two triangles).
const ATOM_VERTICES: u32 = 6;
/// Vertices per bond cylinder: `BOND_SEGMENTS` (in the WGSL) side quads of two triangles.
const BOND_VERTICES: u32 = 16 * 6;

/// Pipelines and buffers to draw one molecule into a colour + depth target.
#[derive(Debug)]
pub struct MoleculeRenderer {
    atom_pipeline: wgpu::RenderPipeline,
    bond_pipeline: wgpu::RenderPipeline,
    camera_buffer: wgpu::Buffer,
    camera_bind_group: wgpu::BindGroup,
    atoms: Option<(wgpu::Buffer, u32)>,
    bonds: Option<(wgpu::Buffer, u32)>,
    sample_count: u32,
}

impl MoleculeRenderer {
    /// Build the pipelines for a colour target of `color_format` (the format of the *view*
    /// rendered into; pass an sRGB format so shading stays linear) and `sample_count` samples.
    pub fn new(
        device: &wgpu::Device,
        color_format: wgpu::TextureFormat,
        sample_count: u32,
    ) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("molecule.wgsl"),
            source: wgpu::ShaderSource::Wgsl(crate::MOLECULE.into()),
        });
        let camera_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("camera"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX | wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }],
        });
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("molecule"),
            bind_group_layouts: &[Some(&camera_layout)],
            immediate_size: 0,
        });
        let camera_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("camera"),
            size: std::mem::size_of::<CameraUniform>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let camera_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("camera"),
            layout: &camera_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: camera_buffer.as_entire_binding(),
            }],
        });

        let pipeline = |label: &str,
                        vs: &str,
                        fs: &str,
                        stride: usize,
                        attributes: &[wgpu::VertexAttribute]| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(label),
                layout: Some(&layout),
                vertex: wgpu::VertexState {
                    module: &shader,
                    entry_point: Some(vs),
                    compilation_options: Default::default(),
                    buffers: &[Some(wgpu::VertexBufferLayout {
                        array_stride: stride as u64,
                        step_mode: wgpu::VertexStepMode::Instance,
                        attributes,
                    })],
                },
                primitive: wgpu::PrimitiveState {
                    topology: wgpu::PrimitiveTopology::TriangleList,
                    cull_mode: None,
                    ..Default::default()
                },
                depth_stencil: Some(wgpu::DepthStencilState {
                    format: DEPTH_FORMAT,
                    depth_write_enabled: Some(true),
                    depth_compare: Some(wgpu::CompareFunction::Less),
                    stencil: Default::default(),
                    bias: Default::default(),
                }),
                multisample: wgpu::MultisampleState {
                    count: sample_count,
                    ..Default::default()
                },
                fragment: Some(wgpu::FragmentState {
                    module: &shader,
                    entry_point: Some(fs),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format: color_format,
                        blend: None,
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let atom_pipeline = pipeline(
            "atoms",
            "vs_atom",
            "fs_atom",
            std::mem::size_of::<AtomInstance>(),
            &AtomInstance::ATTRIBUTES,
        );
        let bond_pipeline = pipeline(
            "bonds",
            "vs_bond",
            "fs_bond",
            std::mem::size_of::<BondInstance>(),
            &BondInstance::ATTRIBUTES,
        );
        Self {
            atom_pipeline,
            bond_pipeline,
            camera_buffer,
            camera_bind_group,
            atoms: None,
            bonds: None,
            sample_count,
        }
    }

    /// Samples per pixel the pipelines were built for.
    pub fn sample_count(&self) -> u32 {
        self.sample_count
    }

    /// Upload a scene's instances, replacing the previous scene.
    pub fn set_scene(&mut self, device: &wgpu::Device, scene: &MoleculeScene) {
        let upload = |label: &str, bytes: &[u8], n: usize| {
            (n > 0).then(|| {
                let buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytes,
                    usage: wgpu::BufferUsages::VERTEX,
                });
                (buffer, n as u32)
            })
        };
        self.atoms = upload(
            "atoms",
            bytemuck::cast_slice(&scene.atoms),
            scene.atoms.len(),
        );
        self.bonds = upload(
            "bonds",
            bytemuck::cast_slice(&scene.bonds),
            scene.bonds.len(),
        );
    }

    /// Write the camera for a target of the given aspect ratio.
    pub fn set_camera(&self, queue: &wgpu::Queue, camera: &OrbitCamera, aspect: f32) {
        queue.write_buffer(
            &self.camera_buffer,
            0,
            bytemuck::bytes_of(&camera.uniform(aspect)),
        );
    }

    /// Record the draws into a pass whose attachments match this renderer's formats.
    pub fn draw(&self, pass: &mut wgpu::RenderPass<'_>) {
        pass.set_bind_group(0, &self.camera_bind_group, &[]);
        if let Some((buffer, n)) = &self.bonds {
            pass.set_pipeline(&self.bond_pipeline);
            pass.set_vertex_buffer(0, buffer.slice(..));
            pass.draw(0..BOND_VERTICES, 0..*n);
        }
        if let Some((buffer, n)) = &self.atoms {
            pass.set_pipeline(&self.atom_pipeline);
            pass.set_vertex_buffer(0, buffer.slice(..));
            pass.draw(0..ATOM_VERTICES, 0..*n);
        }
    }

    /// A render pass clearing to the background colour and drawing the molecule.
    ///
    /// `color` is the multisampled view when `sample_count > 1` (then `resolve` receives the
    /// image), else the target itself.
    pub fn render(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        color: &wgpu::TextureView,
        resolve: Option<&wgpu::TextureView>,
        depth: &wgpu::TextureView,
    ) {
        let [r, g, b] = super::BACKGROUND_SRGB.map(|c| f64::from(super::srgb_to_linear(c)));
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("molecule"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: color,
                depth_slice: None,
                resolve_target: resolve,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color { r, g, b, a: 1.0 }),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: depth,
                depth_ops: Some(wgpu::Operations {
                    load: wgpu::LoadOp::Clear(1.0),
                    store: wgpu::StoreOp::Discard,
                }),
                stencil_ops: None,
            }),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        self.draw(&mut pass);
    }

    /// Colour (multisampled, if needed) and depth attachments for a `width`×`height` target.
    pub fn attachments(
        &self,
        device: &wgpu::Device,
        color_format: wgpu::TextureFormat,
        width: u32,
        height: u32,
    ) -> (Option<wgpu::TextureView>, wgpu::TextureView) {
        let size = wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        };
        let make = |label: &str, format: wgpu::TextureFormat| {
            device
                .create_texture(&wgpu::TextureDescriptor {
                    label: Some(label),
                    size,
                    mip_level_count: 1,
                    sample_count: self.sample_count,
                    dimension: wgpu::TextureDimension::D2,
                    format,
                    usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
                    view_formats: &[],
                })
                .create_view(&Default::default())
        };
        let msaa = (self.sample_count > 1).then(|| make("msaa colour", color_format));
        (msaa, make("depth", DEPTH_FORMAT))
    }
}
