//! Pocket-conditional Self-Conditioned Denoising (docs/objectives.md §2.2, CT-SCD-SAIR-Pocket): the
//! first pass embeds the **pocket** (with σ_r regularisation noise), the second denoises the
//! **ligand** (corrupted with σ_c) conditioned on the pocket's embedding; the loss is the MSE on
//! the ligand's noise.
//!
//! Components come from a per-atom `"component"` array (text `pocket`/`ligand`, or integers
//! 0 = pocket, 1 = ligand), as an extended XYZ `component:S:1` column carries it.
//! [`pocket_complex`] builds such a complex from a receptor and a ligand the way SAIR-Pocket
//! selects its neighbourhood (§2.4): the receptor's residues nearest the ligand centre, whole
//! residues kept.

use burn::tensor::Device;

use super::denoise::{
    DenoiseBatch, DenoiseError, DenoiseModel, NoiseLevels, StepLoss, centre_molecules,
    conditioned_batch, denoise_batch_loss, displaced, noise, plain_noise,
};
use super::unigem::SplitMix64;
use crate::backbone::HostGraph;
use crate::graph::RadiusGraphOptions;
use crate::train::NoiseNormalizer;
use crate::{AtomArray, Structure};

/// Name of the per-atom component array.
pub const COMPONENT: &str = "component";

/// Residue names never taken into a pocket (water and common crystallisation ions).
const SOLVENT: [&str; 8] = ["HOH", "WAT", "DOD", "SOL", "NA", "CL", "K", "MG"];

/// Whether atom `i` is a ligand atom, from the `component` array.
fn is_ligand(values: &AtomArray, i: usize) -> Option<bool> {
    match values {
        AtomArray::Text { width: 1, values } => match values[i].to_ascii_lowercase().as_str() {
            "ligand" | "lig" | "l" => Some(true),
            "pocket" | "protein" | "p" => Some(false),
            _ => None,
        },
        AtomArray::Int { width: 1, values } => match values[i] {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        },
        _ => None,
    }
}

/// The atoms `idx` of `s` as a molecule (no cell), with every per-atom array subset.
fn subset(s: &Structure, idx: &[usize]) -> Structure {
    let mut out = Structure::molecule(
        idx.iter().map(|&i| s.numbers[i]).collect(),
        idx.iter().map(|&i| s.positions[i]).collect(),
    );
    out.comment.clone_from(&s.comment);
    out.source.clone_from(&s.source);
    out.record_index = s.record_index;
    out.labels.clone_from(&s.labels);
    for (name, array) in &s.atom_arrays {
        let w = array.width();
        fn rows<T: Clone>(v: &[T], idx: &[usize], w: usize) -> Vec<T> {
            idx.iter()
                .flat_map(|&i| v[i * w..(i + 1) * w].iter().cloned())
                .collect()
        }
        let sub = match array {
            AtomArray::Float { values, .. } => AtomArray::Float {
                width: w,
                values: rows(values, idx, w),
            },
            AtomArray::Int { values, .. } => AtomArray::Int {
                width: w,
                values: rows(values, idx, w),
            },
            AtomArray::Bool { values, .. } => AtomArray::Bool {
                width: w,
                values: rows(values, idx, w),
            },
            AtomArray::Text { values, .. } => AtomArray::Text {
                width: w,
                values: rows(values, idx, w),
            },
        };
        out.atom_arrays.insert(name.clone(), sub);
    }
    out
}

/// Splits a tagged complex into `(pocket, ligand)`.
///
/// # Errors
/// [`DenoiseError::Component`] when the structure has no usable `component` array, a tag is
/// neither pocket nor ligand, or one of the two parts is empty.
pub fn split_complex(s: &Structure) -> Result<(Structure, Structure), DenoiseError> {
    let which = |msg: String| DenoiseError::Component {
        record: s.record_index,
        message: msg,
    };
    let tags = s.atom_arrays.get(COMPONENT).ok_or_else(|| {
        which(format!(
            "no per-atom {COMPONENT:?} array (pocket/ligand tags)"
        ))
    })?;
    if tags.rows() != s.n_atoms() {
        return Err(which(format!(
            "{COMPONENT:?} has {} rows for {} atoms",
            tags.rows(),
            s.n_atoms()
        )));
    }
    let (mut pocket, mut ligand) = (Vec::new(), Vec::new());
    for i in 0..s.n_atoms() {
        match is_ligand(tags, i) {
            Some(true) => ligand.push(i),
            Some(false) => pocket.push(i),
            None => {
                return Err(which(format!(
                    "atom {}: {COMPONENT:?} must be pocket/ligand (text, width 1) or 0/1",
                    i + 1
                )));
            }
        }
    }
    if pocket.is_empty() || ligand.is_empty() {
        return Err(which(format!(
            "{} pocket and {} ligand atoms; both are needed",
            pocket.len(),
            ligand.len()
        )));
    }
    Ok((subset(s, &pocket), subset(s, &ligand)))
}

/// Residues of `receptor` as runs of atoms sharing chain, residue number, insertion code and
/// residue name (PDB/mmCIF atom arrays; without them every atom is its own residue).
fn residues(receptor: &Structure) -> Vec<Vec<usize>> {
    let text = |name: &str| match receptor.atom_arrays.get(name) {
        Some(AtomArray::Text { width: 1, values }) => Some(values.clone()),
        _ => None,
    };
    let numbers = match receptor.atom_arrays.get("residue_numbers") {
        Some(AtomArray::Int { width: 1, values }) => Some(values.clone()),
        _ => None,
    };
    let (names, chains, icodes) = (
        text("residue_names"),
        text("chain_ids"),
        text("insertion_codes"),
    );
    let key = |i: usize| {
        (
            chains.as_ref().map(|c| c[i].clone()),
            numbers.as_ref().map(|n| n[i]),
            icodes.as_ref().map(|c| c[i].clone()),
            names.as_ref().map(|n| n[i].clone()),
        )
    };
    let keyed = names.is_some() || numbers.is_some();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in 0..receptor.n_atoms() {
        let same = keyed && i > 0 && key(i) == key(i - 1);
        match out.last_mut() {
            Some(r) if same => r.push(i),
            _ => out.push(vec![i]),
        }
    }
    out
}

/// Splits a receptor file that also holds the ligand (as residue `ligand_residue`, e.g. `LIG`)
/// into `(receptor, ligand)`.
///
/// # Errors
/// [`DenoiseError::Component`] when no atom belongs to that residue name or the file has no
/// residue names.
pub fn extract_ligand(
    s: &Structure,
    ligand_residue: &str,
) -> Result<(Structure, Structure), DenoiseError> {
    let Some(AtomArray::Text { width: 1, values }) = s.atom_arrays.get("residue_names") else {
        return Err(DenoiseError::Component {
            record: s.record_index,
            message: "no residue names (read a PDB or mmCIF file)".into(),
        });
    };
    let (lig, rest): (Vec<usize>, Vec<usize>) =
        (0..s.n_atoms()).partition(|&i| values[i].trim() == ligand_residue);
    if lig.is_empty() {
        return Err(DenoiseError::Component {
            record: s.record_index,
            message: format!("no atoms of residue {ligand_residue:?}"),
        });
    }
    Ok((subset(s, &rest), subset(s, &lig)))
}

/// A pocket–ligand complex tagged for [`pocket_scd_loss`]: the `n_residues` residues of
/// `receptor` whose nearest atom is closest to the ligand's centroid (whole residues; water and
/// common ions skipped), then the ligand's atoms, with a `component` array (`pocket`/`ligand`).
///
/// # Errors
/// [`DenoiseError::Empty`] for an empty ligand or receptor, or no residues left after skipping
/// solvent.
pub fn pocket_complex(
    receptor: &Structure,
    ligand: &Structure,
    n_residues: usize,
) -> Result<Structure, DenoiseError> {
    if ligand.numbers.is_empty() || receptor.numbers.is_empty() || n_residues == 0 {
        return Err(DenoiseError::Empty);
    }
    let centre = ligand.centroid();
    let names = match receptor.atom_arrays.get("residue_names") {
        Some(AtomArray::Text { width: 1, values }) => Some(values),
        _ => None,
    };
    let d2 = |i: usize| -> f64 {
        (0..3)
            .map(|k| (receptor.positions[i][k] - centre[k]).powi(2))
            .sum()
    };
    let mut ranked: Vec<(f64, Vec<usize>)> = residues(receptor)
        .into_iter()
        .filter(|r| names.is_none_or(|n| !SOLVENT.contains(&n[r[0]].trim())))
        .map(|r| (r.iter().map(|&i| d2(i)).fold(f64::INFINITY, f64::min), r))
        .collect();
    if ranked.is_empty() {
        return Err(DenoiseError::Empty);
    }
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut pocket: Vec<usize> = ranked
        .into_iter()
        .take(n_residues)
        .flat_map(|(_, r)| r)
        .collect();
    pocket.sort_unstable();
    let p = subset(receptor, &pocket);
    let mut out = Structure::molecule(
        p.numbers.iter().chain(&ligand.numbers).copied().collect(),
        p.positions
            .iter()
            .chain(&ligand.positions)
            .copied()
            .collect(),
    );
    out.source.clone_from(&ligand.source);
    out.record_index = ligand.record_index;
    out.comment = format!(
        "pocket of {} residues from {} + ligand {}",
        n_residues.min(residues(receptor).len()),
        if receptor.source.is_empty() {
            "the receptor"
        } else {
            &receptor.source
        },
        ligand.formula()
    );
    out.atom_arrays.insert(
        COMPONENT.into(),
        AtomArray::Text {
            width: 1,
            values: std::iter::repeat_n("pocket".to_string(), p.n_atoms())
                .chain(std::iter::repeat_n("ligand".to_string(), ligand.n_atoms()))
                .collect(),
        },
    );
    Ok(out)
}

/// Pocket-conditional SCD step (docs/objectives.md §2.2): pass 1 on the pockets (+σ_r), their
/// pooled embeddings through the embedding head as conditions of pass 2 on the ligands
/// (+σ_c), MSE on the normalised ligand noise.
///
/// # Errors
/// [`DenoiseError`] for complexes without usable component tags, empty input or network errors.
pub fn pocket_scd_loss(
    model: &DenoiseModel,
    complexes: &[Structure],
    levels: NoiseLevels,
    normalizer: &mut NoiseNormalizer,
    rng: &mut SplitMix64,
    device: &Device,
) -> Result<StepLoss, DenoiseError> {
    let batch = prepare_pocket_scd(complexes, levels, normalizer, rng, &model.graph_options())?;
    denoise_batch_loss(model, &batch, device)
}

/// The host half of [`pocket_scd_loss`]: updates `normalizer` with this batch's noise.
///
/// # Errors
/// [`DenoiseError`] for empty input, complexes without a ligand or pocket, bad cells.
pub fn prepare_pocket_scd(
    complexes: &[Structure],
    levels: NoiseLevels,
    normalizer: &mut NoiseNormalizer,
    rng: &mut SplitMix64,
    options: &RadiusGraphOptions,
) -> Result<DenoiseBatch, DenoiseError> {
    if complexes.is_empty() {
        return Err(DenoiseError::Empty);
    }
    let (pockets, ligands): (Vec<Structure>, Vec<Structure>) = complexes
        .iter()
        .map(split_complex)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    let (pockets, ligands) = (centre_molecules(&pockets), centre_molecules(&ligands));
    let n_pocket: usize = pockets.iter().map(Structure::n_atoms).sum();
    let reg = plain_noise(n_pocket, levels.regularise, rng);
    let eps = noise(&ligands, levels.corrupt, rng);
    normalizer.update(&eps);
    let condition = HostGraph::radius(&displaced(&pockets, &reg), options)?;
    let input = HostGraph::radius(&displaced(&ligands, &eps), options)?;
    Ok(conditioned_batch(condition, input, eps, *normalizer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::pdb::read_pdb;

    const PDB: &str = "\
ATOM      1  N   ALA A   1       0.000   0.000   0.000  1.00  0.00           N
ATOM      2  CA  ALA A   1       1.450   0.000   0.000  1.00  0.00           C
ATOM      3  N   GLY A   2       9.000   0.000   0.000  1.00  0.00           N
ATOM      4  CA  GLY A   2      10.400   0.000   0.000  1.00  0.00           C
ATOM      5  N   SER A   3       3.000   1.000   0.000  1.00  0.00           N
ATOM      6  CA  SER A   3       3.500   2.400   0.000  1.00  0.00           C
HETATM    7  O   HOH A   4       2.000   0.500   0.000  1.00  0.00           O
HETATM    8  C1  LIG A   5       2.500   0.000   1.500  1.00  0.00           C
HETATM    9  O1  LIG A   5       2.500   0.000   2.700  1.00  0.00           O
END
";

    #[test]
    fn pocket_keeps_the_nearest_whole_residues_and_tags_both_parts() {
        let s = &read_pdb(PDB).unwrap()[0];
        let (receptor, ligand) = extract_ligand(s, "LIG").unwrap();
        assert_eq!(ligand.formula(), "CO");
        assert_eq!(receptor.n_atoms(), 7);
        let c = pocket_complex(&receptor, &ligand, 2).unwrap();
        // ALA (nearest atom 2.35 Å from the ligand centre) and SER (2.38 Å); GLY (6.8 Å) and
        // the water (2.2 Å, solvent) are left out.
        assert_eq!(c.numbers, vec![7, 6, 7, 6, 6, 8]);
        let (pocket, lig) = split_complex(&c).unwrap();
        assert_eq!(pocket.n_atoms(), 4);
        assert_eq!(lig.positions, ligand.positions);
        assert!(extract_ligand(s, "XYZ").is_err());
        assert!(pocket_complex(&receptor, &ligand, 0).is_err());
    }

    #[test]
    fn split_refuses_missing_or_unknown_tags() {
        let mut s = Structure::molecule(vec![6, 8], vec![[0.0; 3], [1.2, 0.0, 0.0]]);
        let e = split_complex(&s).unwrap_err().to_string();
        assert!(e.contains("component"), "{e}");
        s.atom_arrays.insert(
            COMPONENT.into(),
            AtomArray::Text {
                width: 1,
                values: vec!["pocket".into(), "solvent".into()],
            },
        );
        let e = split_complex(&s).unwrap_err().to_string();
        assert!(e.contains("atom 2"), "{e}");
        s.atom_arrays.insert(
            COMPONENT.into(),
            AtomArray::Int {
                width: 1,
                values: vec![0, 0],
            },
        );
        let e = split_complex(&s).unwrap_err().to_string();
        assert!(e.contains("0 ligand"), "{e}");
        s.atom_arrays.insert(
            COMPONENT.into(),
            AtomArray::Int {
                width: 1,
                values: vec![0, 1],
            },
        );
        let (p, l) = split_complex(&s).unwrap();
        assert_eq!((p.numbers, l.numbers), (vec![6], vec![8]));
    }

    #[test]
    fn loss_denoises_the_ligand_conditioned_on_the_pocket() {
        use crate::backbone::{CtConfig, EtConfig};
        use crate::objective::DenoiseModelConfig;
        let device = crate::testing::cpu_device();
        let s = &read_pdb(PDB).unwrap()[0];
        let (receptor, ligand) = extract_ligand(s, "LIG").unwrap();
        let near = pocket_complex(&receptor, &ligand, 2).unwrap();
        let far = pocket_complex(&receptor, &ligand, 3).unwrap();
        let et = EtConfig::new()
            .with_hidden_channels(16)
            .with_num_layers(2)
            .with_num_heads(2)
            .with_num_rbf(8);
        let model = DenoiseModelConfig::new(CtConfig::new().with_et(et).with_p_droppath(0.0))
            .init(&device)
            .unwrap()
            .with_training(false);
        let loss = |c: &Structure| {
            let mut normalizer = NoiseNormalizer::default();
            let mut rng = SplitMix64::new(4);
            pocket_scd_loss(
                &model,
                std::slice::from_ref(c),
                NoiseLevels::default(),
                &mut normalizer,
                &mut rng,
                &device,
            )
            .unwrap()
            .host()
        };
        let (a, b) = (loss(&near), loss(&near));
        assert_eq!(a.denoise, b.denoise);
        assert!(a.denoise.is_finite() && a.denoise > 0.0);
        // Same ligand noise, another pocket: another condition, another prediction.
        let c = loss(&far);
        assert!(
            (c.denoise - a.denoise).abs() > 1e-9,
            "{} vs {}",
            a.denoise,
            c.denoise
        );
        // Untagged structures are refused with the record named.
        let mut normalizer = NoiseNormalizer::default();
        let e = pocket_scd_loss(
            &model,
            &[ligand],
            NoiseLevels::default(),
            &mut normalizer,
            &mut SplitMix64::new(1),
            &device,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("structure 1:") && e.contains("component"),
            "{e}"
        );
    }
}
