//! Live UniGEM generation in the browser: the shipped model (`models/unigem-small`) samples one
//! molecule step by step on burn's CPU backend in WebAssembly. The page runs this in a Web
//! Worker (`www/generate-worker.js`), which calls [`Generator::advance`] in slices and posts each
//! state to the page as an extended XYZ frame, so the page stays responsive while the molecule
//! nucleates and grows.

use burn::tensor::Device;
use nucleate_core::Structure;
use nucleate_core::backbone::UniGem;
use nucleate_core::io::write::write_extxyz;
use nucleate_core::metrics::judge;
use nucleate_core::objective::{
    AtomCountHistogram, NoiseSchedule, Sampler, SamplerStep, annotated,
};
use nucleate_core::rng::SplitMix64;
use nucleate_core::train::load_le_bytes;
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use crate::predict::ConfigFile;

/// The parts of the model's `meta.json` generation needs.
#[derive(Debug, Clone, Deserialize)]
struct Meta {
    property: String,
    mean: f64,
    mad: f64,
    sizes: Vec<(usize, u64)>,
    steps_done: usize,
}

/// Units of the QM9 properties a UniGEM model may predict (labels are stored in these).
fn unit_of(property: &str) -> &'static str {
    match property {
        "homo" | "lumo" | "gap" | "zpve" => "eV",
        "mu" => "D",
        "alpha" => "bohr³",
        "cv" => "cal/(mol·K)",
        _ => "",
    }
}

/// A UniGEM model and, while a molecule is being drawn, its sampler.
#[wasm_bindgen]
pub struct Generator {
    model: UniGem,
    meta: Meta,
    sizes: AtomCountHistogram,
    schedule: NoiseSchedule,
    device: Device,
    sampler: Option<Sampler>,
    last: Option<SamplerStep>,
}

fn js(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

#[wasm_bindgen]
impl Generator {
    /// Loads a model directory written by `nucleate train unigem` from its three files.
    ///
    /// # Errors
    /// Malformed config or metadata, a model that is not UniGEM, weights that do not fit.
    #[wasm_bindgen(constructor)]
    pub fn new(config_toml: &str, meta_json: &str, weights: &[u8]) -> Result<Generator, JsError> {
        let file: ConfigFile =
            toml::from_str(config_toml).map_err(|e| js(format!("model config.toml: {e}")))?;
        if file.model.backbone != "unigem" {
            return Err(js(format!(
                "model config.toml: backbone {:?}; generation needs a UniGEM model",
                file.model.backbone
            )));
        }
        let config = file
            .model
            .unigem
            .ok_or_else(|| js("model config.toml: no [model.unigem] section"))?;
        let meta: Meta =
            serde_json::from_str(meta_json).map_err(|e| js(format!("meta.json: {e}")))?;
        let sizes = AtomCountHistogram::new(meta.sizes.iter().copied())
            .ok_or_else(|| js("meta.json: empty atom-count histogram"))?;
        let device = Device::default();
        let model = config
            .init(&device)
            .map_err(|e| js(format!("model config.toml: {e}")))?;
        let model = load_le_bytes(model, weights).map_err(|e| js(format!("weights.bin: {e}")))?;
        Ok(Generator {
            model,
            meta,
            sizes,
            schedule: NoiseSchedule::polynomial2(1000),
            device,
            sampler: None,
            last: None,
        })
    }

    /// `{property, unit, steps_trained, sizes: [min, max]}` of the loaded model.
    pub fn info(&self) -> String {
        let lo = self.sizes.bins.first().map_or(0, |b| b.0);
        let hi = self.sizes.bins.last().map_or(0, |b| b.0);
        serde_json::json!({
            "property": self.meta.property,
            "unit": unit_of(&self.meta.property),
            "steps_trained": self.meta.steps_done,
            "sizes": [lo, hi],
            "backend": "CPU (burn ndarray in WebAssembly)",
        })
        .to_string()
    }

    /// Starts a molecule of `n_atoms` atoms (0: drawn from the training set's histogram) from
    /// noise with `seed`, over `steps` sampling steps (the model was trained with 1000).
    /// Returns the number of atoms.
    ///
    /// # Errors
    /// `steps` of zero.
    pub fn start(&mut self, n_atoms: usize, seed: u64, steps: usize) -> Result<usize, JsError> {
        if steps == 0 {
            return Err(js("steps must be at least 1"));
        }
        let mut rng = SplitMix64::new(seed);
        let n = if n_atoms == 0 {
            self.sizes.sample(&mut rng)
        } else {
            n_atoms
        };
        self.schedule = NoiseSchedule::polynomial2(steps);
        self.sampler = Some(Sampler::new(&self.schedule, &[n], rng).map_err(js)?);
        self.last = None;
        Ok(n)
    }

    /// Runs up to `k` sampling steps. Returns the latest state as JSON `{t, steps, done,
    /// xyz, property}` (`xyz`: one extended XYZ frame with the predicted elements).
    ///
    /// # Errors
    /// No molecule started; network errors.
    pub fn advance(&mut self, k: usize) -> Result<String, JsError> {
        let sampler = self
            .sampler
            .as_mut()
            .ok_or_else(|| js("no molecule started"))?;
        for _ in 0..k.max(1) {
            match sampler
                .step(&self.model, &self.schedule, None, &self.device)
                .map_err(js)?
            {
                Some(step) => self.last = Some(step),
                None => break,
            }
        }
        let done = sampler.t().is_none();
        let step = self.last.as_ref().ok_or_else(|| js("no step taken"))?;
        let property =
            step.property.first().copied().unwrap_or(0.0) * self.meta.mad + self.meta.mean;
        let s = annotated(
            &Structure::molecule(step.types.clone(), step.positions.clone()),
            &self.meta.property,
            property,
            step.t,
        );
        let xyz = write_extxyz(std::slice::from_ref(&s)).map_err(js)?;
        let mut out = serde_json::json!({
            "t": step.t,
            "steps": self.schedule.steps(),
            "done": done,
            "xyz": xyz,
            "property": property,
        });
        if done {
            let v = judge(&step.types, &step.positions);
            out["stable"] = v.stability.molecule_stable.into();
            out["stable_atoms"] = v.stability.stable_atoms.into();
            out["atoms"] = step.types.len().into();
            out["valid"] = v.valid.into();
            out["formula"] = s.formula().into();
        }
        Ok(out.to_string())
    }
}
