//! CT: the conditioned Equivariant Transformer of Self-Conditioned Denoising (SCD).
//!
//! How it works (docs/backbones.md §3): the ET of [`super::et`] with four changes per layer.
//! 1. The pre-attention LayerNorm becomes an adaptive norm ([`AdaNorm`], DiT-style): from the
//!    graph's conditioning vector and the (detached) normalised node features an MLP predicts a
//!    shift, a scale and a gate per node and channel; the scalar update is multiplied by
//!    `tanh(α_gate · gate)`.
//! 2. The vector features are pre-normed before the layer ([`VecPreNorm`]).
//! 3. Drop-path removes the scalar and vector updates of the same atoms together
//!    ([`joint_drop_path`]), only while training on an autodiff device.
//! 4. A LayerNorm follows every residual update of `x` (`inv_post_norm`), and `x`, `v`, the
//!    updates and the condition are clamped to `±clip` for stability.
//!
//! The condition is one vector per system, or `None`, meaning the learned mask token; while
//! training each system's condition is replaced by the mask token with probability
//! `p_dropcond` ([`DropCond`]).
//!
//! **Vector pre-norm.** SCD's released checkpoints use DyT, `tanh(α v) γ + β` applied to each
//! Cartesian component: it is not rotation-equivariant (a tanh of components, and `β` adds a
//! fixed direction). The default here is the equivariant form
//! `v_c ↦ (v_c / |v_c|) tanh(α |v_c|) γ_c` per channel `c` (≈ `α γ v` for small `|v|`, i.e. the
//! identity at initialisation like DyT, saturating at length `γ_c`); it has the same parameters
//! (`β` is kept, unused, so checkpoints load into either form). Choose
//! [`VecPreNormKind::DyT`] to reproduce checkpoint outputs.

use burn::config::Config;
use burn::module::{Flag, Module, Param};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Distribution, Tensor};

use super::BackboneError;
use super::et::{
    EdgeFeatures, EquivariantFeatures, EtAttention, EtConfig, NeighborEmbedding, check_z, embedding,
};
use super::input::AtomGraph;
use crate::nn::activation::silu;
use crate::nn::{
    EquivariantLayerNorm, ExpNormalSmearing, Segments, gather_rows, gather_table, xavier_linear,
};

/// Which vector pre-norm the CT layers apply (see the module docs).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum VecPreNormKind {
    /// None: the layer sees `v` as is.
    None,
    /// Norm-based squashing per channel; rotation-equivariant (default).
    Equivariant,
    /// SCD's elementwise DyT, for checkpoint-exact outputs; not equivariant.
    DyT,
}

/// Hyper-parameters of [`Ct`]. Defaults are SCD's `scd.yaml` (ET part 256/8/8/64, 118
/// elements, `vector_cutoff`), with the equivariant vector pre-norm.
#[derive(Config, Debug)]
pub struct CtConfig {
    /// The ET part (widths, layers, heads, RBF, cutoffs, elements).
    #[config(default = "EtConfig::new()")]
    pub et: EtConfig,
    /// Probability of replacing a system's condition by the mask token while training.
    #[config(default = 0.2)]
    pub p_dropcond: f64,
    /// Drop-path probability per atom and layer while training.
    #[config(default = 0.1)]
    pub p_droppath: f64,
    /// Vector pre-norm.
    #[config(default = "VecPreNormKind::Equivariant")]
    pub vec_prenorm: VecPreNormKind,
    /// LayerNorm after every layer's residual (else once, after the last layer).
    #[config(default = true)]
    pub inv_post_norm: bool,
    /// Clamp bound for features, updates and the condition.
    #[config(default = 1000.0)]
    pub clip: f64,
    /// Whitened equivariant LayerNorm on `v` after every layer (SCD's `vec_post_norm`). The
    /// final one alone is `et.layernorm_on_vec` (CT-small, MD17).
    #[config(default = false)]
    pub vec_post_norm: bool,
    /// Freeze the element embedding and the mask token (SCD pretraining).
    #[config(default = false)]
    pub freeze_embeddings: bool,
}

impl CtConfig {
    /// Checks the hyper-parameters.
    ///
    /// # Errors
    /// [`BackboneError::Config`] naming the offending field.
    pub fn validate(&self) -> Result<(), BackboneError> {
        self.et.validate()?;
        for (field, p) in [
            ("p_dropcond", self.p_dropcond),
            ("p_droppath", self.p_droppath),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(BackboneError::Config {
                    field,
                    reason: format!("must be in [0, 1), got {p}"),
                });
            }
        }
        if self.clip.is_nan() || self.clip <= 0.0 {
            return Err(BackboneError::Config {
                field: "clip",
                reason: format!("must be > 0, got {}", self.clip),
            });
        }
        Ok(())
    }

    /// Builds a CT (SCD's initialisation).
    ///
    /// # Errors
    /// See [`CtConfig::validate`].
    pub fn init(&self, device: &Device) -> Result<Ct, BackboneError> {
        self.validate()?;
        let f = self.et.hidden_channels;
        let mut emb = embedding(self.et.max_z, f, device);
        let mut drop_cond = DropCond::new(f, self.p_dropcond, device);
        if self.freeze_embeddings {
            emb = emb.set_require_grad(false);
            drop_cond.mask_token = drop_cond.mask_token.set_require_grad(false);
        }
        Ok(Ct {
            embedding: emb,
            distance_expansion: self.et.rbf_config().init(device),
            neighbor_embedding: self
                .et
                .neighbor_embedding
                .then(|| NeighborEmbedding::new(&self.et, device)),
            layers: (0..self.et.num_layers)
                .map(|_| CtLayer::new(self, device))
                .collect(),
            drop_cond,
            hidden_channels: f,
            max_z: self.et.max_z,
            cutoff_lower: self.et.cutoff_lower,
            cutoff_upper: self.et.cutoff_upper,
            inv_post_norm: self.inv_post_norm,
            vec_post_norm: self.vec_post_norm,
            layernorm_on_vec: self.et.layernorm_on_vec,
            clip: self.clip,
        })
    }
}

/// Condition preparation: mask token for missing or dropped conditions, LayerNorm, broadcast
/// to atoms (docs/backbones.md §3.2).
#[derive(Module, Debug)]
pub struct DropCond {
    /// Learned mask token `[1, F]` (Xavier-uniform).
    pub mask_token: Param<Tensor<2>>,
    /// LayerNorm on the condition.
    pub norm: LayerNorm,
    /// Probability of dropping a system's condition while training.
    pub p_drop: f64,
    /// Whether the module trains (drops conditions on an autodiff device).
    pub training: Param<Flag>,
}

impl DropCond {
    fn new(f: usize, p_drop: f64, device: &Device) -> Self {
        Self {
            mask_token: Initializer::XavierUniform { gain: 1.0 }.init_with(
                [1, f],
                Some(f),
                Some(1),
                device,
            ),
            norm: LayerNormConfig::new(f).init(device),
            p_drop,
            training: Param::from_bool(true),
        }
    }

    /// # Shapes
    /// - `cond`: `[n_systems, F]` or `None` (mask token for every system)
    /// - `batch`: the system of each of `n_atoms` atoms, `n_systems` buckets
    /// - output: `[n_atoms, F]`
    pub fn forward(&self, cond: Option<Tensor<2>>, batch: &Segments) -> Tensor<2> {
        let n_systems = batch.n_out();
        let f = self.mask_token.val().dims()[1];
        let mask = self.mask_token.val().expand([n_systems, f]);
        let c = match cond {
            None => mask,
            Some(c) => {
                if self.training.is_enabled() && c.device().is_autodiff() && self.p_drop > 0.0 {
                    let drop = Tensor::<2>::random(
                        [n_systems, 1],
                        Distribution::Bernoulli(self.p_drop),
                        (&c.device(), c.dtype()),
                    ); // [n_systems, 1], 1 = replace by the mask token
                    let keep = drop.clone().neg().add_scalar(1.0);
                    c.mul(keep).add(mask.mul(drop))
                } else {
                    c
                }
            }
        };
        gather_rows(self.norm.forward(c), batch)
    }
}

/// SCD's adaptive LayerNorm ("adaLN2", docs/backbones.md §3.3).
#[derive(Module, Debug)]
pub struct AdaNorm {
    /// LayerNorm on `x`.
    pub x_norm: LayerNorm,
    /// Conditioning MLP: `2F → F`.
    pub fc_in: Linear,
    /// LayerNorm inside the MLP.
    pub fc_norm: LayerNorm,
    /// `F → 3F` (shift, scale, gate), Xavier-uniform with zero bias.
    pub fc_out: Linear,
    /// `α_mod` of the tanh modulation `[1]` (init 0.2).
    pub alpha_mod: Param<Tensor<1>>,
    /// `α_gate` of the gate `[1]` (init 0.2).
    pub alpha_gate: Param<Tensor<1>>,
}

impl AdaNorm {
    fn new(f: usize, device: &Device) -> Self {
        Self {
            x_norm: LayerNormConfig::new(f).init(device),
            fc_in: LinearConfig::new(2 * f, f).init(device),
            fc_norm: LayerNormConfig::new(f).init(device),
            fc_out: xavier_linear(f, 3 * f, true, 1.0, device),
            alpha_mod: Initializer::Constant { value: 0.2 }.init([1], device),
            alpha_gate: Initializer::Constant { value: 0.2 }.init([1], device),
        }
    }

    /// Modulated features and the gate of the scalar update.
    ///
    /// # Shapes
    /// - `x`, `c`: `[n_atoms, F]`
    /// - output: `(x_mod [n_atoms, F], gate [n_atoms, F])`
    pub fn forward(&self, x: Tensor<2>, c: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let f = x.dims()[1];
        let h = self.x_norm.forward(x);
        let m = Tensor::cat(vec![c, h.clone().detach()], 1); // [n, 2F]
        let m = self
            .fc_out
            .forward(self.fc_norm.forward(silu(self.fc_in.forward(m)))); // [n, 3F]
        let shift = m.clone().narrow(1, 0, f);
        let scale = m.clone().narrow(1, f, f);
        let gate = m.narrow(1, 2 * f, f);
        let a = self.alpha_mod.val().abs().clamp_min(1e-5).reshape([1, 1]); // [1, 1]
        let x_mod = h
            .mul(a.clone())
            .tanh()
            .mul(scale.add_scalar(1.0))
            .div(a)
            .add(shift);
        let gate = gate.mul(self.alpha_gate.val().reshape([1, 1])).tanh();
        (x_mod, gate)
    }
}

/// Vector pre-norm with DyT's parameters (see the module docs for the two forms).
#[derive(Module, Debug)]
pub struct VecPreNorm {
    /// `α` `[1]` (init 0.2).
    pub alpha: Param<Tensor<1>>,
    /// `γ` `[F]` (init 1/0.2).
    pub gamma: Param<Tensor<1>>,
    /// `β` `[F]` (init 0; used by the DyT form only).
    pub beta: Param<Tensor<1>>,
    /// Which form.
    #[module(skip)]
    pub kind: VecPreNormKind,
}

impl VecPreNorm {
    fn new(f: usize, kind: VecPreNormKind, device: &Device) -> Self {
        Self {
            alpha: Initializer::Constant { value: 0.2 }.init([1], device),
            gamma: Initializer::Constant { value: 5.0 }.init([f], device),
            beta: Initializer::Zeros.init([f], device),
            kind,
        }
    }

    /// # Shapes
    /// - `v`: `[n_atoms, 3, F]`
    /// - output: `[n_atoms, 3, F]`
    pub fn forward(&self, v: Tensor<3>) -> Tensor<3> {
        let [n, _, f] = v.dims();
        let alpha = self.alpha.val().reshape([1, 1, 1]);
        let gamma = self.gamma.val().reshape([1, 1, f]);
        match self.kind {
            VecPreNormKind::None => v,
            VecPreNormKind::DyT => v
                .mul(alpha)
                .tanh()
                .mul(gamma)
                .add(self.beta.val().reshape([1, 1, f])),
            VecPreNormKind::Equivariant => {
                // g(|v|) = tanh(α|v|)/|v|, with its limit α at |v| = 0 (no division by zero).
                // The mask is taken on |v|² and applied before the square root: at v = 0 the
                // square root's derivative is infinite and 0·∞ would poison the gradients (the
                // first layer always sees v = 0).
                let n2 = v.clone().square().sum_dim(1); // [n, 1, F]
                let zero = n2.clone().equal_elem(0.0).float().cast(n2.dtype()); // [n, 1, F]
                let safe = n2.add(zero.clone()).sqrt();
                let g = safe
                    .clone()
                    .mul(alpha.clone())
                    .tanh()
                    .div(safe)
                    .mul(zero.clone().neg().add_scalar(1.0))
                    .add(zero.mul(alpha)); // [n, 1, F]
                debug_assert_eq!(g.dims(), [n, 1, f], "VecPreNorm: gain shape");
                v.mul(g).mul(gamma)
            }
        }
    }
}

/// Joint drop-path: zeroes the scalar and vector updates of the atoms where `keep` is 0 and
/// rescales the rest by `1 / keep_prob` (docs/backbones.md §3.5).
///
/// # Shapes
/// - `dx`: `[n_atoms, F]`, `dv`: `[n_atoms, 3, F]`, `keep`: `[n_atoms]` of 0/1
pub fn joint_drop_path(
    dx: Tensor<2>,
    dv: Tensor<3>,
    keep: Tensor<1>,
    keep_prob: f64,
) -> (Tensor<2>, Tensor<3>) {
    let n = keep.dims()[0];
    let keep = keep.div_scalar(keep_prob);
    (
        dx.mul(keep.clone().reshape([n, 1])),
        dv.mul(keep.reshape([n, 1, 1])),
    )
}

/// One CT layer: AdaNorm, vector pre-norm, the ET attention core, gate, drop-path, post-norm.
#[derive(Module, Debug)]
pub struct CtLayer {
    /// The ET attention (without its LayerNorm).
    pub attention: EtAttention,
    /// Adaptive norm of `x`.
    pub conditional_ln: AdaNorm,
    /// Vector pre-norm.
    pub vec_norm: VecPreNorm,
    /// LayerNorm after the residual update of `x`.
    pub x_post_norm: LayerNorm,
    /// Whitened vector LayerNorm after the residual update of `v`. Every layer has one (as in
    /// SCD, so parameter counts and checkpoints match); it runs after every layer with
    /// `vec_post_norm`, and after the last one alone with `et.layernorm_on_vec`.
    pub v_post_norm: EquivariantLayerNorm,
    /// Drop-path probability.
    pub p_droppath: f64,
    /// Whether the layer trains (drop-path active on an autodiff device).
    pub training: Param<Flag>,
    #[module(skip)]
    vec_prenorm: VecPreNormKind,
}

impl CtLayer {
    fn new(config: &CtConfig, device: &Device) -> Self {
        let f = config.et.hidden_channels;
        Self {
            attention: EtAttention::new(&config.et, false, device),
            conditional_ln: AdaNorm::new(f, device),
            vec_norm: VecPreNorm::new(f, config.vec_prenorm, device),
            x_post_norm: LayerNormConfig::new(f).init(device),
            v_post_norm: EquivariantLayerNorm::with_regulariser(
                f,
                config.et.vec_norm_regulariser,
                device,
            ),
            p_droppath: config.p_droppath,
            training: Param::from_bool(true),
            vec_prenorm: config.vec_prenorm,
        }
    }

    /// The residual updates `(Δx, Δv)` of the layer.
    ///
    /// # Shapes
    /// - `x`, `c`: `[n_atoms, F]`, `vec`: `[n_atoms, 3, F]`
    /// - output: `(Δx [n_atoms, F], Δv [n_atoms, 3, F])`
    pub fn forward(
        &self,
        x: Tensor<2>,
        vec: Tensor<3>,
        c: Tensor<2>,
        edges: &EdgeFeatures,
    ) -> (Tensor<2>, Tensor<3>) {
        let (x_mod, gate) = self.conditional_ln.forward(x, c);
        let v_in = match self.vec_prenorm {
            VecPreNormKind::None => vec,
            _ => self.vec_norm.forward(vec),
        };
        let (dx, dv) = self.attention.attend(x_mod, v_in, edges);
        let dx = dx.mul(gate);
        if self.training.is_enabled() && dx.device().is_autodiff() && self.p_droppath > 0.0 {
            let keep_prob = 1.0 - self.p_droppath;
            let keep = Tensor::<1>::random(
                [edges.n_atoms],
                Distribution::Bernoulli(keep_prob),
                (&dx.device(), dx.dtype()),
            );
            joint_drop_path(dx, dv, keep, keep_prob)
        } else {
            (dx, dv)
        }
    }
}

/// The CT representation (no heads).
#[derive(Module, Debug)]
pub struct Ct {
    /// Element embedding `E` `[max_z, F]` (frozen during SCD pretraining).
    pub embedding: Param<Tensor<2>>,
    /// ExpNormal radial basis.
    pub distance_expansion: ExpNormalSmearing,
    /// Neighbour embedding, if enabled.
    pub neighbor_embedding: Option<NeighborEmbedding>,
    /// CT layers.
    pub layers: Vec<CtLayer>,
    /// Condition preparation and mask token.
    pub drop_cond: DropCond,
    hidden_channels: usize,
    max_z: usize,
    cutoff_lower: f64,
    cutoff_upper: f64,
    inv_post_norm: bool,
    vec_post_norm: bool,
    layernorm_on_vec: bool,
    clip: f64,
}

impl Ct {
    /// Hidden channels `F`.
    pub fn hidden_channels(&self) -> usize {
        self.hidden_channels
    }

    /// Per-atom features of every system in `graph`, conditioned on `cond` (one vector per
    /// system) or, with `None`, on the mask token.
    ///
    /// # Shapes
    /// - `cond`: `[n_systems, F]`
    /// - output: `x` `[n_atoms, F]`, `vec` `[n_atoms, 3, F]`
    ///
    /// # Errors
    /// [`BackboneError::AtomicNumber`] for an atomic number `≥ max_z`;
    /// [`BackboneError::Shape`] when `cond` is not `[n_systems, F]`.
    pub fn forward(
        &self,
        graph: &AtomGraph,
        cond: Option<Tensor<2>>,
    ) -> Result<EquivariantFeatures, BackboneError> {
        check_z(graph, self.max_z)?;
        let f = self.hidden_channels;
        if let Some(c) = &cond
            && c.dims() != [graph.n_systems, f]
        {
            return Err(BackboneError::Shape {
                what: "cond",
                expected: vec![graph.n_systems, f],
                got: c.dims().to_vec(),
            });
        }
        let edges = EdgeFeatures::new(
            graph,
            &self.distance_expansion,
            self.cutoff_lower,
            self.cutoff_upper,
        );
        let n = graph.n_atoms;
        let clip = self.clip;
        let mut x = gather_table(self.embedding.val(), &graph.z); // [n, F]
        if let Some(ne) = &self.neighbor_embedding {
            x = ne.forward(&graph.z, x, &edges);
        }
        let mut vec = Tensor::<3>::zeros([n, 3, f], (&x.device(), x.dtype()));
        let c = self
            .drop_cond
            .forward(cond, &graph.batch)
            .clamp(-clip, clip); // [n, F]
        let last = self.layers.len().saturating_sub(1);
        for (l, layer) in self.layers.iter().enumerate() {
            x = x.clamp(-clip, clip);
            vec = vec.clamp(-clip, clip);
            let (dx, dv) = layer.forward(x.clone(), vec.clone(), c.clone(), &edges);
            x = x.add(dx.clamp(-clip, clip));
            vec = vec.add(dv.clamp(-clip, clip));
            if self.inv_post_norm || l == last {
                x = layer.x_post_norm.forward(x);
            }
            if self.vec_post_norm || (self.layernorm_on_vec && l == last) {
                vec = layer.v_post_norm.forward(vec);
            }
        }
        Ok(EquivariantFeatures { x, vec })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Structure;
    use crate::graph::RadiusGraphOptions;

    fn small() -> CtConfig {
        CtConfig::new().with_et(
            EtConfig::new()
                .with_hidden_channels(16)
                .with_num_layers(2)
                .with_num_heads(4)
                .with_num_rbf(8),
        )
    }

    fn water_graph(device: &Device) -> AtomGraph {
        let s = Structure::molecule(
            vec![8, 1, 1],
            vec![[0.0; 3], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]],
        );
        let options = RadiusGraphOptions {
            self_loops: true,
            ..RadiusGraphOptions::with_cutoff(5.0)
        };
        AtomGraph::from_structures(&[s], &options, device).unwrap()
    }

    #[test]
    fn parameter_count_matches_the_spec() {
        let device = crate::testing::cpu_device();
        // docs/backbones.md §2.7: CT 256/8/64, 118 elements; per layer 1,119,747 + post norms.
        let ct = CtConfig::new().init(&device).unwrap();
        assert_eq!(ct.num_params(), 9_173_272);
        let layer = &ct.layers[0];
        let core = layer.attention.num_params()
            + layer.conditional_ln.num_params()
            + layer.vec_norm.num_params();
        assert_eq!(core, 1_119_747);
        assert_eq!(layer.conditional_ln.num_params(), 329_730);
        // CT-small 128/6/32 with the final whitened vector LN (`scd_small.yaml`).
        let small = CtConfig::new()
            .with_et(
                EtConfig::new()
                    .with_hidden_channels(128)
                    .with_num_layers(6)
                    .with_num_rbf(32)
                    .with_layernorm_on_vec(true),
            )
            .init(&device)
            .unwrap();
        assert_eq!(small.num_params(), 1_758_098);
    }

    #[test]
    fn frozen_embeddings_are_not_trainable() {
        let (_serial, device) = crate::testing::serial_autodiff(&crate::testing::cpu_device());
        let ct = small().with_freeze_embeddings(true).init(&device).unwrap();
        assert!(!ct.embedding.val().is_require_grad());
        assert!(!ct.drop_cond.mask_token.val().is_require_grad());
        assert!(ct.drop_cond.norm.gamma.val().is_require_grad());
        let ct = small().init(&device).unwrap();
        assert!(ct.embedding.val().is_require_grad());
    }

    #[test]
    fn condition_changes_the_output_and_mask_token_is_the_default() {
        let device = crate::testing::cpu_device();
        let ct = small().init(&device).unwrap();
        let g = water_graph(&device);
        let values = |t: Tensor<2>| -> Vec<f32> { t.into_data().try_into_vec().unwrap() };
        let none = values(ct.forward(&g, None).unwrap().x);
        let mask = ct.drop_cond.mask_token.val();
        let with_mask = values(ct.forward(&g, Some(mask)).unwrap().x);
        assert_eq!(none, with_mask);
        let other = Tensor::<2>::ones([1, 16], &device);
        let with_other = values(ct.forward(&g, Some(other)).unwrap().x);
        assert!(
            none.iter()
                .zip(&with_other)
                .any(|(a, b)| (a - b).abs() > 1e-4)
        );
        let err = ct
            .forward(&g, Some(Tensor::<2>::ones([2, 16], &device)))
            .unwrap_err();
        assert!(
            matches!(err, BackboneError::Shape { what: "cond", .. }),
            "{err}"
        );
    }

    #[test]
    fn joint_drop_path_drops_scalars_and_vectors_of_the_same_atoms() {
        let device = crate::testing::cpu_device();
        let dx = Tensor::<2>::ones([3, 2], &device);
        let dv = Tensor::<3>::ones([3, 3, 2], &device);
        let keep = Tensor::<1>::from_floats([1.0, 0.0, 1.0], &device);
        let (dx, dv) = joint_drop_path(dx, dv, keep, 0.5);
        let dx: Vec<f32> = dx.into_data().try_into_vec().unwrap();
        let dv: Vec<f32> = dv.into_data().try_into_vec().unwrap();
        assert_eq!(dx, [2.0, 2.0, 0.0, 0.0, 2.0, 2.0]);
        assert!(dv[..6].iter().all(|&v| v == 2.0));
        assert!(dv[6..12].iter().all(|&v| v == 0.0));
        assert!(dv[12..].iter().all(|&v| v == 2.0));
    }

    #[test]
    fn training_randomness_only_on_autodiff_devices_in_training_mode() {
        // On a plain device (inference) the CT is deterministic even with p > 0.
        let device = crate::testing::cpu_device();
        let ct = small()
            .with_p_droppath(0.5)
            .with_p_dropcond(0.5)
            .init(&device)
            .unwrap();
        let g = water_graph(&device);
        let cond = Tensor::<2>::ones([1, 16], &device);
        let a: Vec<f32> = ct
            .forward(&g, Some(cond.clone()))
            .unwrap()
            .x
            .into_data()
            .try_into_vec()
            .unwrap();
        let b: Vec<f32> = ct
            .forward(&g, Some(cond))
            .unwrap()
            .x
            .into_data()
            .try_into_vec()
            .unwrap();
        assert_eq!(a, b);
        // On an autodiff device in training mode drop-path and condition dropout are random.
        let (_serial, device) = crate::testing::serial_autodiff(&device);
        let ct = small()
            .with_p_droppath(0.5)
            .with_p_dropcond(0.5)
            .init(&device)
            .unwrap();
        let g = water_graph(&device);
        let cond = Tensor::<2>::ones([1, 16], &device);
        let runs: Vec<Vec<f32>> = (0..8)
            .map(|_| {
                let x = ct.forward(&g, Some(cond.clone())).unwrap().x;
                x.into_data().try_into_vec().unwrap()
            })
            .collect();
        assert!(runs.iter().any(|r| r != &runs[0]));
        // `valid()` switches the training behaviour off.
        let ct = ct.valid();
        let plain = device.inner();
        let g = water_graph(&plain);
        let cond = Tensor::<2>::ones([1, 16], &plain);
        let a = ct.forward(&g, Some(cond.clone())).unwrap().x;
        let b = ct.forward(&g, Some(cond)).unwrap().x;
        let a: Vec<f32> = a.into_data().try_into_vec().unwrap();
        let b: Vec<f32> = b.into_data().try_into_vec().unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn equivariant_prenorm_is_identity_at_small_vectors_and_saturates() {
        let device = crate::testing::cpu_device();
        let norm = VecPreNorm::new(2, VecPreNormKind::Equivariant, &device);
        let v = Tensor::<3>::from_floats(
            [
                [[1e-4, 0.0], [0.0, 30.0], [0.0, 40.0]],
                [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]],
            ],
            &device,
        );
        let out: Vec<f32> = norm.forward(v).into_data().try_into_vec().unwrap();
        assert!((out[0] - 1e-4).abs() < 1e-9); // ≈ identity for small |v|
        // |v| = 50 → length γ tanh(10) ≈ 5 along (0, 0.6, 0.8).
        assert!((out[3] - 3.0).abs() < 1e-4 && (out[5] - 4.0).abs() < 1e-4);
        assert!(out[6..].iter().all(|&x| x == 0.0));
    }
}
