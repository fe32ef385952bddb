//! The losses on [`DenoiseModel`]: coordinate denoising, SCD and fine-tuning
//! (docs/objectives.md §1, §2.1–2.3, §2.6), with the noise they draw and the host-side figures
//! they report.

use burn::tensor::{Device, Tensor, TensorData};

use super::geometry::{centre_molecules, is_periodic, random_rotation, rotate};
use super::{DenoiseError, DenoiseModel};
use crate::head::Readout;
use crate::rng::SplitMix64;
use crate::train::NoiseNormalizer;
use crate::{AtomArray, Structure};

/// Noise levels of the pretraining objectives (docs/objectives.md §2.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseLevels {
    /// Corruption noise σ_c (Å), 0.04 in SCD.
    pub corrupt: f64,
    /// Regularisation noise σ_r on SCD's clean view (Å), 0.005.
    pub regularise: f64,
}

impl Default for NoiseLevels {
    fn default() -> Self {
        Self {
            corrupt: 0.04,
            regularise: 0.005,
        }
    }
}

/// Fine-tuning settings (docs/objectives.md §2.6–2.7).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FinetuneSettings {
    /// Regularisation noise σ_ft (Å); 0 turns off the noise and the auxiliary loss.
    pub noise: f64,
    /// Weight of the auxiliary denoising loss.
    pub denoise_weight: f64,
    /// Rotate every structure randomly (QM9 augmentation).
    pub rotate: bool,
    /// Weight of the force MSE (needs a force head and per-atom `forces`); 0 = energies only.
    pub force_weight: f64,
}

/// A loss and its parts on the host.
#[derive(Debug, Clone)]
pub struct StepLoss {
    /// The differentiable loss, shape `[1]`.
    pub total: Tensor<1>,
    /// Denoising MSE on normalised noise (0 when not computed).
    pub denoise: f64,
    /// Property MSE in target units squared (0 when not computed).
    pub property: f64,
    /// Mean absolute error of the denoised positions (Å), SCD's `pos_MAE` (0 when not computed).
    pub pos_mae: f64,
    /// Force MSE in target units² per Å² (0 when not computed).
    pub force: f64,
}

pub(crate) fn check_nonempty(structures: &[Structure]) -> Result<(), DenoiseError> {
    if structures.is_empty() || structures.iter().any(|s| s.numbers.is_empty()) {
        Err(DenoiseError::Empty)
    } else {
        Ok(())
    }
}

/// Noise of scale `sigma` for every atom: centre-of-mass free per molecule, plain for periodic
/// structures.
pub(crate) fn noise(structures: &[Structure], sigma: f64, rng: &mut SplitMix64) -> Vec<[f64; 3]> {
    let mut out = Vec::new();
    for s in structures {
        let n = s.n_atoms();
        let mut e: Vec<[f64; 3]> = if is_periodic(s) {
            (0..n)
                .map(|_| [rng.normal(), rng.normal(), rng.normal()])
                .collect()
        } else {
            rng.com_free_noise(&vec![0; n])
        };
        for v in &mut e {
            for x in v.iter_mut() {
                *x *= sigma;
            }
        }
        out.extend(e);
    }
    out
}

/// Plain (not centre-of-mass corrected) Gaussian noise of scale `sigma`.
pub(crate) fn plain_noise(n: usize, sigma: f64, rng: &mut SplitMix64) -> Vec<[f64; 3]> {
    (0..n)
        .map(|_| {
            [
                sigma * rng.normal(),
                sigma * rng.normal(),
                sigma * rng.normal(),
            ]
        })
        .collect()
}

pub(crate) fn displaced(structures: &[Structure], delta: &[[f64; 3]]) -> Vec<Structure> {
    let mut at = 0;
    structures
        .iter()
        .map(|s| {
            let mut s = s.clone();
            for p in &mut s.positions {
                for k in 0..3 {
                    p[k] += delta[at][k];
                }
                at += 1;
            }
            s
        })
        .collect()
}

pub(crate) fn target_tensor(
    normalizer: &NoiseNormalizer,
    eps: &[[f64; 3]],
    like: &Tensor<2>,
) -> Tensor<2> {
    let flat: Vec<f64> = eps.iter().flat_map(|&e| normalizer.normalize(e)).collect();
    Tensor::from_data(
        TensorData::new(flat, [eps.len(), 3]),
        (&like.device(), like.dtype()),
    )
}

pub(crate) fn host_scalar(t: Tensor<1>) -> f64 {
    t.detach()
        .into_data()
        .iter::<f64>()
        .next()
        .unwrap_or(f64::NAN)
}

pub(crate) fn pos_mae(normalizer: &NoiseNormalizer, pred: &Tensor<2>, eps: &[[f64; 3]]) -> f64 {
    let p: Vec<f64> = pred.clone().detach().into_data().iter::<f64>().collect();
    let mut sum = 0.0;
    for (i, e) in eps.iter().enumerate() {
        let d = normalizer.denormalize([p[3 * i], p[3 * i + 1], p[3 * i + 2]]);
        for k in 0..3 {
            sum += (d[k] - e[k]).abs();
        }
    }
    sum / (3 * eps.len()).max(1) as f64
}

/// The denoising term of a pass: the noise head's prediction against the normalised noise `eps`
/// (MSE, differentiable) and SCD's `pos_MAE`.
pub(crate) fn denoising(
    model: &DenoiseModel,
    x: Tensor<2>,
    vec: Tensor<3>,
    normalizer: &NoiseNormalizer,
    eps: &[[f64; 3]],
) -> (Tensor<1>, f64, f64) {
    let pred = model.noise_head.forward(x, vec);
    let target = target_tensor(normalizer, eps, &pred);
    let mse = (pred.clone() - target).square().mean().reshape([1]);
    let value = host_scalar(mse.clone());
    (mse, value, pos_mae(normalizer, &pred, eps))
}

impl StepLoss {
    pub(crate) fn denoising_only((total, denoise, pos_mae): (Tensor<1>, f64, f64)) -> Self {
        Self {
            total,
            denoise,
            property: 0.0,
            pos_mae,
            force: 0.0,
        }
    }
}

/// Plain coordinate denoising (docs/objectives.md §1), on the CT with the mask token as condition.
/// Updates `normalizer` with this batch's noise before normalising it.
///
/// # Errors
/// [`DenoiseError`] for empty input, bad cells or network errors.
pub fn coord_loss(
    model: &DenoiseModel,
    structures: &[Structure],
    levels: NoiseLevels,
    normalizer: &mut NoiseNormalizer,
    rng: &mut SplitMix64,
    device: &Device,
) -> Result<StepLoss, DenoiseError> {
    check_nonempty(structures)?;
    let clean = centre_molecules(structures);
    let eps = noise(&clean, levels.corrupt, rng);
    let corrupt = displaced(&clean, &eps);
    normalizer.update(&eps);
    let out = model.pass(&corrupt, None, device)?;
    Ok(StepLoss::denoising_only(denoising(
        model, out.x, out.vec, normalizer, &eps,
    )))
}

/// Self-Conditioned Denoising (docs/objectives.md §2.1): embedding of the clean view conditions the
/// denoising of the corrupted view; gradients flow through both passes. Updates `normalizer`.
///
/// # Errors
/// [`DenoiseError`] for empty input, bad cells or network errors.
pub fn scd_loss(
    model: &DenoiseModel,
    structures: &[Structure],
    levels: NoiseLevels,
    normalizer: &mut NoiseNormalizer,
    rng: &mut SplitMix64,
    device: &Device,
) -> Result<StepLoss, DenoiseError> {
    check_nonempty(structures)?;
    let base = centre_molecules(structures);
    let n: usize = base.iter().map(Structure::n_atoms).sum();
    let eps = noise(&base, levels.corrupt, rng);
    let reg = plain_noise(n, levels.regularise, rng);
    let clean = displaced(&base, &reg);
    let corrupt = displaced(&base, &eps);
    normalizer.update(&eps);
    let first = model.pass(&clean, None, device)?;
    let cond = model
        .emb_head
        .forward(first.x, first.graph.batch.clone(), first.graph.n_systems);
    let second = model.pass(&corrupt, Some(cond), device)?;
    Ok(StepLoss::denoising_only(denoising(
        model, second.x, second.vec, normalizer, &eps,
    )))
}

/// Supervised fine-tuning step (docs/objectives.md §2.6): `MSE(y, targets)` on a noised, optionally
/// rotated copy, plus the weighted auxiliary denoising loss when `settings.noise > 0`.
///
/// # Errors
/// [`DenoiseError`] for empty input, a target count that differs from the structures, bad
/// cells or network errors.
#[allow(clippy::too_many_arguments)]
pub fn finetune_loss(
    model: &DenoiseModel,
    structures: &[Structure],
    targets: &[f64],
    readout: &Readout,
    settings: FinetuneSettings,
    normalizer: &mut NoiseNormalizer,
    rng: &mut SplitMix64,
    device: &Device,
) -> Result<StepLoss, DenoiseError> {
    check_nonempty(structures)?;
    if targets.len() != structures.len() {
        return Err(DenoiseError::Length {
            targets: targets.len(),
            structures: structures.len(),
        });
    }
    let mut base = centre_molecules(structures);
    if settings.rotate {
        for s in &mut base {
            rotate(s, &random_rotation(rng));
        }
    }
    let with_noise = settings.noise > 0.0;
    let eps = if with_noise {
        noise(&base, settings.noise, rng)
    } else {
        vec![[0.0; 3]; base.iter().map(Structure::n_atoms).sum()]
    };
    let input = if with_noise {
        displaced(&base, &eps)
    } else {
        base
    };
    let out = model.pass(&input, None, device)?;
    let y = model.property(&out, readout);
    let t = Tensor::<2>::from_data(
        TensorData::new(targets.to_vec(), [targets.len(), 1]),
        (&y.device(), y.dtype()),
    );
    let mut prop = (y - t).square().mean().reshape([1]);
    let property = host_scalar(prop.clone());
    let mut force = 0.0;
    if settings.force_weight > 0.0 {
        let head = model.force_head.as_ref().ok_or_else(|| {
            DenoiseError::Forces("force_weight > 0 needs a model with a force head".into())
        })?;
        let truth = forces_of(&input)?;
        let pred = head
            .forward(out.x.clone(), out.vec.clone())
            .mul_scalar(readout.std);
        let t = Tensor::<2>::from_data(
            TensorData::new(truth, [pred.dims()[0], 3]),
            (&pred.device(), pred.dtype()),
        );
        let f = (pred - t).square().mean().reshape([1]);
        force = host_scalar(f.clone());
        prop = prop + f.mul_scalar(settings.force_weight);
    }
    let mut loss = StepLoss {
        total: prop,
        denoise: 0.0,
        property,
        pos_mae: 0.0,
        force,
    };
    if with_noise && settings.denoise_weight > 0.0 {
        normalizer.update(&eps);
        let (den, denoise, pos_mae) = denoising(model, out.x, out.vec, normalizer, &eps);
        loss.total = loss.total + den.mul_scalar(settings.denoise_weight);
        loss.denoise = denoise;
        loss.pos_mae = pos_mae;
    }
    Ok(loss)
}

/// The per-atom `forces` of every structure, flattened `[n_atoms · 3]`.
pub(crate) fn forces_of(structures: &[Structure]) -> Result<Vec<f64>, DenoiseError> {
    let mut out = Vec::new();
    for s in structures {
        match s.atom_arrays.get("forces") {
            Some(AtomArray::Float { width: 3, values }) if values.len() == 3 * s.n_atoms() => {
                out.extend_from_slice(values);
            }
            _ => {
                return Err(DenoiseError::Forces(format!(
                    "{} record {}: force training needs a per-atom `forces` array (3 values \
                     per atom)",
                    s.source, s.record_index
                )));
            }
        }
    }
    Ok(out)
}
