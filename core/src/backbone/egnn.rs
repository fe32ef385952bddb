//! E(n)-equivariant graph network in the form used by EDM and UniGEM (`egnn_new.py`).
//!
//! How it works (docs/backbones.md §4): atoms carry invariant features `h` and coordinates `x`.
//! Each block runs `inv_sublayers` graph convolutions on `h` whose edge messages see `h_i`,
//! `h_j` and two edge attributes, the current squared distance and the squared distance of the
//! network's input coordinates; then one coordinate update moves each atom along the unit
//! vectors to its neighbours, `x_i += Σ_j ê_ij s_ij / Z` with `ê_ij = (x_i − x_j)/(|x_i − x_j| + 1)`
//! and `s_ij = tanh(MLP(h_i, h_j, a_ij)) · coords_range`. Messages on self-loops are masked.
//!
//! Edges come from an [`AtomGraph`]: EDM uses the complete graph of each molecule (build it
//! with [`AtomGraph::complete`]); a radius graph works too, and periodic shifts are honoured
//! (`x_j` is the neighbour's image), so crystals are handled consistently.
//!
//! [`EgnnDynamics`] is EDM's noise-prediction wrapper: time (and optional context) appended to
//! the node features, `ε̂_x = x_out − x_in` with the centre of mass of each molecule removed.
//! [`UniGem`] is UniGEM's variant: one shared block, then the batch's systems go through either
//! the main trunk (nucleation phase) or a branch trunk (growth phase), with atom-type and
//! property heads on the final hidden features.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};

use super::BackboneError;
use super::input::AtomGraph;
use crate::nn::activation::{sigmoid, silu};
use crate::nn::{Segments, gather_rows, scatter_mean, scatter_sum, xavier_linear};

/// How edge messages are aggregated at a node.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// Sum divided by `normalization_factor`.
    Sum,
    /// Mean over the node's edges.
    Mean,
}

/// Hyper-parameters of [`Egnn`]. Defaults are EDM's released QM9 model (`edm_qm9`):
/// 7 inputs (5 one-hot types, charge, time), 9 blocks of width 256, attention, tanh.
#[derive(Config, Debug)]
pub struct EgnnConfig {
    /// Input (and output) node features.
    #[config(default = 7)]
    pub in_node_nf: usize,
    /// Hidden width `H`.
    #[config(default = 256)]
    pub hidden_nf: usize,
    /// Equivariant blocks.
    #[config(default = 9)]
    pub n_layers: usize,
    /// Graph convolutions per block.
    #[config(default = 1)]
    pub inv_sublayers: usize,
    /// Gate messages with a sigmoid attention.
    #[config(default = true)]
    pub attention: bool,
    /// Bound coordinate steps with `tanh · coords_range`.
    #[config(default = true)]
    pub tanh: bool,
    /// Coordinate step bound (EDM passes 15 to every block).
    #[config(default = 15.0)]
    pub coords_range: f64,
    /// Added to the distance when normalising edge vectors.
    #[config(default = 1.0)]
    pub norm_constant: f64,
    /// Divides summed messages (EDM's released runs: 1, not the class default 100).
    #[config(default = 1.0)]
    pub normalization_factor: f64,
    /// Message aggregation.
    #[config(default = "Aggregation::Sum")]
    pub aggregation: Aggregation,
}

impl EgnnConfig {
    /// Checks the hyper-parameters.
    ///
    /// # Errors
    /// [`BackboneError::Config`] naming the offending field.
    pub fn validate(&self) -> Result<(), BackboneError> {
        let bad = |field: &'static str, reason: &str| {
            Err(BackboneError::Config {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.in_node_nf == 0 {
            return bad("in_node_nf", "must be > 0");
        }
        if self.hidden_nf == 0 {
            return bad("hidden_nf", "must be > 0");
        }
        if self.inv_sublayers == 0 {
            return bad("inv_sublayers", "must be > 0");
        }
        if !(self.normalization_factor.is_finite() && self.normalization_factor > 0.0) {
            return bad("normalization_factor", "must be finite and > 0");
        }
        if !(self.norm_constant.is_finite() && self.norm_constant >= 0.0) {
            return bad("norm_constant", "must be finite and ≥ 0");
        }
        Ok(())
    }

    /// Builds an EGNN (PyTorch-default init; last coordinate layer Xavier with gain 0.001).
    ///
    /// # Errors
    /// See [`EgnnConfig::validate`].
    pub fn init(&self, device: &Device) -> Result<Egnn, BackboneError> {
        self.validate()?;
        Ok(Egnn {
            embedding: LinearConfig::new(self.in_node_nf, self.hidden_nf).init(device),
            blocks: (0..self.n_layers)
                .map(|_| EquivariantBlock::new(self, device))
                .collect(),
            embedding_out: LinearConfig::new(self.hidden_nf, self.in_node_nf).init(device),
        })
    }
}

/// Edge data of one forward pass.
///
/// Coordinates are tracked as displacements `dx` from the input positions, so that
/// `x_i − x_j = (x⁰_i − x⁰_j − shift) + (dx_i − dx_j)` and the output step `x_out − x_in` never
/// subtract large absolute positions (f32 would lose the small steps of a translated system).
#[derive(Debug, Clone)]
struct EgnnEdges {
    idx_i: Segments,
    idx_j: Segments,
    /// `x⁰_i − (x⁰_j + shift)` of the input positions, `[E, 3]`.
    diff0: Tensor<2>,
    not_self: Tensor<2>,
}

impl EgnnEdges {
    fn new(graph: &AtomGraph) -> Self {
        Self {
            idx_i: graph.idx_i.clone(),
            idx_j: graph.idx_j.clone(),
            diff0: graph.geometry().r.neg(),
            not_self: graph
                .self_loop
                .clone()
                .neg()
                .add_scalar(1.0)
                .reshape([graph.n_edges, 1]),
        }
    }

    /// `x_i − (x_j + shift)` `[E, 3]` for displacements `dx` `[N, 3]`, and its squared length
    /// `[E, 1]`.
    fn diff(&self, dx: &Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let diff = self
            .diff0
            .clone()
            .add(gather_rows(dx.clone(), &self.idx_i).sub(gather_rows(dx.clone(), &self.idx_j)));
        let d2 = diff.clone().square().sum_dim(1);
        (diff, d2)
    }

    fn aggregate(&self, m: Tensor<2>, config: &Aggr) -> Tensor<2> {
        match config.aggregation {
            Aggregation::Sum => scatter_sum(m, &self.idx_i).div_scalar(config.normalization_factor),
            Aggregation::Mean => scatter_mean(m, &self.idx_i),
        }
    }
}

/// Aggregation settings every layer needs.
#[derive(Debug, Clone)]
struct Aggr {
    aggregation: Aggregation,
    normalization_factor: f64,
}

/// One graph convolution on `h` (docs/backbones.md §4.2).
#[derive(Module, Debug)]
pub struct Gcl {
    /// `2H + 2 → H`.
    pub edge_mlp0: Linear,
    /// `H → H`.
    pub edge_mlp1: Linear,
    /// `2H → H`.
    pub node_mlp0: Linear,
    /// `H → H`.
    pub node_mlp1: Linear,
    /// `H → 1` attention gate.
    pub att_mlp: Option<Linear>,
    #[module(skip)]
    aggr: Aggr,
}

impl Gcl {
    fn new(config: &EgnnConfig, device: &Device) -> Self {
        let h = config.hidden_nf;
        Self {
            edge_mlp0: LinearConfig::new(2 * h + 2, h).init(device),
            edge_mlp1: LinearConfig::new(h, h).init(device),
            node_mlp0: LinearConfig::new(2 * h, h).init(device),
            node_mlp1: LinearConfig::new(h, h).init(device),
            att_mlp: config
                .attention
                .then(|| LinearConfig::new(h, 1).init(device)),
            aggr: aggr(config),
        }
    }

    fn forward(&self, h: Tensor<2>, edge_attr: Tensor<2>, edges: &EgnnEdges) -> Tensor<2> {
        let input = Tensor::cat(
            vec![
                gather_rows(h.clone(), &edges.idx_i),
                gather_rows(h.clone(), &edges.idx_j),
                edge_attr,
            ],
            1,
        ); // [E, 2H + 2]
        let mut m = silu(self.edge_mlp1.forward(silu(self.edge_mlp0.forward(input)))); // [E, H]
        if let Some(att) = &self.att_mlp {
            m = m.clone().mul(sigmoid(att.forward(m)));
        }
        let m = m.mul(edges.not_self.clone());
        let agg = edges.aggregate(m, &self.aggr); // [N, H]
        let update = self.node_mlp1.forward(silu(
            self.node_mlp0.forward(Tensor::cat(vec![h.clone(), agg], 1)),
        ));
        h.add(update)
    }
}

fn aggr(config: &EgnnConfig) -> Aggr {
    Aggr {
        aggregation: config.aggregation,
        normalization_factor: config.normalization_factor,
    }
}

/// The coordinate update of a block (docs/backbones.md §4.3).
#[derive(Module, Debug)]
pub struct CoordUpdate {
    /// `2H + 2 → H`.
    pub coord_mlp0: Linear,
    /// `H → H`.
    pub coord_mlp1: Linear,
    /// `H → 1`, no bias, Xavier gain 0.001.
    pub coord_mlp2: Linear,
    tanh: bool,
    coords_range: f64,
    norm_constant: f64,
    #[module(skip)]
    aggr: Aggr,
}

impl CoordUpdate {
    fn new(config: &EgnnConfig, device: &Device) -> Self {
        let h = config.hidden_nf;
        Self {
            coord_mlp0: LinearConfig::new(2 * h + 2, h).init(device),
            coord_mlp1: LinearConfig::new(h, h).init(device),
            coord_mlp2: xavier_linear(h, 1, false, 0.001, device),
            tanh: config.tanh,
            coords_range: config.coords_range,
            norm_constant: config.norm_constant,
            aggr: aggr(config),
        }
    }

    fn forward(
        &self,
        h: Tensor<2>,
        x: Tensor<2>,
        edge_attr: Tensor<2>,
        diff: Tensor<2>,
        d2: Tensor<2>,
        edges: &EgnnEdges,
    ) -> Tensor<2> {
        let input = Tensor::cat(
            vec![
                gather_rows(h.clone(), &edges.idx_i),
                gather_rows(h, &edges.idx_j),
                edge_attr,
            ],
            1,
        );
        let mut s = self.coord_mlp2.forward(silu(
            self.coord_mlp1
                .forward(silu(self.coord_mlp0.forward(input))),
        )); // [E, 1]
        if self.tanh {
            s = s.tanh().mul_scalar(self.coords_range);
        }
        let norm = d2.add_scalar(1e-8).sqrt(); // [E, 1]
        let unit = diff.div(norm.add_scalar(self.norm_constant)); // [E, 3]
        let trans = unit.mul(s).mul(edges.not_self.clone()); // [E, 3]
        x.add(edges.aggregate(trans, &self.aggr))
    }
}

/// `inv_sublayers` graph convolutions and one coordinate update (docs/backbones.md §4.4).
#[derive(Module, Debug)]
pub struct EquivariantBlock {
    /// The graph convolutions.
    pub gcls: Vec<Gcl>,
    /// The coordinate update.
    pub coord: CoordUpdate,
}

impl EquivariantBlock {
    fn new(config: &EgnnConfig, device: &Device) -> Self {
        Self {
            gcls: (0..config.inv_sublayers)
                .map(|_| Gcl::new(config, device))
                .collect(),
            coord: CoordUpdate::new(config, device),
        }
    }

    /// `(h, dx)` → `(h, dx)`; `dx` is the displacement from the input positions.
    fn forward(
        &self,
        mut h: Tensor<2>,
        dx: Tensor<2>,
        d2_input: Tensor<2>,
        edges: &EgnnEdges,
    ) -> (Tensor<2>, Tensor<2>) {
        let (diff, d2) = edges.diff(&dx);
        let edge_attr = Tensor::cat(vec![d2.clone(), d2_input], 1); // [E, 2]
        for gcl in &self.gcls {
            h = gcl.forward(h, edge_attr.clone(), edges);
        }
        let dx = self
            .coord
            .forward(h.clone(), dx, edge_attr, diff, d2, edges);
        (h, dx)
    }
}

/// Output of [`Egnn::forward`].
///
/// # Shapes
/// `h` `[n_atoms, in_node_nf]`, `x`, `dx` `[n_atoms, 3]`, `hidden` `[n_atoms, H]`.
#[derive(Debug, Clone)]
pub struct EgnnOutput {
    /// Output node features (`embedding_out` of the last hidden features).
    pub h: Tensor<2>,
    /// Updated coordinates (Å).
    pub x: Tensor<2>,
    /// `x − graph.pos`, accumulated without cancellation.
    pub dx: Tensor<2>,
    /// Last hidden features before `embedding_out` (UniGEM's `org_h`).
    pub hidden: Tensor<2>,
}

/// EDM's EGNN.
#[derive(Module, Debug)]
pub struct Egnn {
    /// `in_node_nf → H`.
    pub embedding: Linear,
    /// The equivariant blocks.
    pub blocks: Vec<EquivariantBlock>,
    /// `H → in_node_nf`.
    pub embedding_out: Linear,
}

impl Egnn {
    /// Runs the network on node features `h` and the positions and edges of `graph`.
    ///
    /// # Shapes
    /// - `h`: `[n_atoms, in_node_nf]`
    /// - output: see [`EgnnOutput`]
    ///
    /// # Errors
    /// [`BackboneError::Shape`] when `h` has the wrong shape.
    pub fn forward(&self, graph: &AtomGraph, h: Tensor<2>) -> Result<EgnnOutput, BackboneError> {
        let in_nf = self.embedding.weight.val().dims()[0];
        check_shape("h", h.dims().to_vec(), vec![graph.n_atoms, in_nf])?;
        let edges = EgnnEdges::new(graph);
        let mut dx = graph.pos.zeros_like();
        let d2_input = edges.diff0.clone().square().sum_dim(1);
        let mut h = self.embedding.forward(h);
        for block in &self.blocks {
            (h, dx) = block.forward(h, dx, d2_input.clone(), &edges);
        }
        Ok(EgnnOutput {
            h: self.embedding_out.forward(h.clone()),
            x: graph.pos.clone().add(dx.clone()),
            dx,
            hidden: h,
        })
    }
}

fn check_shape(
    what: &'static str,
    got: Vec<usize>,
    expected: Vec<usize>,
) -> Result<(), BackboneError> {
    if got == expected {
        Ok(())
    } else {
        Err(BackboneError::Shape {
            what,
            expected,
            got,
        })
    }
}

/// Removes the mean of `v` over the atoms of each system.
///
/// # Shapes
/// `v` `[n_atoms, 3]`, `batch` the system of each atom; output `[n_atoms, 3]`.
pub fn remove_mean(v: Tensor<2>, batch: &Segments) -> Tensor<2> {
    let mean = scatter_mean(v.clone(), batch); // [G, 3]
    v.sub(gather_rows(mean, batch))
}

/// Node features with the time of each system (and an optional per-system context) appended.
fn with_time(
    graph: &AtomGraph,
    h: Tensor<2>,
    t: Tensor<1>,
    context: Option<Tensor<2>>,
) -> Result<Tensor<2>, BackboneError> {
    check_shape("t", t.dims().to_vec(), vec![graph.n_systems])?;
    let mut parts = vec![
        h,
        gather_rows(t.reshape([graph.n_systems, 1]), &graph.batch),
    ];
    if let Some(c) = context {
        if c.dims()[0] != graph.n_systems {
            return Err(BackboneError::Shape {
                what: "context",
                expected: vec![graph.n_systems, c.dims()[1]],
                got: c.dims().to_vec(),
            });
        }
        parts.push(gather_rows(c, &graph.batch));
    }
    Ok(Tensor::cat(parts, 1))
}

/// EDM's `EGNN_dynamics_QM9`: ε-prediction from `z_t = [x_t ‖ h_t]` and time `t`.
#[derive(Module, Debug)]
pub struct EgnnDynamics {
    /// The network; its `in_node_nf` is `node_nf + 1 + context_nf`.
    pub egnn: Egnn,
    /// Node features without time and context.
    pub node_nf: usize,
    /// Context features per system.
    pub context_nf: usize,
}

impl EgnnDynamics {
    /// A dynamics model for `node_nf` node features and `context_nf` context features; `egnn`'s
    /// `in_node_nf` is overridden to `node_nf + 1 + context_nf`.
    ///
    /// # Errors
    /// See [`EgnnConfig::validate`].
    pub fn new(
        egnn: &EgnnConfig,
        node_nf: usize,
        context_nf: usize,
        device: &Device,
    ) -> Result<Self, BackboneError> {
        let config = EgnnConfig {
            in_node_nf: node_nf + 1 + context_nf,
            ..egnn.clone()
        };
        Ok(Self {
            egnn: config.init(device)?,
            node_nf,
            context_nf,
        })
    }

    /// Predicted noise `(ε̂_x, ε̂_h)`: `ε̂_x = x_out − x_t` with zero centre of mass per system,
    /// `ε̂_h` the output features without the time and context channels. The positions `x_t`
    /// are `graph.pos`.
    ///
    /// # Shapes
    /// - `h`: `[n_atoms, node_nf]`, `t`: `[n_systems]` in `[0, 1]`, `context`: `[n_systems, context_nf]`
    /// - output: `([n_atoms, 3], [n_atoms, node_nf])`
    ///
    /// # Errors
    /// [`BackboneError::Shape`] for inputs of the wrong shape.
    pub fn forward(
        &self,
        graph: &AtomGraph,
        h: Tensor<2>,
        t: Tensor<1>,
        context: Option<Tensor<2>>,
    ) -> Result<(Tensor<2>, Tensor<2>), BackboneError> {
        check_shape("h", h.dims().to_vec(), vec![graph.n_atoms, self.node_nf])?;
        if let Some(c) = &context {
            check_shape(
                "context",
                c.dims().to_vec(),
                vec![graph.n_systems, self.context_nf],
            )?;
        } else if self.context_nf > 0 {
            return Err(BackboneError::Shape {
                what: "context",
                expected: vec![graph.n_systems, self.context_nf],
                got: vec![],
            });
        }
        let input = with_time(graph, h, t, context)?;
        let out = self.egnn.forward(graph, input)?;
        let eps_x = remove_mean(out.dx, &graph.batch);
        let eps_h = out.h.narrow(1, 0, self.node_nf);
        Ok((eps_x, eps_h))
    }
}

/// Hyper-parameters of [`UniGem`]: the EGNN blocks (`n_layers` main blocks, the first shared)
/// plus `branch_layers` branch blocks. Defaults are UniGEM's QM9 model (9 + 8, H = 256, 7
/// inputs: 6 constant features and time).
#[derive(Config, Debug)]
pub struct UniGemConfig {
    /// The EGNN (its `n_layers` counts the shared block and the main trunk).
    #[config(default = "EgnnConfig::new()")]
    pub egnn: EgnnConfig,
    /// Blocks of the branch trunk.
    #[config(default = 8)]
    pub branch_layers: usize,
}

impl UniGemConfig {
    /// Builds the model.
    ///
    /// # Errors
    /// See [`EgnnConfig::validate`]; also when `n_layers` is 0 (there is no shared block).
    pub fn init(&self, device: &Device) -> Result<UniGem, BackboneError> {
        self.egnn.validate()?;
        if self.egnn.n_layers == 0 {
            return Err(BackboneError::Config {
                field: "n_layers",
                reason: "UniGEM needs at least the shared block".into(),
            });
        }
        let (nf, hn) = (self.egnn.in_node_nf, self.egnn.hidden_nf);
        let lin = |a, b| LinearConfig::new(a, b).init(device);
        Ok(UniGem {
            embedding: lin(nf, hn),
            shared: EquivariantBlock::new(&self.egnn, device),
            main: (1..self.egnn.n_layers)
                .map(|_| EquivariantBlock::new(&self.egnn, device))
                .collect(),
            branch: (0..self.branch_layers)
                .map(|_| EquivariantBlock::new(&self.egnn, device))
                .collect(),
            embedding_out: lin(hn, nf),
            embedding_out_branch: lin(hn, nf),
            node_dec2: [lin(hn, hn), lin(hn, nf)],
            node_dec: [lin(hn, hn), lin(hn, hn)],
            graph_dec: [lin(hn, hn), lin(hn, 1)],
        })
    }
}

/// Output of [`UniGem::forward`].
///
/// # Shapes
/// `eps_x` `[n_atoms, 3]`, `eps_h` `[n_atoms, in_node_nf − 1]`, `atom_types`
/// `[n_atoms, in_node_nf − 1]`, `property` `[n_systems, 1]`.
#[derive(Debug, Clone)]
pub struct UniGemOutput {
    /// Coordinate noise prediction (zero centre of mass per system).
    pub eps_x: Tensor<2>,
    /// Feature noise prediction (time channel dropped).
    pub eps_h: Tensor<2>,
    /// Atom-type head (`node_dec2`; time channel dropped): type scores and charge.
    pub atom_types: Tensor<2>,
    /// Property head (`node_dec`, sum over atoms, `graph_dec`).
    pub property: Tensor<2>,
}

/// UniGEM's two-branch EGNN (docs/backbones.md §4.7).
#[derive(Module, Debug)]
pub struct UniGem {
    /// `in_node_nf → H`.
    pub embedding: Linear,
    /// Block 0, run on every system.
    pub shared: EquivariantBlock,
    /// Main trunk (nucleation phase), blocks 1..n_layers.
    pub main: Vec<EquivariantBlock>,
    /// Branch trunk (growth phase).
    pub branch: Vec<EquivariantBlock>,
    /// Output features of the main trunk.
    pub embedding_out: Linear,
    /// Output features of the branch trunk.
    pub embedding_out_branch: Linear,
    /// Atom-type head `H → H → in_node_nf`.
    pub node_dec2: [Linear; 2],
    /// Per-atom property MLP `H → H → H`.
    pub node_dec: [Linear; 2],
    /// Per-system property MLP `H → H → 1`.
    pub graph_dec: [Linear; 2],
}

impl UniGem {
    /// Runs the shared block, then each system through the main trunk or, where `branch[s]`,
    /// the branch trunk. Both trunks run on the whole batch and each atom keeps the result of
    /// its system's trunk (the reference also runs both at sampling time). Node features are
    /// `h` with the time `t` of each system appended; `graph.pos` are the noisy positions.
    ///
    /// # Shapes
    /// - `h`: `[n_atoms, in_node_nf − 1]`, `t`: `[n_systems]`, `branch`: `n_systems` flags
    /// - output: see [`UniGemOutput`]
    ///
    /// # Errors
    /// [`BackboneError::Shape`] for inputs of the wrong size.
    pub fn forward(
        &self,
        graph: &AtomGraph,
        h: Tensor<2>,
        t: Tensor<1>,
        branch: &[bool],
    ) -> Result<UniGemOutput, BackboneError> {
        let nf = self.embedding.weight.val().dims()[0];
        check_shape("h", h.dims().to_vec(), vec![graph.n_atoms, nf - 1])?;
        check_shape("branch", vec![branch.len()], vec![graph.n_systems])?;
        let input = with_time(graph, h, t, None)?;
        let edges = EgnnEdges::new(graph);
        let dx0 = graph.pos.zeros_like();
        let d2_input = edges.diff0.clone().square().sum_dim(1);
        let h0 = self.embedding.forward(input);
        let (h1, dx1) = self
            .shared
            .forward(h0, dx0.clone(), d2_input.clone(), &edges);
        let run = |blocks: &[EquivariantBlock]| {
            let (mut h, mut x) = (h1.clone(), dx1.clone());
            for block in blocks {
                (h, x) = block.forward(h, x, d2_input.clone(), &edges);
            }
            (h, x)
        };
        let (hm, xm) = run(&self.main);
        let (hb, xb) = run(&self.branch);
        // Per-atom selector: 1 where the atom's system takes the branch.
        let flags: Vec<f64> = branch.iter().map(|&b| f64::from(u8::from(b))).collect();
        let sel = gather_rows(
            crate::train::transfer::upload::<1, burn::tensor::Float>(
                TensorData::new(flags, [graph.n_systems]),
                (&dx0.device(), dx0.dtype()),
            )
            .reshape([graph.n_systems, 1]),
            &graph.batch,
        ); // [N, 1]
        let keep = sel.clone().neg().add_scalar(1.0);
        let pick = |a: Tensor<2>, b: Tensor<2>| a.mul(keep.clone()).add(b.mul(sel.clone()));
        let hidden = pick(hm.clone(), hb.clone());
        let x = pick(xm, xb);
        let h_out = pick(
            self.embedding_out.forward(hm),
            self.embedding_out_branch.forward(hb),
        );
        let eps_x = remove_mean(x, &graph.batch);
        let mlp = |l: &[Linear; 2], v: Tensor<2>| l[1].forward(silu(l[0].forward(v)));
        let atom_types = mlp(&self.node_dec2, hidden.clone()).narrow(1, 0, nf - 1);
        let per_atom = mlp(&self.node_dec, hidden);
        let pooled = scatter_sum(per_atom, &graph.batch);
        Ok(UniGemOutput {
            eps_x,
            eps_h: h_out.narrow(1, 0, nf - 1),
            atom_types,
            property: mlp(&self.graph_dec, pooled),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Structure;

    #[test]
    fn parameter_counts_match_the_spec() {
        let device = crate::testing::cpu_device();
        // docs/backbones.md §4.6: EDM-QM9 EGNN (7 inputs, 9 blocks, H = 256) and one block.
        let egnn = EgnnConfig::new().init(&device).unwrap();
        assert_eq!(egnn.num_params(), 5_339_920);
        assert_eq!(egnn.blocks[0].num_params(), 592_897);
        let dynamics = EgnnDynamics::new(&EgnnConfig::new(), 6, 0, &device).unwrap();
        assert_eq!(dynamics.num_params(), 5_339_920);
        // §4.7: UniGEM QM9 (9 + 8 blocks, heads included).
        let unigem = UniGemConfig::new().init(&device).unwrap();
        assert_eq!(unigem.num_params(), 10_350_119);
    }

    #[test]
    fn complete_graph_has_every_ordered_pair_per_molecule() {
        let device = crate::testing::cpu_device();
        let a = Structure::molecule(
            vec![6, 1, 1],
            vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 9.0, 0.0]],
        );
        let b = Structure::molecule(vec![8, 8], vec![[50.0, 0.0, 0.0], [51.2, 0.0, 0.0]]);
        let g = AtomGraph::complete(&[a, b], &device).unwrap();
        assert_eq!((g.n_atoms, g.n_edges, g.n_systems), (5, 6 + 2, 2));
        let i: Vec<i64> = g.idx_i.index().clone().into_data().try_into_vec().unwrap();
        let j: Vec<i64> = g.idx_j.index().clone().into_data().try_into_vec().unwrap();
        assert_eq!(i, [0, 0, 1, 1, 2, 2, 3, 4]);
        assert_eq!(j, [1, 2, 0, 2, 0, 1, 4, 3]);
    }

    #[test]
    fn dynamics_output_has_zero_centre_of_mass_and_checks_shapes() {
        let device = crate::testing::cpu_device();
        let config = EgnnConfig::new().with_hidden_nf(16).with_n_layers(2);
        let dynamics = EgnnDynamics::new(&config, 3, 0, &device).unwrap();
        let a = Structure::molecule(
            vec![6, 1, 1],
            vec![[0.0; 3], [1.0, 0.2, 0.0], [0.0, 1.1, 0.3]],
        );
        let b = Structure::molecule(vec![8, 8], vec![[0.0, 0.0, 0.5], [1.2, 0.0, 0.0]]);
        let g = AtomGraph::complete(&[a, b], &device).unwrap();
        let h = Tensor::<2>::ones([5, 3], &device);
        let t = Tensor::<1>::from_floats([0.3, 0.9], &device);
        let (eps_x, eps_h) = dynamics.forward(&g, h.clone(), t.clone(), None).unwrap();
        assert_eq!(eps_h.dims(), [5, 3]);
        let com = scatter_sum(eps_x.clone(), &g.batch);
        let com: Vec<f32> = com.into_data().try_into_vec().unwrap();
        assert!(com.iter().all(|c| c.abs() < 1e-5), "{com:?}");
        let e: Vec<f32> = eps_x.into_data().try_into_vec().unwrap();
        assert!(e.iter().any(|v| v.abs() > 1e-7), "coordinates move");
        let err = dynamics
            .forward(&g, Tensor::<2>::ones([5, 4], &device), t, None)
            .unwrap_err();
        assert!(
            matches!(err, BackboneError::Shape { what: "h", .. }),
            "{err}"
        );
    }

    #[test]
    fn unigem_routes_each_system_through_its_trunk() {
        let device = crate::testing::cpu_device();
        let config = UniGemConfig::new()
            .with_egnn(EgnnConfig::new().with_hidden_nf(16).with_n_layers(3))
            .with_branch_layers(2);
        let model = config.init(&device).unwrap();
        let a = Structure::molecule(
            vec![6, 1, 1],
            vec![[0.0; 3], [1.0, 0.2, 0.0], [0.0, 1.1, 0.3]],
        );
        let g = AtomGraph::complete(&[a.clone(), a], &device).unwrap();
        let h = Tensor::<2>::ones([6, 6], &device);
        let t = Tensor::<1>::from_floats([0.5, 0.5], &device);
        let out = model.forward(&g, h, t, &[false, true]).unwrap();
        assert_eq!(out.atom_types.dims(), [6, 6]);
        assert_eq!(out.property.dims(), [2, 1]);
        // Same molecule and time, different trunks → different predictions.
        let e: Vec<f32> = out.eps_h.into_data().try_into_vec().unwrap();
        assert!(
            e[..18]
                .iter()
                .zip(&e[18..])
                .any(|(p, q)| (p - q).abs() > 1e-5)
        );
        let p: Vec<f32> = out.property.into_data().try_into_vec().unwrap();
        assert!((p[0] - p[1]).abs() > 1e-6);
    }
}
