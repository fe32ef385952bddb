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
///
/// Without `WGPU_BACKEND`, the primary backends (Vulkan, Metal, DX12) are tried first and GL
/// only when they offer no adapter: probing GL through EGL on a headless machine makes Mesa
/// print "ERROR" lines (no display, no `XDG_RUNTIME_DIR`) even though Vulkan then renders fine.
/// Only a failure of every backend is reported.
pub fn render_device() -> anyhow::Result<(wgpu::Adapter, wgpu::Device, wgpu::Queue)> {
    let primary_first = std::env::var_os("WGPU_BACKEND").is_none();
    let found = if primary_first {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = wgpu::Backends::PRIMARY;
        let primary = wgpu::Instance::new(desc);
        match pollster::block_on(nucleate_shaders::render::headless_device(&primary)) {
            Ok(found) => found,
            Err(first) => {
                let any = wgpu_instance();
                pollster::block_on(nucleate_shaders::render::headless_device(&any)).map_err(
                    |e| anyhow::anyhow!("no GPU adapter: Vulkan/Metal/DX12: {first}; GL: {e}"),
                )?
            }
        }
    } else {
        pollster::block_on(nucleate_shaders::render::headless_device(&wgpu_instance()))?
    };
    let info = found.0.get_info();
    log::info!(
        "rendering on {} ({:?}, {:?})",
        info.name,
        info.backend,
        info.device_type
    );
    Ok(found)
}

/// A compute backend for models, chosen with `--device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compute {
    /// burn's ndarray backend on the CPU (always built in).
    Cpu,
    /// burn's wgpu backend: Vulkan, Metal or DX12 on the best adapter wgpu finds
    /// (`WGPU_BACKEND`/`CUBECL_WGPU_DEFAULT_DEVICE` override it); Mesa's lavapipe where there
    /// is no GPU. Built with the default `wgpu` feature.
    Wgpu,
    /// burn's CUDA backend on GPU 0. Built with the `cuda` feature.
    Cuda,
    /// burn's flex backend on the CPU (pure Rust, SIMD kernels and the `gemm` crate; the CPU
    /// backend burn 0.22 recommends in place of ndarray). Built with the `flex` feature.
    Flex,
}

impl std::fmt::Display for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Wgpu => "wgpu",
            Self::Cuda => "cuda",
            Self::Flex => "flex",
        })
    }
}

impl Compute {
    /// burn's device for this backend, without autodiff; an error names the missing feature
    /// when the backend is not compiled into this binary.
    pub fn device(self) -> anyhow::Result<burn::tensor::Device> {
        match self {
            #[allow(deprecated)] // burn 0.22 prefers flex; ndarray is the CPU backend we test.
            Self::Cpu => Ok(burn::tensor::Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Ok(burn::tensor::Device::wgpu(
                burn::tensor::DeviceKind::DefaultDevice,
            )),
            #[cfg(feature = "cuda")]
            Self::Cuda => Ok(burn::tensor::Device::cuda(0usize)),
            #[cfg(feature = "flex")]
            Self::Flex => Ok(burn::tensor::Device::flex()),
            #[allow(unreachable_patterns)]
            other => anyhow::bail!(
                "--device {other}: this binary was built without the `{other}` feature \
                 (rebuild with `cargo build -p nucleate --features {other}`)"
            ),
        }
    }

    /// The device with autodiff, for training.
    pub fn train_device(self) -> anyhow::Result<burn::tensor::Device> {
        Ok(self.device()?.autodiff())
    }
}

/// The burn device models are built on for inspection (parameter counts): the CPU backend
/// with autodiff, so that trainable parameters are told apart from frozen ones.
pub fn model_device() -> burn::tensor::Device {
    cpu_device().autodiff()
}

/// burn's CPU device without autodiff, for inference (prediction, evaluation): no graph is
/// recorded, so memory stays flat however many structures pass through.
pub fn inference_device() -> burn::tensor::Device {
    cpu_device()
}

fn cpu_device() -> burn::tensor::Device {
    #[allow(deprecated)]
    burn::tensor::Device::ndarray()
}
