//! Neural-network building blocks shared by the backbones: radial bases, cutoffs, scatter
//! (message aggregation), initialisation and parameters by name.

pub mod activation;
pub mod cutoff;
pub mod equivariant_norm;
pub mod init;
pub mod params;
pub mod radial;
pub mod scatter;
pub mod segment;

pub use cutoff::CosineCutoff;
pub use equivariant_norm::{CovarianceRegulariser, EquivariantLayerNorm};
pub use init::xavier_linear;
pub use params::{NamedTensor, ParamInfo, ParamLoadError, load_named, param_infos, param_names};
pub use radial::{ExpNormalSmearing, ExpNormalSmearingConfig};
pub use scatter::{gather_rows, gather_table, scatter_mean, scatter_sum};
pub use segment::{Segments, set_graph_kernels, uses_kernels};
