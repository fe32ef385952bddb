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
