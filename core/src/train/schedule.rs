//! Learning-rate schedule, noise normaliser and adaptive gradient clipping.

/// SCD's schedule (docs/objectives.md §0.2): linear warm-up `lr = min(1, (s+1)/W)·lr_peak` for
/// `s < W`, then the closed form of its recursive cosine annealing,
/// `lr(s) = lr_peak (1 + cos(π s / T)) / (1 + cos(π W / T))`, reaching 0 at `s = T`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarmupCosine {
    /// Peak learning rate.
    pub peak: f64,
    /// Warm-up steps `W`.
    pub warmup: u64,
    /// Cosine period `T` (total steps).
    pub total: u64,
}

impl WarmupCosine {
    /// Learning rate at step `s` (0-based).
    #[must_use]
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup {
            return self.peak * ((step + 1) as f64 / self.warmup as f64).min(1.0);
        }
        if self.total == 0 || step >= self.total {
            return 0.0;
        }
        let t = self.total as f64;
        let c = |s: f64| 1.0 + (std::f64::consts::PI * s / t).cos();
        let denom = c(self.warmup as f64);
        if denom <= 0.0 {
            return 0.0;
        }
        self.peak * c(step as f64) / denom
    }
}

/// SCD's running normaliser of the noise targets (docs/objectives.md §0.1): per-axis sums of values
/// and squares over every atom seen, updated before each batch is normalised; part of the
/// checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NoiseNormalizer {
    /// Σ u per axis.
    pub sum: [f64; 3],
    /// Σ u² per axis.
    pub sum_sq: [f64; 3],
    /// Number of atoms seen.
    pub count: u64,
}

impl NoiseNormalizer {
    /// Add a batch of per-atom noise vectors.
    pub fn update(&mut self, values: &[[f64; 3]]) {
        for v in values {
            for ((sum, sum_sq), x) in self.sum.iter_mut().zip(&mut self.sum_sq).zip(v) {
                *sum += x;
                *sum_sq += x * x;
            }
        }
        self.count += values.len() as u64;
    }

    /// Per-axis mean.
    #[must_use]
    pub fn mean(&self) -> [f64; 3] {
        let n = self.count.max(1) as f64;
        self.sum.map(|s| s / n)
    }

    /// Per-axis standard deviation, floored at 1e-8 as in SCD.
    #[must_use]
    pub fn std(&self) -> [f64; 3] {
        let n = self.count.max(1) as f64;
        let mean = self.mean();
        std::array::from_fn(|k| {
            (self.sum_sq[k] / n - mean[k] * mean[k])
                .max(1e-8)
                .sqrt()
                .max(1e-8)
        })
    }

    /// `(u − mean) / (std + 1e-8)`.
    #[must_use]
    pub fn normalize(&self, u: [f64; 3]) -> [f64; 3] {
        let (m, s) = (self.mean(), self.std());
        std::array::from_fn(|k| (u[k] - m[k]) / (s[k] + 1e-8))
    }

    /// Inverse of [`Self::normalize`].
    #[must_use]
    pub fn denormalize(&self, u: [f64; 3]) -> [f64; 3] {
        let (m, s) = (self.mean(), self.std());
        std::array::from_fn(|k| u[k] * (s[k] + 1e-8) + m[k])
    }
}

/// EDM / UniGEM adaptive gradient clipping (docs/objectives.md §5.6): the limit is
/// `1.5·mean + 2·std` of the last 50 recorded norms (the queue starts with one value, 3000).
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveClip {
    queue: std::collections::VecDeque<f64>,
}

impl Default for AdaptiveClip {
    fn default() -> Self {
        Self {
            queue: std::collections::VecDeque::from([3000.0]),
        }
    }
}

impl AdaptiveClip {
    /// Queue length of EDM.
    pub const LEN: usize = 50;

    /// The recorded (clipped) gradient norms, oldest first: the state a checkpoint keeps.
    pub fn history(&self) -> Vec<f64> {
        self.queue.iter().copied().collect()
    }

    /// The state [`Self::history`] returned (the last [`Self::LEN`] values); EDM's initial
    /// queue when `history` is empty.
    pub fn from_history(history: &[f64]) -> Self {
        if history.is_empty() {
            return Self::default();
        }
        let keep = history.len().saturating_sub(Self::LEN);
        Self {
            queue: history[keep..].iter().copied().collect(),
        }
    }

    /// The current clipping limit.
    #[must_use]
    pub fn max_norm(&self) -> f64 {
        let n = self.queue.len() as f64;
        let mean = self.queue.iter().sum::<f64>() / n;
        // numpy's std (population).
        let var = self.queue.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        1.5 * mean + 2.0 * var.sqrt()
    }

    /// Record a step's gradient norm; returns the factor (≤ 1) to scale the gradients by.
    pub fn observe(&mut self, norm: f64) -> f64 {
        let limit = self.max_norm();
        self.queue.push_back(norm.min(limit));
        if self.queue.len() > Self::LEN {
            self.queue.pop_front();
        }
        if norm > limit && norm > 0.0 {
            limit / norm
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_to_zero() {
        let s = WarmupCosine {
            peak: 1e-3,
            warmup: 10,
            total: 110,
        };
        assert!((s.lr(0) - 1e-4).abs() < 1e-15);
        assert!((s.lr(9) - 1e-3).abs() < 1e-15);
        assert!((s.lr(10) - 1e-3).abs() < 1e-15);
        assert!(s.lr(60) < 1e-3 && s.lr(60) > s.lr(100));
        // Halfway through the cosine period the factor is (1 + cos(π/2)) / (1 + cos(π·10/110)).
        let expected = 1e-3 / (1.0 + (std::f64::consts::PI * 10.0 / 110.0).cos());
        assert!((s.lr(55) - expected).abs() < 1e-15);
        assert_eq!(s.lr(110), 0.0);
    }

    #[test]
    fn normalizer_learns_mean_and_std() {
        let mut n = NoiseNormalizer::default();
        n.update(&[[1.0, 0.0, -2.0], [3.0, 0.0, 2.0]]);
        assert_eq!(n.mean(), [2.0, 0.0, 0.0]);
        let std = n.std();
        assert!((std[0] - 1.0).abs() < 1e-12 && (std[2] - 2.0).abs() < 1e-12);
        assert!(
            (std[1] - 1e-4).abs() < 1e-12,
            "floored variance: {}",
            std[1]
        );
        let u = [2.5, 0.3, -1.0];
        let back = n.denormalize(n.normalize(u));
        for k in 0..3 {
            assert!((back[k] - u[k]).abs() < 1e-12);
        }
    }

    #[test]
    fn adaptive_clipping_follows_recent_norms() {
        let mut c = AdaptiveClip::default();
        assert!((c.max_norm() - 4500.0).abs() < 1e-9);
        assert_eq!(c.observe(10.0), 1.0);
        for _ in 0..60 {
            c.observe(10.0);
        }
        // The queue now holds only 10s: limit 15, a norm of 30 is halved.
        assert!((c.max_norm() - 15.0).abs() < 1e-9);
        assert!((c.observe(30.0) - 0.5).abs() < 1e-12);
    }
}
