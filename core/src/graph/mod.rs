//! Radius graphs (neighbour lists) of molecules and periodic crystals, single or batched.
//!
//! How it works: [`radius_graph`] lists every ordered pair of atoms `(i, j)` and integer cell
//! offset `shift_ij` with `d_ij = |r_ij| < cutoff`, where `r_ij = pos[j] + shift_ij · L − pos[i]`
//! and `L` holds the lattice vectors as rows (Å). Along periodic axes the pair is repeated for
//! every image within the cutoff, so a cutoff larger than half the cell yields several edges
//! between the same two atoms, and a cutoff larger than a plane spacing yields edges from an
//! atom to its own images. The zero-shift pair `(i, i, [0, 0, 0])` is a self-loop and is only
//! listed when [`RadiusGraphOptions::self_loops`] is set.
//!
//! The search is an O(N) cell list (`radius.rs`): atoms are wrapped into the cell along periodic
//! axes and binned along the fractional axes into bins at least `cutoff` thick (perpendicular
//! to the bin faces), so each atom only visits neighbouring bins, with periodic bins repeated
//! as often as the cutoff needs (`images.rs`). Molecules use the same code with a Cartesian grid.
//! `reference.rs` holds the O(N² · images) brute force the cell list is tested against.
//!
//! Vocabulary (shared with the models): `idx_i` / `idx_j` `[n_edges]` centre and neighbour,
//! `shift_ij` `[n_edges][3]` integer cell offsets (Cartesian Å via [`Graph::shift_cart`]),
//! `r_ij` `[n_edges][3]` Å, `d_ij` `[n_edges]` Å, `batch` `[n_atoms]` system of each atom.
//!
//! Edges are sorted by `idx_i`, then `idx_j`, then `shift_ij` (lexicographic), so the output is
//! deterministic and does not depend on how atoms happen to fall into bins.

mod images;
mod radius;
mod reference;

pub use images::{
    CellGeometry, MAX_IMAGE_CELLS, SINGULAR_TOLERANCE, cart_from_frac, cart_shift, frac_from_cart,
};
pub use reference::radius_graph_reference;

use crate::Structure;

/// Safety margin (relative) on bin sizes and on the pre-filter radius of the cell list, so that
/// rounding never loses a pair; the final test `d_ij < cutoff` is exact.
pub(crate) const MARGIN: f64 = 1e-8;

/// What to do when an atom has more than [`RadiusGraphOptions::max_neighbors`] neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaxNeighborsPolicy {
    /// Fail with [`GraphError::TooManyNeighbors`] naming the atom and its count.
    #[default]
    Error,
    /// Keep the `max_neighbors` nearest (ties broken by `idx_j`, then `shift_ij`). The graph is
    /// then no longer symmetric: `j` may be a neighbour of `i` without `i` being one of `j`.
    KeepNearest,
    /// SCD's periodic graphs (fairchem's `get_max_neighbors_mask` without strict enforcement):
    /// the self-loop is not counted; when an atom has more than `max_neighbors` other edges it
    /// keeps those with `d² ≤ d²₍ₖ₊₁₎ + 0.01 Å²`, `d²₍ₖ₊₁₎` the (`max_neighbors` + 1)-th smallest
    /// squared distance, so at least `max_neighbors + 1` edges and every edge (nearly) tied
    /// with the last one stay. Not symmetric either.
    KeepNearestDegenerate,
}

/// The squared-distance tolerance (Å²) of [`MaxNeighborsPolicy::KeepNearestDegenerate`].
pub const DEGENERACY_TOLERANCE_SQ: f64 = 0.01;

/// Parameters of [`radius_graph`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RadiusGraphOptions {
    /// Pairs with `d_ij < cutoff` (Å) are edges. Must be finite and positive.
    pub cutoff: f64,
    /// Also list `(i, i, [0, 0, 0])` with `d_ij = 0` for every atom. An atom's periodic images
    /// within the cutoff are always listed.
    pub self_loops: bool,
    /// Largest number of edges per centre atom (self-loop included), if any.
    pub max_neighbors: Option<usize>,
    /// What happens when `max_neighbors` is exceeded.
    pub policy: MaxNeighborsPolicy,
}

impl Default for RadiusGraphOptions {
    fn default() -> Self {
        Self {
            cutoff: 5.0,
            self_loops: false,
            max_neighbors: None,
            policy: MaxNeighborsPolicy::Error,
        }
    }
}

impl RadiusGraphOptions {
    /// Default options with the given cutoff (Å).
    pub fn with_cutoff(cutoff: f64) -> Self {
        Self {
            cutoff,
            ..Self::default()
        }
    }
}

/// Why a radius graph could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    /// The cutoff is zero, negative, NaN or infinite.
    #[error("radius graph cutoff must be finite and > 0 Å, got {cutoff}")]
    InvalidCutoff { cutoff: f64 },
    /// An atom's position has a NaN or infinite coordinate.
    #[error("atom {atom} has a non-finite position {position:?}")]
    NonFinitePosition { atom: usize, position: [f64; 3] },
    /// `numbers` and `positions` differ in length.
    #[error("structure has {numbers} atomic numbers but {positions} positions")]
    LengthMismatch { numbers: usize, positions: usize },
    /// Some axis is periodic but the structure has no lattice.
    #[error("pbc is {pbc:?} but the structure has no lattice")]
    MissingLattice { pbc: [bool; 3] },
    /// The lattice has a NaN or infinite entry.
    #[error("lattice {lattice:?} has a non-finite entry")]
    NonFiniteLattice { lattice: [[f64; 3]; 3] },
    /// The lattice vectors are (nearly) linearly dependent.
    #[error("lattice {lattice:?} is singular (volume {volume} Å³)")]
    SingularLattice { lattice: [[f64; 3]; 3], volume: f64 },
    /// The cutoff reaches more image cells than [`MAX_IMAGE_CELLS`] (a near-degenerate cell or a
    /// huge cutoff).
    #[error(
        "cutoff {cutoff} Å reaches {image_cells:.3e} image cells (> {max}) in a cell with plane \
         heights {heights:?} Å"
    )]
    TooManyImages {
        cutoff: f64,
        heights: [f64; 3],
        image_cells: f64,
        max: u64,
    },
    /// An atom lies so many cells away from the origin that its cell offset overflows.
    #[error("atom {atom} lies {cells:.3e} cells from the origin along lattice axis {axis}")]
    PositionOutOfRange {
        atom: usize,
        axis: usize,
        cells: f64,
    },
    /// An atom has more neighbours than allowed under [`MaxNeighborsPolicy::Error`].
    #[error(
        "atom {atom} has {count} neighbours within the cutoff, more than max_neighbors = {max}"
    )]
    TooManyNeighbors {
        atom: usize,
        count: usize,
        max: usize,
    },
    /// Building the graph of one system of a batch failed.
    #[error("system {system} of the batch: {source}")]
    InSystem {
        system: usize,
        source: Box<GraphError>,
    },
}

/// The radius graph of one structure. All edge arrays have length `n_edges`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    /// Number of atoms of the structure (nodes of the graph).
    pub n_atoms: usize,
    /// Centre atom of each edge, `[n_edges]`.
    pub idx_i: Vec<usize>,
    /// Neighbour atom of each edge, `[n_edges]`.
    pub idx_j: Vec<usize>,
    /// Integer cell offsets of the neighbour's image, `[n_edges][3]` (zero for molecules).
    pub shift_ij: Vec<[i32; 3]>,
    /// `r_ij = pos[j] + shift_ij · L − pos[i]` in Å, `[n_edges][3]`.
    pub r_ij: Vec<[f64; 3]>,
    /// `d_ij = |r_ij|` in Å, `[n_edges]`.
    pub d_ij: Vec<f64>,
    /// The lattice the shifts refer to (rows a, b, c, Å); `None` for a molecule.
    pub lattice: Option<[[f64; 3]; 3]>,
}

impl Graph {
    /// An empty graph on `n_atoms` nodes.
    pub fn empty(n_atoms: usize, lattice: Option<[[f64; 3]; 3]>) -> Self {
        Self {
            n_atoms,
            lattice,
            ..Self::default()
        }
    }

    /// Number of edges.
    pub fn n_edges(&self) -> usize {
        self.idx_i.len()
    }

    /// Cartesian periodic shifts `shift_ij · L` in Å, `[n_edges][3]` (zeros for a molecule).
    pub fn shift_cart(&self) -> Vec<[f64; 3]> {
        match &self.lattice {
            Some(l) => self.shift_ij.iter().map(|&s| cart_shift(l, s)).collect(),
            None => vec![[0.0; 3]; self.n_edges()],
        }
    }

    /// Number of edges of each centre atom, `[n_atoms]`.
    pub fn neighbor_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.n_atoms];
        for &i in &self.idx_i {
            counts[i] += 1;
        }
        counts
    }

    /// Concatenates per-system graphs into one, offsetting atom indices (see [`BatchedGraph`]).
    pub fn batch(graphs: &[Graph]) -> BatchedGraph {
        let n_atoms: usize = graphs.iter().map(|g| g.n_atoms).sum();
        let n_edges: usize = graphs.iter().map(Graph::n_edges).sum();
        let mut out = BatchedGraph {
            n_systems: graphs.len(),
            batch: Vec::with_capacity(n_atoms),
            atom_offsets: Vec::with_capacity(graphs.len() + 1),
            edge_offsets: Vec::with_capacity(graphs.len() + 1),
            idx_i: Vec::with_capacity(n_edges),
            idx_j: Vec::with_capacity(n_edges),
            shift_ij: Vec::with_capacity(n_edges),
            r_ij: Vec::with_capacity(n_edges),
            d_ij: Vec::with_capacity(n_edges),
            lattices: Vec::with_capacity(graphs.len()),
        };
        let mut atom_offset = 0;
        out.atom_offsets.push(0);
        out.edge_offsets.push(0);
        for (system, g) in graphs.iter().enumerate() {
            out.batch.extend(std::iter::repeat_n(system, g.n_atoms));
            out.idx_i.extend(g.idx_i.iter().map(|&i| i + atom_offset));
            out.idx_j.extend(g.idx_j.iter().map(|&j| j + atom_offset));
            out.shift_ij.extend_from_slice(&g.shift_ij);
            out.r_ij.extend_from_slice(&g.r_ij);
            out.d_ij.extend_from_slice(&g.d_ij);
            out.lattices.push(g.lattice);
            atom_offset += g.n_atoms;
            out.atom_offsets.push(atom_offset);
            out.edge_offsets.push(out.idx_i.len());
        }
        out
    }
}

/// Several systems' graphs as one disconnected graph. Atom indices are offset so that system
/// `s` owns atoms `atom_offsets[s]..atom_offsets[s + 1]`; edges stay sorted by `idx_i`, `idx_j`,
/// `shift_ij`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchedGraph {
    /// Number of systems.
    pub n_systems: usize,
    /// System index of each atom, `[n_atoms]`.
    pub batch: Vec<usize>,
    /// First atom of each system, and the total, `[n_systems + 1]`.
    pub atom_offsets: Vec<usize>,
    /// First edge of each system, and the total, `[n_systems + 1]`.
    pub edge_offsets: Vec<usize>,
    /// Centre atom (batch-wide index), `[n_edges]`.
    pub idx_i: Vec<usize>,
    /// Neighbour atom (batch-wide index), `[n_edges]`.
    pub idx_j: Vec<usize>,
    /// Integer cell offsets in the lattice of the edge's system, `[n_edges][3]`.
    pub shift_ij: Vec<[i32; 3]>,
    /// `r_ij` in Å, `[n_edges][3]`.
    pub r_ij: Vec<[f64; 3]>,
    /// `d_ij` in Å, `[n_edges]`.
    pub d_ij: Vec<f64>,
    /// Lattice of each system (`None` for molecules), `[n_systems]`.
    pub lattices: Vec<Option<[[f64; 3]; 3]>>,
}

impl BatchedGraph {
    /// Total number of atoms.
    pub fn n_atoms(&self) -> usize {
        self.batch.len()
    }

    /// Total number of edges.
    pub fn n_edges(&self) -> usize {
        self.idx_i.len()
    }

    /// System index of each edge, `[n_edges]`.
    pub fn edge_batch(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.n_edges());
        for s in 0..self.n_systems {
            let n = self.edge_offsets[s + 1] - self.edge_offsets[s];
            out.extend(std::iter::repeat_n(s, n));
        }
        out
    }

    /// Cartesian periodic shifts in Å, each in its own system's lattice, `[n_edges][3]`.
    pub fn shift_cart(&self) -> Vec<[f64; 3]> {
        let mut out = Vec::with_capacity(self.n_edges());
        for s in 0..self.n_systems {
            let edges = self.edge_offsets[s]..self.edge_offsets[s + 1];
            match &self.lattices[s] {
                Some(l) => out.extend(self.shift_ij[edges].iter().map(|&sh| cart_shift(l, sh))),
                None => out.extend(std::iter::repeat_n([0.0; 3], edges.len())),
            }
        }
        out
    }
}

/// The radius graph of `structure`: every `(i, j, shift_ij)` with `d_ij < options.cutoff`,
/// sorted by `idx_i`, `idx_j`, `shift_ij`, built with an O(N) cell list.
///
/// A structure is periodic along axis k when `pbc[k]` is set; a structure without a lattice,
/// or with all `pbc` false, is a molecule (its lattice is ignored).
///
/// # Errors
/// [`GraphError::InvalidCutoff`], [`GraphError::NonFinitePosition`],
/// [`GraphError::LengthMismatch`], [`GraphError::MissingLattice`],
/// [`GraphError::NonFiniteLattice`], [`GraphError::SingularLattice`],
/// [`GraphError::TooManyImages`], [`GraphError::PositionOutOfRange`], and
/// [`GraphError::TooManyNeighbors`] under [`MaxNeighborsPolicy::Error`].
///
/// # Example
/// ```
/// use nucleate_core::Structure;
/// use nucleate_core::graph::{RadiusGraphOptions, radius_graph};
///
/// let mut s = Structure::molecule(vec![8, 1, 1], vec![[0.0; 3], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]]);
/// let g = radius_graph(&s, &RadiusGraphOptions::with_cutoff(1.2))?;
/// assert_eq!(g.idx_i, [0, 0, 1, 2]);
/// assert_eq!(g.idx_j, [1, 2, 0, 0]);
///
/// // The same atoms in a periodic 3 Å cube: with a 3.5 Å cutoff each atom also sees its images.
/// s.lattice = Some([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]]);
/// s.pbc = [true; 3];
/// let g = radius_graph(&s, &RadiusGraphOptions::with_cutoff(3.5))?;
/// assert!(g.idx_i.iter().zip(&g.idx_j).any(|(i, j)| i == j));
/// # Ok::<(), nucleate_core::graph::GraphError>(())
/// ```
pub fn radius_graph(
    structure: &Structure,
    options: &RadiusGraphOptions,
) -> Result<Graph, GraphError> {
    let frame = Frame::of(structure, options)?;
    radius::cell_list(structure, &frame, options, radius::Blocks::default())
}

/// Radius graphs of several structures, batched into one [`BatchedGraph`].
///
/// # Errors
/// [`GraphError::InSystem`] wrapping the first error of [`radius_graph`], with the index of the
/// failing structure.
pub fn radius_graph_batch(
    structures: &[Structure],
    options: &RadiusGraphOptions,
) -> Result<BatchedGraph, GraphError> {
    let graphs = structures
        .iter()
        .enumerate()
        .map(|(system, s)| {
            radius_graph(s, options).map_err(|e| GraphError::InSystem {
                system,
                source: Box::new(e),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Graph::batch(&graphs))
}

/// The validated geometry a search runs in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Frame {
    /// No periodic axis: Cartesian coordinates, all shifts zero.
    Molecule,
    /// At least one periodic axis.
    Periodic { cell: CellGeometry, pbc: [bool; 3] },
}

impl Frame {
    /// Checks the options and the structure and picks the frame.
    fn of(s: &Structure, options: &RadiusGraphOptions) -> Result<Self, GraphError> {
        let cutoff = options.cutoff;
        if !(cutoff.is_finite() && cutoff > 0.0) {
            return Err(GraphError::InvalidCutoff { cutoff });
        }
        if s.numbers.len() != s.positions.len() {
            return Err(GraphError::LengthMismatch {
                numbers: s.numbers.len(),
                positions: s.positions.len(),
            });
        }
        if let Some((atom, &position)) = s
            .positions
            .iter()
            .enumerate()
            .find(|(_, p)| p.iter().any(|x| !x.is_finite()))
        {
            return Err(GraphError::NonFinitePosition { atom, position });
        }
        if !s.pbc.iter().any(|&p| p) {
            return Ok(Self::Molecule);
        }
        let Some(lattice) = s.lattice else {
            return Err(GraphError::MissingLattice { pbc: s.pbc });
        };
        Ok(Self::Periodic {
            cell: CellGeometry::new(lattice)?,
            pbc: s.pbc,
        })
    }

    fn lattice(&self) -> Option<[[f64; 3]; 3]> {
        match self {
            Self::Molecule => None,
            Self::Periodic { cell, .. } => Some(cell.lattice),
        }
    }
}

/// One edge being collected for a centre atom.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub j: usize,
    pub shift: [i32; 3],
    pub r: [f64; 3],
    pub d2: f64,
}

/// The edges of one centre atom as they are found, and scratch space to order them.
#[derive(Debug, Default)]
pub(crate) struct AtomEdges {
    pub edges: Vec<Candidate>,
    keys: Vec<u64>,
    sorted: Vec<Candidate>,
}

impl AtomEdges {
    /// Sorts atom `i`'s edges by `(j, shift)`, applies `max_neighbors`, appends them to `graph`
    /// and clears them.
    pub(crate) fn flush(
        &mut self,
        graph: &mut Graph,
        i: usize,
        options: &RadiusGraphOptions,
    ) -> Result<(), GraphError> {
        let edges = &mut self.edges;
        if let (Some(max), MaxNeighborsPolicy::KeepNearestDegenerate) =
            (options.max_neighbors, options.policy)
        {
            let is_self = |e: &Candidate| e.j == i && e.shift == [0, 0, 0];
            let others = edges.iter().filter(|e| !is_self(e)).count();
            if others > max {
                let mut d2: Vec<f64> = edges.iter().filter(|e| !is_self(e)).map(|e| e.d2).collect();
                let (_, kth, _) = d2.select_nth_unstable_by(max, f64::total_cmp);
                let limit = *kth + DEGENERACY_TOLERANCE_SQ;
                edges.retain(|e| is_self(e) || e.d2 <= limit);
            }
        } else if let Some(max) = options.max_neighbors
            && edges.len() > max
        {
            match options.policy {
                MaxNeighborsPolicy::Error => {
                    let count = edges.len();
                    edges.clear();
                    return Err(GraphError::TooManyNeighbors {
                        atom: i,
                        count,
                        max,
                    });
                }
                // Applied above, before the count that includes the self-loop.
                MaxNeighborsPolicy::KeepNearestDegenerate => {}
                MaxNeighborsPolicy::KeepNearest => {
                    let nearest = |a: &Candidate, b: &Candidate| {
                        a.d2.total_cmp(&b.d2)
                            .then(a.j.cmp(&b.j))
                            .then(a.shift.cmp(&b.shift))
                    };
                    if max == 0 {
                        edges.clear();
                    } else {
                        edges.select_nth_unstable_by(max - 1, nearest);
                        edges.truncate(max);
                    }
                }
            }
        }
        // Fast path: `(j, shift, index)` packed into one u64 — shifts biased to 8 unsigned bits
        // per axis so that integer order is lexicographic `(j, shift)` order — and sorted as
        // plain integers; otherwise sort the candidates themselves.
        let bits = |x: usize| usize::BITS - x.leading_zeros();
        let (j_bits, k_bits) = (bits(graph.n_atoms), bits(edges.len()));
        let small = |s: i32| (-128..128).contains(&s);
        let packable =
            j_bits + 24 + k_bits <= 64 && edges.iter().all(|e| e.shift.iter().all(|&s| small(s)));
        if packable {
            let k_mask = (1u64 << k_bits) - 1;
            self.keys.clear();
            self.keys.extend(edges.iter().enumerate().map(|(k, e)| {
                let [a, b, c] = e.shift.map(|s| (s + 128) as u64);
                ((e.j as u64) << 24 | a << 16 | b << 8 | c) << k_bits | k as u64
            }));
            self.keys.sort_unstable();
            self.sorted.clear();
            self.sorted
                .extend(self.keys.iter().map(|&key| edges[(key & k_mask) as usize]));
            std::mem::swap(edges, &mut self.sorted);
        } else {
            edges.sort_unstable_by_key(|e| (e.j, e.shift));
        }
        graph.idx_i.extend(std::iter::repeat_n(i, edges.len()));
        graph.idx_j.extend(edges.iter().map(|e| e.j));
        graph.shift_ij.extend(edges.iter().map(|e| e.shift));
        graph.r_ij.extend(edges.iter().map(|e| e.r));
        graph.d_ij.extend(edges.iter().map(|e| e.d2.sqrt()));
        edges.clear();
        Ok(())
    }
}
