//! The training engine: one optimiser step for any model and any objective, resident on the
//! device — backward pass, global gradient norm, clipping (a fixed limit or EDM's adaptive
//! one), AdamW with per-parameter weight-decay groups, the EMA of the weights and the
//! non-finite guard, with no host round trip.
//!
//! How it works: the engine keeps every float parameter of the model concatenated in visiting
//! order in one flat device tensor `w`, beside AdamW's moments `m`, `v`, the EMA and a flat
//! weight-decay vector; after each step the model's parameters are set to slices of `w`
//! (leaves again, with their `require_grad` flags). An objective hands over a [`Losses`]: the
//! differentiable total and a tensor of figures to log. On a step that logs, the caller asks
//! for [`Engine::figures`], which reads those figures, the gradient norm, the clipping factor
//! and the non-finite record in one transfer; other steps read nothing. A step whose loss or
//! gradients are not finite is recorded on the device (first such step, its figures, the
//! parameters with non-finite gradients); the caller sees it at the next read and stops.
//! [`Engine::state`] reads everything a checkpoint needs in one transaction and
//! [`Engine::restore`] puts it back bit for bit, so a resumed run continues exactly.
//!
//! Why not burn's optimisers: burn 0.22 clips each parameter's gradient separately (SCD and EDM
//! clip the global norm), has no EMA and no adaptive clipping, and updates parameter by
//! parameter (hundreds of small kernels per step where this engine runs a handful of large
//! ones). The host AdamW of `optim.rs` is the golden reference the tests compare against.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Bool, DType, Device, Tensor, TensorData};

use super::optim::{AdamW, decays};
use super::transfer;
use crate::nn::params::param_names;

/// How gradients are clipped before the optimiser step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clipping {
    /// No clipping.
    None,
    /// Scale the gradients by `max / (norm + 1e-6)` when their global norm exceeds `max`.
    Norm(f64),
    /// EDM's adaptive clipping (docs/objectives.md §5.6): the limit is `1.5·mean + 2·std` of the
    /// last 50 recorded norms.
    Adaptive,
}

/// What the engine does each step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineConfig {
    /// AdamW's hyper-parameters.
    pub adamw: AdamW,
    /// Gradient clipping.
    pub clipping: Clipping,
    /// EMA decay of the weights (0: no EMA).
    pub ema_decay: f64,
    /// Weight decay only for the parameters [`decays`] selects (SCD's groups); otherwise for all.
    pub decay_groups: bool,
}

/// A loss and the figures an objective logs with it.
#[derive(Debug, Clone)]
pub struct Losses {
    /// The differentiable total, shape `[1]`.
    pub total: Tensor<1>,
    /// Figures to log (detached), shape `[k]`; their names are the objective's.
    pub figures: Tensor<1>,
}

/// The figures of the last step, read in one transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct StepFigures {
    /// The total loss.
    pub loss: f64,
    /// The objective's figures.
    pub figures: Vec<f64>,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Factor the gradients were scaled by.
    pub clip_factor: f64,
    /// Steps clipped (factor < 1) since the engine was created.
    pub clipped: u64,
    /// The first step (1-based) whose loss or gradients were not finite, if any.
    pub non_finite: Option<NonFinite>,
}

/// The first non-finite step the engine recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct NonFinite {
    /// Step number (1-based, the engine's step count after it).
    pub step: u64,
    /// Its total loss.
    pub loss: f64,
    /// Its gradient norm.
    pub grad_norm: f64,
    /// Its objective figures.
    pub figures: Vec<f64>,
    /// Indices (visiting order) of the parameters whose gradients were not finite.
    pub params: Vec<usize>,
}

/// Everything a checkpoint holds of the engine (host copies).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineState {
    /// Steps done.
    pub step: u64,
    /// AdamW updates done (its bias correction); equals `step` unless the run continued the
    /// step count of an earlier model with a fresh optimiser.
    pub adam_step: u64,
    /// All parameters, concatenated in visiting order.
    pub params: Vec<f32>,
    /// AdamW's first moments (same layout).
    pub m: Vec<f32>,
    /// Second moments.
    pub v: Vec<f32>,
    /// EMA weights, with an EMA.
    pub ema: Option<Vec<f32>>,
    /// Adaptive clipping: the recorded norms, oldest first (empty without it).
    pub clip_history: Vec<f64>,
}

/// Why a state does not fit the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The device failed before the figures could be read.
    #[error("reading the step's figures from the device: {0}")]
    Read(String),
    /// Another number of values.
    #[error(
        "the model has {expected} parameter values, the saved state {got} (another model config?)"
    )]
    Size {
        /// Values the model has.
        expected: usize,
        /// Values in the state.
        got: usize,
    },
    /// EMA present in one and not the other.
    #[error("the run {} an EMA of the weights and the saved state {}", if *.expected { "keeps" } else { "keeps no" }, if *.expected { "has none" } else { "has one" })]
    Ema {
        /// Whether the engine keeps an EMA.
        expected: bool,
    },
}

/// Adaptive clipping history length (EDM).
const CLIP_LEN: usize = 50;
/// EDM's initial queue.
const CLIP_START: f64 = 3000.0;

/// The training engine of one model (see the module documentation).
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    device: Device,
    dtype: DType,
    /// `(offset, length, shape)` of each float parameter.
    layout: Vec<(usize, usize, Vec<usize>)>,
    total: usize,
    w: Tensor<1>,
    m: Tensor<1>,
    v: Tensor<1>,
    ema: Option<Tensor<1>>,
    /// Weight decay of every value (`wd` or 0).
    wd: Tensor<1>,
    step: u64,
    adam_step: u64,
    /// Steps clipped since creation, `[1]`.
    clipped: Tensor<1>,
    clip_queue: Tensor<1>,
    clip_len: usize,
    /// `[first bad step, its loss, its norm]`, step −1 while none.
    bad: Tensor<1>,
    bad_figures: Option<Tensor<1>>,
    /// 1 for each parameter with non-finite gradients at the first bad step.
    bad_params: Tensor<1>,
    /// Masks of the values with gradients, per pattern of parameters with gradients.
    masks: HashMap<Vec<bool>, Tensor<1>>,
    /// The last step's `[loss, norm, factor, clipped, figures…]`.
    last: Option<Tensor<1>>,
}

struct Collect {
    values: Vec<Tensor<1>>,
    shapes: Vec<Vec<usize>>,
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val().inner();
        let shape = t.dims().to_vec();
        let n: usize = shape.iter().product();
        self.values.push(t.reshape([n]));
        self.shapes.push(shape);
    }
}

/// Sets every float parameter to its slice of a flat tensor.
struct Assign<'a> {
    flat: &'a Tensor<1>,
    layout: &'a [(usize, usize, Vec<usize>)],
    at: usize,
    /// Make the new values leaves that require gradients where the old ones did.
    train: bool,
}

impl ModuleMapper for Assign<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (offset, len, shape) = &self.layout[self.at];
        self.at += 1;
        let (flat, train) = (self.flat, self.train);
        param.map(|old| {
            let dims: [usize; D] = std::array::from_fn(|k| shape[k]);
            let new = flat.clone().slice(*offset..offset + len).reshape(dims);
            if !old.is_autodiff() {
                return new;
            }
            let new = Tensor::from_inner(new);
            if train && old.is_require_grad() {
                new.require_grad()
            } else {
                new
            }
        })
    }
}

struct Grads<'a> {
    grads: &'a burn::tensor::Gradients,
    out: Vec<Option<Tensor<1>>>,
}

impl ModuleVisitor for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = param.val().grad(self.grads).map(|g| {
            let n = g.shape().num_elements();
            g.reshape([n])
        });
        self.out.push(g);
    }
}

fn scalar(v: f64, device: &Device, dtype: DType) -> Tensor<1> {
    Tensor::<1>::full([1], v, (device, dtype))
}

fn host(d: &TensorData) -> Vec<f64> {
    d.iter::<f64>().collect()
}

impl Engine {
    /// An engine for `model`'s current weights: zero moments, the EMA at the weights, nothing
    /// read or uploaded.
    ///
    /// # Panics
    /// For a model without float parameters.
    pub fn new<M: Module>(model: &M, config: EngineConfig) -> Self {
        let mut c = Collect {
            values: Vec::new(),
            shapes: Vec::new(),
        };
        model.visit(&mut c);
        assert!(!c.values.is_empty(), "a model without parameters");
        let w = Tensor::cat(c.values, 0);
        let device = w.device();
        let dtype = w.dtype();
        let mut layout = Vec::with_capacity(c.shapes.len());
        let mut offset = 0;
        for shape in c.shapes {
            let n: usize = shape.iter().product();
            layout.push((offset, n, shape));
            offset += n;
        }
        let names = param_names(model);
        // The weight-decay vector is built from constants on the device, one fill per group.
        let wd = config.adamw.weight_decay;
        let parts: Vec<Tensor<1>> = layout
            .iter()
            .zip(&names)
            .map(|((_, n, _), (name, _))| {
                let v = if !config.decay_groups || decays(name) {
                    wd
                } else {
                    0.0
                };
                Tensor::<1>::full([*n], v, (&device, dtype))
            })
            .collect();
        let wd = Tensor::cat(parts, 0);
        let zeros = Tensor::<1>::zeros([offset], (&device, dtype));
        let n_params = layout.len();
        Self {
            config,
            ema: (config.ema_decay > 0.0).then(|| w.clone()),
            m: zeros.clone(),
            v: zeros,
            w,
            wd,
            step: 0,
            adam_step: 0,
            clipped: Tensor::<1>::zeros([1], (&device, dtype)),
            clip_queue: Tensor::<1>::zeros([CLIP_LEN], (&device, dtype))
                .slice_assign(0..1, scalar(CLIP_START, &device, dtype)),
            clip_len: 1,
            bad: Tensor::<1>::full([3], -1.0, (&device, dtype)),
            bad_figures: None,
            bad_params: Tensor::<1>::zeros([n_params], (&device, dtype)),
            masks: HashMap::new(),
            last: None,
            layout,
            total: offset,
            device,
            dtype,
        }
    }

    /// Steps done.
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Continues the step count at `step` (training that goes on from an earlier model with a
    /// fresh optimiser state: AdamW's bias correction starts again).
    pub fn continue_from(&mut self, step: u64) {
        self.step = step;
    }

    /// Number of parameter values.
    #[must_use]
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether the model has no parameter values (never: [`Engine::new`] refuses).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Values of each float parameter (visiting order).
    #[must_use]
    pub fn sizes(&self) -> Vec<usize> {
        self.layout.iter().map(|(_, n, _)| *n).collect()
    }

    /// Whether the engine keeps an EMA.
    #[must_use]
    pub fn has_ema(&self) -> bool {
        self.ema.is_some()
    }

    fn mask(&mut self, present: &[bool]) -> Option<Tensor<1>> {
        if present.iter().all(|&p| p) {
            return None;
        }
        let (device, dtype) = (&self.device, self.dtype);
        let layout = &self.layout;
        Some(
            self.masks
                .entry(present.to_vec())
                .or_insert_with(|| {
                    let parts: Vec<Tensor<1>> = layout
                        .iter()
                        .zip(present)
                        .map(|((_, n, _), &p)| {
                            Tensor::<1>::full([*n], f64::from(u8::from(p)), (device, dtype))
                        })
                        .collect();
                    Tensor::cat(parts, 0)
                })
                .clone(),
        )
    }

    /// The clipping factor `[1]` for the global norm `norm` `[1]`.
    fn clip(&mut self, norm: &Tensor<1>) -> Tensor<1> {
        let one = scalar(1.0, &self.device, self.dtype);
        match self.config.clipping {
            Clipping::None => one,
            Clipping::Norm(max) => {
                let over = norm.clone().greater_elem(max);
                one.mask_where(over, norm.clone().add_scalar(1e-6).recip().mul_scalar(max))
            }
            Clipping::Adaptive => {
                let n = self.clip_len;
                let q = self.clip_queue.clone().slice(0..n);
                let mean = q.clone().sum().div_scalar(n as f64);
                let var = (q - mean.clone()).square().sum().div_scalar(n as f64);
                let limit = mean.mul_scalar(1.5) + var.sqrt().mul_scalar(2.0);
                let over: Tensor<1, Bool> = norm
                    .clone()
                    .greater(limit.clone())
                    .bool_and(norm.clone().greater_elem(0.0));
                let factor = one.mask_where(over, limit.clone().div(norm.clone()));
                let recorded = norm.clone().min_pair(limit);
                if n < CLIP_LEN {
                    self.clip_queue = self.clip_queue.clone().slice_assign(n..n + 1, recorded);
                    self.clip_len += 1;
                } else {
                    self.clip_queue = Tensor::cat(
                        vec![self.clip_queue.clone().slice(1..CLIP_LEN), recorded],
                        0,
                    );
                }
                factor
            }
        }
    }

    /// One optimiser step: backward pass of `losses.total`, clipping, AdamW at learning rate
    /// `lr`, EMA; returns the model with its new weights. Reads nothing back.
    pub fn step<M: Module>(&mut self, model: M, losses: &Losses, lr: f64) -> M {
        let grads = losses.total.backward();
        let mut g = Grads {
            grads: &grads,
            out: Vec::with_capacity(self.layout.len()),
        };
        model.visit(&mut g);
        let present: Vec<bool> = g.out.iter().map(Option::is_some).collect();
        let (device, dtype) = (self.device.clone(), self.dtype);
        let mut sq = Vec::with_capacity(g.out.len());
        let mut flat = Vec::with_capacity(g.out.len());
        for (gi, (_, n, _)) in g.out.into_iter().zip(&self.layout) {
            match gi {
                Some(gi) => {
                    sq.push(gi.clone().square().sum());
                    flat.push(gi);
                }
                None => {
                    sq.push(Tensor::<1>::zeros([1], (&device, dtype)));
                    flat.push(Tensor::<1>::zeros([*n], (&device, dtype)));
                }
            }
        }
        let sq = Tensor::cat(sq, 0); // [P]
        let g = Tensor::cat(flat, 0); // [N]
        let norm = sq.clone().sum().sqrt(); // [1]
        let loss = losses.total.clone().detach().inner();
        let figures = losses.figures.clone().detach().inner();
        let factor = self.clip(&norm);

        // The non-finite record: kept from the first bad step on.
        self.step += 1;
        let ok = norm.clone().is_finite().bool_and(loss.clone().is_finite());
        let first = self
            .bad
            .clone()
            .slice(0..1)
            .lower_elem(0.0)
            .bool_and(ok.bool_not());
        let record = Tensor::cat(
            vec![
                scalar(self.step as f64, &device, dtype),
                loss.clone(),
                norm.clone(),
            ],
            0,
        );
        self.bad = self
            .bad
            .clone()
            .mask_where(first.clone().expand([3]), record);
        let k = figures.dims()[0];
        let old_figures = self
            .bad_figures
            .take()
            .unwrap_or_else(|| Tensor::<1>::zeros([k], (&device, dtype)));
        self.bad_figures = Some(old_figures.mask_where(first.clone().expand([k]), figures.clone()));
        let p = self.layout.len();
        self.bad_params = self
            .bad_params
            .clone()
            .mask_where(first.expand([p]), sq.is_finite().bool_not().float());

        // AdamW (decoupled decay) on the flat tensors; values without a gradient stay as they
        // are, moments included.
        let a = self.config.adamw;
        self.adam_step += 1;
        let t = i32::try_from(self.adam_step).unwrap_or(i32::MAX);
        let (c1, c2) = (1.0 - a.beta1.powi(t), 1.0 - a.beta2.powi(t));
        let g = if matches!(self.config.clipping, Clipping::None) {
            g
        } else {
            g * factor.clone()
        };
        let mask = self.mask(&present);
        let dm = (g.clone() - self.m.clone()).mul_scalar(1.0 - a.beta1);
        let dv = (g.square() - self.v.clone()).mul_scalar(1.0 - a.beta2);
        let (dm, dv) = match &mask {
            Some(h) => (dm * h.clone(), dv * h.clone()),
            None => (dm, dv),
        };
        self.m = self.m.clone() + dm;
        self.v = self.v.clone() + dv;
        let denom = self.v.clone().div_scalar(c2).sqrt().add_scalar(a.eps);
        let update = self.m.clone().div_scalar(c1) / denom + self.wd.clone() * self.w.clone();
        let update = match &mask {
            Some(h) => update * h.clone(),
            None => update,
        };
        self.w = self.w.clone() - update.mul_scalar(lr);
        if let Some(e) = &self.ema {
            let d = self.config.ema_decay;
            self.ema = Some(e.clone().mul_scalar(d) + self.w.clone().mul_scalar(1.0 - d));
        }
        if !matches!(self.config.clipping, Clipping::None) {
            self.clipped = self.clipped.clone() + factor.clone().lower_elem(1.0).float();
        }
        self.last = Some(Tensor::cat(
            vec![loss, norm, factor, self.clipped.clone(), figures],
            0,
        ));
        self.assign(model, true)
    }

    /// `model` with the engine's weights (`train`: as trainable leaves).
    pub fn assign<M: Module>(&self, model: M, train: bool) -> M {
        let mut a = Assign {
            flat: &self.w,
            layout: &self.layout,
            at: 0,
            train,
        };
        model.map(&mut a)
    }

    /// `model` with the EMA weights (the weights without an EMA), for evaluation and export.
    pub fn averaged<M: Module>(&self, model: M) -> M {
        let mut a = Assign {
            flat: self.ema.as_ref().unwrap_or(&self.w),
            layout: &self.layout,
            at: 0,
            train: false,
        };
        model.map(&mut a)
    }

    /// The tensor [`Engine::figures`] reads: `[loss, norm, factor, clipped, figures…, bad
    /// step, its loss, its norm, its figures…, bad parameters…]`.
    fn figures_tensor(&self) -> Option<(Tensor<1>, usize)> {
        let last = self.last.clone()?;
        let k = last.dims()[0] - 4;
        let bad_figures = self
            .bad_figures
            .clone()
            .unwrap_or_else(|| Tensor::<1>::zeros([k], (&self.device, self.dtype)));
        Some((
            Tensor::cat(
                vec![last, self.bad.clone(), bad_figures, self.bad_params.clone()],
                0,
            ),
            k,
        ))
    }

    fn parse_figures(v: &[f64], k: usize) -> StepFigures {
        let (head, rest) = v.split_at(4 + k);
        let (bad, rest) = rest.split_at(3);
        let (bad_figures, bad_params) = rest.split_at(k);
        let non_finite = (bad[0] >= 0.0).then(|| NonFinite {
            step: bad[0] as u64,
            loss: bad[1],
            grad_norm: bad[2],
            figures: bad_figures.to_vec(),
            params: bad_params
                .iter()
                .enumerate()
                .filter(|(_, b)| **b > 0.5)
                .map(|(i, _)| i)
                .collect(),
        });
        StepFigures {
            loss: head[0],
            grad_norm: head[1],
            clip_factor: head[2],
            clipped: head[3] as u64,
            figures: head[4..].to_vec(),
            non_finite,
        }
    }

    /// The last step's figures and the non-finite record, in one read. `None` before the
    /// first step.
    pub fn figures(&mut self) -> Option<StepFigures> {
        let (t, k) = self.figures_tensor()?;
        Some(Self::parse_figures(&host(&transfer::read(t)), k))
    }

    /// [`Engine::figures`] without blocking (the browser's WebGPU cannot block on a read).
    ///
    /// # Errors
    /// [`EngineError::Read`] when the device failed since its last synchronisation.
    pub async fn figures_async(&mut self) -> Result<Option<StepFigures>, EngineError> {
        let Some((t, k)) = self.figures_tensor() else {
            return Ok(None);
        };
        let data = transfer::read_async(t).await.map_err(EngineError::Read)?;
        Ok(Some(Self::parse_figures(&host(&data), k)))
    }

    fn state_tensors(&self) -> Vec<Tensor<1>> {
        let mut tensors = vec![
            self.w.clone(),
            self.m.clone(),
            self.v.clone(),
            self.clip_queue.clone(),
        ];
        if let Some(e) = &self.ema {
            tensors.push(e.clone());
        }
        tensors
    }

    fn parse_state(&self, data: &[TensorData]) -> EngineState {
        let f32s = |d: &TensorData| d.iter::<f32>().collect::<Vec<f32>>();
        EngineState {
            step: self.step,
            adam_step: self.adam_step,
            params: f32s(&data[0]),
            m: f32s(&data[1]),
            v: f32s(&data[2]),
            ema: data.get(4).map(f32s),
            clip_history: if matches!(self.config.clipping, Clipping::Adaptive) {
                host(&data[3])[..self.clip_len].to_vec()
            } else {
                Vec::new()
            },
        }
    }

    /// Everything a checkpoint needs, read in one transaction.
    pub fn state(&self) -> EngineState {
        self.parse_state(&transfer::read_all(self.state_tensors()))
    }

    /// [`Engine::figures`] and [`Engine::state`] in one transaction (a checkpoint step).
    pub fn figures_and_state(&mut self) -> (Option<StepFigures>, EngineState) {
        let figures = self.figures_tensor();
        let mut tensors = self.state_tensors();
        let n = tensors.len();
        if let Some((t, _)) = &figures {
            tensors.push(t.clone());
        }
        let mut data = transfer::read_all(tensors);
        let f = figures.map(|(_, k)| Self::parse_figures(&host(&data[n]), k));
        data.truncate(n);
        (f, self.parse_state(&data))
    }

    /// Puts a state read by [`Engine::state`] back (one upload per tensor) and returns `model`
    /// with its weights.
    ///
    /// # Errors
    /// [`EngineError`] when `state` belongs to another model or EMA setting.
    pub fn restore<M: Module>(&mut self, model: M, state: &EngineState) -> Result<M, EngineError> {
        for v in [&state.params, &state.m, &state.v] {
            if v.len() != self.total {
                return Err(EngineError::Size {
                    expected: self.total,
                    got: v.len(),
                });
            }
        }
        if state.ema.is_some() != self.ema.is_some() {
            return Err(EngineError::Ema {
                expected: self.ema.is_some(),
            });
        }
        let (device, dtype) = (self.device.clone(), self.dtype);
        let up = |v: &[f32]| -> Tensor<1> {
            transfer::upload(TensorData::new(v.to_vec(), [v.len()]), (&device, dtype))
        };
        self.w = up(&state.params);
        self.m = up(&state.m);
        self.v = up(&state.v);
        if let Some(e) = &state.ema {
            if e.len() != self.total {
                return Err(EngineError::Size {
                    expected: self.total,
                    got: e.len(),
                });
            }
            self.ema = Some(up(e));
        }
        self.step = state.step;
        self.adam_step = state.adam_step;
        if matches!(self.config.clipping, Clipping::Adaptive) && !state.clip_history.is_empty() {
            let keep = state.clip_history.len().saturating_sub(CLIP_LEN);
            let h = &state.clip_history[keep..];
            let mut padded = h.to_vec();
            padded.resize(CLIP_LEN, 0.0);
            self.clip_queue =
                transfer::upload(TensorData::new(padded, [CLIP_LEN]), (&device, dtype));
            self.clip_len = h.len();
        }
        Ok(self.assign(model, true))
    }
}

#[cfg(test)]
mod tests;
