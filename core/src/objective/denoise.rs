//! Coordinate denoising, Self-Conditioned Denoising (SCD) and supervised fine-tuning on the CT
//! backbone (docs/objectives.md §1, §2.1–2.3, §2.6).
//!
//! How it works: [`DenoiseModel`] is the CT representation with SCD's three heads — the noise
//! head (`EquivariantVector`, per-atom normalised noise), the scalar head (`EquivariantScalar`
//! plus a [`Readout`], the property) and the embedding head (sum-pooled invariant features
//! through a two-layer MLP, the molecule embedding that conditions the second pass). Each loss
//! takes host structures and a [`SplitMix64`] for its noise, builds the radius graphs of the
//! noisy views itself and returns a differentiable scalar plus host-side figures.
//!
//! - [`coord_loss`]: one pass on the corrupted view with the mask token as condition;
//!   `MSE(ε̂, normalise(ε))`.
//! - [`scd_loss`]: pass 1 on the (regularisation-noised) clean view with the mask token gives
//!   the embedding `c` (not detached); pass 2 on the corrupted view conditioned on `c` (20 % of
//!   conditions replaced by the mask token inside CT) predicts the noise; same MSE.
//! - [`finetune_loss`]: one pass on a `σ_ft`-noised, randomly rotated copy; `MSE(y, target)`
//!   in target units plus `w·MSE(ε̂, normalise(ε))` when `σ_ft > 0`.
//!
//! Molecules (no periodic axis) are centred and get centre-of-mass-free corruption noise;
//! periodic structures follow SCD's loader path (no centring, plain noise), so batches may mix
//! both. [`cell_repeat`] is SCD's tiling augmentation for crystals.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Int, Tensor, TensorData};
use thiserror::Error;

use crate::backbone::{AtomGraph, BackboneError, Ct, CtConfig};
use crate::graph::{GraphError, RadiusGraphOptions, radius_graph_batch};
use crate::head::{EquivariantScalarHead, EquivariantVectorHead, Readout};
use crate::nn::activation::silu;
use crate::nn::{scatter_sum, xavier_linear};
use crate::rng::SplitMix64;
use crate::train::NoiseNormalizer;
use crate::{AtomArray, Structure};

/// Errors of the denoising objectives.
#[derive(Debug, Error)]
pub enum DenoiseError {
    /// An empty batch or a structure without atoms.
    #[error("empty batch or structure without atoms")]
    Empty,
    /// Targets and structures differ in number.
    #[error("{targets} targets for {structures} structures")]
    Length {
        /// Targets given.
        targets: usize,
        /// Structures given.
        structures: usize,
    },
    /// Force training without per-atom forces or without a force head.
    #[error("{0}")]
    Forces(String),
    /// The radius graph failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The network rejected its inputs.
    #[error(transparent)]
    Backbone(#[from] BackboneError),
    /// A complex without usable pocket/ligand tags (pocket-conditional SCD).
    #[error("structure {}: {message}", record + 1)]
    Component {
        /// Zero-based record index of the structure in its source.
        record: usize,
        /// What is wrong.
        message: String,
    },
}

/// SCD's embedding head (docs/backbones.md §3.7): `h_i = LN(SiLU(W_a LN(x_i)))`, `p_g = Σ h_i`,
/// `c_g = W_c LN(SiLU(W_b LN(p_g)))`, all widths `F`.
#[derive(Module, Debug)]
pub struct EmbeddingHead {
    /// LayerNorm on the atom features.
    pub norm_in: LayerNorm,
    /// `W_a`.
    pub lin_a: Linear,
    /// LayerNorm after the first activation.
    pub norm_a: LayerNorm,
    /// LayerNorm on the pooled vector.
    pub norm_pool: LayerNorm,
    /// `W_b`.
    pub lin_b: Linear,
    /// LayerNorm after the second activation.
    pub norm_b: LayerNorm,
    /// `W_c`.
    pub lin_c: Linear,
}

impl EmbeddingHead {
    fn new(f: usize, device: &Device) -> Self {
        let ln = || LayerNormConfig::new(f).init(device);
        Self {
            norm_in: ln(),
            lin_a: xavier_linear(f, f, true, 1.0, device),
            norm_a: ln(),
            norm_pool: ln(),
            lin_b: xavier_linear(f, f, true, 1.0, device),
            norm_b: ln(),
            lin_c: xavier_linear(f, f, true, 1.0, device),
        }
    }

    /// # Shapes
    /// - `x`: `[n_atoms, F]`, `batch`: `[n_atoms]`
    /// - output: `[n_systems, F]`
    pub fn forward(&self, x: Tensor<2>, batch: Tensor<1, Int>, n_systems: usize) -> Tensor<2> {
        let h = self
            .norm_a
            .forward(silu(self.lin_a.forward(self.norm_in.forward(x))));
        let p = scatter_sum(h, batch, n_systems);
        self.lin_c.forward(
            self.norm_b
                .forward(silu(self.lin_b.forward(self.norm_pool.forward(p)))),
        )
    }
}

/// The model every denoising objective and fine-tuning trains: CT plus SCD's heads.
#[derive(Config, Debug)]
pub struct DenoiseModelConfig {
    /// The representation.
    pub ct: CtConfig,
    /// A direct force head (per-atom vectors; MD17-style energy + force fine-tuning).
    #[config(default = false)]
    pub force_head: bool,
}

impl DenoiseModelConfig {
    /// Builds the model.
    ///
    /// # Errors
    /// See [`CtConfig::validate`].
    pub fn init(&self, device: &Device) -> Result<DenoiseModel, BackboneError> {
        let f = self.ct.et.hidden_channels;
        Ok(DenoiseModel {
            backbone: self.ct.init(device)?,
            noise_head: EquivariantVectorHead::new(f, device),
            scalar_head: EquivariantScalarHead::new(f, device),
            emb_head: EmbeddingHead::new(f, device),
            force_head: self
                .force_head
                .then(|| EquivariantVectorHead::new(f, device)),
            graph: self.ct.et.graph_options(),
        })
    }
}

/// CT with the noise, scalar and embedding heads.
#[derive(Module, Debug)]
pub struct DenoiseModel {
    /// The conditioned equivariant transformer.
    pub backbone: Ct,
    /// Per-atom (normalised) noise prediction.
    pub noise_head: EquivariantVectorHead,
    /// Per-atom scalar outputs of the property.
    pub scalar_head: EquivariantScalarHead,
    /// Molecule embedding used as the SCD condition.
    pub emb_head: EmbeddingHead,
    /// Direct force head (per-atom vectors scaled by the readout's σ), when configured.
    pub force_head: Option<EquivariantVectorHead>,
    /// The radius graph the backbone expects ([`crate::backbone::EtConfig::graph_options`]).
    #[module(skip)]
    pub graph: RadiusGraphOptions,
}

/// Outputs of one pass.
#[derive(Debug, Clone)]
pub struct PassOutput {
    /// Atom features `[n_atoms, F]`.
    pub x: Tensor<2>,
    /// Vector features `[n_atoms, 3, F]`.
    pub vec: Tensor<3>,
    /// The graph the pass ran on.
    pub graph: AtomGraph,
}

impl DenoiseModel {
    /// Sets training mode (drop-path and condition dropout, on an autodiff device) on or off.
    #[must_use]
    pub fn with_training(mut self, training: bool) -> Self {
        self.backbone.drop_cond.training = Param::from_bool(training);
        for layer in &mut self.backbone.layers {
            layer.training = Param::from_bool(training);
        }
        self
    }

    /// The radius-graph options the backbone expects (self-loops included).
    #[must_use]
    pub fn graph_options(&self) -> RadiusGraphOptions {
        self.graph
    }

    /// Tensors and radius graph of `structures` on `device`.
    ///
    /// # Errors
    /// Graph construction errors (bad cell, too many images).
    pub fn graph(
        &self,
        structures: &[Structure],
        device: &Device,
    ) -> Result<AtomGraph, DenoiseError> {
        let g = radius_graph_batch(structures, &self.graph_options())?;
        Ok(AtomGraph::from_batched(structures, &g, device)?)
    }

    /// One pass of the backbone on `structures` conditioned on `cond` (`None`: mask token).
    ///
    /// # Errors
    /// Graph or backbone errors.
    pub fn pass(
        &self,
        structures: &[Structure],
        cond: Option<Tensor<2>>,
        device: &Device,
    ) -> Result<PassOutput, DenoiseError> {
        let graph = self.graph(structures, device)?;
        let f = self.backbone.forward(&graph, cond)?;
        Ok(PassOutput {
            x: f.x,
            vec: f.vec,
            graph,
        })
    }

    /// The property per structure, `[n_systems, 1]`, in the readout's units.
    #[must_use]
    pub fn property(&self, out: &PassOutput, readout: &Readout) -> Tensor<2> {
        let y = self.scalar_head.forward(out.x.clone(), out.vec.clone());
        readout.forward(y, out.graph.batch.clone(), out.graph.n_systems)
    }

    /// Predicts the property of `structures` (no noise, no conditioning, evaluation mode is
    /// the caller's choice).
    ///
    /// # Errors
    /// Graph or backbone errors.
    pub fn predict(
        &self,
        structures: &[Structure],
        readout: &Readout,
        device: &Device,
    ) -> Result<Vec<f64>, DenoiseError> {
        if structures.is_empty() || structures.iter().any(|s| s.numbers.is_empty()) {
            return Err(DenoiseError::Empty);
        }
        let out = self.pass(structures, None, device)?;
        Ok(self
            .property(&out, readout)
            .detach()
            .into_data()
            .iter::<f64>()
            .collect())
    }
}

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

fn check_nonempty(structures: &[Structure]) -> Result<(), DenoiseError> {
    if structures.is_empty() || structures.iter().any(|s| s.numbers.is_empty()) {
        Err(DenoiseError::Empty)
    } else {
        Ok(())
    }
}

fn is_periodic(s: &Structure) -> bool {
    s.lattice.is_some() && s.pbc.iter().any(|&p| p)
}

/// Centres the molecules of `structures` (periodic ones are left as they are).
#[must_use]
pub fn centre_molecules(structures: &[Structure]) -> Vec<Structure> {
    structures
        .iter()
        .map(|s| {
            let mut s = s.clone();
            if !is_periodic(&s) && !s.positions.is_empty() {
                let c = s.centroid();
                for p in &mut s.positions {
                    for k in 0..3 {
                        p[k] -= c[k];
                    }
                }
            }
            s
        })
        .collect()
}

/// Noise of scale `sigma` for every atom: centre-of-mass free per molecule, plain for periodic
/// structures.
pub(super) fn noise(structures: &[Structure], sigma: f64, rng: &mut SplitMix64) -> Vec<[f64; 3]> {
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
pub(super) fn plain_noise(n: usize, sigma: f64, rng: &mut SplitMix64) -> Vec<[f64; 3]> {
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

pub(super) fn displaced(structures: &[Structure], delta: &[[f64; 3]]) -> Vec<Structure> {
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

fn target_tensor(normalizer: &NoiseNormalizer, eps: &[[f64; 3]], like: &Tensor<2>) -> Tensor<2> {
    let flat: Vec<f64> = eps.iter().flat_map(|&e| normalizer.normalize(e)).collect();
    Tensor::from_data(
        TensorData::new(flat, [eps.len(), 3]),
        (&like.device(), like.dtype()),
    )
}

fn host_scalar(t: Tensor<1>) -> f64 {
    t.detach()
        .into_data()
        .iter::<f64>()
        .next()
        .unwrap_or(f64::NAN)
}

fn pos_mae(normalizer: &NoiseNormalizer, pred: &Tensor<2>, eps: &[[f64; 3]]) -> f64 {
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
pub(super) fn denoising(
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
    pub(super) fn denoising_only((total, denoise, pos_mae): (Tensor<1>, f64, f64)) -> Self {
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
fn forces_of(structures: &[Structure]) -> Result<Vec<f64>, DenoiseError> {
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

impl DenoiseModel {
    /// Direct force predictions `[n_atoms][3]` (target units per Å) for `structures`.
    ///
    /// # Errors
    /// No force head; graph or backbone errors.
    pub fn predict_forces(
        &self,
        structures: &[Structure],
        readout: &Readout,
        device: &Device,
    ) -> Result<Vec<[f64; 3]>, DenoiseError> {
        let head = self
            .force_head
            .as_ref()
            .ok_or_else(|| DenoiseError::Forces("the model has no force head".into()))?;
        check_nonempty(structures)?;
        let out = self.pass(structures, None, device)?;
        let f: Vec<f64> = head
            .forward(out.x, out.vec)
            .mul_scalar(readout.std)
            .into_data()
            .iter::<f64>()
            .collect();
        Ok(f.chunks(3).map(|c| [c[0], c[1], c[2]]).collect())
    }
}

/// A uniformly random rotation (unit quaternion from four normals).
pub fn random_rotation(rng: &mut SplitMix64) -> [[f64; 3]; 3] {
    let q = loop {
        let q = [rng.normal(), rng.normal(), rng.normal(), rng.normal()];
        let n = q.iter().map(|v| v * v).sum::<f64>().sqrt();
        if n > 1e-6 {
            break q;
        }
    };
    rotation_from_quaternion(q)
}

/// The rotation of the quaternion `q` (normalised here; `q ≠ 0`). Four independent normals give
/// a uniformly random rotation.
pub fn rotation_from_quaternion(q: [f64; 4]) -> [[f64; 3]; 3] {
    let n = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    let [w, x, y, z] = q.map(|v| v / n);
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

fn apply(r: &[[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
    std::array::from_fn(|i| r[i][0] * v[0] + r[i][1] * v[1] + r[i][2] * v[2])
}

/// Rotates positions, lattice vectors and per-atom `forces` of `s` by `r`.
pub fn rotate(s: &mut Structure, r: &[[f64; 3]; 3]) {
    for p in &mut s.positions {
        *p = apply(r, *p);
    }
    if let Some(AtomArray::Float { width: 3, values }) = s.atom_arrays.get_mut("forces") {
        for c in values.chunks_mut(3) {
            let v = apply(r, [c[0], c[1], c[2]]);
            c.copy_from_slice(&v);
        }
    }
    if let Some(l) = &mut s.lattice {
        for row in l.iter_mut() {
            *row = apply(r, *row);
        }
    }
}

/// SCD's cell-repeat augmentation (docs/objectives.md §2.3): cells with fewer than `min_atoms`
/// atoms are grown first, then `iters` times with probability `p` a random periodic axis with
/// fewer than 2 repeats is doubled. Molecules are returned unchanged.
#[must_use]
pub fn cell_repeat(
    s: &Structure,
    min_atoms: usize,
    iters: usize,
    p: f64,
    rng: &mut SplitMix64,
) -> Structure {
    let Some(lattice) = s.lattice else {
        return s.clone();
    };
    let axes: Vec<usize> = (0..3).filter(|&a| s.pbc[a]).collect();
    let n = s.n_atoms();
    if axes.is_empty() || n == 0 {
        return s.clone();
    }
    let mut reps = [1usize; 3];
    if n < min_atoms {
        let extra = min_atoms.div_ceil(n) - 1;
        for _ in 0..extra {
            let open: Vec<usize> = axes.iter().copied().filter(|&a| reps[a] < 2).collect();
            if open.is_empty() {
                break;
            }
            reps[open[rng.range(0, open.len() - 1)]] += 1;
        }
    }
    for _ in 0..iters {
        if rng.uniform() < p {
            let a = axes[rng.range(0, axes.len() - 1)];
            if reps[a] < 2 {
                reps[a] += 1;
            }
        }
    }
    if reps == [1, 1, 1] {
        return s.clone();
    }
    let mut out = s.clone();
    out.numbers.clear();
    out.positions.clear();
    out.atom_arrays.clear();
    for i in 0..reps[0] {
        for j in 0..reps[1] {
            for k in 0..reps[2] {
                let shift: [f64; 3] = std::array::from_fn(|c| {
                    i as f64 * lattice[0][c] + j as f64 * lattice[1][c] + k as f64 * lattice[2][c]
                });
                for (z, p) in s.numbers.iter().zip(&s.positions) {
                    out.numbers.push(*z);
                    out.positions
                        .push([p[0] + shift[0], p[1] + shift[1], p[2] + shift[2]]);
                }
            }
        }
    }
    out.lattice = Some(std::array::from_fn(|a| {
        lattice[a].map(|v| v * reps[a] as f64)
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::EtConfig;
    use crate::nn::params::param_infos;

    fn tiny() -> DenoiseModelConfig {
        DenoiseModelConfig::new(
            CtConfig::new().with_et(
                EtConfig::new()
                    .with_hidden_channels(16)
                    .with_num_layers(2)
                    .with_num_heads(4)
                    .with_num_rbf(8),
            ),
        )
    }

    fn water() -> Structure {
        Structure::molecule(
            vec![8, 1, 1],
            vec![[0.0; 3], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]],
        )
    }

    fn ammonia() -> Structure {
        Structure::molecule(
            vec![7, 1, 1, 1],
            vec![
                [-0.0404, 1.0241, 0.0626],
                [0.0173, 0.0125, -0.0274],
                [0.9158, 1.3587, -0.0288],
                [-0.5203, 1.3435, -0.7755],
            ],
        )
    }

    #[test]
    fn heads_have_scds_parameter_counts() {
        // docs/backbones.md §3: noise head 345,090, scalar head 345,090, embedding head 199,424
        // for F = 256 (backbone 9,173,272; total 10,062,876).
        let device = crate::testing::cpu_device();
        let cfg = DenoiseModelConfig::new(CtConfig::new().with_et(EtConfig::new()));
        let m = cfg.init(&device).unwrap();
        let count = |infos: Vec<crate::nn::params::ParamInfo>| -> usize {
            infos.iter().map(|p| p.numel()).sum()
        };
        assert_eq!(count(param_infos(&m.noise_head)), 345_090);
        assert_eq!(count(param_infos(&m.scalar_head)), 345_090);
        assert_eq!(count(param_infos(&m.emb_head)), 199_424);
        assert_eq!(count(param_infos(&m.backbone)), 9_173_272);
        assert_eq!(count(param_infos(&m)), 10_062_876);
    }

    #[test]
    fn losses_are_finite_and_reach_every_trained_part() {
        let (_serial, device) = crate::objective::serial_autodiff_device();
        // No dropped conditions: with 20 % per structure both of these two molecules lose
        // theirs 4 % of the time, and the embedding head then rightly gets no gradient.
        let mut config = tiny();
        config.ct = config.ct.with_p_dropcond(0.0);
        let model = config.init(&device).unwrap();
        let mols = vec![water(), ammonia()];
        let mut norm = NoiseNormalizer::default();
        let mut rng = SplitMix64::new(1);
        let l = scd_loss(
            &model,
            &mols,
            NoiseLevels::default(),
            &mut norm,
            &mut rng,
            &device,
        )
        .unwrap();
        assert!(l.denoise.is_finite() && l.denoise > 0.0 && l.pos_mae > 0.0);
        assert_eq!(norm.count, 7);
        let grads = l.total.backward();
        let g = crate::train::optim::gradients(&model.emb_head, &grads);
        assert!(
            g.iter()
                .any(|g| g.as_ref().is_some_and(|g| g.iter().any(|&v| v != 0.0))),
            "SCD trains the embedding head through the second pass"
        );
        // Every gradient finite (the first layer's vector features are exactly zero).
        let all = crate::train::optim::gradients(&model, &grads);
        assert!(crate::train::optim::global_norm(&all).is_finite());
        assert!(all.iter().flatten().flatten().all(|v| v.is_finite()));
        let l = coord_loss(
            &model,
            &mols,
            NoiseLevels::default(),
            &mut norm,
            &mut rng,
            &device,
        )
        .unwrap();
        let grads = l.total.backward();
        let g = crate::train::optim::gradients(&model.emb_head, &grads);
        assert!(
            g.iter().all(Option::is_none),
            "coord never uses the embedding head"
        );
        let readout = Readout::new().with_std(0.5).with_mean(-7.0);
        let l = finetune_loss(
            &model,
            &mols,
            &[-7.2, -6.5],
            &readout,
            FinetuneSettings {
                noise: 0.005,
                denoise_weight: 0.1,
                rotate: true,
                force_weight: 0.0,
            },
            &mut norm,
            &mut rng,
            &device,
        )
        .unwrap();
        assert!(l.property > 0.0 && l.denoise > 0.0);
        assert!(matches!(
            finetune_loss(
                &model,
                &mols,
                &[1.0],
                &readout,
                FinetuneSettings {
                    noise: 0.0,
                    denoise_weight: 0.0,
                    rotate: false,
                    force_weight: 0.0,
                },
                &mut norm,
                &mut rng,
                &device
            ),
            Err(DenoiseError::Length { .. })
        ));
        assert!(matches!(
            coord_loss(
                &model,
                &[],
                NoiseLevels::default(),
                &mut norm,
                &mut rng,
                &device
            ),
            Err(DenoiseError::Empty)
        ));
    }

    #[test]
    fn prediction_is_rotation_invariant_and_uses_the_readout() {
        let device = crate::testing::cpu_device();
        let model = tiny().init(&device).unwrap().with_training(false);
        let readout = Readout::new().with_std(2.0).with_mean(-5.0);
        let a = model.predict(&[ammonia()], &readout, &device).unwrap()[0];
        let mut rotated = ammonia();
        rotate(&mut rotated, &random_rotation(&mut SplitMix64::new(3)));
        let b = model.predict(&[rotated], &readout, &device).unwrap()[0];
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        let plain = Readout::new();
        let c = model.predict(&[ammonia()], &plain, &device).unwrap()[0];
        assert!((a - (2.0 * c - 5.0)).abs() < 1e-4);
    }

    #[test]
    fn direct_forces_rotate_with_the_molecule() {
        let device = crate::testing::cpu_device();
        let model = tiny()
            .with_force_head(true)
            .init(&device)
            .unwrap()
            .with_training(false);
        let readout = Readout::new().with_std(3.0);
        let f = model
            .predict_forces(&[ammonia()], &readout, &device)
            .unwrap();
        let r = random_rotation(&mut SplitMix64::new(11));
        let mut rotated = ammonia();
        rotate(&mut rotated, &r);
        let g = model.predict_forces(&[rotated], &readout, &device).unwrap();
        let scale = f.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0);
        for (a, b) in f.iter().zip(&g) {
            let ra = apply(&r, *a);
            for k in 0..3 {
                assert!(
                    (ra[k] - b[k]).abs() < 1e-4 * scale.max(1.0),
                    "{ra:?} vs {b:?}"
                );
            }
        }
        let plain = tiny().init(&device).unwrap();
        assert!(matches!(
            plain.predict_forces(&[ammonia()], &readout, &device),
            Err(DenoiseError::Forces(_))
        ));
    }

    #[test]
    fn rotations_are_orthonormal() {
        let mut rng = SplitMix64::new(9);
        for _ in 0..20 {
            let r = random_rotation(&mut rng);
            for i in 0..3 {
                for j in 0..3 {
                    let dot: f64 = (0..3).map(|k| r[i][k] * r[j][k]).sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-12);
                }
            }
            let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
                - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
                + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
            assert!((det - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn cell_repeat_tiles_small_cells() {
        let mut s = Structure::molecule(vec![11, 17], vec![[0.0; 3], [2.8, 0.0, 0.0]]);
        s.lattice = Some([[5.6, 0.0, 0.0], [0.0, 5.6, 0.0], [0.0, 0.0, 5.6]]);
        s.pbc = [true; 3];
        let mut rng = SplitMix64::new(0);
        for _ in 0..50 {
            let t = cell_repeat(&s, 4, 2, 0.5, &mut rng);
            let reps: Vec<f64> = (0..3).map(|a| t.lattice.unwrap()[a][a] / 5.6).collect();
            let factor: f64 = reps.iter().product();
            assert!(
                reps.iter()
                    .all(|&r| (r - 1.0).abs() < 1e-12 || (r - 2.0).abs() < 1e-12)
            );
            assert!(factor >= 2.0, "2 atoms < 4: grown at least once");
            assert_eq!(t.n_atoms() as f64, 2.0 * factor);
        }
        let m = water();
        assert_eq!(cell_repeat(&m, 4, 2, 1.0, &mut rng).n_atoms(), 3);
    }

    #[test]
    fn molecule_noise_is_com_free_and_crystal_noise_is_not_centred() {
        let mut rng = SplitMix64::new(4);
        let e = noise(&[ammonia()], 0.04, &mut rng);
        for k in 0..3 {
            let s: f64 = e.iter().map(|v| v[k]).sum();
            assert!(s.abs() < 1e-12);
        }
        let mut c = ammonia();
        c.lattice = Some([[6.0, 0.0, 0.0], [0.0, 6.0, 0.0], [0.0, 0.0, 6.0]]);
        c.pbc = [true; 3];
        let centred = centre_molecules(&[c.clone(), ammonia()]);
        assert_eq!(centred[0].positions, c.positions);
        let centroid = centred[1].centroid();
        assert!(centroid.iter().all(|v| v.abs() < 1e-12));
    }
}
