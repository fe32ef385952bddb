//! `nucleate data …`: inspect structure files and datasets, convert to Parquet, split, cut
//! pocket–ligand complexes.

pub mod convert;
pub mod get;
pub mod inspect;
pub mod pocket;
pub mod split;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Summarise structure files (or a converted dataset directory); `--json` for machines.
    Inspect(inspect::InspectArgs),
    /// Convert structure files, directories or globs into sharded Parquet.
    Convert(convert::ConvertArgs),
    /// Print structures of a converted dataset by index (random access), or all of them.
    Get(get::GetArgs),
    /// Write seeded train/validation/test indices of a converted dataset.
    Split(split::SplitArgs),
    /// Cut pocket–ligand complexes (tagged for `kind = "scd-pocket"`) from a receptor and ligands.
    Pocket(pocket::PocketArgs),
}

/// Run one `data` subcommand.
///
/// # Errors
/// Whatever the subcommand reports.
pub fn run(args: &DataArgs) -> anyhow::Result<()> {
    match &args.command {
        DataCommand::Inspect(a) => inspect::run(a),
        DataCommand::Convert(a) => convert::run(a),
        DataCommand::Split(a) => split::run(a),
        DataCommand::Get(a) => get::run(a),
        DataCommand::Pocket(a) => pocket::run(a),
    }
}
