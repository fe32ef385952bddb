//! `nucleate data pocket RECEPTOR (--ligand FILE | --ligand-residue NAME) [--residues 30] -o OUT`:
//! pocket–ligand complexes for pocket-conditional SCD (`kind = "scd-pocket"`), one per ligand
//! structure (e.g. every docked pose of an SDF), written as extended XYZ with a per-atom
//! `component` column (`pocket`/`ligand`).

use std::path::PathBuf;

use anyhow::{Context, bail};
use nucleate_core::objective::{extract_ligand, pocket_complex};

use crate::input::read_structures;

#[derive(Debug, clap::Args)]
pub struct PocketArgs {
    /// The receptor (PDB or mmCIF, for residue boundaries); its first model is used.
    receptor: PathBuf,
    /// Ligand structures (any readable format; every structure makes one complex).
    #[arg(
        long,
        required_unless_present = "ligand_residue",
        conflicts_with = "ligand_residue"
    )]
    ligand: Option<PathBuf>,
    /// Take the ligand from the receptor file itself: the atoms of this residue name (e.g. LIG).
    #[arg(long)]
    ligand_residue: Option<String>,
    /// Receptor residues kept around each ligand (nearest to its centre, whole residues; water
    /// and common ions skipped). SAIR-Pocket: 30.
    #[arg(long, default_value_t = 30)]
    residues: usize,
    /// Output extended XYZ file.
    #[arg(short, long)]
    output: PathBuf,
}

/// Run `data pocket`.
///
/// # Errors
/// Unreadable inputs, a ligand residue that is not there, write errors.
pub fn run(args: &PocketArgs) -> anyhow::Result<()> {
    if args.residues == 0 {
        bail!("--residues must be at least 1");
    }
    let models = read_structures(&args.receptor)?;
    let Some(first) = models.first() else {
        bail!("{}: no structures", args.receptor.display());
    };
    let (receptor, ligands) = match (&args.ligand, &args.ligand_residue) {
        (_, Some(name)) => {
            let (receptor, ligand) = extract_ligand(first, name)
                .with_context(|| format!("{}", args.receptor.display()))?;
            (receptor, vec![ligand])
        }
        (Some(path), None) => (first.clone(), read_structures(path)?),
        (None, None) => bail!("give --ligand FILE or --ligand-residue NAME"),
    };
    let mut receptor = receptor;
    receptor.source = crate::input::logical_name(&args.receptor);
    let complexes = ligands
        .iter()
        .enumerate()
        .map(|(i, l)| {
            pocket_complex(&receptor, l, args.residues)
                .with_context(|| format!("ligand structure {}", i + 1))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let text = nucleate_core::io::write::write_extxyz(&complexes)?;
    crate::fsutil::write_atomic(&args.output, text.as_bytes())?;
    let c = &complexes[0];
    let ligand_atoms = ligands[0].n_atoms();
    println!(
        "{} complex(es): pocket of {} residues ({} atoms) + ligand {} ({} atoms) → {}",
        complexes.len(),
        args.residues,
        c.n_atoms() - ligand_atoms,
        ligands[0].formula(),
        ligand_atoms,
        args.output.display()
    );
    Ok(())
}
