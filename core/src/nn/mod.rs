//! Neural-network building blocks shared by the backbones: radial bases, cutoffs, scatter
//! (message aggregation), initialisation and parameters by name.

pub mod cutoff;
pub mod init;
pub mod params;
pub mod radial;
pub mod scatter;

pub use cutoff::CosineCutoff;
pub use init::xavier_linear;
pub use params::{NamedTensor, ParamLoadError, load_named, param_names};
pub use radial::{ExpNormalSmearing, ExpNormalSmearingConfig};
pub use scatter::{scatter_mean, scatter_sum};
