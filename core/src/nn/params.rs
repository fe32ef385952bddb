//! Parameters by name: list a module's float parameters under their field paths and replace
//! them from a name → tensor map (the basis of weight import from other frameworks).
//!
//! How it works: burn's [`ModuleVisitor`] / [`ModuleMapper`] walk a module and report each
//! submodule they enter (struct fields by name, `Vec` items by index); the walkers here keep a
//! stack of those names and join it with `.` (`layers.0.q_proj.weight`). `Option` fields add no
//! segment, as in burn.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// A float tensor of any rank up to 4, as stored in a name → tensor map.
#[derive(Debug, Clone)]
pub enum NamedTensor {
    /// Rank 1.
    R1(Tensor<1>),
    /// Rank 2.
    R2(Tensor<2>),
    /// Rank 3.
    R3(Tensor<3>),
    /// Rank 4.
    R4(Tensor<4>),
}

impl NamedTensor {
    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Self::R1(t) => t.dims().to_vec(),
            Self::R2(t) => t.dims().to_vec(),
            Self::R3(t) => t.dims().to_vec(),
            Self::R4(t) => t.dims().to_vec(),
        }
    }
}

/// Why parameters could not be loaded by name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamLoadError {
    /// The module has a parameter the map does not provide.
    #[error("no tensor for parameter {name:?} (shape {shape:?})")]
    Missing { name: String, shape: Vec<usize> },
    /// The map's tensor has another shape than the parameter.
    #[error("parameter {name:?} has shape {expected:?} but the tensor has shape {got:?}")]
    Shape {
        name: String,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    /// The map has tensors that match no parameter.
    #[error("tensors match no parameter: {names:?}")]
    Unused { names: Vec<String> },
    /// An import source is missing a key the mapping needs.
    #[error("source has no tensor {key:?}")]
    MissingSource { key: String },
    /// An import source has a tensor of another rank or shape than the mapping expects.
    #[error("source tensor {key:?} has shape {got:?}, expected {expected}")]
    SourceShape {
        key: String,
        got: Vec<usize>,
        expected: String,
    },
    /// An import source has keys the mapping does not know.
    #[error("source tensors not understood: {keys:?}")]
    UnknownSource { keys: Vec<String> },
}

#[derive(Default)]
struct Path(Vec<String>);

impl Path {
    fn enter(&mut self, name: &str) {
        self.0.push(name.to_owned());
    }
    fn exit(&mut self) {
        self.0.pop();
    }
    fn joined(&self) -> String {
        self.0.join(".")
    }
}

struct Lister {
    path: Path,
    out: Vec<(String, Vec<usize>)>,
}

impl ModuleVisitor for Lister {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.out
            .push((self.path.joined(), param.lazy_shape().as_slice().to_vec()));
    }
}

/// Every float parameter of `module` with its shape, by dotted field path, in visiting order.
pub fn param_names<M: Module>(module: &M) -> Vec<(String, Vec<usize>)> {
    let mut lister = Lister {
        path: Path::default(),
        out: Vec::new(),
    };
    module.visit(&mut lister);
    lister.out
}

struct Loader<'a> {
    path: Path,
    tensors: &'a BTreeMap<String, NamedTensor>,
    used: Vec<String>,
    error: Option<ParamLoadError>,
}

impl Loader<'_> {
    fn take<const D: usize>(&mut self, shape: Vec<usize>) -> Option<Tensor<D>> {
        let name = self.path.joined();
        let Some(t) = self.tensors.get(&name) else {
            self.error
                .get_or_insert(ParamLoadError::Missing { name, shape });
            return None;
        };
        if t.shape() != shape {
            self.error.get_or_insert(ParamLoadError::Shape {
                name,
                expected: shape,
                got: t.shape(),
            });
            return None;
        }
        self.used.push(name);
        // The shapes are equal, so the ranks are too; the reshape only changes the static rank.
        let shape_d: [usize; D] = std::array::from_fn(|k| shape[k]);
        Some(match t {
            NamedTensor::R1(t) => t.clone().reshape(shape_d),
            NamedTensor::R2(t) => t.clone().reshape(shape_d),
            NamedTensor::R3(t) => t.clone().reshape(shape_d),
            NamedTensor::R4(t) => t.clone().reshape(shape_d),
        })
    }
}

impl ModuleMapper for Loader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let shape = param.lazy_shape().as_slice().to_vec();
        match self.take::<D>(shape) {
            Some(t) => param.map(|old| t.cast(old.dtype()).to_device(&old.device())),
            None => param,
        }
    }
}

/// Replaces every float parameter of `module` by the tensor of the same dotted name in
/// `tensors` (cast to the parameter's dtype and moved to its device).
///
/// # Errors
/// [`ParamLoadError::Missing`] or [`ParamLoadError::Shape`] for the first parameter without a
/// matching tensor, [`ParamLoadError::Unused`] when `tensors` has names no parameter uses.
pub fn load_named<M: Module>(
    module: M,
    tensors: &BTreeMap<String, NamedTensor>,
) -> Result<M, ParamLoadError> {
    let mut loader = Loader {
        path: Path::default(),
        tensors,
        used: Vec::new(),
        error: None,
    };
    let module = module.map(&mut loader);
    if let Some(e) = loader.error {
        return Err(e);
    }
    let unused: Vec<String> = tensors
        .keys()
        .filter(|k| !loader.used.contains(k))
        .cloned()
        .collect();
    if !unused.is_empty() {
        return Err(ParamLoadError::Unused { names: unused });
    }
    Ok(module)
}

/// One float parameter: dotted path, shape, and whether it is trained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamInfo {
    /// Dotted field path (`layers.0.q_proj.weight`).
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Whether gradients are tracked for it. Only an autodiff device records this; on a plain
    /// device every parameter reads as not trainable.
    pub trainable: bool,
}

impl ParamInfo {
    /// Number of scalars.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

struct Infos {
    path: Path,
    out: Vec<ParamInfo>,
}

impl ModuleVisitor for Infos {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.out.push(ParamInfo {
            name: self.path.joined(),
            shape: param.lazy_shape().as_slice().to_vec(),
            trainable: param.val().is_require_grad(),
        });
    }
}

/// Every float parameter of `module` with shape and trainability (materialises lazily
/// initialised parameters).
pub fn param_infos<M: Module>(module: &M) -> Vec<ParamInfo> {
    let mut v = Infos {
        path: Path::default(),
        out: Vec::new(),
    };
    module.visit(&mut v);
    v.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    /// A module with every kind of path segment: a `Vec` (index), a struct field, an `Option`
    /// (no segment) and a bias-free layer (no `bias` entry).
    #[derive(Module, Debug)]
    struct Net {
        layers: Vec<Linear>,
        head: Option<Linear>,
        tail: Linear,
    }

    fn net(device: &burn::tensor::Device) -> Net {
        Net {
            layers: vec![
                LinearConfig::new(3, 4).init(device),
                LinearConfig::new(4, 2).init(device),
            ],
            head: Some(LinearConfig::new(2, 1).init(device)),
            tail: LinearConfig::new(2, 5).with_bias(false).init(device),
        }
    }

    fn values(t: &NamedTensor) -> Vec<f32> {
        let data = match t {
            NamedTensor::R1(t) => t.to_data(),
            NamedTensor::R2(t) => t.to_data(),
            NamedTensor::R3(t) => t.to_data(),
            NamedTensor::R4(t) => t.to_data(),
        };
        data.try_into_vec::<f32>().expect("f32")
    }

    /// A name → tensor map for every parameter of `m` with values unlike any initialisation
    /// (what an importer builds).
    fn state(m: &Net, device: &burn::tensor::Device) -> BTreeMap<String, NamedTensor> {
        let mut out = BTreeMap::new();
        for (name, shape) in param_names(m) {
            let n: usize = shape.iter().product();
            let seq: Vec<f32> = (0..n).map(|k| k as f32 * 0.5 - 1.0).collect();
            let t = match shape.len() {
                1 => NamedTensor::R1(Tensor::from_data(
                    burn::tensor::TensorData::new(seq, shape.clone()),
                    device,
                )),
                _ => NamedTensor::R2(Tensor::from_data(
                    burn::tensor::TensorData::new(seq, shape.clone()),
                    device,
                )),
            };
            out.insert(name, t);
        }
        out
    }

    #[test]
    fn names_follow_field_paths_in_visiting_order() {
        let device = crate::testing::cpu_device();
        let names: Vec<(String, Vec<usize>)> = param_names(&net(&device));
        // burn stores a Linear weight as [d_in, d_out].
        let expected: Vec<(String, Vec<usize>)> = [
            ("layers.0.weight", vec![3, 4]),
            ("layers.0.bias", vec![4]),
            ("layers.1.weight", vec![4, 2]),
            ("layers.1.bias", vec![2]),
            ("head.weight", vec![2, 1]),
            ("head.bias", vec![1]),
            ("tail.weight", vec![2, 5]),
        ]
        .into_iter()
        .map(|(n, s)| (n.to_owned(), s))
        .collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn load_named_replaces_every_parameter_and_refuses_mismatches() {
        let device = crate::testing::cpu_device();
        let tensors = state(&net(&device), &device);
        // Loaded into a freshly initialised module, every parameter takes the map's values.
        let loaded = load_named(net(&device), &tensors).expect("complete map");
        let after: BTreeMap<String, Vec<f32>> = state_of(&loaded);
        for (name, t) in &tensors {
            assert_eq!(after[name], values(t), "{name}");
        }

        let mut missing = tensors.clone();
        missing.remove("layers.1.bias");
        assert_eq!(
            load_named(net(&device), &missing).unwrap_err(),
            ParamLoadError::Missing {
                name: "layers.1.bias".into(),
                shape: vec![2]
            }
        );

        let mut wrong = tensors.clone();
        wrong.insert(
            "head.weight".into(),
            NamedTensor::R2(Tensor::zeros([1, 2], &device)),
        );
        assert_eq!(
            load_named(net(&device), &wrong).unwrap_err(),
            ParamLoadError::Shape {
                name: "head.weight".into(),
                expected: vec![2, 1],
                got: vec![1, 2]
            }
        );

        let mut extra = tensors;
        extra.insert(
            "tail.bias".into(),
            NamedTensor::R1(Tensor::zeros([5], &device)),
        );
        assert_eq!(
            load_named(net(&device), &extra).unwrap_err(),
            ParamLoadError::Unused {
                names: vec!["tail.bias".into()]
            }
        );
    }

    /// name → values of every parameter, read back through `param_names`' order.
    fn state_of(m: &Net) -> BTreeMap<String, Vec<f32>> {
        let f32s = |t: Tensor<1>| t.into_data().try_into_vec::<f32>().expect("f32");
        let linear = |l: &Linear| {
            let w = f32s(l.weight.val().flatten::<1>(0, 1));
            let b = l.bias.as_ref().map(|b| f32s(b.val()));
            [Some(w), b].into_iter().flatten()
        };
        let head = m.head.as_ref().expect("head");
        let flat: Vec<Vec<f32>> = m
            .layers
            .iter()
            .chain([head, &m.tail])
            .flat_map(linear)
            .collect();
        param_names(m)
            .into_iter()
            .map(|(n, _)| n)
            .zip(flat)
            .collect()
    }

    #[test]
    fn infos_count_and_mark_trainable_parameters() {
        let (_guard, device) = crate::testing::serial_autodiff(&crate::testing::cpu_device());
        let infos = param_infos(&net(&device));
        assert_eq!(infos.len(), 7);
        assert_eq!(
            infos.iter().map(ParamInfo::numel).sum::<usize>(),
            12 + 4 + 8 + 2 + 2 + 1 + 10
        );
        assert!(infos.iter().all(|p| p.trainable));
        let plain = param_infos(&net(&crate::testing::cpu_device()));
        assert!(plain.iter().all(|p| !p.trainable));
    }
}
