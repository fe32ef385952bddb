//! A few training steps in the page: SCD on a small CT through core's training engine, on
//! burn's CPU backend compiled to WebAssembly or on the browser's WebGPU. The engine and the
//! objectives are the ones `nucleate pretrain` runs natively; only the loop is the page's,
//! and it reads the step's figures without blocking (browsers cannot block on a GPU read).
//! Fine-tuning a model in the page builds on this.

use nucleate_core::backbone::{CtConfig, EtConfig};
use nucleate_core::objective::{DenoiseModelConfig, NoiseLevels, denoise_batch_loss, prepare_scd};
use nucleate_core::rng::SplitMix64;
use nucleate_core::train::{AdamW, Clipping, Engine, EngineConfig, NoiseNormalizer, transfer};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::app::parse_file;
use crate::backend::Compute;

/// What [`train_steps`] reports: the loss and gradient norm of each step and the transfers
/// between the page and the device.
#[derive(Debug, Serialize)]
struct TrainReport {
    backend: &'static str,
    parameters: usize,
    losses: Vec<f64>,
    grad_norms: Vec<f64>,
    reads: u64,
    uploads: u64,
    bytes_to_host: u64,
    bytes_to_device: u64,
}

fn js(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Runs `steps` SCD steps of a small CT (32 channels, 2 layers, seeded weights) on the first
/// structure of the file `name` (`bytes`), on `backend` (`"cpu"` or `"webgpu"`), with AdamW,
/// global-norm clipping and an EMA; every step's figures come back in one read. Each step
/// draws the same noise, so a working step must lower the loss. Returns the report as JSON.
///
/// # Errors
/// An unreadable file, an unavailable backend, a failed step.
#[wasm_bindgen]
pub async fn train_steps(
    backend: &str,
    name: &str,
    bytes: &[u8],
    steps: usize,
) -> Result<String, JsError> {
    let compute = Compute::parse(backend).map_err(js)?;
    let device = compute.device().await.map_err(js)?.autodiff();
    let structures = parse_file(name, bytes)?;
    let config = DenoiseModelConfig::new(
        CtConfig::new()
            .with_et(
                EtConfig::new()
                    .with_hidden_channels(32)
                    .with_num_layers(2)
                    .with_num_heads(4)
                    .with_num_rbf(16),
            )
            .with_p_droppath(0.0)
            .with_p_dropcond(0.0),
    );
    // Weights from the CPU generator on every backend, so both start from the same model.
    let cpu = crate::backend::cpu().autodiff();
    cpu.seed(7);
    let init = config.init(&cpu).map_err(js)?;
    let mut model = nucleate_core::train::copy_params(&init, config.init(&device).map_err(js)?)
        .map_err(js)?
        .with_training(true);
    let mut engine = Engine::new(
        &model,
        EngineConfig {
            adamw: AdamW {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
            },
            clipping: Clipping::Norm(10.0),
            ema_decay: 0.999,
            decay_groups: true,
        },
    );
    let mut normalizer = NoiseNormalizer::default();
    let levels = NoiseLevels {
        corrupt: 0.04,
        regularise: 0.005,
    };
    let before = transfer::counters();
    let (mut losses, mut grad_norms) = (Vec::new(), Vec::new());
    for _ in 0..steps {
        let mut rng = SplitMix64::new(1);
        let batch = prepare_scd(
            &structures[..1],
            levels,
            &mut normalizer,
            &mut rng,
            &model.graph_options(),
        )
        .map_err(js)?;
        let loss = denoise_batch_loss(&model, &batch, &device).map_err(js)?;
        model = engine.step(model, &loss.losses(), 1e-3);
        let f = engine
            .figures_async()
            .await
            .map_err(js)?
            .ok_or_else(|| js("the engine did no step"))?;
        losses.push(f.loss);
        grad_norms.push(f.grad_norm);
    }
    let moved = transfer::counters().since(&before);
    serde_json::to_string(&TrainReport {
        backend: compute.key(),
        parameters: engine.sizes().iter().sum(),
        losses,
        grad_norms,
        reads: moved.reads,
        uploads: moved.uploads,
        bytes_to_host: moved.bytes_to_host,
        bytes_to_device: moved.bytes_to_device,
    })
    .map_err(js)
}

/// nucleate's graph kernels on `backend` (`"webgpu"`: burn's WebGPU backend, the kernels'
/// WGSL) against the host reference of `nucleate_core::testing::kernels` — the check
/// `native/tests/graph_kernels.rs` runs on wgpu: random graphs of 1 to 10⁵ edges, sum, mean
/// and gather, forward and backward. Returns `{"graphs", "largest", "worst", "ms"}` as JSON.
///
/// # Errors
/// An unavailable backend, one that does not run the kernels, or a disagreement above
/// 1e-5 relative (the message names the operation and the graph).
#[wasm_bindgen]
pub async fn graph_kernel_check(backend: &str) -> Result<String, JsError> {
    use nucleate_core::testing::kernels::{check_graph_kernels, kernel_cases};
    let compute = Compute::parse(backend).map_err(js)?;
    let device = compute.device().await.map_err(js)?;
    let t0 = js_sys::Date::now();
    let report = check_graph_kernels(&device, &kernel_cases(100_000))
        .await
        .map_err(js)?;
    Ok(format!(
        "{{\"graphs\":{},\"largest\":{},\"worst\":{:e},\"ms\":{:.0}}}",
        report.graphs,
        report.largest,
        report.worst,
        js_sys::Date::now() - t0
    ))
}
