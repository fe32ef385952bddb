//! Summary statistics of a converted dataset, computed in one streaming pass.

use super::read::Dataset;
use nucleate_core::elements;
use nucleate_core::structure::LabelValue;
use serde::Serialize;
use std::collections::BTreeMap;

/// What `nucleate data inspect DIR` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetStats {
    pub n_structures: usize,
    pub n_atoms: usize,
    pub n_shards: usize,
    /// Atoms per element symbol over the whole dataset.
    pub elements: BTreeMap<String, usize>,
    /// Atoms per structure.
    pub size: SizeStats,
    /// Per numeric scalar label.
    pub labels: BTreeMap<String, LabelStats>,
}

/// Distribution of atoms per structure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeStats {
    pub min: usize,
    /// Middle value; the mean of the two middle values for an even count.
    pub median: f64,
    pub mean: f64,
    pub max: usize,
}

/// Moments and range of one label over the structures that have it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelStats {
    pub count: usize,
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub unit: Option<String>,
}

/// Welford accumulator.
#[derive(Debug, Clone, Default)]
struct Moments {
    count: usize,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    unit: Option<String>,
}

impl Moments {
    fn add(&mut self, x: f64) {
        if self.count == 0 {
            self.min = x;
            self.max = x;
        }
        self.count += 1;
        let d = x - self.mean;
        self.mean += d / self.count as f64;
        self.m2 += d * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }
}

/// Median of a histogram `value → count` holding `n` values.
fn median(hist: &BTreeMap<usize, usize>, n: usize) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    let nth = |k: usize| {
        let mut seen = 0;
        for (&v, &c) in hist {
            seen += c;
            if seen > k {
                return v as f64;
            }
        }
        f64::NAN
    };
    if n % 2 == 1 {
        nth(n / 2)
    } else {
        0.5 * (nth(n / 2 - 1) + nth(n / 2))
    }
}

/// Stream over `dataset` once.
///
/// # Errors
/// Unreadable shards.
pub fn dataset_stats(dataset: &Dataset) -> anyhow::Result<DatasetStats> {
    let mut z_counts = [0usize; 256];
    let mut sizes = BTreeMap::<usize, usize>::new();
    let mut labels = BTreeMap::<String, Moments>::new();
    let (mut n_structures, mut n_atoms) = (0, 0);
    for s in dataset.structures() {
        let s = s?;
        n_structures += 1;
        n_atoms += s.n_atoms();
        *sizes.entry(s.n_atoms()).or_default() += 1;
        for &z in &s.numbers {
            z_counts[usize::from(z)] += 1;
        }
        for (name, label) in s.labels {
            let x = match label.value {
                LabelValue::Float(v) => v,
                LabelValue::Int(v) => v as f64,
                _ => continue,
            };
            let m = labels.entry(name).or_default();
            m.unit = label.unit;
            m.add(x);
        }
    }
    let elements = (0u8..=255)
        .filter(|&z| z_counts[usize::from(z)] > 0)
        .map(|z| (elements::symbol(z).to_owned(), z_counts[usize::from(z)]))
        .collect();
    let size = SizeStats {
        min: sizes.keys().next().copied().unwrap_or(0),
        median: median(&sizes, n_structures),
        mean: if n_structures == 0 {
            f64::NAN
        } else {
            n_atoms as f64 / n_structures as f64
        },
        max: sizes.keys().next_back().copied().unwrap_or(0),
    };
    let labels = labels
        .into_iter()
        .map(|(name, m)| {
            let std = if m.count > 0 {
                (m.m2 / m.count as f64).sqrt()
            } else {
                f64::NAN
            };
            (
                name,
                LabelStats {
                    count: m.count,
                    mean: m.mean,
                    std,
                    min: m.min,
                    max: m.max,
                    unit: m.unit,
                },
            )
        })
        .collect();
    Ok(DatasetStats {
        n_structures,
        n_atoms,
        n_shards: dataset.manifest().shards.len(),
        elements,
        size,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_histograms() {
        let h: BTreeMap<usize, usize> = [(3, 1), (5, 2), (9, 1)].into();
        assert_eq!(median(&h, 4), 5.0);
        let h: BTreeMap<usize, usize> = [(3, 2), (9, 2)].into();
        assert_eq!(median(&h, 4), 6.0);
        let h: BTreeMap<usize, usize> = [(3, 1), (4, 1), (9, 1)].into();
        assert_eq!(median(&h, 3), 4.0);
    }

    #[test]
    fn welford_matches_two_pass() {
        let xs = [1.5, -2.0, 7.25, 3.0, 3.0];
        let mut m = Moments::default();
        xs.iter().for_each(|&x| m.add(x));
        let mean = xs.iter().sum::<f64>() / 5.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 5.0;
        assert!((m.mean - mean).abs() < 1e-12);
        assert!((m.m2 / 5.0 - var).abs() < 1e-12);
        assert_eq!((m.min, m.max), (-2.0, 7.25));
    }
}
