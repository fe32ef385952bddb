//! The O(N) cell-list search behind [`super::radius_graph`].
//!
//! How it works:
//! 1. Every atom gets fractional coordinates `f = pos · L⁻¹` (for a molecule `L` is the identity,
//!    so the grid is Cartesian). Along a periodic axis it is wrapped into `[0, 1)`,
//!    `f = u + o` with integer cell offset `o`; its wrapped Cartesian position is `pos − o · L`.
//! 2. Each axis is cut into `nb_k` bins whose thickness, measured perpendicular to the bin faces,
//!    is at least `cutoff` (`height_k / nb_k ≥ cutoff`). A pair within the cutoff then differs by
//!    at most one bin along each axis, whatever the skew of the cell. Along a non-periodic axis
//!    the bins span the atoms' extent. The total bin count is capped near `2 · n_atoms` (bins
//!    only grow, which keeps the search correct) so sparse systems do not allocate huge grids.
//! 3. Atoms are counting-sorted by bin, with their wrapped positions stored contiguously.
//! 4. For atom `i` in bin `b`, the search visits the "virtual" bins `b + d`, `d ∈ [-r_k, r_k]`:
//!    `r_k = 1`, except along a periodic axis with a single bin, where
//!    `r_k = ceil(cutoff / height_k)` so that every image cell the cutoff reaches is visited. A
//!    virtual bin `B` is the real bin `B mod nb_k` seen through the image shift
//!    `S = floor(B / nb_k)`; distinct virtual bins are distinct (bin, image) pairs, so no pair is
//!    listed twice.
//! 5. Candidates pass a pre-filter on wrapped positions (radius enlarged by [`MARGIN`]); for those
//!    the edge's shift is `shift_ij = S + o_i − o_j`, and `r_ij = pos[j] + shift_ij · L − pos[i]`
//!    is recomputed from the original positions exactly as the reference does, so the final
//!    `d_ij < cutoff` decision and the distances agree with it bit for bit. Each centre's edges
//!    are then sorted by `(j, shift)` (as packed integers when they fit).
//! 6. Output must be in centre order, but centres visited in index order jump around the grid
//!    and miss the cache for large systems (beyond ~2.6·10⁵ atoms). There, centres are taken in
//!    blocks of consecutive indices (sized to hold a few million edges); within a block they are
//!    visited in bin order, their edge lists kept aside, then appended in index order.

use super::images::{cart_shift, check_image_cells, dot, r_ij};
use super::{AtomEdges, Candidate, Frame, Graph, GraphError, MARGIN, RadiusGraphOptions};
use crate::Structure;

/// Cell offsets beyond this many cells from the origin are rejected, so that `S + o_i − o_j`
/// fits an `i32`.
const MAX_CELL_OFFSET: f64 = (1u32 << 28) as f64;

/// How centres are grouped into blocks (step 6 of the module doc).
#[derive(Debug, Clone, Copy)]
pub(super) struct Blocks {
    /// Centres in the first block.
    pub first_atoms: usize,
    /// Edges a block aims to hold (about 60 bytes each).
    pub edges: usize,
    /// Fewest centres in a block.
    pub min_atoms: usize,
    /// Up to this many atoms, centres are simply visited in index order, writing straight to
    /// the graph: the grid fits in cache and the extra copy would cost more than it saves.
    pub direct_max_atoms: usize,
}

impl Default for Blocks {
    fn default() -> Self {
        Self {
            first_atoms: 1 << 16,
            edges: 1 << 22,
            min_atoms: 1 << 10,
            direct_max_atoms: 1 << 18,
        }
    }
}

/// Builds the radius graph of `s` in the validated `frame`.
pub(super) fn cell_list(
    s: &Structure,
    frame: &Frame,
    options: &RadiusGraphOptions,
    blocks: Blocks,
) -> Result<Graph, GraphError> {
    let n = s.positions.len();
    let identity = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let (lattice, inverse, heights, pbc) = match frame {
        Frame::Molecule => (identity, identity, [1.0; 3], [false; 3]),
        Frame::Periodic { cell, pbc } => (cell.lattice, cell.inverse, cell.heights, *pbc),
    };
    let mut graph = Graph::empty(n, frame.lattice());
    if n == 0 {
        return Ok(graph);
    }
    let cutoff = options.cutoff;
    let cutoff_bin = cutoff * (1.0 + MARGIN);

    // 1. Fractional coordinates, wrapped along periodic axes.
    let mut frac = Vec::with_capacity(n);
    let mut offset = Vec::with_capacity(n);
    let mut wrapped = Vec::with_capacity(n);
    for (atom, &p) in s.positions.iter().enumerate() {
        let mut u = [0.0; 3];
        let mut o = [0i32; 3];
        for k in 0..3 {
            let f = p[0] * inverse[0][k] + p[1] * inverse[1][k] + p[2] * inverse[2][k];
            if pbc[k] {
                let cells = f.floor();
                let in_range = cells.abs() < MAX_CELL_OFFSET;
                if !in_range {
                    return Err(GraphError::PositionOutOfRange {
                        atom,
                        axis: k,
                        cells,
                    });
                }
                o[k] = cells as i32;
                u[k] = f - cells;
            } else {
                u[k] = f;
            }
        }
        let back = cart_shift(&lattice, o);
        wrapped.push([p[0] - back[0], p[1] - back[1], p[2] - back[2]]);
        frac.push(u);
        offset.push(o);
    }

    // 2. Bins per axis.
    let mut lo = [0.0; 3];
    let mut extent = [1.0; 3];
    let mut min_width = [0.0; 3];
    let mut nb = [1usize; 3];
    let max_bins = (2 * n).max(64);
    for k in 0..3 {
        min_width[k] = cutoff_bin / heights[k];
        if !pbc[k] {
            let (mn, mx) = frac
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), u| {
                    (a.min(u[k]), b.max(u[k]))
                });
            lo[k] = mn;
            extent[k] = mx - mn;
        }
        let fit = (extent[k] / min_width[k]).floor();
        nb[k] = if fit >= 1.0 {
            fit.min(max_bins as f64) as usize
        } else {
            1
        };
    }
    while nb.iter().fold(1usize, |a, &b| a.saturating_mul(b)) > max_bins {
        let k = (0..3).max_by_key(|&k| nb[k]).unwrap_or(0);
        nb[k] = nb[k].div_ceil(2);
    }
    let mut reach = [1i64; 3];
    let mut reach_f = [0.0; 3];
    for k in 0..3 {
        if pbc[k] && nb[k] == 1 {
            reach_f[k] = min_width[k].ceil().max(1.0);
        } else if pbc[k] {
            reach_f[k] = 1.0;
        }
    }
    check_image_cells(reach_f, cutoff, heights)?;
    for k in 0..3 {
        if pbc[k] {
            reach[k] = reach_f[k] as i64;
        }
    }
    let width = [0, 1, 2].map(|k| extent[k] / nb[k] as f64);
    let bin_of = |u: &[f64; 3]| -> [usize; 3] {
        [0, 1, 2].map(|k| {
            if width[k] > 0.0 {
                let b = ((u[k] - lo[k]) / width[k]).floor();
                if b <= 0.0 {
                    0
                } else {
                    (b as usize).min(nb[k] - 1)
                }
            } else {
                0
            }
        })
    };
    let flat = |b: [usize; 3]| (b[0] * nb[1] + b[1]) * nb[2] + b[2];

    // 3. Counting sort by bin.
    let n_bins = nb[0] * nb[1] * nb[2];
    let bins: Vec<[usize; 3]> = frac.iter().map(bin_of).collect();
    let mut start = vec![0usize; n_bins + 1];
    for b in &bins {
        start[flat(*b) + 1] += 1;
    }
    for k in 0..n_bins {
        start[k + 1] += start[k];
    }
    // Everything the search reads about a neighbour lives at its slot, so a bin is read from
    // contiguous memory: wrapped coordinates (scanned for every candidate, one array per axis so
    // that the distance loop vectorises) apart from the rest (read only for candidates passing
    // the pre-filter).
    let mut fill = start.clone();
    let mut sorted_x = vec![0.0; n];
    let mut sorted_y = vec![0.0; n];
    let mut sorted_z = vec![0.0; n];
    let mut sorted_atom = vec![
        Slot {
            atom: 0,
            offset: [0; 3],
            pos: [0.0; 3]
        };
        n
    ];
    for (atom, b) in bins.iter().enumerate() {
        let slot = &mut fill[flat(*b)];
        [sorted_x[*slot], sorted_y[*slot], sorted_z[*slot]] = wrapped[atom];
        sorted_atom[*slot] = Slot {
            atom,
            offset: offset[atom],
            pos: s.positions[atom],
        };
        *slot += 1;
    }

    // 4–5. Search.
    let cutoff2 = cutoff * cutoff;
    let prefilter = cutoff * (1.0 + MARGIN);
    let prefilter2 = prefilter * prefilter;
    let search = |i: usize, found: &mut AtomEdges, scratch: &mut Scratch| {
        let Scratch { axis_bins, d2 } = scratch;
        let b = bins[i];
        for k in 0..3 {
            axis_bins[k].clear();
            for d in -reach[k]..=reach[k] {
                let v = b[k] as i64 + d;
                let nbk = nb[k] as i64;
                if pbc[k] {
                    axis_bins[k].push((v.rem_euclid(nbk) as usize, v.div_euclid(nbk) as i32));
                } else if (0..nbk).contains(&v) {
                    axis_bins[k].push((v as usize, 0));
                }
            }
        }
        let wi = wrapped[i];
        let pi = s.positions[i];
        let oi = offset[i];
        for &(b0, s0) in &axis_bins[0] {
            for &(b1, s1) in &axis_bins[1] {
                for &(b2, s2) in &axis_bins[2] {
                    let image = [s0, s1, s2];
                    let bin = flat([b0, b1, b2]);
                    let cs = cart_shift(&lattice, image);
                    let target = [wi[0] - cs[0], wi[1] - cs[1], wi[2] - cs[2]];
                    let slots = start[bin]..start[bin + 1];
                    d2.clear();
                    d2.extend(
                        sorted_x[slots.clone()]
                            .iter()
                            .zip(&sorted_y[slots.clone()])
                            .zip(&sorted_z[slots.clone()])
                            .map(|((x, y), z)| {
                                let (dx, dy, dz) = (x - target[0], y - target[1], z - target[2]);
                                dx * dx + dy * dy + dz * dz
                            }),
                    );
                    for (slot, &d2_pre) in slots.zip(d2.iter()) {
                        if d2_pre >= prefilter2 {
                            continue;
                        }
                        let Slot {
                            atom: j,
                            offset: oj,
                            pos: pj,
                        } = sorted_atom[slot];
                        let shift = [
                            image[0] + oi[0] - oj[0],
                            image[1] + oi[1] - oj[1],
                            image[2] + oi[2] - oj[2],
                        ];
                        if j == i && shift == [0; 3] && !options.self_loops {
                            continue;
                        }
                        let r = r_ij(pi, pj, cart_shift(&lattice, shift));
                        let d2 = dot(r, r);
                        if d2 < cutoff2 {
                            found.edges.push(Candidate { j, shift, r, d2 });
                        }
                    }
                }
            }
        }
    };

    // 6. Centres are visited block by block in index order and, within a block, in bin order,
    //    so that the bins around consecutive centres are still in cache. Each block's sorted
    //    per-atom edge lists go to `block` and are then appended to `graph` in index order.
    //    Block sizes adapt so that `block` holds about `blocks.edges` edges.
    let mut scratch = Scratch::default();
    let mut found = AtomEdges::default();
    if n <= blocks.direct_max_atoms {
        for i in 0..n {
            search(i, &mut found, &mut scratch);
            found.flush(&mut graph, i, options)?;
        }
        return Ok(graph);
    }
    let mut block = Graph::empty(n, None);
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut block_start = 0;
    let mut block_atoms = blocks.first_atoms.clamp(1, n);
    while block_start < n {
        let end = (block_start + block_atoms).min(n);
        block.idx_i.clear();
        block.idx_j.clear();
        block.shift_ij.clear();
        block.r_ij.clear();
        block.d_ij.clear();
        ranges.clear();
        ranges.resize(end - block_start, (0, 0));
        let mut first_error: Option<(usize, GraphError)> = None;
        for i in sorted_atom.iter().map(|slot| slot.atom) {
            if !(block_start..end).contains(&i) {
                continue;
            }
            search(i, &mut found, &mut scratch);
            let before = block.n_edges();
            match found.flush(&mut block, i, options) {
                Ok(()) => ranges[i - block_start] = (before, block.n_edges()),
                // Report the lowest-numbered failing atom, as an index-order search would.
                Err(e) if first_error.as_ref().is_none_or(|(a, _)| i < *a) => {
                    first_error = Some((i, e));
                }
                Err(_) => {}
            }
        }
        if let Some((_, e)) = first_error {
            return Err(e);
        }
        for (k, &(a, b)) in ranges.iter().enumerate() {
            graph
                .idx_i
                .extend(std::iter::repeat_n(block_start + k, b - a));
            graph.idx_j.extend_from_slice(&block.idx_j[a..b]);
            graph.shift_ij.extend_from_slice(&block.shift_ij[a..b]);
            graph.r_ij.extend_from_slice(&block.r_ij[a..b]);
            graph.d_ij.extend_from_slice(&block.d_ij[a..b]);
        }
        let per_atom = block.n_edges().div_ceil(end - block_start).max(1);
        block_atoms = (blocks.edges / per_atom).max(blocks.min_atoms).max(1);
        block_start = end;
    }
    Ok(graph)
}

/// Per-centre scratch space of the search.
#[derive(Debug, Default)]
struct Scratch {
    /// (real bin, image shift) of the virtual bins visited along each axis.
    axis_bins: [Vec<(usize, i32)>; 3],
    /// Pre-filter squared distances of one bin's atoms.
    d2: Vec<f64>,
}

/// What the search needs about the atom stored at a slot of the bin-sorted arrays.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Index of the atom in the structure.
    atom: usize,
    /// Its cell offset `o` (wrapped = original − o · L).
    offset: [i32; 3],
    /// Its original position (Å).
    pos: [f64; 3],
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{MaxNeighborsPolicy, radius_graph_reference};

    /// Many tiny blocks: the block-wise, bin-ordered visit must not change the graph, nor which
    /// atom a `max_neighbors` error names.
    #[test]
    fn small_blocks_give_the_same_graph_and_errors() {
        let mut state = 0x1234_5678_u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let lattice = [[6.0, 0.0, 0.0], [1.5, 5.5, 0.0], [-0.7, 1.1, 7.0]];
        let n = 60;
        let positions = (0..n)
            .map(|_| {
                let f = [next() * 1.4 - 0.2, next(), next()];
                crate::graph::cart_from_frac(&lattice, f)
            })
            .collect();
        let mut s = Structure::molecule(vec![6; n], positions);
        s.lattice = Some(lattice);
        s.pbc = [true; 3];
        let tiny = Blocks {
            first_atoms: 7,
            edges: 100,
            min_atoms: 3,
            direct_max_atoms: 0,
        };
        let full = radius_graph_reference(&s, &RadiusGraphOptions::with_cutoff(4.5))
            .expect("valid structure");
        // Atom 0 fits, some later atom does not: the error must name the first such atom.
        let counts = full.neighbor_counts();
        let max = counts[0] + 1;
        let first_over = counts.iter().position(|&c| c + 1 > max);
        assert!(first_over.is_some_and(|a| a > 0));
        for (max_neighbors, policy) in [
            (None, MaxNeighborsPolicy::Error),
            (Some(max), MaxNeighborsPolicy::KeepNearest),
            (Some(max), MaxNeighborsPolicy::KeepNearestDegenerate),
            (Some(max), MaxNeighborsPolicy::Error),
        ] {
            let options = RadiusGraphOptions {
                cutoff: 4.5,
                self_loops: true,
                max_neighbors,
                policy,
            };
            let frame = Frame::of(&s, &options).expect("valid structure");
            let got = cell_list(&s, &frame, &options, tiny);
            let want = radius_graph_reference(&s, &options);
            assert_eq!(got, want);
            if policy == MaxNeighborsPolicy::Error && max_neighbors.is_some() {
                assert!(
                    matches!(got, Err(GraphError::TooManyNeighbors { atom, .. }) if Some(atom) == first_over)
                );
            }
        }
    }

    /// SCD's cap, checked edge by edge against the full graph: an atom with more than `k`
    /// other neighbours keeps its self-loop and exactly those with `d² ≤ d²₍ₖ₊₁₎ + 0.01 Å²`;
    /// a perfect crystal keeps whole shells of equidistant neighbours.
    #[test]
    fn degenerate_cap_keeps_whole_shells() {
        use crate::graph::DEGENERACY_TOLERANCE_SQ;
        // Rock salt, 2 × 2 × 2 conventional cells (64 atoms, a = 5.64 Å), slightly rattled in
        // one atom so that one shell splits.
        let a = 5.64;
        let mut positions = Vec::new();
        let mut numbers = Vec::new();
        for (x, y, z) in
            (0..4).flat_map(|x| (0..4).flat_map(move |y| (0..4).map(move |z| (x, y, z))))
        {
            positions.push([x as f64 * a / 2.0, y as f64 * a / 2.0, z as f64 * a / 2.0]);
            numbers.push(if (x + y + z) % 2 == 0 { 11 } else { 17 });
        }
        positions[5][0] += 0.03;
        let mut s = Structure::molecule(numbers, positions);
        s.lattice = Some([
            [2.0 * a, 0.0, 0.0],
            [0.0, 2.0 * a, 0.0],
            [0.0, 0.0, 2.0 * a],
        ]);
        s.pbc = [true; 3];
        let k = 10;
        let full = crate::graph::radius_graph(
            &s,
            &RadiusGraphOptions {
                self_loops: true,
                ..RadiusGraphOptions::with_cutoff(5.0)
            },
        )
        .expect("valid");
        let capped = crate::graph::radius_graph(
            &s,
            &RadiusGraphOptions {
                cutoff: 5.0,
                self_loops: true,
                max_neighbors: Some(k),
                policy: MaxNeighborsPolicy::KeepNearestDegenerate,
            },
        )
        .expect("valid");
        let edges = |g: &Graph, i: usize| -> Vec<(usize, [i32; 3], f64)> {
            (0..g.idx_i.len())
                .filter(|&e| g.idx_i[e] == i)
                .map(|e| (g.idx_j[e], g.shift_ij[e], g.d_ij[e]))
                .collect()
        };
        let mut sizes = Vec::new();
        for i in 0..s.n_atoms() {
            let all = edges(&full, i);
            let is_self = |e: &(usize, [i32; 3], f64)| e.0 == i && e.1 == [0, 0, 0];
            let mut d2: Vec<f64> = all
                .iter()
                .filter(|e| !is_self(e))
                .map(|e| e.2 * e.2)
                .collect();
            assert!(d2.len() > k, "atom {i}: {} neighbours", d2.len());
            d2.sort_by(f64::total_cmp);
            let limit = d2[k] + DEGENERACY_TOLERANCE_SQ;
            let want: Vec<_> = all
                .iter()
                .filter(|e| is_self(e) || e.2 * e.2 <= limit)
                .map(|e| (e.0, e.1))
                .collect();
            let got: Vec<_> = edges(&capped, i).iter().map(|e| (e.0, e.1)).collect();
            assert_eq!(got, want, "atom {i}");
            sizes.push(got.len() - 1);
        }
        // 6 nearest + 12 second shell: the 11th-nearest lies in the second shell, which is kept
        // whole (18 neighbours) except around the displaced atom.
        assert!(sizes.iter().all(|&n| n > k), "{sizes:?}");
        assert!(sizes.iter().filter(|&&n| n == 18).count() > 50, "{sizes:?}");
    }
}
