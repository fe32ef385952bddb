//! The backbone registry: one enum over every backbone's config, so that code (configs, the
//! CLI, tests) can handle "any backbone" and adding a backbone means adding a variant here.

use burn::module::Module;
use burn::tensor::Device;

use super::{BackboneError, CtConfig, EgnnConfig, EtConfig, UniGemConfig};
use crate::nn::{ParamInfo, param_infos};

/// Any backbone's configuration.
#[derive(Debug, Clone)]
pub enum BackboneConfig {
    /// TorchMD-Net Equivariant Transformer.
    Et(EtConfig),
    /// SCD's conditioned ET.
    Ct(CtConfig),
    /// EDM's EGNN (the bare network; EDM's dynamics wrapper has the same parameters).
    Egnn(EgnnConfig),
    /// UniGEM's two-branch EGNN with its heads.
    UniGem(UniGemConfig),
}

/// Parameter counts of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSummary {
    /// Registry name of the backbone (`"et"`, `"ct"`, `"egnn"`, `"unigem"`).
    pub backbone: &'static str,
    /// All float parameters.
    pub params: usize,
    /// Parameters that receive gradients (see [`ParamInfo::trainable`]).
    pub params_trainable: usize,
    /// Parameters per top-level field, in visiting order.
    pub modules: Vec<(String, usize)>,
}

impl BackboneConfig {
    /// Registry names, in the order of the variants.
    pub const NAMES: [&'static str; 4] = ["et", "ct", "egnn", "unigem"];

    /// The registry name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Et(_) => "et",
            Self::Ct(_) => "ct",
            Self::Egnn(_) => "egnn",
            Self::UniGem(_) => "unigem",
        }
    }

    /// Builds the model on `device` and counts its parameters. Trainability is only recorded
    /// on an autodiff device (on a plain one `params_trainable` is 0).
    ///
    /// # Errors
    /// The backbone's config validation error.
    pub fn summary(&self, device: &Device) -> Result<ModelSummary, BackboneError> {
        let infos = match self {
            Self::Et(c) => infos(c.init(device)?),
            Self::Ct(c) => infos(c.init(device)?),
            Self::Egnn(c) => infos(c.init(device)?),
            Self::UniGem(c) => infos(c.init(device)?),
        };
        let mut modules: Vec<(String, usize)> = Vec::new();
        for p in &infos {
            let top = p.name.split('.').next().unwrap_or_default().to_owned();
            match modules.last_mut() {
                Some((name, n)) if *name == top => *n += p.numel(),
                _ => modules.push((top, p.numel())),
            }
        }
        Ok(ModelSummary {
            backbone: self.name(),
            params: infos.iter().map(ParamInfo::numel).sum(),
            params_trainable: infos
                .iter()
                .filter(|p| p.trainable)
                .map(ParamInfo::numel)
                .sum(),
            modules,
        })
    }
}

fn infos<M: Module>(m: M) -> Vec<ParamInfo> {
    param_infos(&m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_count_and_group_parameters() {
        let (_serial, device) = crate::testing::serial_autodiff(&crate::testing::cpu_device());
        let et = BackboneConfig::Et(
            EtConfig::new()
                .with_hidden_channels(16)
                .with_num_layers(2)
                .with_num_heads(4)
                .with_num_rbf(8),
        );
        let s = et.summary(&device).unwrap();
        assert_eq!(s.backbone, "et");
        assert_eq!(s.params, s.params_trainable);
        let names: Vec<&str> = s.modules.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["embedding", "neighbor_embedding", "layers", "out_norm"]
        );
        assert_eq!(s.modules.iter().map(|m| m.1).sum::<usize>(), s.params);
        // Freezing the CT's element embedding and mask token: 118·F + F fewer trainable.
        let ct = CtConfig::new().with_et(
            EtConfig::new()
                .with_hidden_channels(16)
                .with_num_layers(1)
                .with_num_heads(4)
                .with_num_rbf(8),
        );
        let s = BackboneConfig::Ct(ct.clone().with_freeze_embeddings(true))
            .summary(&device)
            .unwrap();
        assert_eq!(s.params - s.params_trainable, 118 * 16 + 16);
        let err = BackboneConfig::Egnn(EgnnConfig::new().with_hidden_nf(0))
            .summary(&device)
            .unwrap_err();
        assert!(matches!(
            err,
            BackboneError::Config {
                field: "hidden_nf",
                ..
            }
        ));
    }
}
