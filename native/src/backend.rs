//! The one place the native tool chooses its backends (wgpu for rendering, burn for models).
//!
//! Rendering goes through wgpu on whatever the platform offers (Vulkan, Metal, DX12, GL); the
//! environment variables `WGPU_BACKEND` (e.g. `vulkan`, `gl`) and `WGPU_ADAPTER_NAME` override
//! the choice. On a machine without a GPU, Mesa's lavapipe provides a software Vulkan device.

/// A wgpu instance configured from the environment.
pub fn wgpu_instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

/// Adapter, device and queue for offscreen rendering.
pub fn render_device() -> anyhow::Result<(wgpu::Adapter, wgpu::Device, wgpu::Queue)> {
    let instance = wgpu_instance();
    let found = pollster::block_on(nucleate_shaders::render::headless_device(&instance))?;
    let info = found.0.get_info();
    log::info!(
        "rendering on {} ({:?}, {:?})",
        info.name,
        info.backend,
        info.device_type
    );
    Ok(found)
}

/// The burn device models are built on for inspection (parameter counts): burn's default
/// device of the enabled backends (only the CPU `ndarray` backend is enabled in this crate)
/// with autodiff, so that trainable parameters are told apart from frozen ones.
pub fn model_device() -> burn::tensor::Device {
    burn::tensor::Device::default().autodiff()
}

/// burn's CPU device without autodiff, for inference (prediction, evaluation): no graph is
/// recorded, so memory stays flat however many structures pass through.
pub fn inference_device() -> burn::tensor::Device {
    burn::tensor::Device::default()
}
