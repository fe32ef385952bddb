//! The O(N² · images) brute-force radius graph the cell list is tested against.
//!
//! How it works: for every ordered pair `(i, j)` and every integer shift within reach, test
//! `|pos[j] + shift · L − pos[i]| < cutoff`. Along a periodic axis the shifts that can matter are
//! `round(f_i − f_j) + m` with `|m| ≤ ceil(cutoff / height) + 1` (one more than needed), where
//! `f` are the unwrapped fractional coordinates, so atoms need not lie inside the cell. It
//! shares nothing with the cell list but the validation, `r_ij` arithmetic and the per-atom
//! ordering / `max_neighbors` step. Use it for tests and for tiny systems only.

use super::images::{cart_shift, dot, r_ij};
use super::{AtomEdges, Candidate, Frame, Graph, GraphError, RadiusGraphOptions};
use crate::Structure;

/// The same graph as [`super::radius_graph`], by brute force over all pairs and images.
///
/// # Errors
/// As [`super::radius_graph`].
pub fn radius_graph_reference(
    structure: &Structure,
    options: &RadiusGraphOptions,
) -> Result<Graph, GraphError> {
    let frame = Frame::of(structure, options)?;
    let n = structure.positions.len();
    let mut graph = Graph::empty(n, frame.lattice());
    let (lattice, frac, reach) = match frame {
        Frame::Molecule => ([[0.0; 3]; 3], vec![[0.0; 3]; n], [0i32; 3]),
        Frame::Periodic { cell, pbc } => {
            let counts = cell.image_counts(options.cutoff, pbc)?;
            let frac = structure
                .positions
                .iter()
                .map(|&p| cell.frac_from_cart(p))
                .collect();
            let reach = [0, 1, 2].map(|k| if pbc[k] { counts[k] as i32 + 1 } else { 0 });
            (cell.lattice, frac, reach)
        }
    };
    let cutoff2 = options.cutoff * options.cutoff;
    let mut found = AtomEdges::default();
    for i in 0..n {
        for j in 0..n {
            let base: [i32; 3] = [0, 1, 2].map(|k| {
                if reach[k] > 0 {
                    (frac[i][k] - frac[j][k]).round() as i32
                } else {
                    0
                }
            });
            for m0 in -reach[0]..=reach[0] {
                for m1 in -reach[1]..=reach[1] {
                    for m2 in -reach[2]..=reach[2] {
                        let shift = [base[0] + m0, base[1] + m1, base[2] + m2];
                        if i == j && shift == [0; 3] && !options.self_loops {
                            continue;
                        }
                        let r = r_ij(
                            structure.positions[i],
                            structure.positions[j],
                            cart_shift(&lattice, shift),
                        );
                        let d2 = dot(r, r);
                        if d2 < cutoff2 {
                            found.edges.push(Candidate { j, shift, r, d2 });
                        }
                    }
                }
            }
        }
        found.flush(&mut graph, i, options)?;
    }
    Ok(graph)
}
