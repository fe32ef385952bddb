//! The one place the web crate chooses its backends.
//!
//! Rendering: wgpu on WebGPU when the browser exposes a working `navigator.gpu`, WebGL2
//! otherwise. Models: burn's WebGPU backend (cubecl compiling to WGSL) when the browser has
//! WebGPU, burn's CPU backend (ndarray compiled to WebAssembly) otherwise or on request.

use std::cell::RefCell;

use burn::tensor::Device;
use burn::tensor::wgpu::WgpuBackend;

/// A wgpu instance with WebGPU if the browser supports it, else the GL (WebGL2) backend.
pub async fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::BROWSER_WEBGPU | wgpu::Backends::GL;
    wgpu::util::new_instance_with_webgpu_detection(desc).await
}

/// Human-readable name of the backend an adapter runs on.
pub fn name(backend: wgpu::Backend) -> &'static str {
    match backend {
        wgpu::Backend::BrowserWebGpu => "WebGPU",
        wgpu::Backend::Gl => "WebGL2",
        _ => "unknown",
    }
}

/// Where a model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    /// burn's ndarray backend compiled to WebAssembly (always available).
    Cpu,
    /// burn's wgpu backend on the browser's WebGPU.
    WebGpu,
}

impl Compute {
    /// Parses the page's name for a backend: `"cpu"` or `"webgpu"`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "cpu" => Ok(Self::Cpu),
            "webgpu" => Ok(Self::WebGpu),
            other => Err(format!(
                "unknown backend {other:?} (expected \"cpu\" or \"webgpu\")"
            )),
        }
    }

    /// The name the page uses (`cpu`, `webgpu`).
    pub fn key(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::WebGpu => "webgpu",
        }
    }

    /// A description for the page.
    pub fn label(self) -> &'static str {
        match self {
            Self::Cpu => "CPU (burn ndarray in WebAssembly)",
            Self::WebGpu => "WebGPU (burn wgpu, WGSL kernels)",
        }
    }

    /// burn's device for this backend. WebGPU is initialised once per page (asynchronously,
    /// as browsers require) and reused; an error says why the browser could not provide it.
    pub async fn device(self) -> Result<Device, String> {
        match self {
            Self::Cpu => Ok(cpu()),
            Self::WebGpu => {
                if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
                    return Ok(device);
                }
                let device = Device::wgpu_options()
                    .graphics_api(WgpuBackend::WebGpu)
                    .init_async()
                    .await
                    .map_err(|e| format!("WebGPU is not available for models: {e}"))?;
                WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
                Ok(device)
            }
        }
    }
}

/// burn's CPU device, named explicitly: with the WebGPU backend compiled in,
/// `Device::default()` would pick WebGPU, which a browser cannot initialise synchronously.
pub fn cpu() -> Device {
    #[allow(deprecated)] // burn 0.22 prefers flex; ndarray is the CPU backend we test.
    Device::ndarray()
}

thread_local! {
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}
