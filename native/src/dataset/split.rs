//! Reproducible train/validation/test splits.
//!
//! The permutation is a Fisher–Yates shuffle (from the last index down, `j` uniform in `0..=i`)
//! driven by **SplitMix64** (Steele, Lea & Flood 2014; the generator of Vigna's reference
//! `splitmix64.c`) seeded with the user's seed; bounded integers use Lemire's multiply-shift
//! with rejection, so they are exactly uniform. Everything is 64-bit integer arithmetic, so a
//! seed gives the same split on every platform. Indices are dataset row indices; each split is
//! written sorted. The upstream splits (numpy permutations) are not reproduced index for
//! index, only their sizes.

use anyhow::bail;
use serde::Serialize;

pub use nucleate_core::rng::SplitMix64;

/// A random permutation of `0..n`.
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix64::new(seed);
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        p.swap(i, j);
    }
    p
}

/// Named split recipes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// TorchMD-Net / SCD on QM9: 110,000 train, 10,000 validation, the rest test.
    Qm9,
    /// EDM / Cormorant on QM9: 100,000 train, test ⌊N/10⌋ (13,083 for the 130,831 molecules),
    /// validation the rest (17,748).
    Edm,
}

/// Split sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sizes {
    pub train: usize,
    pub val: usize,
    pub test: usize,
}

impl Preset {
    /// Sizes for a dataset of `n` structures.
    ///
    /// # Errors
    /// `n` too small for the preset's fixed counts.
    pub fn sizes(self, n: usize) -> anyhow::Result<Sizes> {
        let (train, val, test) = match self {
            Preset::Qm9 => {
                if n <= 120_000 {
                    bail!(
                        "the qm9 preset needs more than 120,000 structures (110,000 train + 10,000 validation + a test set); the dataset has {n}: use --sizes"
                    );
                }
                (110_000, 10_000, n - 120_000)
            }
            Preset::Edm => {
                let test = n / 10;
                if n < 100_000 + test + 1 {
                    bail!(
                        "the edm preset needs at least {} structures (100,000 train + 10% test + a validation set); the dataset has {n}: use --sizes",
                        100_001 + test
                    );
                }
                (100_000, n - 100_000 - test, test)
            }
        };
        Ok(Sizes { train, val, test })
    }
}

/// Sizes from `--sizes`: `train,val` (test = the rest) or `train,val,test` (the rest unused).
///
/// # Errors
/// Not two or three non-negative integers, or more than `n` in total.
pub fn parse_sizes(text: &str, n: usize) -> anyhow::Result<Sizes> {
    let parts = text
        .split(',')
        .map(|p| p.trim().replace('_', "").parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--sizes {text:?}: {e}"))?;
    if !(2..=3).contains(&parts.len()) {
        bail!("--sizes takes TRAIN,VAL or TRAIN,VAL,TEST, got {text:?}");
    }
    let total = parts.iter().try_fold(0usize, |acc, &p| acc.checked_add(p));
    if total.is_none_or(|t| t > n) {
        bail!("--sizes {text:?} asks for more than the {n} structures of the dataset");
    }
    let (train, val) = (parts[0], parts[1]);
    let test = parts.get(2).copied().unwrap_or(n - train - val);
    Ok(Sizes { train, val, test })
}

/// Train, validation and test indices (each sorted) of `n` structures.
pub fn split(n: usize, sizes: Sizes, seed: u64) -> [Vec<usize>; 3] {
    let p = permutation(n, seed);
    let mut parts = [
        p[..sizes.train].to_vec(),
        p[sizes.train..sizes.train + sizes.val].to_vec(),
        p[sizes.train + sizes.val..sizes.train + sizes.val + sizes.test].to_vec(),
    ];
    for part in &mut parts {
        part.sort_unstable();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_reference_vectors() {
        // Vigna's splitmix64.c seeded with 1234567.
        let mut r = SplitMix64::new(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(r.next_u64(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn permutation_is_a_permutation_and_depends_on_seed() {
        let p = permutation(1000, 7);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_eq!(p, permutation(1000, 7));
        assert_ne!(p, permutation(1000, 8));
        assert_ne!(p, sorted);
    }

    #[test]
    fn below_is_roughly_uniform() {
        let mut r = SplitMix64::new(42);
        let mut counts = [0usize; 6];
        for _ in 0..60_000 {
            counts[r.below(6) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn preset_sizes() {
        assert_eq!(
            Preset::Qm9.sizes(130_831).expect("enough"),
            Sizes {
                train: 110_000,
                val: 10_000,
                test: 10_831
            }
        );
        assert_eq!(
            Preset::Edm.sizes(130_831).expect("enough"),
            Sizes {
                train: 100_000,
                val: 17_748,
                test: 13_083
            }
        );
        assert!(Preset::Qm9.sizes(1000).is_err());
        assert!(Preset::Edm.sizes(1000).is_err());
    }

    #[test]
    fn sizes_and_disjoint_cover() {
        assert!(parse_sizes("8,1,2", 10).is_err());
        assert!(parse_sizes("8", 10).is_err());
        let s = parse_sizes("6,2", 10).expect("fits");
        assert_eq!(s.test, 2);
        let [a, b, c] = split(10, s, 3);
        let mut all: Vec<usize> = a.iter().chain(&b).chain(&c).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!((a.len(), b.len(), c.len()), (6, 2, 2));
    }
}
