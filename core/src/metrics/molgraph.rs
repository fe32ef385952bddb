//! Validity and a canonical molecular-graph identity without RDKit (docs/metrics.md §1.6).
//!
//! EDM builds an RDKit molecule from the distance-based bond orders, sanitises it, keeps the
//! largest fragment and compares canonical SMILES. Here:
//!
//! * **Validity.** Sanitisation is replaced by its only failure mode for such molecules: an
//!   atom whose bond-order sum exceeds the largest neutral valence RDKit allows for its element
//!   (H, F, Cl, Br 1; O 2; B, N, Al 3; C, Si 4; I 5; S, Se 6; P, As 7). Under-bonded atoms are
//!   fine (RDKit fills them with implicit hydrogens), as are disconnected molecules.
//! * **Identity.** The largest connected fragment (the first one when several are equally
//!   large, as `max` over RDKit's `GetMolFrags` returns) is canonicalised by colour refinement
//!   (1-dimensional Weisfeiler–Lehman on element, attached-hydrogen count and bond orders)
//!   followed by individualisation–refinement: branch on every atom of the first non-singleton
//!   colour class, refine, recurse, and keep the lexicographically smallest certificate (atom
//!   labels in canonical order plus the sorted bond list). Isomorphic graphs give equal
//!   certificates; non-isomorphic ones differ. Terminal hydrogens (one single bond to a
//!   non-hydrogen) are folded into their neighbour's label first, which removes most of the
//!   symmetry the search would otherwise branch on.
//!
//! How this differs from RDKit's SMILES route: (1) no aromaticity perception, so two Kekulé
//! assignments of the same aromatic ring are different graphs here and the same SMILES in
//! RDKit (our uniqueness and novelty can only be higher); (2) no stereochemistry — neither
//! route assigns any (EDM never calls `AssignStereochemistryFrom3D`); (3) validity ignores the
//! rare sanitisation failures other than over-valence (e.g. kekulisation of hand-made aromatic
//! flags, which cannot occur for bonds built from distances); (4) the search tree is capped at
//! [`MAX_LEAVES`] leaves — a graph that needs more (highly symmetric cages far beyond QM9)
//! gets the best certificate found so far and is flagged `exact = false`.

use std::collections::BTreeMap;

use crate::elements;

/// Cap on the leaves the canonicalisation search visits.
pub const MAX_LEAVES: usize = 20_000;

/// Largest neutral valence RDKit accepts for element `z`; `None` = no limit known here.
#[must_use]
pub fn max_valence(z: u8) -> Option<u32> {
    Some(match z {
        1 | 9 | 17 | 35 | 3 | 11 | 19 => 1,
        8 | 4 | 12 | 20 => 2,
        5 | 7 | 13 => 3,
        6 | 14 | 32 => 4,
        53 => 5,
        16 | 34 => 6,
        15 | 33 => 7,
        2 | 10 | 18 => 0,
        _ => return None,
    })
}

/// A molecular graph: atomic numbers and bonds `(i, j, order)`.
#[derive(Debug, Clone)]
pub struct MolGraph<'a> {
    /// Atomic numbers.
    pub numbers: &'a [u8],
    /// Bonds with `i != j` and order ≥ 1.
    pub bonds: &'a [(usize, usize, u8)],
}

/// Canonical identity of a molecular graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CanonicalId {
    /// Certificate text: `label.label.…|i-j=o,…` in canonical atom order.
    pub key: String,
    /// False when the search hit [`MAX_LEAVES`].
    pub exact: bool,
}

impl MolGraph<'_> {
    /// Bond-order sum of every atom.
    #[must_use]
    pub fn valences(&self) -> Vec<u32> {
        let mut v = vec![0u32; self.numbers.len()];
        for &(i, j, o) in self.bonds {
            v[i] += u32::from(o);
            v[j] += u32::from(o);
        }
        v
    }

    /// True when no atom exceeds its largest allowed neutral valence (RDKit sanitisation).
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.valences()
            .iter()
            .zip(self.numbers)
            .all(|(&v, &z)| max_valence(z).is_none_or(|m| v <= m))
    }

    /// Connected components as sorted atom lists, ordered by their lowest atom index.
    #[must_use]
    pub fn fragments(&self) -> Vec<Vec<usize>> {
        let n = self.numbers.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        for &(i, j, _) in self.bonds {
            let (a, b) = (root(&mut parent, i), root(&mut parent, j));
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        }
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in 0..n {
            let r = root(&mut parent, i);
            groups.entry(r).or_default().push(i);
        }
        let mut out: Vec<Vec<usize>> = groups.into_values().collect();
        out.sort_by_key(|f| f[0]);
        out
    }

    /// The largest fragment (first of equally large ones).
    #[must_use]
    pub fn largest_fragment(&self) -> Vec<usize> {
        let mut best: Vec<usize> = Vec::new();
        for f in self.fragments() {
            if f.len() > best.len() {
                best = f;
            }
        }
        best
    }

    /// Canonical identity of the sub-graph induced by `atoms`.
    #[must_use]
    pub fn canonical_id(&self, atoms: &[usize]) -> CanonicalId {
        Canon::new(self, atoms).run()
    }
}

/// Atom labels in canonical order and the bond list in canonical numbering.
type Certificate = (Vec<(u8, u32)>, Vec<(usize, usize, u8)>);

/// Canonicalisation state over the folded graph.
struct Canon {
    /// Initial labels (element, folded hydrogens) as sortable keys and their text.
    labels: Vec<(u8, u32)>,
    /// Adjacency: (neighbour, order).
    adj: Vec<Vec<(usize, u8)>>,
    edges: Vec<(usize, usize, u8)>,
    leaves: usize,
    best: Option<Certificate>,
}

impl Canon {
    fn new(graph: &MolGraph<'_>, atoms: &[usize]) -> Self {
        let mut local = vec![usize::MAX; graph.numbers.len()];
        for (k, &a) in atoms.iter().enumerate() {
            local[a] = k;
        }
        let mut degree = vec![0usize; graph.numbers.len()];
        let inside = |a: usize| local.get(a).is_some_and(|&l| l != usize::MAX);
        let sub: Vec<(usize, usize, u8)> = graph
            .bonds
            .iter()
            .copied()
            .filter(|&(i, j, _)| inside(i) && inside(j))
            .collect();
        for &(i, j, _) in &sub {
            degree[i] += 1;
            degree[j] += 1;
        }
        // A hydrogen is folded when it has exactly one bond, single, to a non-hydrogen.
        let folded_into = |h: usize| -> Option<usize> {
            if graph.numbers[h] != 1 || degree[h] != 1 {
                return None;
            }
            let &(i, j, o) = sub.iter().find(|&&(i, j, _)| i == h || j == h)?;
            let other = if i == h { j } else { i };
            (o == 1 && graph.numbers[other] != 1).then_some(other)
        };
        let mut hcount = vec![0u32; graph.numbers.len()];
        let mut kept = Vec::new();
        for &a in atoms {
            match folded_into(a) {
                Some(p) => hcount[p] += 1,
                None => kept.push(a),
            }
        }
        let mut index = vec![usize::MAX; graph.numbers.len()];
        for (k, &a) in kept.iter().enumerate() {
            index[a] = k;
        }
        let labels: Vec<(u8, u32)> = kept
            .iter()
            .map(|&a| (graph.numbers[a], hcount[a]))
            .collect();
        let mut adj = vec![Vec::new(); kept.len()];
        let mut edges = Vec::new();
        for &(i, j, o) in &sub {
            let (a, b) = (index[i], index[j]);
            if a != usize::MAX && b != usize::MAX {
                adj[a].push((b, o));
                adj[b].push((a, o));
                edges.push((a, b, o));
            }
        }
        Self {
            labels,
            adj,
            edges,
            leaves: 0,
            best: None,
        }
    }

    fn run(mut self) -> CanonicalId {
        let n = self.labels.len();
        let initial = rank(&(0..n).map(|v| self.labels[v]).collect::<Vec<_>>());
        let colours = self.refine(initial);
        self.search(colours);
        let exact = self.leaves <= MAX_LEAVES;
        let (labels, edges) = self.best.unwrap_or_default();
        let mut key = String::new();
        for (k, (z, h)) in labels.iter().enumerate() {
            if k > 0 {
                key.push('.');
            }
            key.push_str(elements::symbol(*z));
            if *h > 0 {
                key.push('H');
                key.push_str(&h.to_string());
            }
        }
        key.push('|');
        for (k, (i, j, o)) in edges.iter().enumerate() {
            if k > 0 {
                key.push(',');
            }
            key.push_str(&format!("{i}-{j}={o}"));
        }
        CanonicalId { key, exact }
    }

    /// Colour refinement to the coarsest equitable partition finer than `colours`.
    fn refine(&self, mut colours: Vec<usize>) -> Vec<usize> {
        let mut classes = distinct(&colours);
        loop {
            let signatures: Vec<(usize, Vec<(usize, u8)>)> = (0..colours.len())
                .map(|v| {
                    let mut s: Vec<(usize, u8)> =
                        self.adj[v].iter().map(|&(u, o)| (colours[u], o)).collect();
                    s.sort_unstable();
                    (colours[v], s)
                })
                .collect();
            let next = rank(&signatures);
            let next_classes = distinct(&next);
            colours = next;
            if next_classes == classes {
                return colours;
            }
            classes = next_classes;
        }
    }

    fn search(&mut self, colours: Vec<usize>) {
        if self.leaves > MAX_LEAVES {
            return;
        }
        let n = colours.len();
        // First non-singleton class (smallest colour with more than one member).
        let mut count = vec![0usize; n];
        for &c in &colours {
            count[c] += 1;
        }
        let Some(target) = (0..n).find(|&c| count[c] > 1) else {
            self.leaf(&colours);
            return;
        };
        let members: Vec<usize> = (0..n).filter(|&v| colours[v] == target).collect();
        for v in members {
            let split: Vec<(usize, bool)> =
                (0..n).map(|w| (colours[w], w != v)).collect::<Vec<_>>();
            let next = self.refine(rank(&split));
            self.search(next);
        }
    }

    fn leaf(&mut self, colours: &[usize]) {
        self.leaves += 1;
        let labels: Vec<(u8, u32)> = {
            let mut order: Vec<usize> = (0..colours.len()).collect();
            order.sort_by_key(|&v| colours[v]);
            order.iter().map(|&v| self.labels[v]).collect()
        };
        let mut edges: Vec<(usize, usize, u8)> = self
            .edges
            .iter()
            .map(|&(i, j, o)| {
                let (a, b) = (colours[i], colours[j]);
                (a.min(b), a.max(b), o)
            })
            .collect();
        edges.sort_unstable();
        let candidate = (labels, edges);
        if self.best.as_ref().is_none_or(|b| candidate < *b) {
            self.best = Some(candidate);
        }
    }
}

/// Dense ranks of `keys` (equal keys share a rank; order of ranks = order of keys).
fn rank<K: Ord + Clone>(keys: &[K]) -> Vec<usize> {
    let mut sorted: Vec<K> = keys.to_vec();
    sorted.sort();
    sorted.dedup();
    keys.iter()
        .map(|k| sorted.binary_search(k).unwrap_or(0))
        .collect()
}

fn distinct(colours: &[usize]) -> usize {
    let mut c = colours.to_vec();
    c.sort_unstable();
    c.dedup();
    c.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(numbers: &[u8], bonds: &[(usize, usize, u8)]) -> String {
        let g = MolGraph { numbers, bonds };
        g.canonical_id(&(0..numbers.len()).collect::<Vec<_>>()).key
    }

    #[test]
    fn relabelled_graphs_share_an_identity() {
        // Ethanol C-C-O with hydrogens, in two atom orders.
        let a = id(
            &[6, 6, 8, 1, 1, 1, 1, 1, 1],
            &[
                (0, 1, 1),
                (1, 2, 1),
                (0, 3, 1),
                (0, 4, 1),
                (0, 5, 1),
                (1, 6, 1),
                (1, 7, 1),
                (2, 8, 1),
            ],
        );
        let b = id(
            &[1, 8, 1, 6, 1, 6, 1, 1, 1],
            &[
                (0, 1, 1),
                (1, 3, 1),
                (3, 5, 1),
                (2, 3, 1),
                (4, 3, 1),
                (5, 6, 1),
                (5, 7, 1),
                (5, 8, 1),
            ],
        );
        assert_eq!(a, b);
        // Dimethyl ether has the same formula but another graph.
        let c = id(
            &[6, 8, 6, 1, 1, 1, 1, 1, 1],
            &[
                (0, 1, 1),
                (1, 2, 1),
                (0, 3, 1),
                (0, 4, 1),
                (0, 5, 1),
                (2, 6, 1),
                (2, 7, 1),
                (2, 8, 1),
            ],
        );
        assert_ne!(a, c);
    }

    #[test]
    fn regular_graphs_that_refinement_cannot_split_are_told_apart() {
        // A 6-ring and two 3-rings of carbon: every atom has degree 2, so colour refinement
        // alone gives one class for both; individualisation separates them.
        let ring6 = id(
            &[6; 6],
            &[
                (0, 1, 1),
                (1, 2, 1),
                (2, 3, 1),
                (3, 4, 1),
                (4, 5, 1),
                (5, 0, 1),
            ],
        );
        let two3 = id(
            &[6; 6],
            &[
                (0, 1, 1),
                (1, 2, 1),
                (2, 0, 1),
                (3, 4, 1),
                (4, 5, 1),
                (5, 3, 1),
            ],
        );
        assert_ne!(ring6, two3);
        let ring6_shuffled = id(
            &[6; 6],
            &[
                (3, 0, 1),
                (0, 5, 1),
                (5, 1, 1),
                (1, 4, 1),
                (4, 2, 1),
                (2, 3, 1),
            ],
        );
        assert_eq!(ring6, ring6_shuffled);
    }

    #[test]
    fn validity_checks_the_largest_neutral_valence() {
        let ok = MolGraph {
            numbers: &[7, 1, 1, 1],
            bonds: &[(0, 1, 1), (0, 2, 1), (0, 3, 1)],
        };
        assert!(ok.is_valid());
        let ammonium = MolGraph {
            numbers: &[7, 1, 1, 1, 1],
            bonds: &[(0, 1, 1), (0, 2, 1), (0, 3, 1), (0, 4, 1)],
        };
        assert!(!ammonium.is_valid());
        let frags = MolGraph {
            numbers: &[6, 8, 1, 1],
            bonds: &[(0, 2, 1), (1, 3, 1)],
        };
        assert_eq!(frags.fragments(), vec![vec![0, 2], vec![1, 3]]);
        assert_eq!(frags.largest_fragment(), vec![0, 2]);
    }
}
