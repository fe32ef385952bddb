//! One module per subcommand.

pub mod model;
pub mod render;
