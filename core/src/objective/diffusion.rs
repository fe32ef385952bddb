//! EDM's `polynomial_2` noise schedule and the ancestral-sampler coefficients UniGEM uses
//! (docs/objectives.md §5.1, §5.3), in f64, independent of any tensor backend.
//!
//! How it works: `α̃²(t) = (1 − (t/T)²)²` for integer `t = 0..=T`; consecutive ratios
//! `α̃²_k / α̃²_{k−1}` are clipped to `[0.001, 1]` and re-accumulated (this only touches the last
//! step), then squeezed away from 0 and 1 for precision: `α² = (1 − 2s) α̃² + s`, `s = 1e-5`;
//! `σ² = 1 − α²`; `γ = −log(α² / σ²)`. The sampler's transition from `t` to `s < t` uses
//! `σ²_{t|s} = −expm1(softplus(γ_s) − softplus(γ_t))`, computed this way for stability.

/// Number of diffusion steps of EDM / UniGEM.
pub const DEFAULT_STEPS: usize = 1000;
/// Precision offset `s` of `polynomial_2`.
pub const PRECISION: f64 = 1e-5;

/// The schedule as lookup tables over integer times `0..=T`.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseSchedule {
    /// `γ(t) = −log(α²/σ²)` for `t = 0..=T`.
    gamma: Vec<f64>,
}

fn softplus(x: f64) -> f64 {
    // log(1 + e^x) without overflow.
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Sampler coefficients for one ancestral step `t → s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// `x_t` is divided by this (`α_{t|s} = α_t / α_s`).
    pub alpha_ts: f64,
    /// Coefficient of the predicted noise in the mean: `σ²_{t|s} / (α_{t|s} σ_t)`.
    pub eps_coef: f64,
    /// Standard deviation of the added noise: `σ_{t|s} σ_s / σ_t`.
    pub sigma_step: f64,
}

impl NoiseSchedule {
    /// EDM's `polynomial_2` schedule with `steps` = T.
    #[must_use]
    pub fn polynomial2(steps: usize) -> Self {
        let t_max = steps.max(1) as f64;
        let raw: Vec<f64> = (0..=steps)
            .map(|t| {
                let x = t as f64 / t_max;
                (1.0 - x * x).powi(2)
            })
            .collect();
        // Clip consecutive ratios and re-accumulate (EDM `clip_noise_schedule`, with the leading
        // 1 prepended so the first ratio is α̃²_0 / 1).
        let mut clipped = Vec::with_capacity(raw.len());
        let mut prev_raw = 1.0;
        let mut acc = 1.0;
        for &a in &raw {
            let ratio = (a / prev_raw).clamp(0.001, 1.0);
            acc *= ratio;
            clipped.push(acc);
            prev_raw = a;
        }
        let gamma = clipped
            .iter()
            .map(|&a2| {
                let alpha2 = (1.0 - 2.0 * PRECISION) * a2 + PRECISION;
                let sigma2 = 1.0 - alpha2;
                -(alpha2.ln() - sigma2.ln())
            })
            .collect();
        Self { gamma }
    }

    /// T, the number of steps.
    #[must_use]
    pub fn steps(&self) -> usize {
        self.gamma.len() - 1
    }

    /// `γ` at integer time `t` (clamped to `0..=T`).
    #[must_use]
    pub fn gamma(&self, t: usize) -> f64 {
        self.gamma[t.min(self.steps())]
    }

    /// `γ` at continuous time `t ∈ [0, 1]`, looked up at `round(t·T)` as EDM does.
    #[must_use]
    pub fn gamma_at(&self, t: f64) -> f64 {
        let k = (t.clamp(0.0, 1.0) * self.steps() as f64).round() as usize;
        self.gamma(k)
    }

    /// `α_t = sqrt(sigmoid(−γ))`.
    #[must_use]
    pub fn alpha(&self, t: usize) -> f64 {
        sigmoid(-self.gamma(t)).sqrt()
    }

    /// `σ_t = sqrt(sigmoid(γ))`.
    #[must_use]
    pub fn sigma(&self, t: usize) -> f64 {
        sigmoid(self.gamma(t)).sqrt()
    }

    /// Coefficients of the ancestral step from `t` to `s = t − 1` (or any `s < t`).
    #[must_use]
    pub fn transition(&self, t: usize, s: usize) -> Transition {
        let (gt, gs) = (self.gamma(t), self.gamma(s));
        let sigma2_ts = -(softplus(gs) - softplus(gt)).exp_m1();
        let log_alpha2_t = -softplus(gt);
        let log_alpha2_s = -softplus(gs);
        let alpha_ts = (0.5 * (log_alpha2_t - log_alpha2_s)).exp();
        let (sigma_t, sigma_s) = (self.sigma(t), self.sigma(s));
        Transition {
            alpha_ts,
            eps_coef: sigma2_ts / (alpha_ts * sigma_t),
            sigma_step: sigma2_ts.sqrt() * sigma_s / sigma_t,
        }
    }
}

/// Subtract each molecule's centre of mass (unweighted mean) from `values` in place;
/// `batch[i]` is the molecule of row `i`.
pub fn remove_com(values: &mut [[f64; 3]], batch: &[usize]) {
    let n_mol = batch.iter().copied().max().map_or(0, |m| m + 1);
    let mut sum = vec![[0.0; 3]; n_mol];
    let mut count = vec![0usize; n_mol];
    for (v, &b) in values.iter().zip(batch) {
        for k in 0..3 {
            sum[b][k] += v[k];
        }
        count[b] += 1;
    }
    for (v, &b) in values.iter_mut().zip(batch) {
        let c = count[b].max(1) as f64;
        for k in 0..3 {
            v[k] -= sum[b][k] / c;
        }
    }
}

/// Diffuse CoM-free coordinates: `x_t = α_t x + σ_t ε` per molecule, `t[b]` its integer time
/// and `eps` CoM-free noise (see [`remove_com`]).
#[must_use]
pub fn diffuse(
    schedule: &NoiseSchedule,
    x: &[[f64; 3]],
    eps: &[[f64; 3]],
    batch: &[usize],
    t: &[usize],
) -> Vec<[f64; 3]> {
    x.iter()
        .zip(eps)
        .zip(batch)
        .map(|((x, e), &b)| {
            let (a, s) = (schedule.alpha(t[b]), schedule.sigma(t[b]));
            std::array::from_fn(|k| a * x[k] + s * e[k])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial2_matches_the_reference_values() {
        let s = NoiseSchedule::polynomial2(DEFAULT_STEPS);
        // docs/objectives.md §5.1 reference values.
        let close = |a: f64, b: f64, tol: f64| assert!((a - b).abs() <= tol, "{a} vs {b}");
        close(s.alpha(0), 0.999995, 1e-6);
        close(s.sigma(0), 0.00316, 1e-5);
        close(s.sigma(10), 0.01449, 1e-4);
        close(s.sigma(20), 0.0285, 1e-4);
        close(s.sigma(28), 0.040, 1e-3);
        close(s.sigma(50), 0.0707, 1e-4);
        close(s.sigma(100), 0.1411, 1e-4);
        close(s.alpha(500), 0.75, 1e-4);
        close(s.sigma(500), 0.661, 1e-3);
        close(s.alpha(900), 0.190, 1e-3);
        close(s.alpha(1000), 0.00316, 1e-5);
        close(s.sigma(1000), 1.0, 1e-4);
        for t in 0..=1000 {
            close(s.alpha(t).powi(2) + s.sigma(t).powi(2), 1.0, 1e-12);
            if t > 0 {
                assert!(s.sigma(t) > s.sigma(t - 1), "σ must increase at t = {t}");
            }
        }
        close(s.gamma_at(0.5), s.gamma(500), 0.0);
    }

    #[test]
    fn transitions_compose_the_marginals() {
        let s = NoiseSchedule::polynomial2(DEFAULT_STEPS);
        for &(t, r) in &[(1, 0), (11, 10), (500, 499), (1000, 999), (700, 300)] {
            let tr = s.transition(t, r);
            let close =
                |a: f64, b: f64| assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
            close(tr.alpha_ts, s.alpha(t) / s.alpha(r));
            // σ²_{t|s} = σ_t² − α_{t|s}² σ_s² (the variance-preserving composition).
            let direct = s.sigma(t).powi(2) - tr.alpha_ts.powi(2) * s.sigma(r).powi(2);
            close(tr.eps_coef, direct / (tr.alpha_ts * s.sigma(t)));
            close(tr.sigma_step, direct.sqrt() * s.sigma(r) / s.sigma(t));
        }
    }

    #[test]
    fn noise_without_centre_of_mass_stays_centred_after_diffusion() {
        let s = NoiseSchedule::polynomial2(DEFAULT_STEPS);
        let batch = [0, 0, 0, 1, 1];
        let mut x = vec![
            [1.0, 0.0, 0.0],
            [0.0, 2.0, 0.0],
            [0.0, 0.0, 3.0],
            [1.0, 1.0, 1.0],
            [-2.0, 0.5, 0.0],
        ];
        let mut eps = vec![
            [0.3, -0.1, 0.2],
            [-0.5, 0.4, 0.1],
            [0.9, 0.0, -0.7],
            [0.2, 0.2, 0.2],
            [-0.1, 0.6, 0.3],
        ];
        remove_com(&mut x, &batch);
        remove_com(&mut eps, &batch);
        let xt = diffuse(&s, &x, &eps, &batch, &[10, 600]);
        for m in 0..2 {
            for k in 0..3 {
                let c: f64 = xt
                    .iter()
                    .zip(&batch)
                    .filter(|(_, b)| **b == m)
                    .map(|(v, _)| v[k])
                    .sum();
                assert!(c.abs() < 1e-12, "molecule {m} axis {k}: {c}");
            }
        }
        // Molecule 0 at t = 10 barely moves; molecule 1 at t = 600 is mostly noise.
        assert!((xt[0][0] - x[0][0]).abs() < 0.02);
        assert!((xt[3][0] - x[3][0]).abs() > 0.1);
    }
}
