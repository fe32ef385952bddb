//! The tensors a backbone consumes: atoms, positions and a radius graph with periodic shifts.
//!
//! How it works: the neighbour search runs on the host ([`crate::graph`]); only its integer
//! result (`idx_i`, `idx_j`, the Cartesian shift of each edge) becomes tensors. Edge vectors
//! `r_ij = pos[j] + shift_ij − pos[i]` are recomputed from the position tensor inside the model,
//! so gradients with respect to positions (forces) flow through them. Self-loops `(i, i, 0)`
//! are marked in `self_loop` so that distances and unit vectors of those edges are exactly
//! zero without dividing by zero (an atom's periodic images are ordinary edges).

use burn::tensor::{DType, Device, Float, Tensor, TensorData};

use super::BackboneError;
use crate::Structure;
use crate::graph::{BatchedGraph, Graph, RadiusGraphOptions, radius_graph_batch};
use crate::nn::{Segments, gather_rows};
use crate::train::transfer::upload;

/// Buckets of [`AtomGraph::z`]: the atomic numbers `0..=118`.
pub const ELEMENT_ROWS: usize = 119;

/// A batch of systems as tensors, with its radius graph.
///
/// # Shapes
/// - `z`: `[n_atoms]` atomic numbers
/// - `pos`: `[n_atoms, 3]` Å
/// - `batch`: `[n_atoms]` system of each atom
/// - `idx_i`, `idx_j`: `[n_edges]` centre (message target) and neighbour (message source)
/// - `shift`: `[n_edges, 3]` Cartesian periodic shift of the neighbour's image, Å
/// - `self_loop`: `[n_edges]` 1 for an edge `(i, i, 0)`, else 0
#[derive(Debug, Clone)]
pub struct AtomGraph {
    /// Atomic numbers, as [`Segments`] of the atoms over the 119 elements `0..=118` (so that
    /// an embedding lookup is a [`gather_rows`] with a kernel backward, see
    /// [`crate::nn::gather_table`]).
    pub z: Segments,
    /// Positions (Å).
    pub pos: Tensor<2>,
    /// System index of each atom.
    pub batch: Segments,
    /// Centre atom of each edge (receives the message).
    pub idx_i: Segments,
    /// Neighbour atom of each edge (sends the message).
    pub idx_j: Segments,
    /// Cartesian shift of the neighbour image (Å).
    pub shift: Tensor<2>,
    /// 1 where the edge is a self-loop `(i, i, 0)`.
    pub self_loop: Tensor<1>,
    /// Number of atoms.
    pub n_atoms: usize,
    /// Number of edges.
    pub n_edges: usize,
    /// Number of systems.
    pub n_systems: usize,
    /// The largest atomic number and its (first) atom, kept on the host for checks.
    largest_z: Option<(usize, u8)>,
}

/// Geometry of every edge, derived from [`AtomGraph::pos`].
///
/// # Shapes
/// - `r`: `[n_edges, 3]` `pos[j] + shift − pos[i]`, Å
/// - `d`: `[n_edges]` `|r|`, exactly 0 on self-loops
/// - `u`: `[n_edges, 3]` `r / d`, the zero vector on self-loops
#[derive(Debug, Clone)]
pub struct EdgeGeometry {
    /// Edge vectors (Å).
    pub r: Tensor<2>,
    /// Edge lengths (Å).
    pub d: Tensor<1>,
    /// Unit edge vectors.
    pub u: Tensor<2>,
}

impl AtomGraph {
    /// Builds tensors from structures and their batched radius graph (from
    /// [`crate::graph::radius_graph_batch`] over the same structures, in the same order).
    ///
    /// # Errors
    /// [`BackboneError::GraphMismatch`] when the graph does not belong to `structures`.
    pub fn from_batched(
        structures: &[Structure],
        graph: &BatchedGraph,
        device: &Device,
    ) -> Result<Self, BackboneError> {
        let dtype = device.settings().float_dtype.into();
        Self::from_batched_with_dtype(structures, graph, device, dtype)
    }

    /// [`AtomGraph::from_batched`] with float tensors of type `dtype` (positions are converted
    /// from the structures' f64 directly, never through f32).
    ///
    /// # Errors
    /// [`BackboneError::GraphMismatch`] when the graph does not belong to `structures`.
    pub fn from_batched_with_dtype(
        structures: &[Structure],
        graph: &BatchedGraph,
        device: &Device,
        dtype: DType,
    ) -> Result<Self, BackboneError> {
        Ok(Self::upload_with_dtype(
            HostGraph::from_batched(structures, graph)?,
            device,
            dtype,
        ))
    }

    /// Builds the radius graph of `structures` and the tensors in one step.
    ///
    /// # Errors
    /// [`BackboneError::Graph`] when the neighbour search fails.
    pub fn from_structures(
        structures: &[Structure],
        options: &RadiusGraphOptions,
        device: &Device,
    ) -> Result<Self, BackboneError> {
        let graph = radius_graph_batch(structures, options)?;
        Self::from_batched(structures, &graph, device)
    }

    /// The complete graph of each molecule (every ordered pair of distinct atoms of the same
    /// structure, no self-loops, no shifts), as EDM's EGNN uses; float tensors in the device's
    /// default dtype.
    ///
    /// # Errors
    /// [`BackboneError::Config`] when a structure is periodic (a complete graph has no images).
    pub fn complete(structures: &[Structure], device: &Device) -> Result<Self, BackboneError> {
        let dtype = device.settings().float_dtype.into();
        Self::complete_with_dtype(structures, device, dtype)
    }

    /// [`AtomGraph::complete`] with float tensors of type `dtype`.
    ///
    /// # Errors
    /// See [`AtomGraph::complete`].
    pub fn complete_with_dtype(
        structures: &[Structure],
        device: &Device,
        dtype: DType,
    ) -> Result<Self, BackboneError> {
        Ok(Self::upload_with_dtype(
            HostGraph::complete(structures)?,
            device,
            dtype,
        ))
    }

    /// Uploads a graph prepared on the host, float tensors in the device's default dtype.
    pub fn upload(graph: HostGraph, device: &Device) -> Self {
        let dtype = device.settings().float_dtype.into();
        Self::upload_with_dtype(graph, device, dtype)
    }

    /// [`AtomGraph::upload`] with float tensors of type `dtype`.
    pub fn upload_with_dtype(raw: HostGraph, device: &Device, dtype: DType) -> Self {
        let n_atoms = raw.z.len();
        let n_edges = raw.idx_i.len();
        let floats2 =
            |v: Vec<f64>, n: usize| upload::<2, Float>(TensorData::new(v, [n, 3]), (device, dtype));
        Self {
            z: Segments::new(&raw.z, ELEMENT_ROWS, device),
            pos: floats2(raw.pos, n_atoms),
            batch: Segments::new(&raw.batch, raw.n_systems, device),
            idx_i: Segments::new(&raw.idx_i, n_atoms, device),
            idx_j: Segments::new(&raw.idx_j, n_atoms, device),
            shift: floats2(raw.shift, n_edges),
            self_loop: upload::<1, Float>(
                TensorData::new(raw.self_loop, [n_edges]),
                (device, dtype),
            ),
            n_atoms,
            n_edges,
            n_systems: raw.n_systems,
            largest_z: raw.largest_z,
        }
    }

    /// The largest atomic number in the batch and the first atom that has it.
    pub fn largest_z(&self) -> Option<(usize, u8)> {
        self.largest_z
    }

    /// The same graph with float tensors (positions, shifts, masks) cast to `dtype`.
    pub fn cast(self, dtype: DType) -> Self {
        Self {
            pos: self.pos.cast(dtype),
            shift: self.shift.cast(dtype),
            self_loop: self.self_loop.cast(dtype),
            ..self
        }
    }

    /// The same graph with new positions (e.g. a tensor that requires gradients).
    ///
    /// # Panics
    /// If `pos` is not `[n_atoms, 3]`.
    pub fn with_pos(self, pos: Tensor<2>) -> Self {
        assert_eq!(
            pos.dims(),
            [self.n_atoms, 3],
            "AtomGraph::with_pos: positions must be [n_atoms = {}, 3]",
            self.n_atoms
        );
        Self { pos, ..self }
    }

    /// Edge vectors, lengths and unit vectors from the current positions.
    pub fn geometry(&self) -> EdgeGeometry {
        let r = gather_rows(self.pos.clone(), &self.idx_j)
            .add(self.shift.clone())
            .sub(gather_rows(self.pos.clone(), &self.idx_i)); // [n_edges, 3]
        // On self-loops r is exactly 0; adding 1 under the square root keeps the gradient finite
        // and the factor (1 − self_loop) makes d exactly 0 there.
        let not_self = self.self_loop.clone().neg().add_scalar(1.0); // [n_edges]
        let d = r
            .clone()
            .square()
            .sum_dim(1)
            .reshape([self.n_edges])
            .add(self.self_loop.clone())
            .sqrt()
            .mul(not_self); // [n_edges]
        let u = r.clone().div(
            d.clone()
                .add(self.self_loop.clone())
                .reshape([self.n_edges, 1]),
        ); // [n_edges, 3]
        EdgeGeometry { r, d, u }
    }
}

/// An [`AtomGraph`]'s arrays on the host, ready to upload: what the neighbour search and the
/// batching produce. It holds no tensors, so a worker thread can prepare the next batches
/// while the device runs the current step ([`AtomGraph::upload`] then moves it in one go).
#[derive(Debug, Clone, PartialEq)]
pub struct HostGraph {
    z: Vec<i64>,
    pos: Vec<f64>,
    batch: Vec<i64>,
    idx_i: Vec<i64>,
    idx_j: Vec<i64>,
    shift: Vec<f64>,
    self_loop: Vec<f64>,
    n_systems: usize,
    largest_z: Option<(usize, u8)>,
    /// Atoms and systems before [`HostGraph::pad`] (the rest are padding).
    real: [usize; 2],
}

/// Capacities a batch's atoms and edges are rounded up to, `⌈16 · 2^(k/4)⌉` (each at most
/// 19 % above the one below): a GPU backend compiles and autotunes its kernels per shape, and
/// with these a run meets a handful of shapes instead of one per batch.
#[must_use]
pub fn bucket(n: usize) -> usize {
    let mut k = 0i32;
    loop {
        let cap = (16.0 * 2f64.powf(f64::from(k) / 4.0)).ceil() as usize;
        if cap >= n {
            return cap;
        }
        k += 1;
    }
}

impl HostGraph {
    /// Pads the graph to the [`bucket`] capacities of its atoms and edges: one padding system
    /// of (at least one) hydrogen atoms at the origin, whose edges are self-loops among
    /// themselves, so that no real atom sees them. Losses mask the padding out
    /// ([`HostGraph::atom_mask`], [`HostGraph::system_mask`]).
    #[must_use]
    pub fn padded(mut self) -> Self {
        let atoms = bucket(self.n_atoms() + 1);
        let edges = bucket(self.n_edges());
        let ghost_system = self.n_systems as i64;
        let first = self.n_atoms();
        let ghosts = atoms - first;
        self.z.extend(std::iter::repeat_n(1, ghosts));
        self.pos.extend(std::iter::repeat_n(0.0, 3 * ghosts));
        self.batch.extend(std::iter::repeat_n(ghost_system, ghosts));
        for e in 0..edges - self.n_edges() {
            let g = (first + e % ghosts) as i64;
            self.idx_i.push(g);
            self.idx_j.push(g);
            self.shift.extend([0.0; 3]);
            self.self_loop.push(1.0);
        }
        self.n_systems += 1;
        self
    }

    /// 1 for the real atoms, 0 for padding; `[n_atoms]`.
    #[must_use]
    pub fn atom_mask(&self) -> Vec<f64> {
        (0..self.n_atoms())
            .map(|i| f64::from(u8::from(i < self.real[0])))
            .collect()
    }

    /// 1 for the real systems, 0 for padding; `[n_systems]`.
    #[must_use]
    pub fn system_mask(&self) -> Vec<f64> {
        (0..self.n_systems)
            .map(|i| f64::from(u8::from(i < self.real[1])))
            .collect()
    }

    /// Whether [`HostGraph::padded`] added padding.
    #[must_use]
    pub fn is_padded(&self) -> bool {
        self.real != [self.n_atoms(), self.n_systems]
    }

    /// Atoms before padding.
    #[must_use]
    pub fn real_atoms(&self) -> usize {
        self.real[0]
    }

    /// Systems before padding.
    #[must_use]
    pub fn real_systems(&self) -> usize {
        self.real[1]
    }

    /// The arrays of `structures` and their batched radius graph (from
    /// [`crate::graph::radius_graph_batch`] over the same structures, in the same order).
    ///
    /// # Errors
    /// [`BackboneError::GraphMismatch`] when the graph does not belong to `structures`.
    pub fn from_batched(
        structures: &[Structure],
        graph: &BatchedGraph,
    ) -> Result<Self, BackboneError> {
        let n_atoms: usize = structures.iter().map(Structure::n_atoms).sum();
        if graph.n_atoms() != n_atoms || graph.n_systems != structures.len() {
            return Err(BackboneError::GraphMismatch {
                graph_atoms: graph.n_atoms(),
                graph_systems: graph.n_systems,
                atoms: n_atoms,
                systems: structures.len(),
            });
        }
        let largest_z = structures
            .iter()
            .flat_map(|s| s.numbers.iter().copied())
            .enumerate()
            .fold(None, |best: Option<(usize, u8)>, (atom, z)| match best {
                Some((_, zb)) if zb >= z => best,
                _ => Some((atom, z)),
            });
        let idx = |v: &[usize]| v.iter().map(|&k| k as i64).collect::<Vec<_>>();
        Ok(Self {
            z: structures
                .iter()
                .flat_map(|s| s.numbers.iter().map(|&z| i64::from(z)))
                .collect(),
            pos: structures
                .iter()
                .flat_map(|s| s.positions.iter().flatten().copied())
                .collect(),
            batch: graph.batch.iter().map(|&b| b as i64).collect(),
            idx_i: idx(&graph.idx_i),
            idx_j: idx(&graph.idx_j),
            shift: graph.shift_cart().into_iter().flatten().collect(),
            self_loop: graph
                .idx_i
                .iter()
                .zip(&graph.idx_j)
                .zip(&graph.shift_ij)
                .map(|((i, j), s)| f64::from(u8::from(i == j && *s == [0, 0, 0])))
                .collect(),
            n_systems: graph.n_systems,
            largest_z,
            real: [n_atoms, graph.n_systems],
        })
    }

    /// The radius graph of `structures` and their arrays.
    ///
    /// # Errors
    /// [`BackboneError::Graph`] when the neighbour search fails.
    pub fn radius(
        structures: &[Structure],
        options: &RadiusGraphOptions,
    ) -> Result<Self, BackboneError> {
        Self::from_batched(structures, &radius_graph_batch(structures, options)?)
    }

    /// The complete graph of each molecule; see [`AtomGraph::complete`].
    ///
    /// # Errors
    /// [`BackboneError::Config`] when a structure is periodic.
    pub fn complete(structures: &[Structure]) -> Result<Self, BackboneError> {
        let graphs = structures
            .iter()
            .enumerate()
            .map(|(k, s)| {
                if s.pbc.iter().any(|&p| p) {
                    return Err(BackboneError::Config {
                        field: "pbc",
                        reason: format!(
                            "structure {k} is periodic; a complete graph needs molecules (use a \
                             radius graph)"
                        ),
                    });
                }
                let n = s.n_atoms();
                let mut g = Graph::empty(n, None);
                for i in 0..n {
                    for j in (0..n).filter(|&j| j != i) {
                        let r = [0, 1, 2].map(|c| s.positions[j][c] - s.positions[i][c]);
                        g.idx_i.push(i);
                        g.idx_j.push(j);
                        g.shift_ij.push([0; 3]);
                        g.r_ij.push(r);
                        g.d_ij.push(r.iter().map(|x| x * x).sum::<f64>().sqrt());
                    }
                }
                Ok(g)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_batched(structures, &Graph::batch(&graphs))
    }

    /// Number of atoms.
    #[must_use]
    pub fn n_atoms(&self) -> usize {
        self.z.len()
    }

    /// Number of edges.
    #[must_use]
    pub fn n_edges(&self) -> usize {
        self.idx_i.len()
    }

    /// Number of systems.
    #[must_use]
    pub fn n_systems(&self) -> usize {
        self.n_systems
    }
}
