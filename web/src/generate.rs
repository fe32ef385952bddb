//! Live UniGEM generation in the browser: the shipped model (`models/unigem-small`) samples one
//! molecule step by step, on burn's WebGPU backend where the browser has WebGPU and on its CPU
//! backend in WebAssembly otherwise (or on request). The page runs this in a Web
//! Worker (`www/generate-worker.js`), which calls [`Generator::advance`] in slices and posts each
//! state to the page as an extended XYZ frame, so the page stays responsive while the molecule
//! nucleates and grows.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::{Device, Transaction};
use nucleate_core::Structure;
use nucleate_core::backbone::UniGem;
use nucleate_core::io::write::write_extxyz;
use nucleate_core::metrics::judge;
use nucleate_core::objective::{
    AtomCountHistogram, NoiseSchedule, Sampler, SamplerStep, StepValues, UniGemMeta as Meta,
    annotated,
};
use nucleate_core::rng::SplitMix64;
use nucleate_core::train::load_le_bytes;
use wasm_bindgen::prelude::*;

use crate::backend::Compute;
use crate::predict::ConfigFile;

/// A UniGEM model and, while a molecule is being drawn, its sampler.
struct State {
    model: UniGem,
    meta: Meta,
    sizes: AtomCountHistogram,
    schedule: NoiseSchedule,
    compute: Compute,
    device: Device,
    sampler: Option<Sampler>,
    last: Option<SamplerStep>,
    /// Incremented by every [`Generator::start`], so that a slice still reading back from the
    /// GPU when a new molecule starts does not apply its values to the new one.
    epoch: u64,
}

/// The page's handle on a UniGEM model (held by the Web Worker).
#[wasm_bindgen]
pub struct Generator {
    state: Rc<RefCell<State>>,
}

fn js(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn load(
    config_toml: &str,
    meta_json: &str,
    weights: &[u8],
    compute: Compute,
    device: Device,
) -> Result<Generator, JsError> {
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
    let meta: Meta = serde_json::from_str(meta_json).map_err(|e| js(format!("meta.json: {e}")))?;
    let sizes = AtomCountHistogram::new(meta.sizes.iter().copied())
        .ok_or_else(|| js("meta.json: empty atom-count histogram"))?;
    let model = config
        .init(&device)
        .map_err(|e| js(format!("model config.toml: {e}")))?;
    let model = load_le_bytes(model, weights).map_err(|e| js(format!("weights.bin: {e}")))?;
    Ok(Generator {
        state: Rc::new(RefCell::new(State {
            model,
            meta,
            sizes,
            schedule: NoiseSchedule::polynomial2(1000),
            compute,
            device,
            sampler: None,
            last: None,
            epoch: 0,
        })),
    })
}

#[wasm_bindgen]
impl Generator {
    /// Loads a model directory written by `nucleate train unigem` from its three files onto the
    /// CPU backend.
    ///
    /// # Errors
    /// Malformed config or metadata, a model that is not UniGEM, weights that do not fit.
    #[wasm_bindgen(constructor)]
    pub fn new(config_toml: &str, meta_json: &str, weights: &[u8]) -> Result<Generator, JsError> {
        load(
            config_toml,
            meta_json,
            weights,
            Compute::Cpu,
            crate::backend::cpu(),
        )
    }

    /// [`Generator::new`] onto `backend` (`"cpu"` or `"webgpu"`).
    ///
    /// # Errors
    /// As [`Generator::new`]; an unknown backend; WebGPU where the browser cannot provide it.
    pub async fn create(
        config_toml: String,
        meta_json: String,
        weights: Vec<u8>,
        backend: String,
    ) -> Result<Generator, JsError> {
        let compute = Compute::parse(&backend).map_err(js)?;
        let device = compute.device().await.map_err(js)?;
        load(&config_toml, &meta_json, &weights, compute, device)
    }

    /// `{property, unit, steps_trained, sizes: [min, max], backend, backend_key}` of the loaded
    /// model.
    pub fn info(&self) -> String {
        let st = self.state.borrow();
        let lo = st.sizes.bins.first().map_or(0, |b| b.0);
        let hi = st.sizes.bins.last().map_or(0, |b| b.0);
        serde_json::json!({
            "property": st.meta.property,
            "unit": st.meta.unit.as_deref().unwrap_or(""),
            "steps_trained": st.meta.steps_done,
            "sizes": [lo, hi],
            "backend": st.compute.label(),
            "backend_key": st.compute.key(),
        })
        .to_string()
    }

    /// Starts a molecule of `n_atoms` atoms (0: drawn from the training set's histogram) from
    /// noise with `seed`, over `steps` sampling steps (the model was trained with 1000).
    /// Returns the number of atoms.
    ///
    /// # Errors
    /// `steps` of zero.
    pub fn start(&self, n_atoms: usize, seed: u64, steps: usize) -> Result<usize, JsError> {
        if steps == 0 {
            return Err(js("steps must be at least 1"));
        }
        let mut st = self.state.borrow_mut();
        let mut rng = SplitMix64::new(seed);
        let n = if n_atoms == 0 {
            st.sizes.sample(&mut rng)
        } else {
            n_atoms
        };
        st.schedule = NoiseSchedule::polynomial2(steps);
        st.sampler = Some(Sampler::new(&st.schedule, &[n], rng).map_err(js)?);
        st.last = None;
        st.epoch += 1;
        Ok(n)
    }

    /// Runs up to `k` sampling steps, reading each step's network outputs back asynchronously
    /// (a browser cannot block on the GPU). Resolves to the latest state as JSON `{t, steps,
    /// done, xyz, property}` (`xyz`: one extended XYZ frame with the predicted elements), with
    /// `{stable, stable_atoms, atoms, valid, formula}` added at the end; rejects when no
    /// molecule was started, the network fails, or a new molecule started meanwhile.
    pub fn advance(&self, k: usize) -> js_sys::Promise {
        let state = self.state.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            advance(&state, k)
                .await
                .map(JsValue::from)
                .map_err(JsValue::from)
        })
    }
}

async fn advance(state: &RefCell<State>, k: usize) -> Result<String, JsError> {
    let epoch = state.borrow().epoch;
    for _ in 0..k.max(1) {
        let outputs = {
            let st = state.borrow();
            let sampler = st
                .sampler
                .as_ref()
                .ok_or_else(|| js("no molecule started"))?;
            sampler.network(&st.model, &st.device).map_err(js)?
        };
        let Some(out) = outputs else { break };
        let mut read = Transaction::default()
            .register(out.eps)
            .register(out.types)
            .register(out.property)
            .execute_async()
            .await
            .map_err(|e| js(format!("reading the network's outputs back: {e:?}")))?
            .into_iter()
            .map(|d| d.iter::<f64>().collect::<Vec<f64>>());
        let mut next = || read.next().unwrap_or_default();
        let values = StepValues {
            eps: next(),
            types: next(),
            property: next(),
        };
        let mut st = state.borrow_mut();
        if st.epoch != epoch {
            return Err(js("a new molecule was started"));
        }
        let st = &mut *st;
        let Some(sampler) = st.sampler.as_mut() else {
            return Err(js("no molecule started"));
        };
        match sampler.apply(&st.schedule, values).map_err(js)? {
            Some(step) => st.last = Some(step),
            None => break,
        }
    }
    let st = state.borrow();
    let done = st.sampler.as_ref().is_none_or(|s| s.t().is_none());
    let step = st.last.as_ref().ok_or_else(|| js("no step taken"))?;
    let property = st
        .meta
        .to_label(step.property.first().copied().unwrap_or(0.0));
    let s = annotated(
        &Structure::molecule(step.types.clone(), step.positions.clone()),
        &st.meta.property,
        property,
        step.t,
    );
    let xyz = write_extxyz(std::slice::from_ref(&s)).map_err(js)?;
    let mut out = serde_json::json!({
        "t": step.t,
        "steps": st.schedule.steps(),
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
