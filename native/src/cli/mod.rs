//! One module per subcommand.

pub mod checkpoint;
pub mod data;
pub mod import;
pub mod import_scd;
pub mod learn;
pub mod metrics;
pub mod model;
pub mod render;
pub mod unigem;
