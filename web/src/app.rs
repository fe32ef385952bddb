//! The page's viewer: one canvas showing a structure or a trajectory. The canvas rotates (drag)
//! and zooms (wheel) here; the page's script (www/viewer.js) drives loading, playback and
//! hovering through the functions exported below.

use nucleate_core::Structure;
use nucleate_core::io::{self, Format};
use nucleate_shaders::render::{MoleculeRenderer, MoleculeScene, OrbitCamera, SceneOptions};
use std::cell::RefCell;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// The molecule shown on load (a QM9 molecule; provenance in its comment line).
const BUNDLED_XYZ: &str = include_str!("../../www/assets/molecule.xyz");

struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    view_format: wgpu::TextureFormat,
    renderer: MoleculeRenderer,
    msaa: Option<wgpu::TextureView>,
    depth: wgpu::TextureView,
}

/// Everything the page shows: the frames, the current one and how it is drawn.
struct App {
    gpu: Gpu,
    camera: OrbitCamera,
    drag: Option<(f32, f32)>,
    name: String,
    frames: Vec<Structure>,
    /// What the reader accepted but could not represent exactly (CIF partial occupancies,
    /// shared sites, a block read as P1), shown with the file.
    notes: Vec<String>,
    frame: usize,
    images: bool,
    color_by_type: bool,
    scene: MoleculeScene,
}

thread_local! {
    static APP: RefCell<Option<App>> = const { RefCell::new(None) };
}

/// Run `f` on the app, or fail when the viewer has not started.
fn with_app<T>(f: impl FnOnce(&mut App) -> Result<T, JsError>) -> Result<T, JsError> {
    APP.with(|cell| match cell.try_borrow_mut() {
        Ok(mut guard) => match guard.as_mut() {
            Some(app) => f(app),
            None => Err(JsError::new("the viewer has not started yet")),
        },
        Err(_) => Err(JsError::new("the viewer is busy")),
    })
}

/// Names of per-atom arrays read as predicted atom types (element symbols or atomic numbers).
const TYPE_ARRAYS: [&str; 3] = ["pred_species", "pred_type", "pred_z"];

fn predicted_types(s: &Structure) -> Option<Vec<u8>> {
    use nucleate_core::AtomArray;
    TYPE_ARRAYS
        .iter()
        .find_map(|name| match s.atom_arrays.get(*name)? {
            AtomArray::Text { width: 1, values } => values
                .iter()
                .map(|v| nucleate_core::elements::number_from_symbol(v))
                .collect(),
            AtomArray::Int { width: 1, values } => {
                values.iter().map(|&v| u8::try_from(v).ok()).collect()
            }
            _ => None,
        })
}

impl App {
    fn size(&self) -> (u32, u32) {
        (self.gpu.config.width, self.gpu.config.height)
    }

    fn rebuild(&mut self) {
        let Some(structure) = self.frames.get(self.frame) else {
            return;
        };
        let options = SceneOptions {
            cell: true,
            images: self.images,
            color_as: if self.color_by_type {
                predicted_types(structure)
            } else {
                None
            },
        };
        self.scene = MoleculeScene::build(structure, &options);
        self.gpu.renderer.set_scene(&self.gpu.device, &self.scene);
    }

    fn frame_camera(&mut self) {
        let (w, h) = self.size();
        self.camera = OrbitCamera::framing(&self.scene, w as f32 / h as f32);
    }

    /// Re-fit the camera to the current frame, keeping the viewing angle.
    fn fit_camera(&mut self) {
        let (w, h) = self.size();
        self.camera.fit(&self.scene, w as f32 / h as f32);
    }

    /// Whether every atom of the current frame projects inside the canvas.
    fn frame_in_view(&self) -> bool {
        let (w, h) = self.size();
        self.camera.sees_all(&self.scene, w, h)
    }

    fn render(&mut self) {
        let gpu = &mut self.gpu;
        let frame = match gpu.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(f)
            | wgpu::CurrentSurfaceTexture::Suboptimal(f) => f,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                gpu.surface.configure(&gpu.device, &gpu.config);
                return;
            }
            _ => return,
        };
        let view = frame.texture.create_view(&wgpu::TextureViewDescriptor {
            format: Some(gpu.view_format),
            ..Default::default()
        });
        let aspect = gpu.config.width as f32 / gpu.config.height as f32;
        gpu.renderer.set_camera(&gpu.queue, &self.camera, aspect);
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        match &gpu.msaa {
            Some(ms) => gpu
                .renderer
                .render(&mut encoder, ms, Some(&view), &gpu.depth),
            None => gpu.renderer.render(&mut encoder, &view, None, &gpu.depth),
        }
        gpu.queue.submit([encoder.finish()]);
        gpu.queue.present(frame);
    }

    /// A JSON description of the current frame for the page.
    fn frame_info(&self) -> String {
        let Some(s) = self.frames.get(self.frame) else {
            return "{}".into();
        };
        let periodic = s.lattice.is_some() && s.pbc.iter().any(|&p| p);
        let labels: Vec<String> = s
            .labels
            .iter()
            .filter_map(|(k, l)| match &l.value {
                nucleate_core::LabelValue::Float(v) => Some(format!(
                    "{}: {}{}",
                    k,
                    v,
                    l.unit
                        .as_deref()
                        .map(|u| format!(" {u}"))
                        .unwrap_or_default()
                )),
                nucleate_core::LabelValue::Int(v) => Some(format!("{k}: {v}")),
                _ => None,
            })
            .collect();
        format!(
            "{{\"name\":{},\"frame\":{},\"frames\":{},\"formula\":{},\"atoms\":{},\"bonds\":{},\"periodic\":{},\"has_types\":{},\"labels\":{},\"notes\":[{}]}}",
            json_str(&self.name),
            self.frame,
            self.frames.len(),
            json_str(&s.formula()),
            s.n_atoms(),
            self.scene.bonds.len() - if periodic { 12 } else { 0 },
            periodic,
            predicted_types(s).is_some(),
            json_str(&labels.join(" · ")),
            self.notes
                .iter()
                .map(|n| json_str(n))
                .collect::<Vec<_>>()
                .join(","),
        )
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parse a dropped or fetched file by its name's extension, with errors naming line and field.
pub(crate) fn parse_file(name: &str, bytes: &[u8]) -> Result<Vec<Structure>, JsError> {
    parse_file_with_notes(name, bytes).map(|(frames, _)| frames)
}

/// [`parse_file`] with the reader's warnings, each naming its line and field.
fn parse_file_with_notes(
    name: &str,
    bytes: &[u8],
) -> Result<(Vec<Structure>, Vec<String>), JsError> {
    let format = Format::from_file_name(name).ok_or_else(|| {
        JsError::new(&format!(
            "{name}: unrecognised file extension (supported: .xyz .extxyz .sdf .mol .mol2 .pdb .cif .mmcif POSCAR .vasp)"
        ))
    })?;
    let (frames, warnings) = io::read_bytes_with_warnings(bytes, format)
        .map_err(|e| JsError::new(&format!("{name}: {e}")))?;
    if frames.is_empty() {
        return Err(JsError::new(&format!("{name}: no structure in the file")));
    }
    Ok((frames, warnings.iter().map(ToString::to_string).collect()))
}

/// Load a structure or trajectory file (all its frames) and show its first frame. Returns the
/// frame description as JSON.
///
/// # Errors
/// The file's problem, with its line and field.
#[wasm_bindgen]
pub fn load_file(name: &str, bytes: &[u8]) -> Result<String, JsError> {
    let (frames, notes) = parse_file_with_notes(name, bytes)?;
    with_app(|app| {
        app.name = name.to_owned();
        app.frames = frames;
        app.notes = notes;
        app.frame = 0;
        app.rebuild();
        app.frame_camera();
        app.render();
        Ok(app.frame_info())
    })
}

/// Append the frames of a file to the loaded ones (starting afresh when `reset`) and show the
/// last one; the camera is framed when starting afresh and otherwise only widened (keeping the
/// viewing angle) when the new frame leaves the canvas. Used by live generation, which
/// receives one frame at a time; a molecule grows there from a compact cloud of noise.
/// Returns the frame description as JSON.
///
/// # Errors
/// The file's problem, with its line and field.
#[wasm_bindgen]
pub fn append_frames(name: &str, bytes: &[u8], reset: bool) -> Result<String, JsError> {
    let frames = parse_file(name, bytes)?;
    with_app(|app| {
        if reset {
            app.frames.clear();
        }
        app.name = name.to_owned();
        app.frames.extend(frames);
        app.frame = app.frames.len() - 1;
        app.rebuild();
        if reset {
            app.frame_camera();
        } else if !app.frame_in_view() {
            app.fit_camera();
        }
        app.render();
        Ok(app.frame_info())
    })
}

/// Show frame `index` (bonds recomputed). Returns the frame description as JSON.
///
/// # Errors
/// When no structure is loaded or the index is out of range.
#[wasm_bindgen]
pub fn show_frame(index: usize) -> Result<String, JsError> {
    with_app(|app| {
        if index >= app.frames.len() {
            return Err(JsError::new(&format!(
                "frame {index} out of range (0..{})",
                app.frames.len()
            )));
        }
        app.frame = index;
        app.rebuild();
        app.render();
        Ok(app.frame_info())
    })
}

/// Number of frames loaded.
#[wasm_bindgen]
pub fn frame_count() -> usize {
    with_app(|app| Ok(app.frames.len())).unwrap_or(0)
}

/// Draw periodic images at the cell boundary, and colour by predicted atom type (when the
/// frames carry a `pred_species`/`pred_type`/`pred_z` column) instead of element.
///
/// # Errors
/// When the viewer has not started.
#[wasm_bindgen]
pub fn set_view(images: bool, color_by_type: bool) -> Result<String, JsError> {
    with_app(|app| {
        app.images = images;
        app.color_by_type = color_by_type;
        app.rebuild();
        app.render();
        Ok(app.frame_info())
    })
}

/// Re-frame the camera on the current frame.
///
/// # Errors
/// When the viewer has not started.
#[wasm_bindgen]
pub fn reset_camera() -> Result<(), JsError> {
    with_app(|app| {
        app.frame_camera();
        app.render();
        Ok(())
    })
}

/// Whether every atom of the current frame is inside the canvas.
#[wasm_bindgen]
pub fn frame_in_view() -> bool {
    with_app(|app| Ok(app.frame_in_view())).unwrap_or(false)
}

/// Re-fit the camera to the current frame, keeping the viewing angle (the page calls it when a
/// generated molecule is finished).
///
/// # Errors
/// When the viewer has not started.
#[wasm_bindgen]
pub fn fit_camera() -> Result<(), JsError> {
    with_app(|app| {
        app.fit_camera();
        app.render();
        Ok(())
    })
}

/// Draw now (the page calls this right before reading the canvas for a PNG export).
///
/// # Errors
/// When the viewer has not started.
#[wasm_bindgen]
pub fn redraw() -> Result<(), JsError> {
    with_app(|app| {
        app.render();
        Ok(())
    })
}

/// The atom under CSS pixel (`x`, `y`) of the canvas as JSON
/// `{"index","element","x","y","z","image"}`, or `null`.
#[wasm_bindgen]
pub fn atom_at(x: f32, y: f32, css_width: f32, css_height: f32) -> String {
    with_app(|app| {
        let (w, h) = app.size();
        let (sx, sy) = (
            w as f32 / css_width.max(1.0),
            h as f32 / css_height.max(1.0),
        );
        let Some(k) = nucleate_shaders::render::pick(&app.scene, &app.camera, x * sx, y * sy, w, h)
        else {
            return Ok("null".into());
        };
        let Some(s) = app.frames.get(app.frame) else {
            return Ok("null".into());
        };
        let i = app.scene.source_atom.get(k).copied().unwrap_or(k);
        let p = app.scene.atoms[k].center;
        Ok(format!(
            "{{\"index\":{i},\"element\":{},\"x\":{:.4},\"y\":{:.4},\"z\":{:.4},\"image\":{}}}",
            json_str(nucleate_core::elements::symbol(
                s.numbers.get(i).copied().unwrap_or(0)
            )),
            p[0],
            p[1],
            p[2],
            k >= s.n_atoms()
        ))
    })
    .unwrap_or_else(|_| "null".into())
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

fn js_err(context: &str, e: impl std::fmt::Display) -> JsError {
    JsError::new(&format!("{context}: {e}"))
}

/// Entry point, run by the generated JS glue when the module loads.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    // The generation worker loads the same module; there is no page to draw on there.
    if web_sys::window().is_none() {
        return;
    }
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

    let frames = io::xyz::read_xyz(BUNDLED_XYZ)
        .map_err(|e| js_err("parsing the bundled molecule (www/assets/molecule.xyz)", e))?;
    let scene = MoleculeScene::from_structure(
        frames
            .first()
            .ok_or_else(|| JsError::new("bundled molecule is empty"))?,
    );

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

    let app = App {
        gpu: Gpu {
            device,
            queue,
            surface,
            config,
            view_format,
            renderer,
            msaa,
            depth,
        },
        camera,
        drag: None,
        name: "molecule.xyz".into(),
        frames,
        notes: Vec::new(),
        frame: 0,
        images: true,
        color_by_type: false,
        scene,
    };
    let info = app.frame_info();
    APP.with(|cell| *cell.borrow_mut() = Some(app));
    with_app(|app| {
        app.render();
        Ok(())
    })?;
    attach_controls(&canvas)?;

    set_status(&format!("rendered with {backend}"));
    body_data("frame", &info);
    body_data("backend", backend);
    body_data("ready", "1");
    Ok(())
}

fn attach_controls(canvas: &web_sys::HtmlCanvasElement) -> Result<(), JsError> {
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
    // Event handlers cannot return errors; a busy or missing viewer just ignores the event.
    let quietly = |f: &mut dyn FnMut(&mut App)| {
        let _ = with_app(|app| {
            f(app);
            Ok(())
        });
    };

    listen(
        "pointerdown",
        Box::new(move |e| {
            if let Some(e) = e.dyn_ref::<web_sys::PointerEvent>() {
                let at = (e.client_x() as f32, e.client_y() as f32);
                quietly(&mut |app| app.drag = Some(at));
            }
        }),
        true,
    )?;
    listen(
        "pointermove",
        Box::new(move |e| {
            let Some(e) = e.dyn_ref::<web_sys::PointerEvent>() else {
                return;
            };
            let (x, y) = (e.client_x() as f32, e.client_y() as f32);
            quietly(&mut |app| {
                let Some((x0, y0)) = app.drag else { return };
                app.camera.orbit((x - x0) * 0.01, (y - y0) * 0.01);
                app.drag = Some((x, y));
                app.render();
            });
        }),
        true,
    )?;
    for name in ["pointerup", "pointerleave", "pointercancel"] {
        listen(
            name,
            Box::new(move |_| quietly(&mut |app| app.drag = None)),
            true,
        )?;
    }
    listen(
        "wheel",
        Box::new(move |e| {
            let Some(e) = e.dyn_ref::<web_sys::WheelEvent>() else {
                return;
            };
            e.prevent_default();
            let factor = (e.delta_y() as f32 * 0.001).exp();
            quietly(&mut |app| {
                app.camera.zoom(factor);
                app.render();
            });
        }),
        false,
    )?;
    Ok(())
}
