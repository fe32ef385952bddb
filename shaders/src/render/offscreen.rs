//! Render a molecule into an RGBA8 image without a window (used by `nucleate render` and tests).

use super::{MoleculeRenderer, MoleculeScene, OrbitCamera};

/// Why an offscreen render failed.
#[derive(Debug, thiserror::Error)]
pub enum OffscreenError {
    /// No adapter: no GPU and no software driver (install Mesa's lavapipe: `mesa-vulkan-drivers`).
    #[error(
        "no graphics adapter found ({0}); on a machine without a GPU install mesa-vulkan-drivers"
    )]
    NoAdapter(String),
    /// The adapter refused a device.
    #[error("could not open a device: {0}")]
    Device(String),
    /// The image size is zero or beyond the adapter's texture limit.
    #[error("image size {width}x{height} is not supported (each side 1..={max})")]
    Size { width: u32, height: u32, max: u32 },
    /// Reading the image back failed.
    #[error("reading the image back failed: {0}")]
    Readback(String),
}

/// Open an adapter and device for offscreen work, honouring `WGPU_BACKEND` and friends.
///
/// # Errors
/// [`OffscreenError::NoAdapter`] or [`OffscreenError::Device`].
pub async fn headless_device(
    instance: &wgpu::Instance,
) -> Result<(wgpu::Adapter, wgpu::Device, wgpu::Queue), OffscreenError> {
    let adapter = wgpu::util::initialize_adapter_from_env_or_default(instance, None)
        .await
        .map_err(|e| OffscreenError::NoAdapter(e.to_string()))?;
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("nucleate offscreen"),
            required_limits: wgpu::Limits::downlevel_webgl2_defaults()
                .using_resolution(adapter.limits()),
            ..Default::default()
        })
        .await
        .map_err(|e| OffscreenError::Device(e.to_string()))?;
    Ok((adapter, device, queue))
}

/// Render `scene` seen by `camera` into a tightly packed sRGB RGBA8 image, row-major from the
/// top-left. Uses 4× multisampling.
///
/// # Errors
/// See [`OffscreenError`].
pub async fn render_offscreen(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    scene: &MoleculeScene,
    camera: &OrbitCamera,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, OffscreenError> {
    let max = device.limits().max_texture_dimension_2d;
    if width == 0 || height == 0 || width > max || height > max {
        return Err(OffscreenError::Size { width, height, max });
    }
    let format = wgpu::TextureFormat::Rgba8UnormSrgb;
    let mut renderer = MoleculeRenderer::new(device, format, 4);
    renderer.set_scene(device, scene);
    renderer.set_camera(queue, camera, width as f32 / height as f32);

    let target = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("offscreen target"),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let target_view = target.create_view(&Default::default());
    let (msaa, depth) = renderer.attachments(device, format, width, height);

    // Rows of a texture→buffer copy must be 256-byte aligned.
    let unpadded = width * 4;
    let padded =
        unpadded.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: u64::from(padded) * u64::from(height),
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });

    let mut encoder = device.create_command_encoder(&Default::default());
    match &msaa {
        Some(ms) => renderer.render(&mut encoder, ms, Some(&target_view), &depth),
        None => renderer.render(&mut encoder, &target_view, None, &depth),
    }
    encoder.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo {
            texture: &target,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::TexelCopyBufferInfo {
            buffer: &readback,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded),
                rows_per_image: Some(height),
            },
        },
        wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
    );
    queue.submit([encoder.finish()]);

    let (tx, rx) = std::sync::mpsc::channel();
    readback.map_async(wgpu::MapMode::Read, .., move |r| {
        // The receiver outlives this callback (we wait on it below), so a send cannot fail.
        let _ = tx.send(r);
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| OffscreenError::Readback(e.to_string()))?;
    rx.recv()
        .map_err(|e| OffscreenError::Readback(e.to_string()))?
        .map_err(|e| OffscreenError::Readback(e.to_string()))?;

    let mapped = readback
        .slice(..)
        .get_mapped_range()
        .map_err(|e| OffscreenError::Readback(e.to_string()))?;
    let mut pixels = Vec::with_capacity((unpadded * height) as usize);
    for row in mapped.chunks_exact(padded as usize) {
        pixels.extend_from_slice(&row[..unpadded as usize]);
    }
    drop(mapped);
    readback.unmap();
    Ok(pixels)
}
