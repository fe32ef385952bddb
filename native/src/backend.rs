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
    // Drivers also write to stderr while they are probed (Mesa's Vulkan loader tries Wayland and
    // complains about XDG_RUNTIME_DIR on a headless machine): that text is shown only if no
    // device comes up.
    let (found, chatter) = quietly(probe_render_device);
    match found {
        Ok(found) => {
            if !chatter.trim().is_empty() {
                log::debug!("while probing GPU adapters: {}", chatter.trim());
            }
            Ok(found)
        }
        Err(e) => {
            eprint!("{chatter}");
            Err(e)
        }
    }
}

/// Runs `f` with the process's stderr (file descriptor 2) sent to a scratch file, and returns
/// what was written there with `f`'s result. Elsewhere than on Unix, stderr is left alone.
fn quietly<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[cfg(unix)]
    {
        use std::io::{Read, Seek};
        use std::os::fd::AsRawFd;
        let path = std::env::temp_dir().join(format!("nucleate-probe-{}.log", std::process::id()));
        let Ok(mut file) = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
        else {
            return (f(), String::new());
        };
        let _ = std::fs::remove_file(&path);
        // SAFETY: plain descriptor calls on stderr and on a file this function owns; stderr is
        // restored before returning, and nothing else in this single-threaded start-up writes
        // to it meanwhile.
        #[allow(unsafe_code)]
        let saved = unsafe {
            let saved = libc::dup(2);
            if saved >= 0 {
                libc::dup2(file.as_raw_fd(), 2);
            }
            saved
        };
        let out = f();
        if saved >= 0 {
            #[allow(unsafe_code)]
            // SAFETY: restores the descriptor saved above and closes the copy.
            unsafe {
                libc::dup2(saved, 2);
                libc::close(saved);
            }
        }
        let mut text = String::new();
        let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
        (out, text)
    }
    #[cfg(not(unix))]
    {
        (f(), String::new())
    }
}

fn probe_render_device() -> anyhow::Result<(wgpu::Adapter, wgpu::Device, wgpu::Queue)> {
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
    /// Whether training pads its batches to bucket capacities (`HostGraph::padded`): on the GPU
    /// backends, which compile and autotune kernels per shape; the CPU backends run each shape
    /// as it comes and would only pay for the padding.
    pub fn pads_batches(self) -> bool {
        matches!(self, Self::Wgpu | Self::Cuda)
    }

    /// burn's device for this backend, without autodiff; an error names the missing feature
    /// when the backend is not compiled into this binary.
    ///
    /// On the GPU backends, scatters and gathers run nucleate's own kernels
    /// (`nucleate_core::nn::segment`); `NUCLEATE_GRAPH_KERNELS=off` sends them through burn's
    /// `select_assign`/`select` instead, to compare the two (`scripts/bench-gpu.sh`).
    pub fn device(self) -> anyhow::Result<burn::tensor::Device> {
        match std::env::var("NUCLEATE_GRAPH_KERNELS").as_deref() {
            Ok("off") => nucleate_core::nn::set_graph_kernels(false),
            Ok("on") | Err(_) => {}
            Ok(other) => anyhow::bail!("NUCLEATE_GRAPH_KERNELS={other}: expected `on` or `off`"),
        }
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
