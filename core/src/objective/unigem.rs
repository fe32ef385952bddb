//! UniGEM's training loss (docs/objectives.md §5.2): coordinates are diffused on the zero-centre-of-
//! mass subspace with EDM's `polynomial_2` schedule; half of each batch is drawn from the
//! nucleation phase (`t ∈ {11..T}`, main trunk) and half from the growth phase (`t ∈ {0..10}`,
//! branch trunk); the atom-type and property heads are trained in the growth phase only.
//!
//! How it works: per molecule, `L = L_eps + 1[t ≤ 10]·(L_type + L_prop)` with
//! `L_eps = 0.5·Σ (ε − ε̂)² / (3·N_max)`, `L_type = Σ_{atoms,6} |h_true − ĥ| / (6·N_max)` on
//! EDM's normalised features `[onehot(H,C,N,O,F)/4 ‖ Z/10]`, and `L_prop = |ŷ − y|` with `y`
//! already normalised by the training mean and mean absolute deviation. The batch loss is the
//! mean over molecules. Node inputs are constant ones; atom types are never noised.

use burn::tensor::{Float, Tensor, TensorData};
use thiserror::Error;

use super::diffusion::{NoiseSchedule, diffuse, remove_com};
use crate::Structure;
use crate::backbone::{AtomGraph, BackboneError, HostGraph, UniGem};
use crate::nn::scatter_sum;
use crate::train::transfer::upload;

/// Last integer time of the growth phase (UniGEM's nucleation time `t_n = 10`).
pub const NUCLEATION_TIME: usize = 10;
/// QM9's atom types in type-channel order.
pub const QM9_TYPES: [u8; 5] = [1, 6, 7, 8, 9];
/// Node features of the QM9 model without time: five type channels and the charge.
pub const NODE_NF: usize = 6;

/// Errors of the UniGEM objective.
#[derive(Debug, Error)]
pub enum UniGemError {
    /// An atom outside H, C, N, O, F.
    #[error("atomic number {0} is not a QM9 atom type (H, C, N, O, F)")]
    UnknownType(u8),
    /// Inputs of inconsistent lengths.
    #[error("{what}: expected {expected} entries, got {got}")]
    Length {
        /// Which input.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// An empty batch or an empty molecule.
    #[error("empty batch or molecule without atoms")]
    Empty,
    /// Guidance differentiates through the network, which needs an autodiff device.
    #[error("property guidance needs the model on an autodiff device")]
    NeedsAutodiff,
    /// The network rejected its inputs.
    #[error(transparent)]
    Backbone(#[from] BackboneError),
}

pub use crate::rng::SplitMix64;

/// Integer times for a batch of `n` molecules: the first `n/2` from the nucleation phase
/// `U{11..=T}`, the rest from the growth phase `U{0..=10}`.
#[must_use]
pub fn phase_times(n: usize, steps: usize, rng: &mut SplitMix64) -> Vec<usize> {
    (0..n)
        .map(|b| {
            if b < n / 2 {
                rng.range(NUCLEATION_TIME + 1, steps)
            } else {
                rng.range(0, NUCLEATION_TIME)
            }
        })
        .collect()
}

/// EDM's normalised node features `[onehot(H,C,N,O,F)/4 ‖ Z/10]` of one atom.
///
/// # Errors
/// [`UniGemError::UnknownType`] for atoms outside H, C, N, O, F.
pub fn type_features(z: u8) -> Result<[f64; NODE_NF], UniGemError> {
    let k = QM9_TYPES
        .iter()
        .position(|&t| t == z)
        .ok_or(UniGemError::UnknownType(z))?;
    let mut f = [0.0; NODE_NF];
    f[k] = 0.25;
    f[5] = f64::from(z) / 10.0;
    Ok(f)
}

/// The terms of one batch's loss.
#[derive(Debug, Clone)]
pub struct UniGemLoss {
    /// The mean loss over the batch (differentiable), shape `[1]`.
    pub total: Tensor<1>,
    /// `[eps, types, property]` (detached): the mean coordinate-noise term, and the mean
    /// atom-type and property terms over the growth-phase molecules (0 when there are none).
    pub figures: Tensor<1>,
}

impl UniGemLoss {
    /// Names of the entries of [`UniGemLoss::figures`].
    pub const FIGURES: [&'static str; 3] = ["eps", "type", "prop"];

    /// The figures read to the host (one read): `[eps, types, property]`.
    #[must_use]
    pub fn host(&self) -> [f64; 3] {
        let v: Vec<f64> = crate::train::transfer::read(self.figures.clone())
            .iter::<f64>()
            .collect();
        [v[0], v[1], v[2]]
    }

    /// The engine's view of this loss.
    #[must_use]
    pub fn losses(self) -> crate::train::Losses {
        crate::train::Losses {
            total: self.total,
            figures: self.figures,
        }
    }
}

/// Centre each molecule and return flat positions and the molecule index of each atom.
#[must_use]
pub fn centred_positions(molecules: &[Structure]) -> (Vec<[f64; 3]>, Vec<usize>) {
    let mut x = Vec::new();
    let mut batch = Vec::new();
    for (b, m) in molecules.iter().enumerate() {
        x.extend_from_slice(&m.positions);
        batch.extend(std::iter::repeat_n(b, m.positions.len()));
    }
    remove_com(&mut x, &batch);
    (x, batch)
}

/// The host half of a UniGEM step: the diffused molecules' complete graph, the noise, the
/// true atom types and the phase of each molecule. It holds no tensors (see
/// [`crate::objective::DenoiseBatch`] for why); [`unigem_batch_loss`] is the device half.
#[derive(Debug, Clone)]
pub struct UniGemBatch {
    graph: HostGraph,
    eps: Vec<f64>,
    h_true: Vec<f64>,
    property: Vec<f64>,
    times: Vec<f64>,
    growth: Vec<bool>,
    n_max: f64,
}

impl UniGemBatch {
    /// Atoms and edges of the batch's graph.
    #[must_use]
    pub fn shape(&self) -> Vec<usize> {
        vec![self.graph.n_atoms(), self.graph.n_edges()]
    }

    /// The batch padded to bucket capacities (see
    /// [`crate::backbone::HostGraph::padded`]): one padding molecule, in the nucleation phase
    /// at `t = 0`, masked out of the loss.
    #[must_use]
    pub fn padded(self) -> Self {
        let graph = self.graph.padded();
        let (atoms, systems) = (graph.n_atoms(), graph.n_systems());
        let mut out = Self { graph, ..self };
        out.eps.resize(3 * atoms, 0.0);
        out.h_true.resize(NODE_NF * atoms, 0.0);
        out.property.resize(systems, 0.0);
        out.times.resize(systems, 0.0);
        out.growth.resize(systems, false);
        out
    }
}

/// The host half of [`unigem_loss`].
///
/// # Errors
/// [`UniGemError`] for inconsistent inputs or non-QM9 atoms.
pub fn prepare_unigem(
    schedule: &NoiseSchedule,
    molecules: &[Structure],
    property: &[f64],
    t: &[usize],
    rng: &mut SplitMix64,
) -> Result<UniGemBatch, UniGemError> {
    let n_sys = molecules.len();
    if n_sys == 0 || molecules.iter().any(|m| m.numbers.is_empty()) {
        return Err(UniGemError::Empty);
    }
    for (what, len) in [("property", property.len()), ("t", t.len())] {
        if len != n_sys {
            return Err(UniGemError::Length {
                what,
                expected: n_sys,
                got: len,
            });
        }
    }
    let n_max = molecules.iter().map(|m| m.numbers.len()).max().unwrap_or(1) as f64;
    let (x, batch) = centred_positions(molecules);
    let eps = rng.com_free_noise(&batch);
    let xt = diffuse(schedule, &x, &eps, &batch, t);
    let mut noisy = Vec::with_capacity(n_sys);
    let mut offset = 0;
    let mut h_true = Vec::with_capacity(x.len() * NODE_NF);
    for m in molecules {
        let n = m.numbers.len();
        noisy.push(Structure::molecule(
            m.numbers.clone(),
            xt[offset..offset + n].to_vec(),
        ));
        for &z in &m.numbers {
            h_true.extend(type_features(z)?);
        }
        offset += n;
    }
    Ok(UniGemBatch {
        graph: HostGraph::complete(&noisy)?,
        eps: eps.iter().flatten().copied().collect(),
        h_true,
        property: property.to_vec(),
        times: t
            .iter()
            .map(|&ti| ti as f64 / schedule.steps() as f64)
            .collect(),
        growth: t.iter().map(|&ti| ti <= NUCLEATION_TIME).collect(),
        n_max,
    })
}

/// UniGEM's loss on `molecules` with normalised property labels `property` (one per molecule),
/// integer times `t` and the generator `rng` for the noise.
///
/// # Errors
/// [`UniGemError`] for inconsistent inputs, non-QM9 atoms or network shape errors.
pub fn unigem_loss(
    model: &UniGem,
    schedule: &NoiseSchedule,
    molecules: &[Structure],
    property: &[f64],
    t: &[usize],
    rng: &mut SplitMix64,
    device: &burn::tensor::Device,
) -> Result<UniGemLoss, UniGemError> {
    let batch = prepare_unigem(schedule, molecules, property, t, rng)?;
    unigem_batch_loss(model, &batch, device)
}

/// The device half of a UniGEM step: uploads `batch`, runs the EGNN and returns the loss.
///
/// # Errors
/// Network shape errors.
pub fn unigem_batch_loss(
    model: &UniGem,
    batch: &UniGemBatch,
    device: &burn::tensor::Device,
) -> Result<UniGemLoss, UniGemError> {
    let graph = AtomGraph::upload(batch.graph.clone(), device);
    let (n, n_sys, n_max) = (graph.n_atoms, graph.n_systems, batch.n_max);
    let opts = (&graph.pos.device(), graph.pos.dtype());
    let growth = &batch.growth;
    let out = model.forward(
        &graph,
        Tensor::<2>::ones([n, NODE_NF], opts),
        upload::<1, Float>(TensorData::new(batch.times.clone(), [n_sys]), opts),
        growth,
    )?;
    let eps_t = upload::<2, Float>(TensorData::new(batch.eps.clone(), [n, 3]), opts);
    let l_eps = scatter_sum((eps_t - out.eps_x).square().sum_dim(1), &graph.batch)
        .mul_scalar(0.5 / (3.0 * n_max)); // [B, 1]
    let h_true = upload::<2, Float>(TensorData::new(batch.h_true.clone(), [n, NODE_NF]), opts);
    let l_type = scatter_sum((h_true - out.atom_types).abs().sum_dim(1), &graph.batch)
        .mul_scalar(1.0 / (NODE_NF as f64 * n_max));
    let y = upload::<2, Float>(TensorData::new(batch.property.clone(), [n_sys, 1]), opts);
    let l_prop = (out.property - y).abs();
    let gmask: Vec<f64> = growth.iter().map(|&g| f64::from(u8::from(g))).collect();
    let gmask = upload::<2, Float>(TensorData::new(gmask, [n_sys, 1]), opts);
    let l_type = l_type.mul(gmask.clone());
    let l_prop = l_prop.mul(gmask);
    // A padded batch: the padding molecule (never in the growth phase) leaves the noise term
    // and the mean over molecules.
    let (l_eps, real) = if batch.graph.is_padded() {
        let mask = upload::<2, Float>(TensorData::new(batch.graph.system_mask(), [n_sys, 1]), opts);
        (l_eps.mul(mask), batch.graph.real_systems())
    } else {
        (l_eps, n_sys)
    };
    let sum = l_eps.clone() + l_type.clone() + l_prop.clone();
    let total = if real == n_sys {
        sum.mean().reshape([1])
    } else {
        sum.sum().div_scalar(real as f64).reshape([1])
    };
    let n_growth = growth.iter().filter(|&&g| g).count().max(1) as f64;
    let part = |v: Tensor<2>, n: f64| v.detach().sum().div_scalar(n);
    let figures = Tensor::cat(
        vec![
            part(l_eps, real as f64),
            part(l_type, n_growth),
            part(l_prop, n_growth),
        ],
        0,
    );
    Ok(UniGemLoss { total, figures })
}

/// The property head's prediction (normalised units) for clean molecules: the growth-phase
/// branch at `t = 0`, as UniGEM predicts properties (docs/objectives.md §5.5).
///
/// # Errors
/// [`UniGemError`] for empty input, non-QM9 atoms or network shape errors.
pub fn predict_property(
    model: &UniGem,
    molecules: &[Structure],
    device: &burn::tensor::Device,
) -> Result<Vec<f64>, UniGemError> {
    if molecules.is_empty() || molecules.iter().any(|m| m.numbers.is_empty()) {
        return Err(UniGemError::Empty);
    }
    for m in molecules {
        for &z in &m.numbers {
            type_features(z)?;
        }
    }
    let (x, _) = centred_positions(molecules);
    let mut at = 0;
    let centred: Vec<Structure> = molecules
        .iter()
        .map(|m| {
            let n = m.numbers.len();
            let s = Structure::molecule(m.numbers.clone(), x[at..at + n].to_vec());
            at += n;
            s
        })
        .collect();
    let graph = AtomGraph::complete(&centred, device)?;
    let opts = (&graph.pos.device(), graph.pos.dtype());
    let out = model.forward(
        &graph,
        Tensor::<2>::ones([graph.n_atoms, NODE_NF], opts),
        Tensor::<1>::zeros([molecules.len()], opts),
        &vec![true; molecules.len()],
    )?;
    Ok(out.property.detach().into_data().iter::<f64>().collect())
}

/// `meta.json` of a UniGEM model directory: written by `nucleate train unigem`, read by
/// `nucleate generate` and the web page's generator.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UniGemMeta {
    /// The property the property head predicts (a label name, e.g. `homo`).
    pub property: String,
    /// Its unit as the training data gave it (e.g. `eV`).
    #[serde(default)]
    pub unit: Option<String>,
    /// Training mean of the property (label units).
    pub mean: f64,
    /// Training mean absolute deviation of the property (label units).
    pub mad: f64,
    /// Atom-count histogram of the training molecules: `(atoms, molecules)`.
    pub sizes: Vec<(usize, u64)>,
    /// Optimiser steps the weights have had.
    pub steps_done: usize,
    /// Property MAE (label units) of the saved weights on the held-out molecules.
    #[serde(default)]
    pub property_mae: Option<f64>,
    /// Held-out molecules behind `property_mae`.
    #[serde(default)]
    pub holdout: usize,
}

impl UniGemMeta {
    /// A property-head output (normalised) in label units.
    #[must_use]
    pub fn to_label(&self, normalised: f64) -> f64 {
        normalised * self.mad + self.mean
    }

    /// A value in label units, normalised as the property head sees it.
    #[must_use]
    pub fn normalise(&self, value: f64) -> f64 {
        (value - self.mean) / self.mad
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::{EgnnConfig, UniGemConfig};
    use burn::module::{Module, ModuleMapper, Param};
    use burn::tensor::Gradients;

    /// QM9 molecules 1–3 (methane, ammonia, water) from `qm9_part1_first20.csv`, with their
    /// HOMO (Ha) as the property.
    fn qm9_first3() -> (Vec<Structure>, Vec<f64>) {
        let methane = Structure::molecule(
            vec![6, 1, 1, 1, 1],
            vec![
                [-0.0127, 1.0858, 0.008],
                [0.0022, -0.006, 0.002],
                [1.0117, 1.4638, 0.0003],
                [-0.5408, 1.4475, -0.8766],
                [-0.5238, 1.4379, 0.9064],
            ],
        );
        let ammonia = Structure::molecule(
            vec![7, 1, 1, 1],
            vec![
                [-0.0404, 1.0241, 0.0626],
                [0.0173, 0.0125, -0.0274],
                [0.9158, 1.3587, -0.0288],
                [-0.5203, 1.3435, -0.7755],
            ],
        );
        let water = Structure::molecule(
            vec![8, 1, 1],
            vec![
                [-0.0344, 0.9775, 0.0076],
                [0.0648, 0.0206, 0.0015],
                [0.8718, 1.3008, 0.0007],
            ],
        );
        (
            vec![methane, ammonia, water.clone(), water],
            vec![-0.3877, -0.257, -0.2928, -0.2928],
        )
    }

    struct Sgd<'a> {
        grads: &'a Gradients,
        lr: f64,
    }

    impl ModuleMapper for Sgd<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let grads = self.grads;
            let lr = self.lr;
            param.map(|t| {
                let Some(g) = t.grad(grads) else {
                    return t;
                };
                let (shape, opts) = (t.shape(), (&t.device(), t.dtype()));
                let g: Vec<f64> = g.into_data().iter::<f64>().collect();
                let v: Vec<f64> = t
                    .clone()
                    .detach()
                    .into_data()
                    .iter::<f64>()
                    .zip(&g)
                    .map(|(v, g)| v - lr * g)
                    .collect();
                Tensor::from_data(TensorData::new(v, shape), opts).require_grad()
            })
        }
    }

    #[test]
    fn phase_times_split_the_batch_between_the_phases() {
        let mut rng = SplitMix64::new(3);
        let t = phase_times(64, 1000, &mut rng);
        assert!(t[..32].iter().all(|&x| (11..=1000).contains(&x)));
        assert!(t[32..].iter().all(|&x| x <= 10));
        // Both ends of each range are reachable.
        let many: Vec<usize> = (0..4000).map(|_| rng.range(0, 10)).collect();
        assert!(many.contains(&0) && many.contains(&10) && !many.contains(&11));
    }

    #[test]
    fn com_free_noise_has_zero_mean_per_molecule() {
        let mut rng = SplitMix64::new(7);
        let batch = [0, 0, 0, 1, 1, 2, 2, 2, 2];
        let eps = rng.com_free_noise(&batch);
        for m in 0..3 {
            for k in 0..3 {
                let s: f64 = eps
                    .iter()
                    .zip(&batch)
                    .filter(|(_, b)| **b == m)
                    .map(|(e, _)| e[k])
                    .sum();
                assert!(s.abs() < 1e-12, "molecule {m}: {s}");
            }
        }
        assert!(eps.iter().flatten().any(|v| v.abs() > 0.1));
    }

    #[test]
    fn type_features_follow_edm_normalisation_and_reject_other_elements() {
        let c = type_features(6).unwrap();
        assert_eq!(c, [0.0, 0.25, 0.0, 0.0, 0.0, 0.6]);
        assert!(matches!(
            type_features(16),
            Err(UniGemError::UnknownType(16))
        ));
    }

    /// A padded batch has the unpadded batch's loss and gradients (up to f32 summation order).
    #[test]
    fn padded_batches_give_the_unpadded_loss_and_gradients() {
        let (_serial, device) = crate::objective::serial_autodiff_device();
        device.seed(5);
        let config = UniGemConfig::new()
            .with_egnn(EgnnConfig::new().with_hidden_nf(16).with_n_layers(2))
            .with_branch_layers(1);
        let model = config.init(&device).unwrap();
        let schedule = NoiseSchedule::polynomial2(1000);
        let (mols, homo) = qm9_first3();
        let t = [400, 900, 3, 10];
        let batch = || {
            let mut rng = SplitMix64::new(11);
            prepare_unigem(&schedule, &mols, &homo, &t, &mut rng).unwrap()
        };
        let (plain, padded) = (batch(), batch().padded());
        assert!(padded.shape()[0] > plain.shape()[0] && padded.shape()[1] >= plain.shape()[1]);
        let a = unigem_batch_loss(&model, &plain, &device).unwrap();
        let b = unigem_batch_loss(&model, &padded, &device).unwrap();
        for (x, y) in a.host().into_iter().zip(b.host()) {
            assert!(
                (x - y).abs() <= 1e-5 * x.abs(),
                "{:?} vs {:?}",
                a.host(),
                b.host()
            );
        }
        let grads = |l: UniGemLoss| crate::train::optim::gradients(&model, &l.total.backward());
        let (ga, gb) = (grads(a), grads(b));
        let (mut gap, mut scale) = (0.0f32, 0.0f32);
        for (x, y) in ga.iter().zip(&gb) {
            for (u, v) in x.iter().flatten().zip(y.iter().flatten()) {
                gap = gap.max((u - v).abs());
                scale = scale.max(u.abs());
            }
        }
        eprintln!(
            "padded vs unpadded UniGEM: gradients within {:.1e}",
            gap / scale
        );
        assert!(gap <= 1e-5 * scale, "{gap} of {scale}");
    }

    #[test]
    fn loss_is_finite_and_decreases_on_qm9_molecules() {
        let (_serial, device) = crate::objective::serial_autodiff_device();
        device.seed(42);
        let config = UniGemConfig::new()
            .with_egnn(EgnnConfig::new().with_hidden_nf(16).with_n_layers(2))
            .with_branch_layers(1);
        let mut model = config.init(&device).unwrap();
        let schedule = NoiseSchedule::polynomial2(1000);
        let (mols, homo) = qm9_first3();
        let mean = homo.iter().sum::<f64>() / homo.len() as f64;
        let mad = homo.iter().map(|h| (h - mean).abs()).sum::<f64>() / homo.len() as f64;
        let y: Vec<f64> = homo.iter().map(|h| (h - mean) / mad).collect();
        // Fixed times (two per phase) and a fixed noise seed per evaluation, so the loss
        // compares the same objective before and after the updates.
        let t = [400, 900, 3, 10];
        let eval = |m: &UniGem| {
            let mut rng = SplitMix64::new(11);
            unigem_loss(m, &schedule, &mols, &y, &t, &mut rng, &device).unwrap()
        };
        let first = eval(&model);
        let l0: f64 = first.total.clone().into_data().iter::<f64>().sum();
        assert!(l0.is_finite() && l0 > 0.0, "{l0}");
        let [eps, types, property] = first.host();
        assert!(types > 0.0 && property > 0.0 && eps > 0.0);
        // The total is the mean of the per-molecule terms; the figures are per-phase means, so
        // with two molecules in each phase: total = (eps·4 + (types + property)·2) / 4.
        let expected = (eps * 4.0 + (types + property) * 2.0) / 4.0;
        assert!((l0 - expected).abs() < 1e-5 * l0, "{l0} vs {expected}");
        for _ in 0..15 {
            let loss = eval(&model);
            let grads = loss.total.backward();
            model = model.map(&mut Sgd {
                grads: &grads,
                lr: 0.005,
            });
        }
        let l1: f64 = eval(&model).total.into_data().iter::<f64>().sum();
        assert!(l1.is_finite() && l1 < 0.8 * l0, "{l0} → {l1}");
        // Wrong label count is a clear error.
        let mut rng = SplitMix64::new(1);
        let err =
            unigem_loss(&model, &schedule, &mols, &y[..2], &t, &mut rng, &device).unwrap_err();
        assert!(
            matches!(
                err,
                UniGemError::Length {
                    what: "property",
                    ..
                }
            ),
            "{err}"
        );
    }
}
