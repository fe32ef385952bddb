//! AdamW, global-norm gradient clipping and an exponential moving average of the weights, on
//! host copies of the parameters.
//!
//! How it works: a module's float parameters are flattened in burn's visiting order into one
//! `Vec<f32>` per parameter ([`flatten`]); the optimiser keeps its moments in `f64` beside them
//! and writes the updated values back with [`unflatten`], which keeps each parameter's
//! `require_grad` flag (frozen parameters stay frozen). Because the whole state is plain
//! vectors indexed by visiting order, a checkpoint is a byte copy and a resumed run continues
//! bit for bit. Gradients are read per parameter ([`gradients`]); a parameter without a
//! gradient (frozen, or unused by the loss) is left unchanged and its moments are not touched.
//! The host round trip costs one download and one upload of the weights per step, small next to
//! the forward and backward passes of the models trained here.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Gradients, Tensor, TensorData};

use crate::nn::params::param_names;

/// Every float parameter of `module` as `f32`, in visiting order.
pub fn flatten<M: Module>(module: &M) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(
                param
                    .val()
                    .into_data()
                    .iter::<f64>()
                    .map(|v| v as f32)
                    .collect(),
            );
        }
    }
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    c.0
}

/// Why flat parameters do not fit a module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlatParamsError {
    /// Different number of parameters or of values in one parameter.
    #[error(
        "parameter {index}: the module needs {expected} values, the saved weights have {got} \
         (a checkpoint of another model config?)"
    )]
    Size {
        /// Parameter index in visiting order.
        index: usize,
        /// Values the module's parameter has.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// Different number of parameters.
    #[error("the module has {expected} parameters, the saved weights {got}")]
    Count {
        /// Parameters of the module.
        expected: usize,
        /// Parameters given.
        got: usize,
    },
    /// Different number of values in all.
    #[error(
        "the module needs {expected} values, the saved weights hold {got} (a file of another \
         model config?)"
    )]
    Total {
        /// Values the module needs.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// A byte string that is not a whole number of `f32`.
    #[error("{0} bytes is not a whole number of little-endian f32")]
    Bytes(usize),
}

/// Values of each float parameter of `module` (visiting order), from the shapes alone.
pub fn param_sizes<M: Module>(module: &M) -> Vec<usize> {
    param_names(module)
        .iter()
        .map(|(_, shape)| shape.iter().product())
        .collect()
}

/// The weights file format of model directories: every value little-endian `f32`, parameters
/// one after the other in visiting order.
#[must_use]
pub fn to_le_bytes(params: &[Vec<f32>]) -> Vec<u8> {
    params
        .iter()
        .flatten()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

/// Reads [`to_le_bytes`]'s format into `module`.
///
/// # Errors
/// [`FlatParamsError::Bytes`] for a length that is not a multiple of 4,
/// [`FlatParamsError::Total`] when the module needs another number of values.
pub fn load_le_bytes<M: Module>(module: M, bytes: &[u8]) -> Result<M, FlatParamsError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(FlatParamsError::Bytes(bytes.len()));
    }
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    unflatten_concat(module, &values)
}

/// [`unflatten`] from all parameters' values concatenated.
///
/// # Errors
/// [`FlatParamsError::Total`] when the module needs another number of values.
pub fn unflatten_concat<M: Module>(module: M, values: &[f32]) -> Result<M, FlatParamsError> {
    let sizes = param_sizes(&module);
    let total: usize = sizes.iter().sum();
    if total != values.len() {
        return Err(FlatParamsError::Total {
            expected: total,
            got: values.len(),
        });
    }
    let mut rest = values;
    let flat: Vec<Vec<f32>> = sizes
        .iter()
        .map(|&n| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head.to_vec()
        })
        .collect();
    unflatten(module, &flat)
}

/// Replaces every float parameter of `module` by `values` (visiting order), keeping each
/// parameter's device, dtype and `require_grad` flag.
///
/// # Errors
/// [`FlatParamsError`] when the sizes differ.
pub fn unflatten<M: Module>(module: M, values: &[Vec<f32>]) -> Result<M, FlatParamsError> {
    struct Load<'a> {
        values: &'a [Vec<f32>],
        at: usize,
        error: Option<FlatParamsError>,
    }
    impl ModuleMapper for Load<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let index = self.at;
            self.at += 1;
            let Some(v) = self.values.get(index) else {
                return param;
            };
            let error = &mut self.error;
            param.map(|t| {
                let n = t.shape().num_elements();
                if v.len() != n {
                    error.get_or_insert(FlatParamsError::Size {
                        index,
                        expected: n,
                        got: v.len(),
                    });
                    return t;
                }
                let new = Tensor::from_data(
                    TensorData::new(v.clone(), t.shape()),
                    (&t.device(), t.dtype()),
                );
                if t.is_require_grad() {
                    new.require_grad()
                } else {
                    new
                }
            })
        }
    }
    let mut l = Load {
        values,
        at: 0,
        error: None,
    };
    let module = module.map(&mut l);
    if let Some(e) = l.error {
        return Err(e);
    }
    if l.at != values.len() {
        return Err(FlatParamsError::Count {
            expected: l.at,
            got: values.len(),
        });
    }
    Ok(module)
}

/// The parameter values of `source` copied into `target`, a module of the same architecture
/// (typically built on another device): weights move between backends through the host,
/// bit for bit, and `target` keeps its own leaves (so gradients reach them). burn's
/// `Module::to_device` is not a substitute: on an autodiff device it records a differentiable
/// copy (the new parameters are not leaves), and parameters not yet materialised are
/// initialised afresh on the new device.
///
/// # Errors
/// [`FlatParamsError`] when the architectures differ.
pub fn copy_params<M: Module>(source: &M, target: M) -> Result<M, FlatParamsError> {
    unflatten(target, &flatten(source))
}

/// The gradient of every float parameter of `module` (visiting order); `None` for parameters
/// without one.
pub fn gradients<M: Module>(module: &M, grads: &Gradients) -> Vec<Option<Vec<f32>>> {
    struct Grads<'a> {
        grads: &'a Gradients,
        out: Vec<Option<Vec<f32>>>,
    }
    impl ModuleVisitor for Grads<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let g = param
                .val()
                .grad(self.grads)
                .map(|g| g.into_data().iter::<f64>().map(|v| v as f32).collect());
            self.out.push(g);
        }
    }
    let mut g = Grads {
        grads,
        out: Vec::new(),
    };
    module.visit(&mut g);
    g.out
}

/// Global L2 norm of all gradients.
#[must_use]
pub fn global_norm(grads: &[Option<Vec<f32>>]) -> f64 {
    grads
        .iter()
        .flatten()
        .flat_map(|g| g.iter())
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
}

/// SCD's weight-decay groups (docs/backbones.md §3.9): no decay for biases, norms, gates' `alpha`,
/// the mask token, embeddings and the scalar head; decay for every other parameter.
#[must_use]
pub fn decays(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    let excluded_suffix = ["bias", "norm", "alpha", "beta", "gamma"]
        .iter()
        .any(|s| last.ends_with(s));
    let excluded_part = [
        "mask_token",
        "prior_model",
        "embedding",
        "_norm",
        "norm.",
        "alpha",
        "scalar_head",
    ]
    .iter()
    .any(|s| name.contains(s));
    !(excluded_suffix || excluded_part)
}

/// Which parameters of `module` get weight decay (visiting order), by [`decays`].
pub fn decay_mask<M: Module>(module: &M) -> Vec<bool> {
    param_names(module).iter().map(|(n, _)| decays(n)).collect()
}

/// AdamW hyper-parameters (Loshchilov & Hutter; decoupled weight decay `w ← w − lr·wd·w`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamW {
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay (applied to the parameters of the decay mask).
    pub weight_decay: f64,
}

impl Default for AdamW {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// AdamW state: the step count and the first and second moments of every parameter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdamWState {
    /// Updates done.
    pub step: u64,
    /// First moments (empty until the parameter's first gradient).
    pub m: Vec<Vec<f64>>,
    /// Second moments.
    pub v: Vec<Vec<f64>>,
}

impl AdamWState {
    /// Zero state for parameters of these sizes.
    #[must_use]
    pub fn new(params: &[Vec<f32>]) -> Self {
        Self {
            step: 0,
            m: params.iter().map(|p| vec![0.0; p.len()]).collect(),
            v: params.iter().map(|p| vec![0.0; p.len()]).collect(),
        }
    }
}

impl AdamW {
    /// One update of `params` with `grads` scaled by `grad_scale` (the clipping factor) at
    /// learning rate `lr`. Parameters without a gradient are left as they are.
    ///
    /// # Panics
    /// Never for consistent inputs; lengths are checked with `debug_assert`.
    pub fn step(
        &self,
        params: &mut [Vec<f32>],
        grads: &[Option<Vec<f32>>],
        decay: &[bool],
        state: &mut AdamWState,
        lr: f64,
        grad_scale: f64,
    ) {
        debug_assert_eq!(params.len(), grads.len());
        state.step += 1;
        let t = i32::try_from(state.step).unwrap_or(i32::MAX);
        let (c1, c2) = (1.0 - self.beta1.powi(t), 1.0 - self.beta2.powi(t));
        for (k, (w, g)) in params.iter_mut().zip(grads).enumerate() {
            let Some(g) = g else { continue };
            let wd = if decay.get(k).copied().unwrap_or(false) {
                self.weight_decay
            } else {
                0.0
            };
            let (m, v) = (&mut state.m[k], &mut state.v[k]);
            for i in 0..w.len() {
                let gi = f64::from(g[i]) * grad_scale;
                m[i] = self.beta1 * m[i] + (1.0 - self.beta1) * gi;
                v[i] = self.beta2 * v[i] + (1.0 - self.beta2) * gi * gi;
                let wi = f64::from(w[i]) * (1.0 - lr * wd);
                w[i] = (wi - lr * (m[i] / c1) / ((v[i] / c2).sqrt() + self.eps)) as f32;
            }
        }
    }
}

/// Clipping factor for a global gradient norm `norm` and a limit `max_norm` (≤ 0: no clipping).
#[must_use]
pub fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    if max_norm > 0.0 && norm > max_norm {
        max_norm / (norm + 1e-6)
    } else {
        1.0
    }
}

/// Exponential moving average of the weights: `ema ← d·ema + (1 − d)·w`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ema {
    /// Decay `d`.
    pub decay: f64,
    /// The averaged weights (visiting order).
    pub values: Vec<Vec<f32>>,
}

impl Ema {
    /// An average starting at `params`.
    #[must_use]
    pub fn new(decay: f64, params: &[Vec<f32>]) -> Self {
        Self {
            decay,
            values: params.to_vec(),
        }
    }

    /// Moves the average towards `params`.
    pub fn update(&mut self, params: &[Vec<f32>]) {
        let d = self.decay;
        for (e, p) in self.values.iter_mut().zip(params) {
            for (a, &b) in e.iter_mut().zip(p) {
                *a = (d * f64::from(*a) + (1.0 - d) * f64::from(b)) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    #[test]
    fn adamw_matches_the_closed_form_first_step() {
        // First step: m̂ = g, v̂ = g², so w ← w(1 − lr·wd) − lr·g/(|g| + ε).
        let opt = AdamW {
            weight_decay: 0.1,
            ..AdamW::default()
        };
        let mut p = vec![vec![1.0f32, -2.0], vec![0.5]];
        let g = vec![Some(vec![0.5f32, -4.0]), None];
        let mut s = AdamWState::new(&p);
        opt.step(&mut p, &g, &[true, true], &mut s, 0.01, 1.0);
        let expect0 = 1.0 * (1.0 - 0.001) - 0.01 * 0.5 / (0.5 + 1e-8);
        let expect1 = -2.0 * (1.0 - 0.001) + 0.01 * 4.0 / (4.0 + 1e-8);
        assert!((f64::from(p[0][0]) - expect0).abs() < 1e-6);
        assert!((f64::from(p[0][1]) - expect1).abs() < 1e-6);
        assert_eq!(p[1], vec![0.5], "no gradient: unchanged");
        assert_eq!(s.step, 1);
    }

    #[test]
    fn adamw_minimises_a_quadratic() {
        let opt = AdamW::default();
        let mut p = vec![vec![3.0f32, -1.5]];
        let mut s = AdamWState::new(&p);
        for _ in 0..2000 {
            let g = vec![Some(p[0].iter().map(|w| 2.0 * w).collect())];
            opt.step(&mut p, &g, &[false], &mut s, 0.01, 1.0);
        }
        assert!(p[0].iter().all(|w| w.abs() < 1e-2), "{p:?}");
    }

    #[test]
    fn clipping_and_norms() {
        let g = vec![Some(vec![3.0f32]), None, Some(vec![4.0f32])];
        assert!((global_norm(&g) - 5.0).abs() < 1e-12);
        assert!((clip_factor(5.0, 1.0) - 0.2).abs() < 1e-6);
        assert_eq!(clip_factor(0.5, 1.0), 1.0);
        assert_eq!(clip_factor(50.0, 0.0), 1.0);
    }

    #[test]
    fn ema_averages() {
        let mut e = Ema::new(0.9, &[vec![0.0f32]]);
        e.update(&[vec![1.0]]);
        e.update(&[vec![1.0]]);
        assert!((e.values[0][0] - 0.19).abs() < 1e-6);
    }

    #[test]
    fn decay_groups_follow_scd() {
        assert!(decays("backbone.layers.0.attention.q_proj.weight"));
        assert!(!decays("backbone.layers.0.attention.q_proj.bias"));
        assert!(!decays("backbone.embedding"));
        assert!(!decays("backbone.neighbor_embedding.embedding"));
        assert!(!decays("backbone.drop_cond.mask_token"));
        assert!(!decays("backbone.layers.1.x_post_norm.gamma"));
        assert!(!decays("backbone.layers.1.conditional_ln.alpha_gate"));
        assert!(!decays("scalar_head.blocks.0.vec1_proj.weight"));
    }

    #[test]
    fn flatten_unflatten_round_trip_keeps_trainability() {
        let (_serial, device) = crate::testing::serial_autodiff(&crate::testing::cpu_device());
        let lin: Linear = LinearConfig::new(3, 2).init(&device);
        let flat = flatten(&lin);
        assert_eq!(flat.iter().map(Vec::len).sum::<usize>(), 8);
        let shifted: Vec<Vec<f32>> = flat
            .iter()
            .map(|p| p.iter().map(|v| v + 1.0).collect())
            .collect();
        let lin = unflatten(lin, &shifted).unwrap();
        assert_eq!(flatten(&lin), shifted);
        assert!(lin.weight.val().is_require_grad());
        let too_short = vec![shifted[0].clone()];
        assert!(matches!(
            unflatten(lin.clone(), &too_short),
            Err(FlatParamsError::Count { .. })
        ));
        let wrong = vec![vec![0.0; 5], shifted[1].clone()];
        assert!(matches!(
            unflatten(lin, &wrong),
            Err(FlatParamsError::Size { index: 0, .. })
        ));
    }

    #[test]
    fn le_bytes_round_trip_and_size_errors() {
        let device = crate::testing::cpu_device();
        let lin: Linear = LinearConfig::new(3, 2).init(&device);
        assert_eq!(param_sizes(&lin), vec![6, 2]);
        let bytes = to_le_bytes(&flatten(&lin));
        assert_eq!(bytes.len(), 32);
        let other: Linear = LinearConfig::new(3, 2).init(&device);
        let loaded = load_le_bytes(other, &bytes).unwrap();
        assert_eq!(flatten(&loaded), flatten(&lin));
        assert!(matches!(
            load_le_bytes(lin.clone(), &bytes[..31]),
            Err(FlatParamsError::Bytes(31))
        ));
        assert!(matches!(
            load_le_bytes(lin, &bytes[..28]),
            Err(FlatParamsError::Total {
                expected: 8,
                got: 7
            })
        ));
    }

    #[test]
    fn gradients_reach_the_host() {
        let (_serial, device) = crate::objective::serial_autodiff_device();
        let lin: Linear = LinearConfig::new(2, 1).init(&device);
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0], [1, 2]), &device);
        let loss = lin.forward(x).sum();
        let g = gradients(&lin, &loss.backward());
        // d(sum(xW + b))/dW = xᵀ, /db = 1.
        assert_eq!(g[0].as_deref(), Some(&[1.0f32, 2.0][..]));
        assert_eq!(g[1].as_deref(), Some(&[1.0f32][..]));
    }
}
