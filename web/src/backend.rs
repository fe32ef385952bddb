//! The one place the web crate chooses its GPU backend: WebGPU when the browser exposes a
//! working `navigator.gpu`, WebGL2 otherwise.

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
