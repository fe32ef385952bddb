//! `nucleate import torchmd-net CHECKPOINT -o MODEL_DIR`: TorchMD-Net ET weights into our model
//! format.
//!
//! Reads a Lightning `.ckpt` (the `state_dict` with LNNP's `model.` prefix and the
//! `hyper_parameters` the architecture is taken from), or a bare `state_dict` in `.pt` or
//! `.safetensors` together with `--config` (our ET model config). The weights go through
//! `core::backbone::torchmdnet::import_et`, which refuses unknown keys, missing parameters and
//! wrong shapes; the model directory it writes is read by `nucleate predict` and `evaluate`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use nucleate_core::backbone::torchmdnet::{TorchmdNetHead, import_et};
use nucleate_core::backbone::{BackboneConfig, EtConfig};
use nucleate_core::head::{Readout, Reduce};
use nucleate_core::io::torch::{PyValue, TorchTensor};

use super::checkpoint::{
    Checkpoint, boolean, distance_influence, float, int, named_tensor, read_checkpoint, string,
};

use crate::learn::{ModelMeta, save_et_model};

/// `nucleate import …`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    what: ImportWhat,
}

#[derive(Debug, Subcommand)]
enum ImportWhat {
    /// A TorchMD-Net Equivariant Transformer (Lightning `.ckpt`, or `.pt`/`.safetensors` state
    /// dict with `--config`).
    #[command(name = "torchmd-net")]
    TorchmdNet(TorchmdNetArgs),
    /// An SCD CT checkpoint (`ct-scd-pcq`, `ct-scd-amp`, or a `last.ckpt` of SCD's `train.py`)
    /// with its noise, embedding and scalar heads.
    Scd(super::import_scd::ScdArgs),
}

/// `nucleate import torchmd-net`.
#[derive(Debug, Args)]
pub struct TorchmdNetArgs {
    /// The checkpoint.
    checkpoint: PathBuf,
    /// Output model directory.
    #[arg(short = 'o', long)]
    out: PathBuf,
    /// Our ET model config (TOML, backbone "et"); required for a bare state dict, overrides the
    /// checkpoint's hyper-parameters otherwise.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Reduction of the per-atom outputs (`sum` or `mean`); default: the checkpoint's
    /// `reduce_op`, else `sum`.
    #[arg(long)]
    reduce: Option<String>,
    /// Name of the predicted property.
    #[arg(long, default_value = "energy")]
    target: String,
    /// Unit of the predicted property (TorchMD-Net checkpoints do not record it).
    #[arg(long)]
    unit: Option<String>,
}

/// Runs `nucleate import`.
///
/// # Errors
/// Unreadable or malformed checkpoints, an architecture the weights do not fit, unknown keys.
pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    let a = match &args.what {
        ImportWhat::TorchmdNet(a) => a,
        ImportWhat::Scd(a) => return super::import_scd::run(a),
    };
    let path = &a.checkpoint;
    let Checkpoint {
        tensors,
        hyper,
        sha256,
    } = read_checkpoint(path)?;
    // LNNP (TorchMD-Net's Lightning module) stores the model under `model.`.
    let lightning = tensors.keys().all(|k| k.starts_with("model."));
    let tensors: BTreeMap<String, TorchTensor> = tensors
        .into_iter()
        .map(|(k, v)| {
            let k = if lightning {
                k["model.".len()..].to_string()
            } else {
                k
            };
            (k, v)
        })
        .collect();
    let config = match &a.config {
        Some(p) => match crate::model_config::read_model_config(p)? {
            BackboneConfig::Et(c) => c,
            other => bail!(
                "{}: backbone \"{}\"; TorchMD-Net checkpoints hold an ET (backbone \"et\")",
                p.display(),
                other.name()
            ),
        },
        None if hyper.is_empty() => bail!(
            "{} has no hyper-parameters (a bare state dict); give --config with an ET model \
             config describing the architecture",
            path.display()
        ),
        None => et_config_from_hyper(&hyper, &tensors)
            .with_context(|| format!("{}: reading hyper_parameters", path.display()))?,
    };
    let reduce = match a.reduce.as_deref().or(match hyper.get("reduce_op") {
        Some(PyValue::Str(s)) => Some(s.as_str()),
        _ => None,
    }) {
        None | Some("sum" | "add") => Reduce::Sum,
        Some("mean") => Reduce::Mean,
        Some(other) => bail!("reduction {other:?}: expected sum (add) or mean"),
    };
    let device = crate::backend::inference_device();
    let mut named = BTreeMap::new();
    for (k, t) in &tensors {
        named.insert(k.clone(), named_tensor(t, &device));
    }
    let model = import_et(&config, &named, Readout::new().with_reduce(reduce), &device)
        .with_context(|| format!("importing {}", path.display()))?;
    let Some(head) = model.head else {
        bail!(
            "{} has no output model (`output_model.*` keys); nothing to predict with",
            path.display()
        );
    };
    let output_model = match &head {
        TorchmdNetHead::Scalar(_) => "Scalar",
        TorchmdNetHead::EquivariantScalar(_) => "EquivariantScalar",
    };
    let meta = ModelMeta {
        name: a
            .out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        backbone: "et".into(),
        force_head: false,
        output_model: Some(output_model.into()),
        source: Some(format!("{} (sha256 {sha256})", path.display())),
        objective: "imported".into(),
        target: Some(a.target.clone()),
        unit: a.unit.clone(),
        reduce: if matches!(reduce, Reduce::Mean) {
            "mean".into()
        } else {
            "sum".into()
        },
        readout_std: model.readout.std,
        readout_mean: model.readout.mean,
        val_mae: None,
        test_mae: None,
        steps: 0,
        norm_sum: [0.0; 3],
        norm_sum_sq: [0.0; 3],
        norm_count: 0,
    };
    save_et_model(&a.out, &config, &model.et, &head, &meta)?;
    println!(
        "imported {} tensors ({} ET, {output_model} head, {} layers × {} channels) → {}",
        tensors.len(),
        if lightning {
            "Lightning checkpoint"
        } else {
            "state dict"
        },
        config.num_layers,
        config.hidden_channels,
        a.out.display()
    );
    Ok(())
}

/// Our ET config from TorchMD-Net's hyper-parameters (names of its `train.py`).
fn et_config_from_hyper(
    h: &BTreeMap<String, PyValue>,
    tensors: &BTreeMap<String, TorchTensor>,
) -> anyhow::Result<EtConfig> {
    if let Some(m) = string(h, "model")
        && m != "equivariant-transformer"
    {
        bail!("model {m:?}: only the equivariant-transformer (ET) is supported");
    }
    for (key, want) in [
        ("rbf_type", "expnorm"),
        ("activation", "silu"),
        ("attn_activation", "silu"),
    ] {
        if let Some(v) = string(h, key)
            && v != want
        {
            bail!("{key} {v:?}: only {want:?} is supported");
        }
    }
    let distance_influence = distance_influence(h)?;
    let layernorm_on_vec = match h.get("layernorm_on_vec") {
        None | Some(PyValue::None) => false,
        Some(PyValue::Str(s)) if s == "whitened" => true,
        Some(other) => bail!("layernorm_on_vec {other:?}: only \"whitened\" or None"),
    };
    // TorchMD-Net decides the vector cutoff from the key's presence in newer versions; the
    // hyper-parameter is authoritative when present.
    let vector_cutoff = boolean(h, "vector_cutoff", false)?;
    let hidden = int(h, "embedding_dimension")?;
    let neighbor_embedding = match h.get("neighbor_embedding") {
        Some(PyValue::Bool(b)) => *b,
        _ => tensors
            .keys()
            .any(|k| k.starts_with("representation_model.neighbor_embedding.")),
    };
    let config = EtConfig::new()
        .with_hidden_channels(hidden)
        .with_num_layers(int(h, "num_layers")?)
        .with_num_heads(int(h, "num_heads")?)
        .with_num_rbf(int(h, "num_rbf")?)
        .with_trainable_rbf(boolean(h, "trainable_rbf", false)?)
        .with_cutoff_lower(float(h, "cutoff_lower")?)
        .with_cutoff_upper(float(h, "cutoff_upper")?)
        .with_max_z(int(h, "max_z")?)
        .with_neighbor_embedding(neighbor_embedding)
        .with_distance_influence(distance_influence)
        .with_vector_cutoff(vector_cutoff)
        .with_layernorm_on_vec(layernorm_on_vec);
    config.validate()?;
    Ok(config)
}
