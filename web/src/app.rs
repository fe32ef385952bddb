//! The page: one canvas showing a molecule that rotates (drag) and zooms (wheel).

use nucleate_shaders::render::{MoleculeRenderer, MoleculeScene, OrbitCamera};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// The molecule shown on load (a QM9 molecule; provenance in its comment line).
const BUNDLED_XYZ: &str = include_str!("../../www/assets/molecule.xyz");

struct Viewer {
    device: wgpu::Device,
    queue: wgpu::Queue,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    view_format: wgpu::TextureFormat,
    renderer: MoleculeRenderer,
    camera: OrbitCamera,
    msaa: Option<wgpu::TextureView>,
    depth: wgpu::TextureView,
    drag: Option<(f32, f32)>,
}

impl Viewer {
    fn render(&mut self) {
        let frame = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(f)
            | wgpu::CurrentSurfaceTexture::Suboptimal(f) => f,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                self.surface.configure(&self.device, &self.config);
                return;
            }
            _ => return,
        };
        let view = frame.texture.create_view(&wgpu::TextureViewDescriptor {
            format: Some(self.view_format),
            ..Default::default()
        });
        let aspect = self.config.width as f32 / self.config.height as f32;
        self.renderer.set_camera(&self.queue, &self.camera, aspect);
        let mut encoder = self.device.create_command_encoder(&Default::default());
        match &self.msaa {
            Some(ms) => self
                .renderer
                .render(&mut encoder, ms, Some(&view), &self.depth),
            None => self.renderer.render(&mut encoder, &view, None, &self.depth),
        }
        self.queue.submit([encoder.finish()]);
        self.queue.present(frame);
    }
}

fn js_err(context: &str, e: impl std::fmt::Display) -> JsError {
    JsError::new(&format!("{context}: {e}"))
}

fn set_status(text: &str) {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("status"))
    {
        el.set_text_content(Some(text));
    }
}

fn body_data(key: &str, value: &str) {
    if let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    {
        // Setting a data attribute on <body> only fails for invalid names, which ours are not.
        let _ = body.dataset().set(key, value);
    }
}

/// Entry point, run by the generated JS glue when the module loads.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = run().await {
            let message = String::from(js_sys::Error::from(JsValue::from(e)).message());
            set_status(&format!("Error: {message}"));
            body_data("error", &message);
        }
    });
}

async fn run() -> Result<(), JsError> {
    let window = web_sys::window().ok_or_else(|| JsError::new("no window"))?;
    let document = window
        .document()
        .ok_or_else(|| JsError::new("no document"))?;
    let canvas: web_sys::HtmlCanvasElement = document
        .get_element_by_id("viewer")
        .ok_or_else(|| JsError::new("no <canvas id=\"viewer\"> on the page"))?
        .dyn_into()
        .map_err(|_| JsError::new("#viewer is not a canvas"))?;

    let structures = nucleate_core::io::xyz::read_xyz(BUNDLED_XYZ)
        .map_err(|e| js_err("parsing the bundled molecule (www/assets/molecule.xyz)", e))?;
    let structure = structures
        .first()
        .ok_or_else(|| JsError::new("bundled molecule is empty"))?;
    let scene = MoleculeScene::from_structure(structure);

    let ratio = window.device_pixel_ratio().max(1.0);
    let width = ((f64::from(canvas.client_width()) * ratio) as u32).max(1);
    let height = ((f64::from(canvas.client_height()) * ratio) as u32).max(1);
    canvas.set_width(width);
    canvas.set_height(height);

    let instance = crate::backend::instance().await;
    let surface = instance
        .create_surface(wgpu::SurfaceTarget::Canvas(canvas.clone()))
        .map_err(|e| js_err("creating the canvas surface", e))?;
    let adapter = instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            compatible_surface: Some(&surface),
            ..Default::default()
        })
        .await
        .map_err(|e| js_err("no WebGPU or WebGL2 adapter", e))?;
    let backend = crate::backend::name(adapter.get_info().backend);
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("nucleate web"),
            required_limits: wgpu::Limits::downlevel_webgl2_defaults()
                .using_resolution(adapter.limits()),
            ..Default::default()
        })
        .await
        .map_err(|e| js_err("opening the device", e))?;

    let mut config = surface
        .get_default_config(&adapter, width, height)
        .ok_or_else(|| JsError::new("the canvas surface is not supported by this adapter"))?;
    // WebGPU canvases are not sRGB: draw through an sRGB view of them so shading stays linear.
    let view_format = config.format.add_srgb_suffix();
    if view_format != config.format {
        config.view_formats = vec![view_format];
    }
    surface.configure(&device, &config);

    // 4× MSAA on WebGL2. On WebGPU, resolving into an sRGB view of the canvas texture stored
    // unencoded (too dark) values in Chromium 156 (Dawn on SwiftShader), so it draws unsampled.
    let samples = if backend == "WebGPU" { 1 } else { 4 };
    let mut renderer = MoleculeRenderer::new(&device, view_format, samples);
    renderer.set_scene(&device, &scene);
    let (msaa, depth) = renderer.attachments(&device, view_format, width, height);
    let camera = OrbitCamera::framing(&scene, width as f32 / height as f32);

    let viewer = Rc::new(RefCell::new(Viewer {
        device,
        queue,
        surface,
        config,
        view_format,
        renderer,
        camera,
        msaa,
        depth,
        drag: None,
    }));
    viewer.borrow_mut().render();
    attach_controls(&canvas, &viewer)?;

    set_status(&format!(
        "{} ({} atoms, {} bonds), rendered with {backend}",
        structure.formula(),
        structure.n_atoms(),
        scene.bonds.len()
    ));
    body_data("backend", backend);
    body_data("ready", "1");
    Ok(())
}

fn attach_controls(
    canvas: &web_sys::HtmlCanvasElement,
    viewer: &Rc<RefCell<Viewer>>,
) -> Result<(), JsError> {
    let listen = |name: &str, handler: Box<dyn FnMut(web_sys::Event)>, passive: bool| {
        let closure = Closure::wrap(handler);
        let options = web_sys::AddEventListenerOptions::new();
        options.set_passive(passive);
        let result = canvas.add_event_listener_with_callback_and_add_event_listener_options(
            name,
            closure.as_ref().unchecked_ref(),
            &options,
        );
        // The page lives as long as the listeners: leak the closures on purpose.
        closure.forget();
        result.map_err(|_| JsError::new(&format!("cannot listen to {name}")))
    };

    let v = viewer.clone();
    listen(
        "pointerdown",
        Box::new(move |e| {
            if let Some(e) = e.dyn_ref::<web_sys::PointerEvent>() {
                v.borrow_mut().drag = Some((e.client_x() as f32, e.client_y() as f32));
            }
        }),
        true,
    )?;
    let v = viewer.clone();
    listen(
        "pointermove",
        Box::new(move |e| {
            let Some(e) = e.dyn_ref::<web_sys::PointerEvent>() else {
                return;
            };
            let mut viewer = v.borrow_mut();
            let Some((x0, y0)) = viewer.drag else { return };
            let (x, y) = (e.client_x() as f32, e.client_y() as f32);
            viewer.camera.orbit((x - x0) * 0.01, (y - y0) * 0.01);
            viewer.drag = Some((x, y));
            viewer.render();
        }),
        true,
    )?;
    for name in ["pointerup", "pointerleave", "pointercancel"] {
        let v = viewer.clone();
        listen(name, Box::new(move |_| v.borrow_mut().drag = None), true)?;
    }
    let v = viewer.clone();
    listen(
        "wheel",
        Box::new(move |e| {
            let Some(e) = e.dyn_ref::<web_sys::WheelEvent>() else {
                return;
            };
            e.prevent_default();
            let mut viewer = v.borrow_mut();
            viewer.camera.zoom((e.delta_y() as f32 * 0.001).exp());
            viewer.render();
        }),
        false,
    )?;
    Ok(())
}
