//! TorchMD-Net Equivariant Transformer (ET; Thölke & De Fabritiis, ICLR 2022).
//!
//! How it works (docs/backbones.md §2): each atom carries scalar features `x` `[F]` and vector
//! features `v` `[3, F]` (zero at the start). Scalars start from an element embedding mixed
//! with a distance-filtered embedding of the neighbours' elements. Each layer is a multi-head
//! attention over the radius graph (self-loops included) whose logits `SiLU(Σ q_i k_j dk_ij)`
//! need no softmax; values carry a scalar message and two gates, one scaling the neighbour's
//! vectors and one the edge direction `u_ij`, so vector messages rotate with the input. The
//! layer's update mixes the aggregated messages with invariant dot products of the atom's own
//! vector channels. A final LayerNorm acts on `x`.
//!
//! Periodic crystals need nothing special: edges to images carry their shift, and `u_ij`,
//! `d_ij` come from `pos[j] + shift − pos[i]` (an atom's own images are ordinary neighbours;
//! only the zero-shift self-loop is excluded from the neighbour embedding and has `u = 0`).
//! TorchMD-Net instead excludes every `i == j` edge there, which differs only for cells
//! thinner than the cutoff, which its neighbour kernel rejects.
//!
//! Layouts follow TorchMD-Net so its weights load unchanged (see [`super::torchmdnet`]):
//! `v_proj` output is per head `[scalar | gate₁ | gate₂]`, `vec_proj` and `o_proj` outputs are
//! three contiguous blocks of `F`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Tensor};

use super::BackboneError;
use super::input::AtomGraph;
use crate::graph::{MaxNeighborsPolicy, RadiusGraphOptions};
use crate::nn::activation::silu;
use crate::nn::xavier_linear;
use crate::nn::{
    CosineCutoff, CovarianceRegulariser, EquivariantLayerNorm, ExpNormalSmearing,
    ExpNormalSmearingConfig, Segments, gather_rows, gather_table, scatter_sum,
};

/// Where the radial basis enters the attention (TorchMD-Net `distance_influence`).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum DistanceInfluence {
    /// Neither keys nor values.
    None,
    /// Keys only (`dk_proj`).
    Keys,
    /// Values only (`dv_proj`).
    Values,
    /// Keys and values.
    Both,
}

impl DistanceInfluence {
    fn keys(self) -> bool {
        matches!(self, Self::Keys | Self::Both)
    }
    fn values(self) -> bool {
        matches!(self, Self::Values | Self::Both)
    }
}

/// Hyper-parameters of [`Et`]. Defaults are TorchMD-Net's `ET-QM9.yaml` / SCD's baseline ET
/// (F = 256, 8 layers, 8 heads, 64 fixed ExpNormal functions, 0–5 Å, 118 elements).
#[derive(Config, Debug)]
pub struct EtConfig {
    /// Hidden channels `F`.
    #[config(default = 256)]
    pub hidden_channels: usize,
    /// Number of attention layers `L`.
    #[config(default = 8)]
    pub num_layers: usize,
    /// Attention heads `H` (must divide `F`).
    #[config(default = 8)]
    pub num_heads: usize,
    /// Radial basis functions `K`.
    #[config(default = 64)]
    pub num_rbf: usize,
    /// Whether the RBF centres and widths are trained.
    #[config(default = false)]
    pub trainable_rbf: bool,
    /// Lower cutoff (Å).
    #[config(default = 0.0)]
    pub cutoff_lower: f64,
    /// Upper cutoff (Å).
    #[config(default = 5.0)]
    pub cutoff_upper: f64,
    /// Rows of the element embeddings (atomic numbers `0..max_z`).
    #[config(default = 118)]
    pub max_z: usize,
    /// Use the neighbour embedding.
    #[config(default = true)]
    pub neighbor_embedding: bool,
    /// Where distances enter the attention.
    #[config(default = "DistanceInfluence::Both")]
    pub distance_influence: DistanceInfluence,
    /// Multiply the values (not only the attention) by the cutoff, making the energy smooth at
    /// the cutoff.
    #[config(default = true)]
    pub vector_cutoff: bool,
    /// Whitened equivariant LayerNorm on the final vector features (SCD's `layernorm_on_vec`;
    /// off in TorchMD-Net).
    #[config(default = false)]
    pub layernorm_on_vec: bool,
    /// Covariance regulariser of the whitened vector norms: `Isotropic` (equivariant) or `Scd`
    /// (SCD's checkpoints; see [`CovarianceRegulariser`]).
    #[config(default = "CovarianceRegulariser::Isotropic")]
    pub vec_norm_regulariser: CovarianceRegulariser,
    /// Neighbour cap of SCD's periodic graph builder
    /// ([`MaxNeighborsPolicy::KeepNearestDegenerate`] with this `k`): models trained through it
    /// (SCD's `allow_periodic`, e.g. `ct-scd-amp`) saw about `k + 1` neighbours per atom.
    /// Absent (the default): every pair within the cutoff.
    pub max_num_neighbors: Option<usize>,
}

impl EtConfig {
    /// Checks the hyper-parameters.
    ///
    /// # Errors
    /// [`BackboneError::Config`] naming the offending field.
    pub fn validate(&self) -> Result<(), BackboneError> {
        let bad =
            |field: &'static str, reason: String| Err(BackboneError::Config { field, reason });
        if self.hidden_channels == 0 || self.num_heads == 0 {
            return bad(
                "hidden_channels",
                "hidden_channels and num_heads must be > 0".into(),
            );
        }
        if !self.hidden_channels.is_multiple_of(self.num_heads) {
            return bad(
                "num_heads",
                format!(
                    "hidden_channels = {} is not divisible by num_heads = {}",
                    self.hidden_channels, self.num_heads
                ),
            );
        }
        if self.num_rbf == 0 {
            return bad("num_rbf", "must be > 0".into());
        }
        if !(self.cutoff_upper.is_finite()
            && self.cutoff_lower >= 0.0
            && self.cutoff_upper > self.cutoff_lower)
        {
            return bad(
                "cutoff_upper",
                format!(
                    "need 0 ≤ cutoff_lower < cutoff_upper, got {} and {}",
                    self.cutoff_lower, self.cutoff_upper
                ),
            );
        }
        if self.max_z == 0 {
            return bad("max_z", "must be > 0".into());
        }
        Ok(())
    }

    /// Builds an ET with TorchMD-Net's initialisation.
    ///
    /// # Errors
    /// See [`EtConfig::validate`].
    pub fn init(&self, device: &Device) -> Result<Et, BackboneError> {
        self.validate()?;
        let f = self.hidden_channels;
        Ok(Et {
            embedding: embedding(self.max_z, f, device),
            distance_expansion: self.rbf_config().init(device),
            neighbor_embedding: self
                .neighbor_embedding
                .then(|| NeighborEmbedding::new(self, device)),
            layers: (0..self.num_layers)
                .map(|_| EtAttention::new(self, true, device))
                .collect(),
            out_norm: LayerNormConfig::new(f).init(device),
            vec_norm: self.layernorm_on_vec.then(|| {
                EquivariantLayerNorm::with_regulariser(f, self.vec_norm_regulariser, device)
            }),
            hidden_channels: f,
            max_z: self.max_z,
            cutoff_lower: self.cutoff_lower,
            cutoff_upper: self.cutoff_upper,
        })
    }

    /// The radius-graph options this ET expects: edges below `cutoff_upper`, self-loops
    /// included (TorchMD-Net's `loop=True`; each atom attends to itself).
    pub fn graph_options(&self) -> RadiusGraphOptions {
        RadiusGraphOptions {
            self_loops: true,
            max_neighbors: self.max_num_neighbors,
            policy: MaxNeighborsPolicy::KeepNearestDegenerate,
            ..RadiusGraphOptions::with_cutoff(self.cutoff_upper)
        }
    }

    pub(crate) fn rbf_config(&self) -> ExpNormalSmearingConfig {
        ExpNormalSmearingConfig::new()
            .with_cutoff_lower(self.cutoff_lower)
            .with_cutoff_upper(self.cutoff_upper)
            .with_num_rbf(self.num_rbf)
            .with_trainable(self.trainable_rbf)
    }
}

/// An element embedding table `[max_z, F]`, standard normal (PyTorch's `nn.Embedding`).
pub(crate) fn embedding(max_z: usize, f: usize, device: &Device) -> Param<Tensor<2>> {
    Initializer::Normal {
        mean: 0.0,
        std: 1.0,
    }
    .init([max_z, f], device)
}

/// Per-edge inputs every layer shares.
///
/// # Shapes
/// `rbf` `[n_edges, K]`, `cutoff` `[n_edges]`, `u` `[n_edges, 3]`, `not_self` `[n_edges]`.
#[derive(Debug, Clone)]
pub struct EdgeFeatures {
    /// Centre atoms (message targets).
    pub idx_i: Segments,
    /// Neighbour atoms (message sources).
    pub idx_j: Segments,
    /// Radial basis of each edge length.
    pub rbf: Tensor<2>,
    /// Cosine cutoff of each edge length.
    pub cutoff: Tensor<1>,
    /// Unit edge vectors (zero on self-loops).
    pub u: Tensor<2>,
    /// 0 on self-loops, 1 elsewhere.
    pub not_self: Tensor<1>,
    /// Number of atoms.
    pub n_atoms: usize,
}

impl EdgeFeatures {
    pub(crate) fn new(
        graph: &AtomGraph,
        rbf: &ExpNormalSmearing,
        cutoff_lower: f64,
        cutoff_upper: f64,
    ) -> Self {
        let geometry = graph.geometry();
        Self {
            idx_i: graph.idx_i.clone(),
            idx_j: graph.idx_j.clone(),
            rbf: rbf.forward(geometry.d.clone()),
            cutoff: CosineCutoff::new(cutoff_lower, cutoff_upper).forward(geometry.d),
            u: geometry.u,
            not_self: graph.self_loop.clone().neg().add_scalar(1.0),
            n_atoms: graph.n_atoms,
        }
    }
}

/// The neighbour embedding (docs/backbones.md §2.2).
#[derive(Module, Debug)]
pub struct NeighborEmbedding {
    /// Neighbour element table `E'` `[max_z, F]`.
    pub embedding: Param<Tensor<2>>,
    /// `W_d`: `K → F`.
    pub distance_proj: Linear,
    /// `W_c`: `2F → F`.
    pub combine: Linear,
}

impl NeighborEmbedding {
    pub(crate) fn new(config: &EtConfig, device: &Device) -> Self {
        let f = config.hidden_channels;
        Self {
            embedding: embedding(config.max_z, f, device),
            distance_proj: xavier_linear(config.num_rbf, f, true, 1.0, device),
            combine: xavier_linear(2 * f, f, true, 1.0, device),
        }
    }

    /// # Shapes
    /// - `z`: `[n_atoms]`, `x`: `[n_atoms, F]`
    /// - output: `[n_atoms, F]`
    pub fn forward(&self, z: &Segments, x: Tensor<2>, edges: &EdgeFeatures) -> Tensor<2> {
        let n_edges = edges.cutoff.dims()[0];
        let weight = edges
            .cutoff
            .clone()
            .mul(edges.not_self.clone())
            .reshape([n_edges, 1]); // [n_edges, 1]
        let w = self.distance_proj.forward(edges.rbf.clone()).mul(weight); // [n_edges, F]
        // As TorchMD-Net's (and SCD's) code: each edge carries the centre's embedding to the
        // neighbour. On a symmetric graph this is the textbook Σ_{j ∈ N(i)} W(d_ij) E'[z_j];
        // on a capped, asymmetric one (SCD's periodic graphs) only this order reproduces them.
        let neighbours = gather_rows(gather_table(self.embedding.val(), z), &edges.idx_i); // [n_edges, F]
        let agg = scatter_sum(w.mul(neighbours), &edges.idx_j); // [n_atoms, F]
        self.combine.forward(Tensor::cat(vec![x, agg], 1))
    }
}

/// One equivariant multi-head attention layer (docs/backbones.md §2.4).
#[derive(Module, Debug)]
pub struct EtAttention {
    /// Pre-attention LayerNorm on `x`; `None` in CT, which normalises with AdaNorm instead.
    pub layernorm: Option<LayerNorm>,
    /// `W_q`: `F → F`.
    pub q_proj: Linear,
    /// `W_k`: `F → F`.
    pub k_proj: Linear,
    /// `W_v`: `F → 3F` (per head: scalar value, gate₁, gate₂).
    pub v_proj: Linear,
    /// `W_o`: `F → 3F` (blocks o₁, o₂, o₃).
    pub o_proj: Linear,
    /// `W_vec`: `F → 3F`, no bias (a bias would break equivariance).
    pub vec_proj: Linear,
    /// `W_dk`: `K → F`, when distances enter the keys.
    pub dk_proj: Option<Linear>,
    /// `W_dv`: `K → 3F`, when distances enter the values.
    pub dv_proj: Option<Linear>,
    num_heads: usize,
    hidden_channels: usize,
    vector_cutoff: bool,
}

impl EtAttention {
    pub(crate) fn new(config: &EtConfig, with_norm: bool, device: &Device) -> Self {
        let f = config.hidden_channels;
        let k = config.num_rbf;
        Self {
            layernorm: with_norm.then(|| LayerNormConfig::new(f).init(device)),
            q_proj: xavier_linear(f, f, true, 1.0, device),
            k_proj: xavier_linear(f, f, true, 1.0, device),
            v_proj: xavier_linear(f, 3 * f, true, 1.0, device),
            o_proj: xavier_linear(f, 3 * f, true, 1.0, device),
            vec_proj: xavier_linear(f, 3 * f, false, 1.0, device),
            dk_proj: config
                .distance_influence
                .keys()
                .then(|| xavier_linear(k, f, true, 1.0, device)),
            dv_proj: config
                .distance_influence
                .values()
                .then(|| xavier_linear(k, 3 * f, true, 1.0, device)),
            num_heads: config.num_heads,
            hidden_channels: f,
            vector_cutoff: config.vector_cutoff,
        }
    }

    /// The ET layer: LayerNorm (if present) then [`EtAttention::attend`]. Returns the residual
    /// updates.
    ///
    /// # Shapes
    /// - `x`: `[n_atoms, F]`, `vec`: `[n_atoms, 3, F]`
    /// - output: `(Δx [n_atoms, F], Δvec [n_atoms, 3, F])`
    pub fn forward(
        &self,
        x: Tensor<2>,
        vec: Tensor<3>,
        edges: &EdgeFeatures,
    ) -> (Tensor<2>, Tensor<3>) {
        let x = match &self.layernorm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        self.attend(x, vec, edges)
    }

    /// The attention core on already-normalised scalars `x` and (possibly pre-normed) vectors
    /// `vec` (docs/backbones.md §2.4 steps 2–8).
    ///
    /// # Shapes
    /// - `x`: `[n_atoms, F]`, `vec`: `[n_atoms, 3, F]`
    /// - output: `(Δx [n_atoms, F], Δvec [n_atoms, 3, F])`
    pub fn attend(
        &self,
        x: Tensor<2>,
        vec: Tensor<3>,
        edges: &EdgeFeatures,
    ) -> (Tensor<2>, Tensor<3>) {
        let (f, h) = (self.hidden_channels, self.num_heads);
        let dh = f / h;
        let n = edges.n_atoms;
        let n_edges = edges.cutoff.dims()[0];

        let q = self.q_proj.forward(x.clone()).reshape([n, h, dh]);
        let k = self.k_proj.forward(x.clone()).reshape([n, h, dh]);
        let v = self.v_proj.forward(x).reshape([n, h, 3 * dh]);

        let vp = self.vec_proj.forward(vec.clone()); // [n, 3, 3F]
        let vec1 = vp.clone().narrow(2, 0, f);
        let vec2 = vp.clone().narrow(2, f, f);
        let vec3 = vp.narrow(2, 2 * f, f); // [n, 3, F]
        let vec_dot = vec1.mul(vec2).sum_dim(1).reshape([n, f]); // [n, F]

        // Per edge: target i, source j.
        let q_i = gather_rows(q, &edges.idx_i); // [E, h, dh]
        let k_j = gather_rows(k, &edges.idx_j); // [E, h, dh]
        let mut v_j = gather_rows(v, &edges.idx_j); // [E, h, 3dh]
        let vec_j = gather_rows(vec.reshape([n, 3, h, dh]), &edges.idx_j); // [E, 3, h, dh]

        let mut logits = q_i.mul(k_j);
        if let Some(dk) = &self.dk_proj {
            logits = logits.mul(silu(dk.forward(edges.rbf.clone())).reshape([n_edges, h, dh]));
        }
        let mut attn = silu(logits.sum_dim(2)); // [E, h, 1]
        let cutoff = edges.cutoff.clone().reshape([n_edges, 1, 1]);
        if self.vector_cutoff {
            v_j = v_j.mul(cutoff);
        } else {
            attn = attn.mul(cutoff);
        }
        if let Some(dv) = &self.dv_proj {
            v_j = v_j.mul(silu(dv.forward(edges.rbf.clone())).reshape([n_edges, h, 3 * dh]));
        }
        let s = v_j.clone().narrow(2, 0, dh); // [E, h, dh]
        let g1 = v_j.clone().narrow(2, dh, dh);
        let g2 = v_j.narrow(2, 2 * dh, dh);

        let msg_x = s.mul(attn); // [E, h, dh]
        let u = edges.u.clone().reshape([n_edges, 3, 1, 1]);
        let msg_v = vec_j
            .mul(g1.clone().unsqueeze_dim::<4>(1))
            .add(g2.unsqueeze_dim::<4>(1).mul(u)); // [E, 3, h, dh]

        let agg_x = scatter_sum(msg_x, &edges.idx_i).reshape([n, f]); // [n, F]
        let agg_v = scatter_sum(msg_v, &edges.idx_i).reshape([n, 3, f]); // [n, 3, F]

        let o = self.o_proj.forward(agg_x); // [n, 3F]
        let o1 = o.clone().narrow(1, 0, f);
        let o2 = o.clone().narrow(1, f, f);
        let o3 = o.narrow(1, 2 * f, f);
        let dx = vec_dot.mul(o2).add(o3);
        let dvec = vec3.mul(o1.unsqueeze_dim::<3>(1)).add(agg_v);
        (dx, dvec)
    }
}

/// Output of a backbone: per-atom scalar and vector features.
///
/// # Shapes
/// `x` `[n_atoms, F]`, `vec` `[n_atoms, 3, F]`.
#[derive(Debug, Clone)]
pub struct EquivariantFeatures {
    /// Invariant per-atom features.
    pub x: Tensor<2>,
    /// Equivariant per-atom vector features (xyz in the middle axis).
    pub vec: Tensor<3>,
}

/// The Equivariant Transformer representation (no head).
#[derive(Module, Debug)]
pub struct Et {
    /// Element embedding `E` `[max_z, F]`.
    pub embedding: Param<Tensor<2>>,
    /// ExpNormal radial basis.
    pub distance_expansion: ExpNormalSmearing,
    /// Neighbour embedding, if enabled.
    pub neighbor_embedding: Option<NeighborEmbedding>,
    /// Attention layers.
    pub layers: Vec<EtAttention>,
    /// Final LayerNorm on `x`.
    pub out_norm: LayerNorm,
    /// Final whitened equivariant LayerNorm on `vec`, if enabled.
    pub vec_norm: Option<EquivariantLayerNorm>,
    hidden_channels: usize,
    max_z: usize,
    cutoff_lower: f64,
    cutoff_upper: f64,
}

impl Et {
    /// Hidden channels `F`.
    pub fn hidden_channels(&self) -> usize {
        self.hidden_channels
    }

    /// Per-atom features of every system in `graph`, which should be built with
    /// [`EtConfig::graph_options`] (self-loops included, as in TorchMD-Net).
    ///
    /// # Shapes
    /// Output: `x` `[n_atoms, F]`, `vec` `[n_atoms, 3, F]`.
    ///
    /// # Errors
    /// [`BackboneError::AtomicNumber`] when an atomic number is `≥ max_z`.
    pub fn forward(&self, graph: &AtomGraph) -> Result<EquivariantFeatures, BackboneError> {
        check_z(graph, self.max_z)?;
        let edges = EdgeFeatures::new(
            graph,
            &self.distance_expansion,
            self.cutoff_lower,
            self.cutoff_upper,
        );
        let n = graph.n_atoms;
        let f = self.hidden_channels;
        let mut x = gather_table(self.embedding.val(), &graph.z); // [n, F]
        if let Some(ne) = &self.neighbor_embedding {
            x = ne.forward(&graph.z, x, &edges);
        }
        let mut vec = Tensor::<3>::zeros([n, 3, f], (&x.device(), x.dtype()));
        for layer in &self.layers {
            let (dx, dvec) = layer.forward(x.clone(), vec.clone(), &edges);
            x = x.add(dx);
            vec = vec.add(dvec);
        }
        if let Some(norm) = &self.vec_norm {
            vec = norm.forward(vec);
        }
        Ok(EquivariantFeatures {
            x: self.out_norm.forward(x),
            vec,
        })
    }
}

/// Checks that every atomic number indexes the embedding tables (on the host copy).
pub(crate) fn check_z(graph: &AtomGraph, max_z: usize) -> Result<(), BackboneError> {
    match graph.largest_z() {
        Some((atom, z)) if usize::from(z) >= max_z => Err(BackboneError::AtomicNumber {
            atom,
            z: i64::from(z),
            max_z,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Structure;

    #[test]
    fn parameter_count_matches_the_spec() {
        let device = crate::testing::cpu_device();
        // docs/backbones.md §2.7: ET 256/8/64 with 118 elements, fixed RBF.
        let et = EtConfig::new().init(&device).unwrap();
        assert_eq!(et.num_params(), 6_529_024);
        // One layer at F = 256, K = 64.
        assert_eq!(et.layers[0].num_params(), 790_016);
        // CT-small geometry 128/6/32.
        let small = EtConfig::new()
            .with_hidden_channels(128)
            .with_num_layers(6)
            .with_num_rbf(32)
            .init(&device)
            .unwrap();
        assert_eq!(small.num_params(), 1_257_984);
    }

    #[test]
    fn invalid_configs_and_inputs_are_errors() {
        let device = crate::testing::cpu_device();
        let err = EtConfig::new()
            .with_hidden_channels(30)
            .with_num_heads(8)
            .init(&device)
            .unwrap_err();
        assert!(
            matches!(
                err,
                BackboneError::Config {
                    field: "num_heads",
                    ..
                }
            ),
            "{err}"
        );
        let et = EtConfig::new()
            .with_hidden_channels(16)
            .with_num_layers(1)
            .with_num_heads(2)
            .with_num_rbf(4)
            .with_max_z(10)
            .init(&device)
            .unwrap();
        let s = Structure::molecule(vec![6, 17], vec![[0.0; 3], [1.7, 0.0, 0.0]]);
        let graph =
            AtomGraph::from_structures(&[s], &RadiusGraphOptions::with_cutoff(5.0), &device)
                .unwrap();
        let err = et.forward(&graph).unwrap_err();
        assert_eq!(
            err,
            BackboneError::AtomicNumber {
                atom: 1,
                z: 17,
                max_z: 10
            }
        );
    }

    #[test]
    fn batching_does_not_mix_systems() {
        // Two molecules in one batch give the same features as each alone.
        let device = crate::testing::cpu_device();
        let et = EtConfig::new()
            .with_hidden_channels(16)
            .with_num_layers(2)
            .with_num_heads(4)
            .with_num_rbf(8)
            .init(&device)
            .unwrap();
        let a = Structure::molecule(
            vec![8, 1, 1],
            vec![[0.0; 3], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]],
        );
        let b = Structure::molecule(vec![6, 8], vec![[0.5, 0.2, 0.1], [1.6, 0.3, 0.0]]);
        let options = RadiusGraphOptions {
            self_loops: true,
            ..RadiusGraphOptions::with_cutoff(5.0)
        };
        let run = |s: &[Structure]| {
            let g = AtomGraph::from_structures(s, &options, &device).unwrap();
            let out = et.forward(&g).unwrap();
            let x: Vec<f32> = out.x.into_data().try_into_vec().unwrap();
            let v: Vec<f32> = out.vec.into_data().try_into_vec().unwrap();
            (x, v)
        };
        let (xa, va) = run(std::slice::from_ref(&a));
        let (xb, vb) = run(std::slice::from_ref(&b));
        let (x, v) = run(&[a, b]);
        let close = |p: &[f32], q: &[f32]| p.iter().zip(q).all(|(p, q)| (p - q).abs() < 1e-5);
        assert!(close(&x[..xa.len()], &xa) && close(&x[xa.len()..], &xb));
        assert!(close(&v[..va.len()], &va) && close(&v[va.len()..], &vb));
        // The vector features are not trivially zero.
        assert!(va.iter().any(|v| v.abs() > 1e-3));
    }
}
