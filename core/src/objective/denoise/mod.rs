//! Coordinate denoising, Self-Conditioned Denoising (SCD) and supervised fine-tuning on the CT
//! backbone (docs/objectives.md §1, §2.1–2.3, §2.6).
//!
//! How it works: [`DenoiseModel`] is the CT representation with SCD's three heads — the noise
//! head (`EquivariantVector`, per-atom normalised noise), the scalar head (`EquivariantScalar`
//! plus a [`Readout`], the property) and the embedding head (sum-pooled invariant features
//! through a two-layer MLP, the molecule embedding that conditions the second pass). Each loss
//! takes host structures and a [`SplitMix64`](crate::rng::SplitMix64) for its noise, builds the radius graphs of the
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
use burn::tensor::{Device, Tensor};
use thiserror::Error;

use crate::Structure;
use crate::backbone::{AtomGraph, BackboneError, Ct, CtConfig};
use crate::graph::{GraphError, RadiusGraphOptions, radius_graph_batch};
use crate::head::{EquivariantScalarHead, EquivariantVectorHead, Readout};
use crate::nn::activation::silu;
use crate::nn::{Segments, scatter_sum, xavier_linear};

mod geometry;
mod loss;

pub use geometry::{
    cell_repeat, centre_molecules, random_rotation, rotate, rotation_from_quaternion,
};
pub use loss::{
    DenoiseBatch, FinetuneSettings, LossFigures, NoiseLevels, StepLoss, coord_loss,
    denoise_batch_loss, finetune_loss, prepare_coord, prepare_finetune, prepare_scd, scd_loss,
};
pub(crate) use loss::{conditioned_batch, displaced, noise, plain_noise};

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
    /// - `x`: `[n_atoms, F]`, `batch`: the system of each atom
    /// - output: `[n_systems, F]`
    pub fn forward(&self, x: Tensor<2>, batch: &Segments) -> Tensor<2> {
        let h = self
            .norm_a
            .forward(silu(self.lin_a.forward(self.norm_in.forward(x))));
        let p = scatter_sum(h, batch);
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
        self.pass_graph(self.graph(structures, device)?, cond)
    }

    /// [`DenoiseModel::pass`] on an uploaded graph.
    ///
    /// # Errors
    /// Backbone errors.
    pub fn pass_graph(
        &self,
        graph: AtomGraph,
        cond: Option<Tensor<2>>,
    ) -> Result<PassOutput, DenoiseError> {
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
        readout.forward(y, &out.graph.batch)
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
        loss::check_nonempty(structures)?;
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

#[cfg(test)]
mod tests {
    use super::geometry::apply;
    use super::*;
    use crate::backbone::EtConfig;
    use crate::nn::params::param_infos;
    use crate::rng::SplitMix64;
    use crate::train::NoiseNormalizer;

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

    /// Largest difference between two gradient lists, relative to the largest gradient.
    fn gradient_gap(a: &[Option<Vec<f32>>], b: &[Option<Vec<f32>>]) -> f64 {
        let (mut gap, mut scale) = (0.0f64, 0.0f64);
        for (x, y) in a.iter().zip(b) {
            assert_eq!(
                x.is_some(),
                y.is_some(),
                "the same parameters get gradients"
            );
            for (u, v) in x.iter().flatten().zip(y.iter().flatten()) {
                gap = gap.max(f64::from((u - v).abs()));
                scale = scale.max(f64::from(u.abs()));
            }
        }
        gap / scale.max(f64::MIN_POSITIVE)
    }

    /// A batch padded to bucket capacities has the unpadded batch's loss figures and gradients
    /// (up to f32 summation order), for SCD (two passes, conditioned) and for fine-tuning with
    /// forces and the auxiliary denoising term: the padding system is masked out everywhere.
    #[test]
    fn padded_batches_give_the_unpadded_loss_and_gradients() {
        let (_serial, device) = crate::objective::serial_autodiff_device();
        let mut config = tiny().with_force_head(true);
        config.ct = config.ct.with_p_dropcond(0.0).with_p_droppath(0.0);
        let model = config.init(&device).unwrap();
        let mut mols = vec![water(), ammonia()];
        for s in &mut mols {
            let values = (0..3 * s.n_atoms()).map(|k| 0.1 * k as f64 - 0.3).collect();
            s.atom_arrays.insert(
                "forces".into(),
                crate::AtomArray::Float { width: 3, values },
            );
        }
        let options = model.graph_options();
        let readout = Readout::new().with_std(0.5).with_mean(-7.0);
        let settings = FinetuneSettings {
            noise: 0.005,
            denoise_weight: 0.1,
            rotate: true,
            force_weight: 1.0,
        };
        let batches = || {
            let (mut norm, mut rng) = (NoiseNormalizer::default(), SplitMix64::new(3));
            let scd = prepare_scd(&mols, NoiseLevels::default(), &mut norm, &mut rng, &options);
            let ft = prepare_finetune(
                &mols,
                &[-7.2, -6.5],
                &readout,
                settings,
                &mut norm,
                &mut rng,
                &options,
            );
            [scd.unwrap(), ft.unwrap()]
        };
        for (plain, padded) in batches().into_iter().zip(batches()) {
            let padded = padded.padded();
            let (a, b) = (plain.shape(), padded.shape());
            assert!(a.iter().zip(&b).all(|(x, y)| x < y), "{a:?} → {b:?}");
            for n in &b {
                assert_eq!(*n, crate::backbone::bucket(*n), "{b:?} are bucket sizes");
            }
            let la = denoise_batch_loss(&model, &plain, &device).unwrap();
            let lb = denoise_batch_loss(&model, &padded, &device).unwrap();
            let (fa, fb) = (la.host(), lb.host());
            for (x, y) in [
                (fa.denoise, fb.denoise),
                (fa.property, fb.property),
                (fa.pos_mae, fb.pos_mae),
                (fa.force, fb.force),
            ] {
                assert!(
                    (x - y).abs() <= 1e-5 * x.abs().max(1e-12),
                    "{fa:?} vs {fb:?}"
                );
            }
            let ga = crate::train::optim::gradients(&model, &la.total.backward());
            let gb = crate::train::optim::gradients(&model, &lb.total.backward());
            let gap = gradient_gap(&ga, &gb);
            eprintln!("padded vs unpadded: gradients within {gap:.1e} of the largest");
            assert!(gap <= 1e-5, "{gap}");
        }
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
        let f = l.host();
        assert!(f.denoise.is_finite() && f.denoise > 0.0 && f.pos_mae > 0.0);
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
        let f = l.host();
        assert!(f.property > 0.0 && f.denoise > 0.0);
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
