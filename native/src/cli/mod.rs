//! One module per subcommand.

pub mod data;
pub mod metrics;
pub mod render;
