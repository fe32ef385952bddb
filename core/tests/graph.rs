//! Radius graphs: the cell list against the O(N² · images) reference on random systems, exact
//! counts on simple lattices, invariances, `max_neighbors` policies, batching and errors.

#![allow(clippy::needless_range_loop)] // Index loops read like the maths here.

use nucleate_core::Structure;
use nucleate_core::graph::{
    Graph, GraphError, MaxNeighborsPolicy, RadiusGraphOptions, cart_shift, radius_graph,
    radius_graph_batch, radius_graph_reference,
};

/// SplitMix64: a tiny deterministic RNG, so the tests need no RNG crate.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` atoms at random fractional coordinates in `[frac_lo, frac_hi)` of `lattice`.
fn random_crystal(
    rng: &mut Rng,
    n: usize,
    lattice: [[f64; 3]; 3],
    pbc: [bool; 3],
    frac_lo: f64,
    frac_hi: f64,
) -> Structure {
    let positions = (0..n)
        .map(|_| {
            let f = [0; 3].map(|_| rng.uniform(frac_lo, frac_hi));
            nucleate_core::graph::cart_from_frac(&lattice, f)
        })
        .collect();
    let mut s = Structure::molecule(vec![6; n], positions);
    s.lattice = Some(lattice);
    s.pbc = pbc;
    s
}

fn random_orthorhombic(rng: &mut Rng, lo: f64, hi: f64) -> [[f64; 3]; 3] {
    let l = [0; 3].map(|_| rng.uniform(lo, hi));
    [[l[0], 0.0, 0.0], [0.0, l[1], 0.0], [0.0, 0.0, l[2]]]
}

/// A random triclinic cell: random lengths and off-diagonal tilts up to `tilt` times a length.
fn random_triclinic(rng: &mut Rng, lo: f64, hi: f64, tilt: f64) -> [[f64; 3]; 3] {
    let a = rng.uniform(lo, hi);
    let b = rng.uniform(lo, hi);
    let c = rng.uniform(lo, hi);
    [
        [a, 0.0, 0.0],
        [rng.uniform(-tilt, tilt) * a, b, 0.0],
        [
            rng.uniform(-tilt, tilt) * a,
            rng.uniform(-tilt, tilt) * b,
            c,
        ],
    ]
}

/// Integer matrix product `M · L` (a unimodular `M` gives the same lattice, differently skewed).
fn skew(m: [[i32; 3]; 3], l: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut out = [[0.0; 3]; 3];
    for r in 0..3 {
        for c in 0..3 {
            out[r][c] = (0..3).map(|k| f64::from(m[r][k]) * l[k][c]).sum();
        }
    }
    out
}

/// Asserts the cell list and the reference agree: same sorted edges, distances within 1e-9.
fn assert_matches_reference(s: &Structure, options: &RadiusGraphOptions, what: &str) -> Graph {
    let got = radius_graph(s, options).expect("cell list succeeds");
    let want = radius_graph_reference(s, options).expect("reference succeeds");
    assert_eq!(got.n_atoms, want.n_atoms, "{what}");
    assert_eq!(got.n_edges(), want.n_edges(), "{what}: edge count");
    assert_eq!(got.idx_i, want.idx_i, "{what}: idx_i");
    assert_eq!(got.idx_j, want.idx_j, "{what}: idx_j");
    assert_eq!(got.shift_ij, want.shift_ij, "{what}: shift_ij");
    for e in 0..got.n_edges() {
        assert!((got.d_ij[e] - want.d_ij[e]).abs() < 1e-9, "{what}: d_ij");
        for k in 0..3 {
            assert!(
                (got.r_ij[e][k] - want.r_ij[e][k]).abs() < 1e-9,
                "{what}: r_ij"
            );
        }
        assert!(got.d_ij[e] < options.cutoff);
    }
    // Sorted by (i, j, shift), and consistent with r_ij = pos[j] + shift · L − pos[i].
    let keys: Vec<_> = (0..got.n_edges())
        .map(|e| (got.idx_i[e], got.idx_j[e], got.shift_ij[e]))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{what}: order");
    let shifts = got.shift_cart();
    for e in 0..got.n_edges() {
        let (i, j) = (got.idx_i[e], got.idx_j[e]);
        for k in 0..3 {
            let r = s.positions[j][k] + shifts[e][k] - s.positions[i][k];
            assert!((r - got.r_ij[e][k]).abs() < 1e-9, "{what}: r_ij vs shift");
        }
    }
    got
}

fn options(cutoff: f64, self_loops: bool) -> RadiusGraphOptions {
    RadiusGraphOptions {
        cutoff,
        self_loops,
        ..RadiusGraphOptions::default()
    }
}

/// Edges as sortable `(i, j, r_ij)` rows with `r_ij` rounded to 1e-7 Å, for multiset equality.
fn edge_multiset(g: &Graph, map: &dyn Fn(usize) -> usize) -> Vec<(usize, usize, [i64; 3])> {
    let mut rows: Vec<_> = (0..g.n_edges())
        .map(|e| {
            (
                map(g.idx_i[e]),
                map(g.idx_j[e]),
                g.r_ij[e].map(|x| (x * 1e7).round() as i64),
            )
        })
        .collect();
    rows.sort_unstable();
    rows
}

#[test]
fn orthorhombic_cells_match_the_reference() {
    let mut rng = Rng(1);
    for trial in 0..6 {
        let lattice = random_orthorhombic(&mut rng, 4.0, 9.0);
        let n = 20 + trial * 5;
        // Some atoms outside the cell, to exercise wrapping.
        let s = random_crystal(&mut rng, n, lattice, [true; 3], -0.6, 1.7);
        let min_len = lattice[0][0].min(lattice[1][1]).min(lattice[2][2]);
        for cutoff in [1.5, 3.0, 0.6 * min_len, 1.3 * min_len, 11.0] {
            for self_loops in [false, true] {
                let what = format!("orthorhombic trial {trial}, cutoff {cutoff}, {self_loops}");
                let g = assert_matches_reference(&s, &options(cutoff, self_loops), &what);
                if cutoff > min_len {
                    // Atoms see their own images.
                    assert!(
                        (0..g.n_edges())
                            .any(|e| g.idx_i[e] == g.idx_j[e] && g.shift_ij[e] != [0; 3])
                    );
                }
            }
        }
    }
}

#[test]
fn triclinic_and_strongly_skewed_cells_match_the_reference() {
    let mut rng = Rng(2);
    for trial in 0..5 {
        let base = random_triclinic(&mut rng, 4.5, 8.0, 0.5);
        // Strongly skewed: the same lattice through a unimodular matrix (det = 1).
        let skewed = skew([[1, 0, 0], [3, 1, 0], [-2, 4, 1]], base);
        for (name, lattice) in [("triclinic", base), ("skewed", skewed)] {
            let s = random_crystal(&mut rng, 24, lattice, [true; 3], -0.3, 1.3);
            for cutoff in [2.0, 4.0, 7.5] {
                for self_loops in [false, true] {
                    let what = format!("{name} trial {trial}, cutoff {cutoff}, {self_loops}");
                    assert_matches_reference(&s, &options(cutoff, self_loops), &what);
                }
            }
        }
    }
}

#[test]
fn skewing_the_cell_does_not_change_the_edges() {
    let mut rng = Rng(3);
    let base = random_triclinic(&mut rng, 5.0, 7.0, 0.3);
    let skewed = skew([[1, 2, 0], [0, 1, 0], [3, -1, 1]], base);
    let mut s = random_crystal(&mut rng, 30, base, [true; 3], 0.0, 1.0);
    let a = radius_graph(&s, &options(6.0, false)).expect("graph");
    s.lattice = Some(skewed);
    let b = radius_graph(&s, &options(6.0, false)).expect("graph");
    assert!(a.n_edges() > 0);
    assert_eq!(edge_multiset(&a, &|i| i), edge_multiset(&b, &|i| i));
}

#[test]
fn partially_periodic_cells_match_the_reference() {
    let mut rng = Rng(4);
    let pbcs = [
        [true, true, false],
        [false, true, false],
        [true, false, true],
        [false, false, true],
    ];
    for (trial, pbc) in pbcs.into_iter().enumerate() {
        let lattice = random_triclinic(&mut rng, 4.0, 7.0, 0.4);
        // Atoms spread well beyond the cell along the non-periodic axes.
        let s = random_crystal(&mut rng, 30, lattice, pbc, -1.0, 2.0);
        for cutoff in [2.5, 5.0, 9.0] {
            for self_loops in [false, true] {
                let what = format!("pbc {pbc:?} trial {trial}, cutoff {cutoff}, {self_loops}");
                let g = assert_matches_reference(&s, &options(cutoff, self_loops), &what);
                for sh in &g.shift_ij {
                    for k in 0..3 {
                        assert!(pbc[k] || sh[k] == 0, "{what}: shift along a free axis");
                    }
                }
            }
        }
    }
}

#[test]
fn molecules_match_the_reference() {
    let mut rng = Rng(5);
    for trial in 0..4 {
        let n = 50 + 30 * trial;
        let positions = (0..n)
            .map(|_| {
                [
                    rng.uniform(-6.0, 6.0),
                    rng.uniform(0.0, 25.0),
                    rng.uniform(-3.0, 3.0),
                ]
            })
            .collect();
        let mut s = Structure::molecule(vec![1; n], positions);
        for cutoff in [0.8, 2.0, 4.5, 40.0] {
            for self_loops in [false, true] {
                let what = format!("molecule trial {trial}, cutoff {cutoff}, {self_loops}");
                let g = assert_matches_reference(&s, &options(cutoff, self_loops), &what);
                assert!(g.lattice.is_none() && g.shift_ij.iter().all(|s| *s == [0; 3]));
                if cutoff == 40.0 {
                    let loops = if self_loops { n } else { 0 };
                    assert_eq!(g.n_edges(), n * (n - 1) + loops, "{what}: complete graph");
                }
            }
        }
        // A lattice with all pbc false is ignored.
        s.lattice = Some([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
        let with_cell = radius_graph(&s, &options(2.0, false)).expect("graph");
        s.lattice = None;
        assert_eq!(
            with_cell,
            radius_graph(&s, &options(2.0, false)).expect("graph")
        );
    }
}

#[test]
fn sparse_molecules_use_a_bounded_grid() {
    // Two far-apart clusters: a dense grid over the bounding box would be 1e15 bins.
    let mut rng = Rng(6);
    let mut positions = Vec::new();
    for centre in [0.0, 1e5] {
        for _ in 0..40 {
            positions.push([0; 3].map(|_| centre + rng.uniform(0.0, 4.0)));
        }
    }
    let s = Structure::molecule(vec![1; 80], positions);
    assert_matches_reference(&s, &options(1.0, false), "sparse molecule");
    // A tiny cutoff over a huge extent: bin counts must not overflow.
    let spread: Vec<[f64; 3]> = (0..50)
        .map(|_| [0; 3].map(|_| rng.uniform(-1e7, 1e7)))
        .chain([[0.0; 3], [1e-4, 0.0, 0.0]])
        .collect();
    let s = Structure::molecule(vec![1; 52], spread);
    let g = assert_matches_reference(&s, &options(1e-3, false), "spread molecule");
    assert_eq!(
        (g.idx_i.as_slice(), g.idx_j.as_slice()),
        (&[50, 51][..], &[51, 50][..])
    );
}

#[test]
fn simple_cubic_neighbour_shells_of_a_single_atom() {
    // One atom in a 2 Å cube: all neighbours are its own images.
    let mut s = Structure::molecule(vec![29], vec![[0.3, 0.4, 0.5]]);
    s.lattice = Some([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]);
    s.pbc = [true; 3];
    // Shells at 2, 2√2, 2√3, 4 Å hold 6, 12, 8, 6 images.
    for (cutoff, count) in [(1.9, 0), (2.1, 6), (2.9, 18), (3.5, 26), (4.1, 32)] {
        let g = radius_graph(&s, &options(cutoff, false)).expect("graph");
        assert_eq!(g.n_edges(), count, "cutoff {cutoff}");
        let with_loop = radius_graph(&s, &options(cutoff, true)).expect("graph");
        assert_eq!(
            with_loop.n_edges(),
            count + 1,
            "cutoff {cutoff} with self-loop"
        );
    }
    // The same in a strongly skewed but equivalent cell.
    let cube = s.lattice.expect("set above");
    s.lattice = Some(skew([[1, 5, 0], [0, 1, 0], [-3, 7, 1]], cube));
    let g = radius_graph(&s, &options(4.1, false)).expect("graph");
    assert_eq!(g.n_edges(), 32);
    // A slab periodic in a, b only: 4 + 4 images within 2.9 Å.
    s.lattice = Some(cube);
    s.pbc = [true, true, false];
    assert_eq!(
        radius_graph(&s, &options(2.9, false))
            .expect("graph")
            .n_edges(),
        8
    );
}

#[test]
fn moving_an_atom_by_a_lattice_vector_keeps_the_edges() {
    let mut rng = Rng(7);
    let lattice = random_triclinic(&mut rng, 5.0, 7.0, 0.4);
    let s = random_crystal(&mut rng, 25, lattice, [true; 3], 0.0, 1.0);
    let o = options(5.5, false);
    let g = radius_graph(&s, &o).expect("graph");
    // 300 cells away: shifts beyond ±128 take the unpacked sorting path.
    for (atom, cells) in [
        (0usize, [1, 0, 0]),
        (7, [-2, 3, 1]),
        (24, [0, 0, -5]),
        (3, [0, 300, -1]),
    ] {
        let mut moved = s.clone();
        let t = cart_shift(&lattice, cells);
        for k in 0..3 {
            moved.positions[atom][k] += t[k];
        }
        let h = assert_matches_reference(&moved, &o, &format!("atom {atom} moved by {cells:?}"));
        assert_eq!(edge_multiset(&g, &|i| i), edge_multiset(&h, &|i| i));
        assert_eq!((&g.idx_i, &g.idx_j), (&h.idx_i, &h.idx_j));
        // Edges keep their indices; the shifts of `atom`'s edges (not its self-images) move.
        let shifted: Vec<_> = (0..g.n_edges())
            .map(|e| {
                let (i, j) = (g.idx_i[e], g.idx_j[e]);
                let sign = i32::from(i == atom) - i32::from(j == atom);
                let mut sh = g.shift_ij[e];
                for k in 0..3 {
                    sh[k] += sign * cells[k];
                }
                (i, j, sh)
            })
            .collect();
        let mut want = shifted;
        want.sort_unstable();
        let got: Vec<_> = (0..h.n_edges())
            .map(|e| (h.idx_i[e], h.idx_j[e], h.shift_ij[e]))
            .collect();
        assert_eq!(got, want);
    }
}

#[test]
fn permuting_atoms_permutes_the_edges() {
    let mut rng = Rng(8);
    let lattice = random_triclinic(&mut rng, 5.0, 8.0, 0.4);
    let s = random_crystal(&mut rng, 30, lattice, [true, false, true], -0.2, 1.2);
    // perm[new] = old: a fixed derangement.
    let perm: Vec<usize> = (0..30).map(|k| (k * 7 + 3) % 30).collect();
    let mut p = s.clone();
    p.positions = perm.iter().map(|&old| s.positions[old]).collect();
    let o = options(6.0, true);
    let g = radius_graph(&s, &o).expect("graph");
    let h = radius_graph(&p, &o).expect("graph");
    assert_eq!(
        edge_multiset(&g, &|i| i),
        edge_multiset(&h, &|new| perm[new])
    );
}

#[test]
fn max_neighbors_error_names_the_atom_and_count() {
    let s = Structure::molecule(
        vec![1; 4],
        vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [5.0, 5.0, 5.0]],
    );
    let mut o = options(1.5, false);
    o.max_neighbors = Some(1);
    let err = radius_graph(&s, &o).expect_err("atom 0 has two neighbours");
    assert_eq!(
        err,
        GraphError::TooManyNeighbors {
            atom: 0,
            count: 2,
            max: 1
        }
    );
    assert!(err.to_string().contains("atom 0 has 2 neighbours"));
    o.max_neighbors = Some(2);
    assert_eq!(radius_graph(&s, &o).expect("fits").n_edges(), 6);
}

#[test]
fn max_neighbors_keep_nearest_keeps_the_nearest() {
    let mut rng = Rng(9);
    let lattice = random_orthorhombic(&mut rng, 5.0, 6.0);
    let s = random_crystal(&mut rng, 40, lattice, [true; 3], 0.0, 1.0);
    let full = radius_graph(&s, &options(6.0, true)).expect("graph");
    for max in [0, 1, 5, 12] {
        let mut o = options(6.0, true);
        o.max_neighbors = Some(max);
        o.policy = MaxNeighborsPolicy::KeepNearest;
        let kept = assert_matches_reference(&s, &o, &format!("keep nearest {max}"));
        for i in 0..s.n_atoms() {
            let all: Vec<usize> = (0..full.n_edges())
                .filter(|&e| full.idx_i[e] == i)
                .collect();
            let mine: Vec<usize> = (0..kept.n_edges())
                .filter(|&e| kept.idx_i[e] == i)
                .collect();
            assert_eq!(mine.len(), all.len().min(max));
            let worst_kept = mine.iter().map(|&e| kept.d_ij[e]).fold(0.0, f64::max);
            let kept_keys: Vec<_> = mine
                .iter()
                .map(|&e| (kept.idx_j[e], kept.shift_ij[e]))
                .collect();
            for &e in &all {
                if !kept_keys.contains(&(full.idx_j[e], full.shift_ij[e])) {
                    assert!(full.d_ij[e] >= worst_kept, "a dropped edge is nearer");
                }
            }
            if max > 0 && !all.is_empty() {
                // The self-loop (d = 0) is always the nearest.
                assert!(
                    mine.iter()
                        .any(|&e| kept.idx_j[e] == i && kept.d_ij[e] == 0.0)
                );
            }
        }
    }
}

#[test]
fn batches_offset_indices_and_keep_per_system_edges() {
    let mut rng = Rng(10);
    let cell = random_orthorhombic(&mut rng, 4.0, 5.0);
    let crystal = random_crystal(&mut rng, 12, cell, [true; 3], 0.0, 1.0);
    let molecule = Structure::molecule(
        vec![8, 1, 1],
        vec![[0.0; 3], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]],
    );
    let empty = Structure::default();
    let systems = [crystal, empty, molecule];
    let o = options(4.0, false);
    let b = radius_graph_batch(&systems, &o).expect("batch");
    let singles: Vec<Graph> = systems
        .iter()
        .map(|s| radius_graph(s, &o).expect("graph"))
        .collect();
    assert_eq!(b, Graph::batch(&singles));
    assert_eq!(b.n_systems, 3);
    assert_eq!(b.n_atoms(), 15);
    assert_eq!(b.atom_offsets, [0, 12, 12, 15]);
    assert_eq!(b.batch, [vec![0; 12], vec![2; 3]].concat());
    assert_eq!(b.n_edges(), singles[0].n_edges() + 6);
    let edge_batch = b.edge_batch();
    for e in 0..b.n_edges() {
        assert_eq!(b.batch[b.idx_i[e]], edge_batch[e]);
        assert_eq!(b.batch[b.idx_j[e]], edge_batch[e]);
    }
    let tail = b.edge_offsets[2]..b.edge_offsets[3];
    assert_eq!(b.idx_i[tail.clone()], [12, 12, 13, 13, 14, 14]);
    assert_eq!(b.idx_j[tail], [13, 14, 12, 14, 12, 13]);
    assert_eq!(b.shift_cart().len(), b.n_edges());

    let mut bad = systems.to_vec();
    bad[1].positions = vec![[f64::NAN, 0.0, 0.0]];
    bad[1].numbers = vec![1];
    match radius_graph_batch(&bad, &o) {
        Err(GraphError::InSystem { system: 1, source }) => {
            assert!(matches!(
                *source,
                GraphError::NonFinitePosition { atom: 0, .. }
            ));
        }
        other => panic!("expected a system-1 error, got {other:?}"),
    }
}

#[test]
fn invalid_inputs_are_clear_errors() {
    let mut s = Structure::molecule(vec![1, 1], vec![[0.0; 3], [1.0, 0.0, 0.0]]);
    for cutoff in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            radius_graph(&s, &options(cutoff, false)),
            Err(GraphError::InvalidCutoff { .. })
        ));
    }
    s.pbc = [true, false, false];
    assert!(matches!(
        radius_graph(&s, &options(2.0, false)),
        Err(GraphError::MissingLattice { .. })
    ));
    s.lattice = Some([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]]);
    let err = radius_graph(&s, &options(2.0, false)).expect_err("singular");
    assert!(matches!(err, GraphError::SingularLattice { .. }));
    assert!(err.to_string().contains("singular"));
    // Near-degenerate cell and a huge cutoff: an error, not an unbounded allocation.
    s.lattice = Some([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1e-6]]);
    s.pbc = [true; 3];
    assert!(matches!(
        radius_graph(&s, &options(50.0, false)),
        Err(GraphError::TooManyImages { .. })
    ));
    assert!(matches!(
        radius_graph_reference(&s, &options(50.0, false)),
        Err(GraphError::TooManyImages { .. })
    ));
    s.lattice = Some([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]]);
    s.positions[1] = [1e300, 0.0, 0.0];
    assert!(matches!(
        radius_graph(&s, &options(2.0, false)),
        Err(GraphError::PositionOutOfRange {
            atom: 1,
            axis: 0,
            ..
        })
    ));
    s.positions[1] = [0.0, f64::NAN, 0.0];
    let err = radius_graph(&s, &options(2.0, false)).expect_err("NaN");
    assert_eq!(
        err.to_string(),
        "atom 1 has a non-finite position [0.0, NaN, 0.0]"
    );
    s.positions.pop();
    assert!(matches!(
        radius_graph(&s, &options(2.0, false)),
        Err(GraphError::LengthMismatch { .. })
    ));
    assert_eq!(
        radius_graph(&Structure::default(), &RadiusGraphOptions::default())
            .expect("empty")
            .n_edges(),
        0
    );
}
