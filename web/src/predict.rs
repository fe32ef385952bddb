//! Property lookup in the browser: the shipped fine-tuned CT model predicts a property of every
//! structure in a dropped, opened or pasted file, on burn's CPU backend (ndarray compiled to
//! WebAssembly).
//!
//! The page fetches the model directory written by `nucleate finetune` (`config.toml`,
//! `meta.json`, `weights.bin`) and hands the bytes to [`load_property_model`]; [`predict_file`]
//! then parses a file with the same readers as the viewer and returns the predictions with the
//! target's name and unit, the model's name and validation MAE, and the time taken.

use std::cell::RefCell;

use burn::tensor::Device;
use nucleate_core::backbone::{CtConfig, UniGemConfig};
use nucleate_core::head::{Readout, Reduce};
use nucleate_core::objective::{DenoiseModel, DenoiseModelConfig};
use nucleate_core::train::load_le_bytes;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::app::parse_file;

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
    device: Device,
}

thread_local! {
    static MODEL: RefCell<Option<PropertyModel>> = const { RefCell::new(None) };
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Loads the property model from the three files of its directory. Returns a JSON description
/// `{name, target, unit, val_mae, test_mae, steps, params, backend, load_ms}`.
///
/// # Errors
/// Malformed config or metadata, a model that is not CT, weights that do not fit the config.
#[wasm_bindgen]
pub fn load_property_model(
    config_toml: &str,
    meta_json: &str,
    weights: &[u8],
) -> Result<String, JsError> {
    let t0 = now_ms();
    let file: ConfigFile = toml::from_str(config_toml)
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
        serde_json::from_str(meta_json).map_err(|e| JsError::new(&format!("meta.json: {e}")))?;
    let target = meta
        .target
        .clone()
        .ok_or_else(|| JsError::new("meta.json: the model has no target (a pretraining model)"))?;
    let device = Device::default();
    let model = DenoiseModelConfig::new(ct)
        .init(&device)
        .map_err(|e| JsError::new(&format!("model config.toml: {e}")))?;
    let model = load_le_bytes(model, weights)
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
        "backend": "CPU (burn ndarray in WebAssembly)",
        "load_ms": now_ms() - t0,
    });
    MODEL.with(|cell| {
        *cell.borrow_mut() = Some(PropertyModel {
            model,
            readout,
            meta,
            target,
            device,
        });
    });
    Ok(info.to_string())
}

/// Predicts the model's property for the first `limit` structures of a file. Returns JSON
/// `{file, model, target, unit, val_mae, results: [{index, formula, atoms, value}], ms,
/// ms_per_structure}`.
///
/// # Errors
/// The file's problem with its line and field; no model loaded; elements outside the model.
#[wasm_bindgen]
pub fn predict_file(name: &str, bytes: &[u8], limit: usize) -> Result<String, JsError> {
    let structures = parse_file(name, bytes)?;
    MODEL.with(|cell| {
        let guard = cell
            .try_borrow()
            .map_err(|_| JsError::new("the property model is busy"))?;
        let m = guard
            .as_ref()
            .ok_or_else(|| JsError::new("the property model has not loaded"))?;
        let n = structures.len().min(limit.max(1));
        let t0 = now_ms();
        let mut results = Vec::with_capacity(n);
        for (index, s) in structures.iter().take(n).enumerate() {
            let value = m
                .model
                .predict(std::slice::from_ref(s), &m.readout, &m.device)
                .map_err(|e| JsError::new(&format!("{name}, structure {}: {e}", index + 1)))?;
            results.push(serde_json::json!({
                "index": index,
                "formula": s.formula(),
                "atoms": s.n_atoms(),
                "value": value.first().copied().unwrap_or(f64::NAN),
            }));
        }
        let ms = now_ms() - t0;
        Ok(serde_json::json!({
            "file": name,
            "model": m.meta.name,
            "target": m.target,
            "unit": m.meta.unit,
            "val_mae": m.meta.val_mae,
            "results": results,
            "skipped": structures.len() - n,
            "ms": ms,
            "ms_per_structure": ms / n.max(1) as f64,
        })
        .to_string())
    })
}
