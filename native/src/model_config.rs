//! Model configs in TOML: `[model]` names the backbone, `[model.<backbone>]` lists every key of
//! its config (missing keys and unknown keys are errors).
//!
//! ```toml
//! [model]
//! backbone = "et"
//!
//! [model.et]
//! hidden_channels = 256
//! # … every field of `EtConfig`
//! ```

use anyhow::{Context, bail};
use nucleate_core::backbone::{BackboneConfig, CtConfig, EgnnConfig, EtConfig, UniGemConfig};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct ConfigFile {
    model: ModelSection,
}

#[derive(Debug, Deserialize)]
struct ModelSection {
    backbone: String,
    et: Option<EtConfig>,
    ct: Option<CtConfig>,
    egnn: Option<EgnnConfig>,
    unigem: Option<UniGemConfig>,
}

/// Reads and parses the model config file at `path` (errors name the file).
///
/// # Errors
/// An unreadable file, or see [`parse_model_config`].
pub fn read_model_config(path: &std::path::Path) -> anyhow::Result<BackboneConfig> {
    let text = crate::input::read_text(path)?;
    parse_model_config(&text).with_context(|| format!("in {}", path.display()))
}

/// Parses a model config from TOML text.
///
/// # Errors
/// TOML syntax errors and missing keys (with their location), unknown keys (all of them,
/// by dotted path), an unknown backbone name, and a backbone without its section or with the
/// section of another backbone.
pub fn parse_model_config(text: &str) -> anyhow::Result<BackboneConfig> {
    let mut unknown = Vec::new();
    let de = toml::Deserializer::parse(text).context("invalid TOML")?;
    // serde_ignored writes `?` for the `Option` around a section; drop it from the key path.
    let file: ConfigFile = serde_ignored::deserialize(de, |path| {
        unknown.push(path.to_string().replace(".?.", "."))
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !unknown.is_empty() {
        bail!("unknown keys: {}", unknown.join(", "));
    }
    let m = file.model;
    if !BackboneConfig::NAMES.contains(&m.backbone.as_str()) {
        bail!(
            "unknown backbone {:?}; known: {}",
            m.backbone,
            BackboneConfig::NAMES.join(", ")
        );
    }
    let given: Vec<&str> = [
        ("et", m.et.is_some()),
        ("ct", m.ct.is_some()),
        ("egnn", m.egnn.is_some()),
        ("unigem", m.unigem.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, present)| present.then_some(name))
    .collect();
    let others: Vec<&str> = given.iter().copied().filter(|n| *n != m.backbone).collect();
    if !others.is_empty() {
        bail!(
            "backbone = {:?} but the config also has [model.{}]",
            m.backbone,
            others.join("], [model.")
        );
    }
    let missing = || anyhow::anyhow!("backbone = {:?} needs a [model.{0}] section", m.backbone);
    Ok(match m.backbone.as_str() {
        "et" => BackboneConfig::Et(m.et.ok_or_else(missing)?),
        "ct" => BackboneConfig::Ct(m.ct.ok_or_else(missing)?),
        "egnn" => BackboneConfig::Egnn(m.egnn.ok_or_else(missing)?),
        "unigem" => BackboneConfig::UniGem(m.unigem.ok_or_else(missing)?),
        other => bail!("backbone {other:?} is in the registry but not in this parser"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ET: &str = r#"
[model]
backbone = "et"

[model.et]
hidden_channels = 64
num_layers = 2
num_heads = 4
num_rbf = 16
trainable_rbf = false
cutoff_lower = 0.0
cutoff_upper = 5.0
max_z = 118
neighbor_embedding = true
distance_influence = "Both"
vector_cutoff = true
layernorm_on_vec = false
vec_norm_regulariser = "Isotropic"
"#;

    #[test]
    fn a_complete_config_parses() {
        match parse_model_config(ET).unwrap() {
            BackboneConfig::Et(c) => assert_eq!((c.hidden_channels, c.num_layers), (64, 2)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_missing_and_mismatched_keys_are_errors() {
        let unknown = ET.replace("num_rbf = 16", "num_rbf = 16\nnum_rbfs = 3");
        let err = parse_model_config(&unknown).unwrap_err().to_string();
        assert!(err.contains("model.et.num_rbfs"), "{err}");
        let missing = ET.replace("num_rbf = 16\n", "");
        let err = format!("{:#}", parse_model_config(&missing).unwrap_err());
        assert!(err.contains("num_rbf"), "{err}");
        let other = ET.replace("backbone = \"et\"", "backbone = \"ct\"");
        let err = parse_model_config(&other).unwrap_err().to_string();
        assert!(err.contains("[model.et]"), "{err}");
        let bad = ET.replace("backbone = \"et\"", "backbone = \"mace\"");
        let err = parse_model_config(&bad).unwrap_err().to_string();
        assert!(err.contains("unknown backbone"), "{err}");
    }
}

#[cfg(test)]
mod configs_dir {
    use super::*;
    use nucleate_core::backbone::{CtConfig, DistanceInfluence, EgnnConfig, EtConfig};

    // Parameter counts from the architectures' own formulas (docs/backbones.md §2.7, §4.6–4.7),
    // independent of our modules. Each reproduces the published anchors checked in
    // `formulas_reproduce_the_published_counts`.

    /// One TorchMD-Net ET layer: q, k: F→F; v, o: F→3F; vec: F→3F (no bias); dk: K→F;
    /// dv: K→3F; LayerNorm(F).
    fn et_layer(f: usize, k: usize) -> usize {
        11 * f * f + 4 * k * f + 14 * f
    }

    /// Embedding (Z·F), neighbour embedding (Z·F + K→F + 2F→F) — the parts ET and CT share.
    fn embeddings(f: usize, k: usize, z: usize) -> usize {
        2 * z * f + (k * f + f) + (2 * f * f + f)
    }

    fn et_params(c: &EtConfig) -> usize {
        assert!(
            c.neighbor_embedding
                && !c.trainable_rbf
                && c.distance_influence == DistanceInfluence::Both
        );
        let (f, k, z) = (c.hidden_channels, c.num_rbf, c.max_z);
        c.num_layers * et_layer(f, k) + embeddings(f, k, z) + 2 * f // final LayerNorm
    }

    /// A CT layer (SCD's CET): the ET layer without its LayerNorm, plus AdaNorm (LN_x, Linear
    /// 2F→F, LN, Linear F→3F, α_mod, α_gate: 5F² + 8F + 2), the vector pre-norm (α_v, γ, β:
    /// 2F + 1), the post-norm LayerNorm of x (2F) and the whitened vector LayerNorm of v (F);
    /// outside the layers the condition's mask token (F) and LayerNorm (2F), no final norm.
    /// Not fitted to our counts: it also gives CT-small's published 1,758,098.
    fn ct_params(c: &CtConfig) -> usize {
        let e = &c.et;
        assert!(e.neighbor_embedding && !e.trainable_rbf && c.inv_post_norm);
        assert!(c.vec_prenorm != nucleate_core::backbone::VecPreNormKind::None);
        let (f, k, z) = (e.hidden_channels, e.num_rbf, e.max_z);
        let layer = et_layer(f, k) - 2 * f + (5 * f * f + 8 * f + 2) + (2 * f + 1) + 3 * f;
        e.num_layers * layer + embeddings(f, k, z) + 3 * f
    }

    /// One EDM EGNN block (one GCL sublayer with attention, then the coordinate update), with
    /// edge features (d², d₀²): edge MLP (2H+2→H→H), attention (H→1), node MLP (2H→H→H),
    /// coordinate MLP (2H+2→H→H→1 without bias) = 9H² + 12H + 1.
    fn egnn_block(h: usize) -> usize {
        9 * h * h + 12 * h + 1
    }

    fn egnn_params(c: &EgnnConfig) -> usize {
        assert!(c.attention && c.inv_sublayers == 1);
        let (n, h) = (c.in_node_nf, c.hidden_nf);
        c.n_layers * egnn_block(h) + (n * h + h) + (h * n + n)
    }

    /// UniGEM: trunk and branch blocks, embedding, two output layers, the type head
    /// (H→H→in), the per-atom property MLP (H→H→H) and the graph head (H→H→1).
    fn unigem_params(c: &nucleate_core::backbone::UniGemConfig) -> usize {
        let e = &c.egnn;
        assert!(e.attention && e.inv_sublayers == 1);
        let (n, h) = (e.in_node_nf, e.hidden_nf);
        (e.n_layers + c.branch_layers) * egnn_block(h)
            + (n * h + h)
            + 2 * (h * n + n)
            + (h * h + h + h * n + n)
            + 2 * (h * h + h)
            + (h * h + h + h + 1)
    }

    fn formula(config: &BackboneConfig) -> usize {
        match config {
            BackboneConfig::Et(c) => et_params(c),
            BackboneConfig::Ct(c) => ct_params(c),
            BackboneConfig::Egnn(c) => egnn_params(c),
            BackboneConfig::UniGem(c) => unigem_params(c),
        }
    }

    /// The formulas give the counts the papers and reference code report (docs/backbones.md
    /// §2.7, §4.6, §4.7): ET 256/8/64 "6.5M", CT 256/8/64 "9.2M", CT-small 128/6/32, the EDM
    /// QM9 EGNN and UniGEM's QM9 network.
    #[test]
    fn formulas_reproduce_the_published_counts() {
        let et = EtConfig::new();
        assert_eq!(et_params(&et), 6_529_024);
        assert_eq!(et_layer(256, 64), 790_016);
        let ct = CtConfig::new().with_et(EtConfig::new());
        assert_eq!(ct_params(&ct), 9_173_272);
        let small = CtConfig::new().with_et(
            EtConfig::new()
                .with_hidden_channels(128)
                .with_num_layers(6)
                .with_num_rbf(32),
        );
        assert_eq!(ct_params(&small), 1_758_098);
        assert_eq!(egnn_block(256), 592_897);
    }

    /// Every file in `configs/` (model and run configs) parses and builds, and the model has the
    /// parameter count the formulas give; the count its header states (if any) is that count.
    #[test]
    fn every_config_builds_with_the_parameter_count_of_its_architecture() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Run configs (with [train]) hold a model config among their sections.
            let config = if text.contains("\n[train]") {
                crate::run_config::parse_run_config(&text, &[]).map(|c| BackboneConfig::Ct(c.model))
            } else {
                parse_model_config(&text)
            }
            .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            let summary = config.summary(&crate::backend::model_device()).unwrap();
            assert_eq!(summary.params, formula(&config), "{}", path.display());
            // The header comment, where it states "N parameters" / "N backbone parameters".
            let stated: Option<usize> =
                text.lines()
                    .take_while(|l| l.starts_with('#'))
                    .find_map(|l| {
                        let words: Vec<&str> = l.split_whitespace().collect();
                        words.windows(2).find_map(|w| {
                            (w[1].starts_with("parameters") || w[1] == "backbone")
                                .then(|| w[0].replace(',', "").parse().ok())
                                .flatten()
                        })
                    });
            if let Some(stated) = stated {
                assert_eq!(summary.params, stated, "{} header", path.display());
            }
            seen += 1;
        }
        assert_eq!(seen, 12, "configs/ holds 12 configs");
    }
}
