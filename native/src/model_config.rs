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
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
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

    /// Every file in `configs/` (model and run configs) parses and builds, with the parameter
    /// count its header states.
    #[test]
    fn every_config_builds_with_its_documented_parameter_count() {
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
            // The header comment states "N parameters" / "N backbone parameters".
            let stated: usize = text
                .lines()
                .take_while(|l| l.starts_with('#'))
                .find_map(|l| {
                    let words: Vec<&str> = l.split_whitespace().collect();
                    words.windows(2).find_map(|w| {
                        (w[1].starts_with("parameters") || w[1] == "backbone")
                            .then(|| w[0].replace(',', "").parse().ok())
                            .flatten()
                    })
                })
                .unwrap_or_else(|| panic!("{}: no parameter count in header", path.display()));
            let summary = config.summary(&crate::backend::model_device()).unwrap();
            assert_eq!(summary.params, stated, "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 4, "only {seen} configs");
    }
}
