//! Property lookup in the browser: the shipped fine-tuned CT model predicts a property of every
//! structure in a dropped, opened or pasted file, on burn's WebGPU backend where the browser has
//! WebGPU and on its CPU backend (ndarray compiled to WebAssembly) otherwise or on request.
//!
//! The page fetches the model directory written by `nucleate finetune` (`config.toml`,
//! `meta.json`, `weights.bin`) and hands the bytes to [`load_property_model`] with a backend
//! (`"cpu"`, `"webgpu"`); [`predict_file`] then parses a file with the same readers as the viewer and returns the predictions with the
//! target's name and unit, the model's name and validation MAE, and the time taken.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use nucleate_core::backbone::{CtConfig, UniGemConfig};
use nucleate_core::head::{Readout, Reduce};
use nucleate_core::objective::{DenoiseModel, DenoiseModelConfig};
use nucleate_core::train::load_le_bytes;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::app::parse_file;
use crate::backend::Compute;

/// The parts of `meta.json` the page shows or needs.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct Meta {
    name: String,
    target: Option<String>,
    unit: Option<String>,
    reduce: String,
    readout_std: f64,
    readout_mean: f64,
    val_mae: Option<f64>,
    test_mae: Option<f64>,
    steps: u64,
}

/// A model directory's `config.toml` as the page reads it (property and generation models).
#[derive(Deserialize)]
pub(crate) struct ConfigFile {
    pub(crate) model: ModelSection,
}

/// `[model]`: the backbone's name and its section.
#[derive(Deserialize)]
pub(crate) struct ModelSection {
    pub(crate) backbone: String,
    pub(crate) ct: Option<CtConfig>,
    pub(crate) unigem: Option<UniGemConfig>,
}

struct PropertyModel {
    model: DenoiseModel,
    readout: Readout,
    meta: Meta,
    target: String,
    compute: Compute,
    device: Device,
}

/// Structures per pass in [`predict_file`]: one GPU read-back per batch instead of per frame.
const BATCH: usize = 32;

thread_local! {
    /// The loaded property model on each backend (at most one per backend).
    static MODELS: RefCell<Vec<Rc<PropertyModel>>> = const { RefCell::new(Vec::new()) };
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn model_on(compute: Compute) -> Option<Rc<PropertyModel>> {
    MODELS.with(|m| m.borrow().iter().find(|p| p.compute == compute).cloned())
}

/// Loads the property model from the three files of its directory onto `backend` (`"cpu"` or
/// `"webgpu"`), replacing a model loaded there before. Returns a JSON description
/// `{name, target, unit, val_mae, test_mae, steps, params, backend, backend_key, load_ms}`.
///
/// # Errors
/// Malformed config or metadata, a model that is not CT, weights that do not fit the config,
/// an unknown backend, or WebGPU requested where the browser cannot provide it.
#[wasm_bindgen]
pub async fn load_property_model(
    config_toml: String,
    meta_json: String,
    weights: Vec<u8>,
    backend: String,
) -> Result<String, JsError> {
    let t0 = now_ms();
    let compute = Compute::parse(&backend).map_err(|e| JsError::new(&e))?;
    let file: ConfigFile = toml::from_str(&config_toml)
        .map_err(|e| JsError::new(&format!("model config.toml: {e}")))?;
    if file.model.backbone != "ct" {
        return Err(JsError::new(&format!(
            "model config.toml: backbone {:?}; the page predicts with CT models",
            file.model.backbone
        )));
    }
    let ct = file
        .model
        .ct
        .ok_or_else(|| JsError::new("model config.toml: no [model.ct] section"))?;
    let meta: Meta =
        serde_json::from_str(&meta_json).map_err(|e| JsError::new(&format!("meta.json: {e}")))?;
    let target = meta
        .target
        .clone()
        .ok_or_else(|| JsError::new("meta.json: the model has no target (a pretraining model)"))?;
    let device = compute.device().await.map_err(|e| JsError::new(&e))?;
    let model = DenoiseModelConfig::new(ct)
        .init(&device)
        .map_err(|e| JsError::new(&format!("model config.toml: {e}")))?;
    let model = load_le_bytes(model, &weights)
        .map_err(|e| JsError::new(&format!("weights.bin: {e}")))?
        .with_training(false);
    let params = weights.len() / 4;
    let readout = Readout::new()
        .with_reduce(if meta.reduce == "mean" {
            Reduce::Mean
        } else {
            Reduce::Sum
        })
        .with_std(meta.readout_std)
        .with_mean(meta.readout_mean);
    let info = serde_json::json!({
        "name": meta.name,
        "target": target,
        "unit": meta.unit,
        "val_mae": meta.val_mae,
        "test_mae": meta.test_mae,
        "steps": meta.steps,
        "params": params,
        "backend": compute.label(),
        "backend_key": compute.key(),
        "load_ms": now_ms() - t0,
    });
    let loaded = Rc::new(PropertyModel {
        model,
        readout,
        meta,
        target,
        compute,
        device,
    });
    MODELS.with(|m| {
        let mut m = m.borrow_mut();
        m.retain(|p| p.compute != compute);
        m.push(loaded);
    });
    Ok(info.to_string())
}

/// Predicts the model's property for the first `limit` structures of a file with the model
/// loaded on `backend`, in batches of [`BATCH`] structures (one graph, one pass and one
/// asynchronous read-back each: a browser cannot wait for the GPU synchronously). Returns JSON
/// `{file, model, target, unit, val_mae, backend, backend_key, results: [{index, formula, atoms,
/// value}], skipped, ms, ms_per_structure}`.
///
/// # Errors
/// The file's problem with its line and field; no model loaded on that backend; elements
/// outside the model; a failed GPU readback.
#[wasm_bindgen]
pub async fn predict_file(
    name: String,
    bytes: Vec<u8>,
    limit: usize,
    backend: String,
) -> Result<String, JsError> {
    let compute = Compute::parse(&backend).map_err(|e| JsError::new(&e))?;
    let structures = parse_file(&name, &bytes)?;
    let m = model_on(compute).ok_or_else(|| {
        JsError::new(&format!(
            "the property model has not loaded on {}",
            compute.label()
        ))
    })?;
    let n = structures.len().min(limit.max(1));
    let t0 = now_ms();
    let mut results = Vec::with_capacity(n);
    for (c, chunk) in structures[..n].chunks(BATCH).enumerate() {
        let first = c * BATCH;
        let context = |i: usize, e: &dyn std::fmt::Display| {
            JsError::new(&format!("{name}, structure {}: {e}", first + i + 1))
        };
        if let Some(i) = chunk.iter().position(|s| s.numbers.is_empty()) {
            return Err(context(i, &"no atoms"));
        }
        let out = match m.model.pass(chunk, None, &m.device) {
            Ok(out) => out,
            Err(e) => {
                // Name the structure at fault.
                for (i, s) in chunk.iter().enumerate() {
                    if let Err(e) = m.model.pass(std::slice::from_ref(s), None, &m.device) {
                        return Err(context(i, &e));
                    }
                }
                return Err(context(0, &e));
            }
        };
        let data = m
            .model
            .property(&out, &m.readout)
            .into_data_async()
            .await
            .map_err(|e| context(0, &format!("reading the results back: {e:?}")))?;
        let values: Vec<f64> = data.iter::<f64>().collect();
        if values.len() != chunk.len() {
            return Err(context(
                0,
                &format!(
                    "{} values read back for {} structures",
                    values.len(),
                    chunk.len()
                ),
            ));
        }
        for (i, (s, value)) in chunk.iter().zip(values).enumerate() {
            results.push(serde_json::json!({
                "index": first + i,
                "formula": s.formula(),
                "atoms": s.n_atoms(),
                "value": value,
            }));
        }
    }
    let ms = now_ms() - t0;
    Ok(serde_json::json!({
        "file": name,
        "model": m.meta.name,
        "target": m.target,
        "unit": m.meta.unit,
        "val_mae": m.meta.val_mae,
        "backend": compute.label(),
        "backend_key": compute.key(),
        "results": results,
        "skipped": structures.len() - n,
        "ms": ms,
        "ms_per_structure": ms / n.max(1) as f64,
    })
    .to_string())
}
