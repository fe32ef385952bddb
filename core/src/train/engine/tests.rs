//! The engine against the host AdamW of `optim.rs` (the golden reference), its state round
//! trip, its non-finite record and its transfers.

use super::*;
use crate::Structure;
use crate::backbone::{CtConfig, EtConfig};
use crate::objective::{DenoiseModel, DenoiseModelConfig, NoiseLevels, coord_loss, scd_loss};
use crate::rng::SplitMix64;
use crate::train::optim::{
    AdamWState, Ema, clip_factor, decay_mask, flatten, global_norm, gradients, unflatten,
};
use crate::train::{AdaptiveClip, NoiseNormalizer};

fn model(device: &Device) -> DenoiseModel {
    device.seed(7);
    let et = EtConfig::new()
        .with_hidden_channels(16)
        .with_num_layers(2)
        .with_num_heads(4)
        .with_num_rbf(8);
    DenoiseModelConfig::new(
        CtConfig::new()
            .with_et(et)
            .with_p_droppath(0.0)
            .with_p_dropcond(0.0)
            .with_freeze_embeddings(true),
    )
    .init(device)
    .unwrap()
    .with_training(true)
}

fn mols() -> Vec<Structure> {
    vec![
        Structure::molecule(
            vec![8, 1, 1],
            vec![[0.0; 3], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]],
        ),
        Structure::molecule(
            vec![7, 1, 1, 1],
            vec![
                [-0.0404, 1.0241, 0.0626],
                [0.0173, 0.0125, -0.0274],
                [0.9158, 1.3587, -0.0288],
                [-0.5203, 1.3435, -0.7755],
            ],
        ),
    ]
}

const ADAMW: AdamW = AdamW {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weight_decay: 0.1,
};

/// The loss of step `step`: SCD (every head but the force head trained) or coordinate
/// denoising (the embedding head gets no gradient: the masked update path).
fn loss(
    m: &DenoiseModel,
    step: u64,
    norm: &mut NoiseNormalizer,
    scd: bool,
    device: &Device,
) -> crate::objective::StepLoss {
    let mut rng = SplitMix64::new(1000 + step);
    let f = if scd { scd_loss } else { coord_loss };
    f(m, &mols(), NoiseLevels::default(), norm, &mut rng, device).unwrap()
}

fn max_rel(a: &[f32], b: &[f32]) -> f64 {
    let scale = a.iter().fold(0f32, |s, v| s.max(v.abs())).max(1e-6);
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs() / scale))
        .fold(0.0, f64::max)
}

/// Host reference and engine side by side, each on its own weights, for `steps` steps.
/// Returns the largest relative weight and EMA differences after the first step and at the end.
fn compare(clipping: Clipping, scd: bool, steps: u64) -> [f64; 4] {
    let (_serial, device) = crate::objective::serial_autodiff_device();
    let lr = 2e-3;
    // Host reference (today's optimiser before the engine).
    let mut host_model = model(&device);
    let decay = decay_mask(&host_model);
    let mut params = flatten(&host_model);
    let mut adam = AdamWState::new(&params);
    let mut ema = Ema::new(0.99, &params);
    let mut adaptive = AdaptiveClip::default();
    let mut host_norm = NoiseNormalizer::default();
    // Engine, on the same initial weights (one initialisation: see the round-trip test).
    let mut engine_model = host_model.clone();
    let mut engine = Engine::new(
        &engine_model,
        EngineConfig {
            adamw: ADAMW,
            clipping,
            ema_decay: 0.99,
            decay_groups: true,
        },
    );
    let mut engine_norm = NoiseNormalizer::default();
    let mut first = [0.0; 2];
    for step in 0..steps {
        let l = loss(&host_model, step, &mut host_norm, scd, &device);
        let g = gradients(&host_model, &l.total.backward());
        let norm = global_norm(&g);
        let factor = match clipping {
            Clipping::None => 1.0,
            Clipping::Norm(max) => clip_factor(norm, max),
            Clipping::Adaptive => adaptive.observe(norm),
        };
        let opt = AdamW { ..ADAMW };
        opt.step(&mut params, &g, &decay, &mut adam, lr, factor);
        host_model = unflatten(host_model, &params).unwrap();
        ema.update(&params);

        let l = loss(&engine_model, step, &mut engine_norm, scd, &device);
        engine_model = engine.step(engine_model, &l.losses(), lr);
        let f = engine.figures().unwrap();
        assert!(f.non_finite.is_none());
        assert!(
            (f.grad_norm - norm).abs() <= 1e-3 * norm,
            "step {step}: norm {} vs {norm}",
            f.grad_norm
        );
        assert!(
            (f.clip_factor - factor).abs() <= 1e-3,
            "step {step}: factor {} vs {factor}",
            f.clip_factor
        );
        if step == 0 {
            let s = engine.state();
            let host: Vec<f32> = params.concat();
            first = [
                max_rel(&host, &s.params),
                max_rel(&ema.values.concat(), &s.ema.unwrap()),
            ];
        }
    }
    let s = engine.state();
    assert_eq!(
        s.params,
        flatten(&engine_model).concat(),
        "the model holds the engine's weights"
    );
    if matches!(clipping, Clipping::Adaptive) {
        let h = adaptive.history();
        assert_eq!(s.clip_history.len(), h.len());
        for (a, b) in s.clip_history.iter().zip(&h) {
            assert!((a - b).abs() <= 1e-3 * b.abs(), "{a} vs {b}");
        }
    }
    [
        first[0],
        first[1],
        max_rel(&params.concat(), &s.params),
        max_rel(&ema.values.concat(), &s.ema.unwrap()),
    ]
}

#[test]
fn matches_the_host_optimiser_over_100_steps_with_decay_groups_and_norm_clipping() {
    let [w1, e1, w, e] = compare(Clipping::Norm(0.5), true, 100);
    eprintln!("SCD, norm clipping: first step {w1:e} / EMA {e1:e}; 100 steps {w:e} / EMA {e:e}");
    // One step from the same weights and gradients: f32 on the device vs f64 on the host.
    assert!(w1 < 1e-6 && e1 < 1e-6, "first step: {w1:e} {e1:e}");
    // 100 steps, each side on its own weights: rounding differences grow slowly.
    assert!(
        w < 1e-4 && e < 1e-4,
        "after 100 steps: weights {w:e}, EMA {e:e}"
    );
}

#[test]
fn matches_the_host_optimiser_with_adaptive_clipping_and_ungraded_parameters() {
    // Coordinate denoising leaves the embedding head without gradients (masked update).
    let [w1, e1, w, e] = compare(Clipping::Adaptive, false, 100);
    eprintln!("coord, adaptive: first step {w1:e} / EMA {e1:e}; 100 steps {w:e} / EMA {e:e}");
    assert!(w1 < 1e-6, "first step: {w1:e}");
    assert!(
        w < 1e-4 && e < 1e-4,
        "after 100 steps: weights {w:e}, EMA {e:e}"
    );
}

#[test]
fn state_round_trip_continues_bit_for_bit_and_reads_once() {
    let (_serial, device) = crate::objective::serial_autodiff_device();
    let config = EngineConfig {
        adamw: ADAMW,
        clipping: Clipping::Adaptive,
        ema_decay: 0.9,
        decay_groups: false,
    };
    // One initialisation for every run: the frozen embeddings are no engine state, and burn's
    // device generator is shared with the other tests of this binary, so a second
    // initialisation could draw other numbers for them.
    let initial = model(&device);
    // The noise normaliser is the objective's state (the training loop checkpoints it).
    let run = |from: Option<&(EngineState, NoiseNormalizer)>, steps: std::ops::Range<u64>| {
        let mut m = initial.clone();
        let mut e = Engine::new(&m, config);
        let mut norm = NoiseNormalizer::default();
        if let Some((s, n)) = from {
            m = e.restore(m, s).unwrap();
            norm = *n;
        }
        for step in steps {
            let l = loss(&m, step, &mut norm, true, &device);
            let before = transfer::counters();
            m = e.step(m, &l.losses(), 1e-3);
            assert_eq!(
                transfer::counters().since(&before),
                transfer::Counters::default(),
                "a step that does not log moves nothing"
            );
        }
        let before = transfer::counters();
        let f = e.figures().unwrap();
        assert_eq!(transfer::counters().since(&before).reads, 1);
        assert!(f.loss.is_finite() && f.figures.len() == 4);
        let before = transfer::counters();
        let s = e.state();
        assert_eq!(transfer::counters().since(&before).reads, 1);
        (s, norm)
    };
    let (whole, _) = run(None, 0..6);
    let half = run(None, 0..3);
    assert_eq!(half.0.step, 3);
    let (resumed, _) = run(Some(&half), 3..6);
    assert_eq!(whole.step, 6);
    assert_eq!(
        whole.clip_history.len(),
        7,
        "EDM's initial norm and six recorded ones"
    );
    assert!(resumed == whole, "a resumed engine continues bit for bit");
    // A state of another model is refused.
    let mut other = half.0;
    other.params.pop();
    let m = model(&device);
    let mut e = Engine::new(&m, config);
    assert!(matches!(
        e.restore(m, &other),
        Err(EngineError::Size { .. })
    ));
}

#[test]
fn a_non_finite_step_is_recorded_with_its_parameters() {
    let (_serial, device) = crate::objective::serial_autodiff_device();
    let mut m = model(&device);
    let mut e = Engine::new(
        &m,
        EngineConfig {
            adamw: ADAMW,
            clipping: Clipping::Norm(1.0),
            ema_decay: 0.0,
            decay_groups: true,
        },
    );
    let mut norm = NoiseNormalizer::default();
    for step in 0..4 {
        let mut l = loss(&m, step, &mut norm, true, &device).losses();
        if step == 2 {
            l.total = l.total.mul_scalar(f64::NAN);
        }
        m = e.step(m, &l, 1e-3);
    }
    let f = e.figures().unwrap();
    let bad = f.non_finite.expect("recorded");
    assert_eq!(bad.step, 3, "the third step (1-based)");
    assert!(bad.loss.is_nan());
    assert!(
        bad.figures[0].is_finite(),
        "figures of that step: {:?}",
        bad.figures
    );
    // Every parameter that takes part in SCD gets a NaN gradient; the frozen embeddings and
    // the unused force/scalar heads do not.
    let names = crate::nn::params::param_names(&m);
    assert!(!bad.params.is_empty());
    for &i in &bad.params {
        assert!(!names[i].0.contains("scalar_head"), "{}", names[i].0);
    }
}
