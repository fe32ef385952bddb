//! The losses on [`DenoiseModel`]: coordinate denoising, SCD and fine-tuning
//! (docs/objectives.md §1, §2.1–2.3, §2.6), with the noise they draw and the host-side figures
//! they report.

use burn::tensor::{Device, Tensor, TensorData};

use super::geometry::{centre_molecules, is_periodic, random_rotation, rotate};
use super::{DenoiseError, DenoiseModel};
use crate::backbone::{AtomGraph, HostGraph};
use crate::graph::RadiusGraphOptions;
use crate::head::Readout;
use crate::rng::SplitMix64;
use crate::train::{Losses, NoiseNormalizer, transfer};
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

/// A loss and the figures logged with it, all on the device.
#[derive(Debug, Clone)]
pub struct StepLoss {
    /// The differentiable loss, shape `[1]`.
    pub total: Tensor<1>,
    /// `[denoise, property, pos_mae, force]` (detached; 0 where not computed): the denoising
    /// MSE on normalised noise, the property MSE in target units², SCD's `pos_MAE` of the
    /// denoised positions (Å) and the force MSE (target units² per Å²).
    pub figures: Tensor<1>,
}

/// [`StepLoss::figures`] on the host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossFigures {
    /// Denoising MSE on normalised noise.
    pub denoise: f64,
    /// Property MSE in target units².
    pub property: f64,
    /// Mean absolute error of the denoised positions (Å).
    pub pos_mae: f64,
    /// Force MSE.
    pub force: f64,
}

impl StepLoss {
    /// Names of the entries of [`StepLoss::figures`].
    pub const FIGURES: [&'static str; 4] = ["denoise", "property", "pos_mae", "force"];

    /// The figures read to the host (one read).
    #[must_use]
    pub fn host(&self) -> LossFigures {
        let v: Vec<f64> = transfer::read(self.figures.clone()).iter::<f64>().collect();
        LossFigures {
            denoise: v[0],
            property: v[1],
            pos_mae: v[2],
            force: v[3],
        }
    }

    /// The engine's view of this loss.
    #[must_use]
    pub fn losses(self) -> Losses {
        Losses {
            total: self.total,
            figures: self.figures,
        }
    }

    fn new(total: Tensor<1>, parts: [Option<Tensor<1>>; 4]) -> Self {
        let zero = || Tensor::<1>::zeros([1], (&total.device(), total.dtype()));
        let figures = Tensor::cat(
            parts
                .into_iter()
                .map(|p| p.map_or_else(zero, Tensor::detach))
                .collect(),
            0,
        );
        Self { total, figures }
    }

    pub(crate) fn denoising_only((total, pos_mae): (Tensor<1>, Tensor<1>)) -> Self {
        Self::new(total.clone(), [Some(total), None, Some(pos_mae), None])
    }
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
    // Padding rows (past `eps`) are zero; the atom mask removes them from the loss anyway.
    let [rows, _] = like.dims();
    let mut flat: Vec<f64> = eps.iter().flat_map(|&e| normalizer.normalize(e)).collect();
    flat.resize(3 * rows, 0.0);
    transfer::upload(
        TensorData::new(flat, [rows, 3]),
        (&like.device(), like.dtype()),
    )
}

/// The masks of a padded pass ([`HostGraph::padded`]) on the device.
#[derive(Debug, Clone)]
pub(crate) struct Padding {
    /// `[n_atoms, 1]`: 1 on real atoms.
    atoms: Tensor<2>,
    /// `[n_systems, 1]`: 1 on real systems.
    systems: Tensor<2>,
    real_atoms: usize,
    real_systems: usize,
}

impl Padding {
    /// The masks of `graph`, or `None` when it has no padding.
    fn of(graph: &HostGraph, like: &Tensor<2>) -> Option<Self> {
        if !graph.is_padded() {
            return None;
        }
        let opts = (&like.device(), like.dtype());
        let column = |v: Vec<f64>| {
            let n = v.len();
            transfer::upload::<2, burn::tensor::Float>(TensorData::new(v, [n, 1]), opts)
        };
        Some(Self {
            atoms: column(graph.atom_mask()),
            systems: column(graph.system_mask()),
            real_atoms: graph.real_atoms(),
            real_systems: graph.real_systems(),
        })
    }
}

/// SCD's `pos_MAE` (Å) from the per-axis sums `|pred − target|` (`[1, 3]`, normalised units)
/// over `n` atoms: `|pred − target|·(std + 1e-8)` per axis since `target = (ε − mean)/(std +
/// 1e-8)`.
fn pos_mae_of(normalizer: &NoiseNormalizer, per_axis: Tensor<2>, n: usize) -> Tensor<1> {
    let std = normalizer.std();
    let mut sum = per_axis
        .clone()
        .slice([0..1, 0..1])
        .mul_scalar(std[0] + 1e-8);
    for (k, s) in std.iter().enumerate().skip(1) {
        sum = sum
            + per_axis
                .clone()
                .slice([0..1, k..k + 1])
                .mul_scalar(s + 1e-8);
    }
    sum.reshape([1]).div_scalar((3 * n).max(1) as f64)
}

/// The denoising term of a pass: the noise head's prediction against the normalised noise `eps`
/// (MSE, differentiable) and SCD's `pos_MAE`, over the real atoms of a padded pass.
pub(crate) fn denoising(
    model: &DenoiseModel,
    x: Tensor<2>,
    vec: Tensor<3>,
    normalizer: &NoiseNormalizer,
    eps: &[[f64; 3]],
    padding: Option<&Padding>,
) -> (Tensor<1>, Tensor<1>) {
    let pred = model.noise_head.forward(x, vec);
    let target = target_tensor(normalizer, eps, &pred);
    match padding {
        None => {
            let [n, _] = pred.dims();
            let per_axis = (pred.clone() - target.clone()).detach().abs().sum_dim(0);
            let pos = pos_mae_of(normalizer, per_axis, n);
            let mse = (pred - target).square().mean().reshape([1]);
            (mse, pos)
        }
        Some(p) => {
            let n = p.real_atoms;
            let diff = (pred - target).mul(p.atoms.clone());
            let pos = pos_mae_of(normalizer, diff.clone().detach().abs().sum_dim(0), n);
            let mse = diff
                .square()
                .sum()
                .div_scalar((3 * n).max(1) as f64)
                .reshape([1]);
            (mse, pos)
        }
    }
}

/// The host half of a denoising step (coord, SCD, pocket SCD, fine-tuning): the noised
/// views' graphs, the noise and the targets, everything drawn from the step's generator. It
/// holds no tensors, so the training loop prepares the next batches on a worker thread while
/// the device runs the current step; [`denoise_batch_loss`] is the device half.
#[derive(Debug, Clone)]
pub struct DenoiseBatch {
    /// The view whose embedding conditions the second pass (SCD's clean molecules, pocket
    /// SCD's pockets); `None`: the mask token.
    condition: Option<HostGraph>,
    /// The view the network denoises, or whose property it predicts.
    input: HostGraph,
    /// The noise added to `input` (zeros without noise).
    eps: Vec<[f64; 3]>,
    /// Whether the denoising term is part of the loss.
    denoise: bool,
    /// The noise statistics after this batch's update (its targets are normalised by them).
    normalizer: NoiseNormalizer,
    /// Fine-tuning's labels.
    supervised: Option<Supervised>,
}

#[derive(Debug, Clone)]
struct Supervised {
    targets: Vec<f64>,
    /// Flattened per-atom forces, when the loss has a force term.
    forces: Option<Vec<f64>>,
    readout: Readout,
    settings: FinetuneSettings,
}

impl DenoiseBatch {
    /// The noise statistics after this batch's update.
    #[must_use]
    pub fn normalizer(&self) -> NoiseNormalizer {
        self.normalizer
    }

    /// Atoms and edges of each pass (the conditioning view's first): what fixes the shapes of
    /// the step's kernels.
    #[must_use]
    pub fn shape(&self) -> Vec<usize> {
        let views = self.condition.iter().chain(std::iter::once(&self.input));
        views.flat_map(|g| [g.n_atoms(), g.n_edges()]).collect()
    }

    /// The batch with every pass padded to bucket capacities ([`HostGraph::padded`]): the
    /// loss is that of the unpadded batch (up to summation order), and a run meets a handful
    /// of shapes instead of one per batch.
    #[must_use]
    pub fn padded(self) -> Self {
        Self {
            condition: self.condition.map(HostGraph::padded),
            input: self.input.padded(),
            ..self
        }
    }
}

/// The host half of [`coord_loss`]: updates `normalizer` with this batch's noise.
///
/// # Errors
/// [`DenoiseError`] for empty input or bad cells.
pub fn prepare_coord(
    structures: &[Structure],
    levels: NoiseLevels,
    normalizer: &mut NoiseNormalizer,
    rng: &mut SplitMix64,
    options: &RadiusGraphOptions,
) -> Result<DenoiseBatch, DenoiseError> {
    check_nonempty(structures)?;
    let clean = centre_molecules(structures);
    let eps = noise(&clean, levels.corrupt, rng);
    let corrupt = displaced(&clean, &eps);
    normalizer.update(&eps);
    Ok(DenoiseBatch {
        condition: None,
        input: HostGraph::radius(&corrupt, options)?,
        eps,
        denoise: true,
        normalizer: *normalizer,
        supervised: None,
    })
}

/// The host half of [`scd_loss`]: updates `normalizer` with this batch's noise.
///
/// # Errors
/// [`DenoiseError`] for empty input or bad cells.
pub fn prepare_scd(
    structures: &[Structure],
    levels: NoiseLevels,
    normalizer: &mut NoiseNormalizer,
    rng: &mut SplitMix64,
    options: &RadiusGraphOptions,
) -> Result<DenoiseBatch, DenoiseError> {
    check_nonempty(structures)?;
    let base = centre_molecules(structures);
    let n: usize = base.iter().map(Structure::n_atoms).sum();
    let eps = noise(&base, levels.corrupt, rng);
    let reg = plain_noise(n, levels.regularise, rng);
    let clean = displaced(&base, &reg);
    let corrupt = displaced(&base, &eps);
    normalizer.update(&eps);
    Ok(DenoiseBatch {
        condition: Some(HostGraph::radius(&clean, options)?),
        input: HostGraph::radius(&corrupt, options)?,
        eps,
        denoise: true,
        normalizer: *normalizer,
        supervised: None,
    })
}

/// A conditioned denoising batch from prepared views (pocket SCD).
pub(crate) fn conditioned_batch(
    condition: HostGraph,
    input: HostGraph,
    eps: Vec<[f64; 3]>,
    normalizer: NoiseNormalizer,
) -> DenoiseBatch {
    DenoiseBatch {
        condition: Some(condition),
        input,
        eps,
        denoise: true,
        normalizer,
        supervised: None,
    }
}

/// The host half of [`finetune_loss`]: updates `normalizer` when the loss has a denoising term.
///
/// # Errors
/// [`DenoiseError`] for empty input, a target count that differs from the structures, bad
/// cells, or a force term without per-atom forces.
pub fn prepare_finetune(
    structures: &[Structure],
    targets: &[f64],
    readout: &Readout,
    settings: FinetuneSettings,
    normalizer: &mut NoiseNormalizer,
    rng: &mut SplitMix64,
    options: &RadiusGraphOptions,
) -> Result<DenoiseBatch, DenoiseError> {
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
    let forces = (settings.force_weight > 0.0)
        .then(|| forces_of(&input))
        .transpose()?;
    let denoise = with_noise && settings.denoise_weight > 0.0;
    if denoise {
        normalizer.update(&eps);
    }
    Ok(DenoiseBatch {
        condition: None,
        input: HostGraph::radius(&input, options)?,
        eps,
        denoise,
        normalizer: *normalizer,
        supervised: Some(Supervised {
            targets: targets.to_vec(),
            forces,
            readout: readout.clone(),
            settings,
        }),
    })
}

/// The device half of a denoising step: uploads `batch`, runs the passes and returns the loss.
///
/// # Errors
/// Network errors, or a force term on a model without a force head.
pub fn denoise_batch_loss(
    model: &DenoiseModel,
    batch: &DenoiseBatch,
    device: &Device,
) -> Result<StepLoss, DenoiseError> {
    let cond = match &batch.condition {
        Some(view) => {
            let first = model.pass_graph(AtomGraph::upload(view.clone(), device), None)?;
            Some(model.emb_head.forward(first.x, &first.graph.batch))
        }
        None => None,
    };
    let out = model.pass_graph(AtomGraph::upload(batch.input.clone(), device), cond)?;
    let padding = Padding::of(&batch.input, &out.x);
    let Some(sup) = &batch.supervised else {
        return Ok(StepLoss::denoising_only(denoising(
            model,
            out.x,
            out.vec,
            &batch.normalizer,
            &batch.eps,
            padding.as_ref(),
        )));
    };
    let y = model.property(&out, &sup.readout);
    let mut targets = sup.targets.clone();
    targets.resize(y.dims()[0], 0.0);
    let t = transfer::upload::<2, burn::tensor::Float>(
        TensorData::new(targets, [y.dims()[0], 1]),
        (&y.device(), y.dtype()),
    );
    let mut prop = match &padding {
        None => (y - t).square().mean().reshape([1]),
        Some(p) => (y - t)
            .mul(p.systems.clone())
            .square()
            .sum()
            .div_scalar(p.real_systems.max(1) as f64)
            .reshape([1]),
    };
    let property = prop.clone();
    let mut force = None;
    if let Some(truth) = &sup.forces {
        let head = model.force_head.as_ref().ok_or_else(|| {
            DenoiseError::Forces("force_weight > 0 needs a model with a force head".into())
        })?;
        let pred = head
            .forward(out.x.clone(), out.vec.clone())
            .mul_scalar(sup.readout.std);
        let rows = pred.dims()[0];
        let mut truth = truth.clone();
        truth.resize(3 * rows, 0.0);
        let t = transfer::upload::<2, burn::tensor::Float>(
            TensorData::new(truth, [rows, 3]),
            (&pred.device(), pred.dtype()),
        );
        let f = match &padding {
            None => (pred - t).square().mean().reshape([1]),
            Some(p) => (pred - t)
                .mul(p.atoms.clone())
                .square()
                .sum()
                .div_scalar((3 * p.real_atoms).max(1) as f64)
                .reshape([1]),
        };
        prop = prop + f.clone().mul_scalar(sup.settings.force_weight);
        force = Some(f);
    }
    let (mut total, mut denoise, mut pos) = (prop, None, None);
    if batch.denoise {
        let (den, pos_mae) = denoising(
            model,
            out.x,
            out.vec,
            &batch.normalizer,
            &batch.eps,
            padding.as_ref(),
        );
        total = total + den.clone().mul_scalar(sup.settings.denoise_weight);
        denoise = Some(den);
        pos = Some(pos_mae);
    }
    Ok(StepLoss::new(total, [denoise, Some(property), pos, force]))
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
    let batch = prepare_coord(structures, levels, normalizer, rng, &model.graph_options())?;
    denoise_batch_loss(model, &batch, device)
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
    let batch = prepare_scd(structures, levels, normalizer, rng, &model.graph_options())?;
    denoise_batch_loss(model, &batch, device)
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
    let batch = prepare_finetune(
        structures,
        targets,
        readout,
        settings,
        normalizer,
        rng,
        &model.graph_options(),
    )?;
    denoise_batch_loss(model, &batch, device)
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
