//! `nucleate import scd CHECKPOINT -o MODEL_DIR`: SCD's CT checkpoints (`ct-scd-pcq`,
//! `ct-scd-amp`, or any `last.ckpt` its `train.py` writes) into our model format.
//!
//! Reads the Lightning checkpoint SCD's trainer saves: `state_dict` with the model under
//! `model.` (and, with momentum updates, a copy under `ema_model.`; `--ema` selects it) and the
//! `hyper_parameters` into which SCD's `create_model` merged the model config (`model: CET`,
//! `emb_dim`, `num_layers`, …); keys absent there take `CET`'s defaults, as upstream. A bare
//! state dict (`.pt`, `.safetensors`, or a checkpoint without the model keys) needs the model
//! config: `--model-yaml` (SCD's `configs/model_configs/*.yaml`) or `--config` (ours, backbone
//! "ct"). The weights go through `core::objective::import_scd`, which refuses unknown keys,
//! missing parameters and wrong shapes. The model directory is the one `nucleate finetune`
//! writes, so `predict`, `evaluate` and `finetune --init` read it; the CT is configured
//! checkpoint-exact (DyT vector pre-norm, SCD's covariance regulariser).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use nucleate_core::backbone::{CtConfig, EtConfig, VecPreNormKind};
use nucleate_core::head::{Readout, Reduce};
use nucleate_core::io::torch::{PyValue, TorchTensor};
use nucleate_core::nn::CovarianceRegulariser;
use nucleate_core::objective::{DenoiseModelConfig, import_scd};
use nucleate_core::train::flatten;

use super::checkpoint::{boolean, distance_influence, named_tensor, opt_float, opt_int, string};
use crate::learn::{ModelMeta, save_model};

/// `nucleate import scd`.
#[derive(Debug, Args)]
pub struct ScdArgs {
    /// The checkpoint (`last.ckpt`), or a bare `CET` state dict (`.pt`, `.safetensors`).
    checkpoint: PathBuf,
    /// Output model directory.
    #[arg(short = 'o', long)]
    out: PathBuf,
    /// Import the EMA (momentum) weights stored under `ema_model.` instead of `model.`.
    #[arg(long)]
    ema: bool,
    /// SCD's model config (flat YAML such as `configs/model_configs/scd.yaml`), for checkpoints
    /// whose hyper-parameters lack the model keys; overrides them otherwise.
    #[arg(long, conflicts_with = "config")]
    model_yaml: Option<PathBuf>,
    /// Our CT model config (TOML, backbone "ct"), instead of the checkpoint's hyper-parameters.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Name of the predicted property; default: the checkpoint's `dataset_arg`, else "y".
    #[arg(long)]
    target: Option<String>,
    /// Unit of the predicted property (SCD checkpoints do not record it).
    #[arg(long)]
    unit: Option<String>,
}

/// Runs `nucleate import scd`.
///
/// # Errors
/// Unreadable or malformed checkpoints, an architecture the weights do not fit, unknown keys.
pub fn run(a: &ScdArgs) -> anyhow::Result<()> {
    let path = &a.checkpoint;
    let super::checkpoint::Checkpoint {
        tensors,
        hyper,
        sha256,
    } = super::checkpoint::read_checkpoint(path)?;
    let split = split_state(tensors, a.ema).with_context(|| format!("{}", path.display()))?;

    let (ct, reduce) = match (&a.config, &a.model_yaml) {
        (Some(p), _) => match crate::model_config::read_model_config(p)? {
            nucleate_core::backbone::BackboneConfig::Ct(c) => (c, reduce_of(&hyper)?),
            other => bail!(
                "{}: backbone \"{}\"; SCD checkpoints hold a CT (backbone \"ct\")",
                p.display(),
                other.name()
            ),
        },
        (None, Some(p)) => {
            let text = crate::input::read_text(p)?;
            let mut h = parse_flat_yaml(&text).with_context(|| format!("in {}", p.display()))?;
            // The checkpoint's own `head_agg` etc. still apply where the YAML is silent.
            for (k, v) in &hyper {
                h.entry(k.clone()).or_insert_with(|| v.clone());
            }
            ct_config_from_hyper(&h).with_context(|| format!("{}", p.display()))?
        }
        (None, None) if string(&hyper, "model").is_some() => ct_config_from_hyper(&hyper)
            .with_context(|| format!("{}: reading hyper_parameters", path.display()))?,
        (None, None) => bail!(
            "{} has no model hyper-parameters{}; give --model-yaml with SCD's model config \
             (e.g. configs/model_configs/scd.yaml) or --config with our CT model config",
            path.display(),
            match string(&hyper, "model_config") {
                Some(m) => format!(" (it names model_config {m:?})"),
                None => String::new(),
            }
        ),
    };

    let device = crate::backend::inference_device();
    let named: BTreeMap<_, _> = split
        .state
        .iter()
        .map(|(k, t)| (k.clone(), named_tensor(t, &device)))
        .collect();
    let config = DenoiseModelConfig::new(ct.clone());
    let imported = import_scd(&config, &named, Readout::new().with_reduce(reduce), &device)
        .with_context(|| format!("importing {}", path.display()))?;

    let target = a
        .target
        .clone()
        .or_else(|| string(&hyper, "dataset_arg").map(str::to_owned))
        .unwrap_or_else(|| "y".into());
    let pretraining = matches!(hyper.get("pretraining"), Some(PyValue::Bool(true)));
    let meta = ModelMeta {
        name: a
            .out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        backbone: "ct".into(),
        output_model: None,
        source: Some(format!(
            "{} ({}, sha256 {sha256})",
            path.display(),
            if a.ema { "ema_model" } else { "model" },
        )),
        force_head: false,
        objective: "imported-scd".into(),
        target: Some(target.clone()),
        unit: a.unit.clone(),
        reduce: if matches!(reduce, Reduce::Mean) {
            "mean".into()
        } else {
            "sum".into()
        },
        readout_std: imported.readout.std,
        readout_mean: imported.readout.mean,
        val_mae: None,
        test_mae: None,
        steps: 0,
        norm_sum: imported.normalizer.sum,
        norm_sum_sq: imported.normalizer.sum_sq,
        norm_count: imported.normalizer.count,
    };
    save_model(&a.out, &ct, &flatten(&imported.model), &meta)?;
    println!(
        "imported {} tensors from a {} (CT {} layers × {} channels, vector pre-norm {:?}{}) → {}",
        split.state.len(),
        split.source,
        ct.et.num_layers,
        ct.et.hidden_channels,
        ct.vec_prenorm,
        match ct.et.max_num_neighbors {
            Some(k) => format!(", SCD's periodic neighbour cap {k}"),
            None => String::new(),
        },
        a.out.display()
    );
    if !split.ignored.is_empty() {
        println!(
            "not imported: {}{}",
            summarize(&split.ignored),
            if split.ignored.iter().any(|k| k.starts_with("ema_model.")) {
                " (--ema imports the EMA weights instead)"
            } else {
                ""
            }
        );
    }
    if pretraining {
        println!(
            "note: a pretraining checkpoint; its scalar head ({target}) is untrained — fine-tune \
             with `nucleate finetune --init {}`",
            a.out.display()
        );
    }
    Ok(())
}

/// The model's tensors chosen from a checkpoint's `state_dict`.
#[derive(Debug)]
struct SplitState {
    state: BTreeMap<String, TorchTensor>,
    ignored: Vec<String>,
    source: &'static str,
}

/// Picks the `model.` (or `ema_model.`) tensors of a Lightning `state_dict`, without the prefix;
/// a state dict with neither prefix is the model itself.
fn split_state(tensors: BTreeMap<String, TorchTensor>, ema: bool) -> anyhow::Result<SplitState> {
    let lightning = tensors.keys().any(|k| k.starts_with("model."));
    if !lightning {
        if ema {
            bail!("--ema: a bare state dict has no ema_model.* tensors");
        }
        return Ok(SplitState {
            state: tensors,
            ignored: Vec::new(),
            source: "state dict",
        });
    }
    let want = if ema { "ema_model." } else { "model." };
    let mut state = BTreeMap::new();
    let mut ignored = Vec::new();
    let mut model_normalizer = Vec::new();
    for (k, v) in tensors {
        match k.strip_prefix(want) {
            Some(rest) => {
                state.insert(rest.to_owned(), v);
            }
            None => {
                // SCD's momentum copy is made before any noise statistics exist and its update
                // touches parameters only, so its normaliser buffers stay zero: the statistics
                // are the model's.
                if ema && let Some(rest) = k.strip_prefix("model.noise_normalizer.") {
                    model_normalizer.push((format!("noise_normalizer.{rest}"), v.clone()));
                }
                ignored.push(k);
            }
        }
    }
    if state.is_empty() {
        bail!(
            "--ema: the checkpoint has no ema_model.* tensors (trained without momentum updates)"
        );
    }
    state.extend(model_normalizer);
    Ok(SplitState {
        state,
        ignored,
        source: if ema {
            "Lightning checkpoint (EMA weights)"
        } else {
            "Lightning checkpoint"
        },
    })
}

/// `prefix.* (n)` groups of dropped keys, for the summary line.
fn summarize(keys: &[String]) -> String {
    let mut groups: BTreeMap<&str, usize> = BTreeMap::new();
    for k in keys {
        *groups
            .entry(k.split('.').next().unwrap_or(k.as_str()))
            .or_default() += 1;
    }
    groups
        .iter()
        .map(|(g, n)| format!("{g}.* ({n} tensors)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reduction of the property head (`head_agg`, overridden by `set_head_agg` as SCD's
/// `create_model` does); SCD's default is `sum`.
fn reduce_of(h: &BTreeMap<String, PyValue>) -> anyhow::Result<Reduce> {
    let agg = string(h, "set_head_agg").or_else(|| string(h, "head_agg"));
    Ok(match agg {
        None | Some("sum" | "add") => Reduce::Sum,
        Some("mean") => Reduce::Mean,
        Some(other) => bail!("head_agg {other:?}: expected sum (add) or mean"),
    })
}

/// Our CT config (checkpoint-exact) and readout reduction from SCD's `CET` keyword arguments;
/// absent keys take `CET.__init__`'s defaults.
fn ct_config_from_hyper(h: &BTreeMap<String, PyValue>) -> anyhow::Result<(CtConfig, Reduce)> {
    match string(h, "model") {
        Some("CET") | None => {}
        Some(m) => bail!("model {m:?}: only SCD's CET (the CT) is supported"),
    }
    for (key, want) in [
        ("rbf_type", "expnorm"),
        ("activation", "silu"),
        ("emb_agg", "sum"),
    ] {
        if let Some(v) = string(h, key)
            && v != want
        {
            bail!("{key} {v:?}: only {want:?} is supported");
        }
    }
    let distance_influence = distance_influence(h)?;
    let et = EtConfig::new()
        .with_hidden_channels(opt_int(h, "emb_dim")?.unwrap_or(256))
        .with_num_layers(opt_int(h, "num_layers")?.unwrap_or(8))
        .with_num_heads(opt_int(h, "num_heads")?.unwrap_or(8))
        .with_num_rbf(opt_int(h, "num_rbf")?.unwrap_or(64))
        .with_trainable_rbf(boolean(h, "trainable_rbf", true)?)
        .with_cutoff_lower(opt_float(h, "cutoff_lower")?.unwrap_or(0.0))
        .with_cutoff_upper(opt_float(h, "cutoff_upper")?.unwrap_or(5.0))
        .with_max_z(opt_int(h, "max_z")?.unwrap_or(118))
        .with_neighbor_embedding(boolean(h, "neighbor_embedding", true)?)
        .with_distance_influence(distance_influence)
        .with_vector_cutoff(boolean(h, "vector_cutoff", true)?)
        .with_layernorm_on_vec(boolean(h, "layernorm_on_vec", false)?)
        .with_vec_norm_regulariser(CovarianceRegulariser::Scd)
        // Trained through SCD's periodic graph builder (`allow_periodic`), which caps the
        // neighbours per atom; its molecular kernel does not.
        .with_max_num_neighbors(if boolean(h, "allow_periodic", false)? {
            Some(opt_int(h, "max_num_neighbors")?.unwrap_or(32))
        } else {
            None
        });
    let ct = CtConfig::new()
        .with_et(et)
        .with_p_dropcond(opt_float(h, "p_dropcond")?.unwrap_or(0.2))
        .with_p_droppath(opt_float(h, "p_droppath")?.unwrap_or(0.1))
        .with_vec_prenorm(if boolean(h, "vec_prenorm", true)? {
            VecPreNormKind::DyT
        } else {
            VecPreNormKind::None
        })
        .with_inv_post_norm(boolean(h, "inv_post_norm", false)?)
        .with_vec_post_norm(boolean(h, "vec_post_norm", false)?);
    ct.validate()?;
    Ok((ct, reduce_of(h)?))
}

/// Parses a flat YAML mapping (`key: value  # comment` per line, as SCD's model configs are):
/// booleans, integers, floats, `null`, and plain or quoted strings. Nested structures are
/// refused.
fn parse_flat_yaml(text: &str) -> anyhow::Result<BTreeMap<String, PyValue>> {
    let mut out = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim_end();
        if line.trim().is_empty() || line.trim() == "---" {
            continue;
        }
        let lineno = i + 1;
        if line.starts_with([' ', '\t', '-']) {
            bail!("line {lineno}: nested YAML is not supported (only `key: value` lines)");
        }
        let Some((key, value)) = line.split_once(':') else {
            bail!(
                "line {lineno}: expected `key: value`, got {:?}",
                line.trim()
            );
        };
        let key = key.trim();
        let value = value.trim();
        if key.is_empty() {
            bail!("line {lineno}: empty key");
        }
        let v = if value.is_empty() || matches!(value, "null" | "~" | "None") {
            PyValue::None
        } else if matches!(value, "true" | "True") {
            PyValue::Bool(true)
        } else if matches!(value, "false" | "False") {
            PyValue::Bool(false)
        } else if let Ok(n) = value.parse::<i64>() {
            PyValue::Int(n)
        } else if let Ok(x) = value.parse::<f64>() {
            PyValue::Float(x)
        } else if value.starts_with(['[', '{']) {
            bail!("line {lineno}, field {key:?}: lists and maps are not supported");
        } else {
            PyValue::Str(value.trim_matches(|c| c == '"' || c == '\'').to_owned())
        };
        // YAML keeps the last of repeated keys (scd.yaml repeats `derivative`).
        out.insert(key.to_owned(), v);
    }
    Ok(out)
}

/// The line without a `#` comment outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scd_yaml_gives_the_released_architecture() {
        // configs/model_configs/scd.yaml of SCD (ct-scd-pcq), verbatim keys and values.
        let yaml = "model: CET \n\nemb_dim: 256\nnum_layers: 8\nnum_heads: 8\nnum_rbf: 64\n\
            rbf_type: expnorm\ntrainable_rbf: false \nneighbor_embedding: true\n\
            max_num_neighbors: 32 # 64 #32 # comment\ndistance_influence: both\n\n\
            aggregation: add\nactivation: silu\ncutoff_lower: 0.0\ncutoff_upper: 5.0\n\
            derivative: false\nmax_z: 118\n\nderivative: false\nlayernorm_on_vec: False #True\n\n\
            p_dropcond: 0.2 # p\np_droppath: 0.1 # p\n\ninv_post_norm: True\n\
            vec_post_norm: False # slow\nvec_prenorm: True\nemb_agg : sum # TRY\n\
            vector_cutoff: True \n";
        let h = parse_flat_yaml(yaml).unwrap();
        assert_eq!(h["model"], PyValue::Str("CET".into()));
        assert_eq!(h["emb_agg"], PyValue::Str("sum".into()));
        let (ct, reduce) = ct_config_from_hyper(&h).unwrap();
        assert_eq!(reduce, Reduce::Sum);
        assert_eq!(ct.et.hidden_channels, 256);
        assert!(!ct.et.trainable_rbf && ct.inv_post_norm && !ct.vec_post_norm);
        assert_eq!(ct.vec_prenorm, VecPreNormKind::DyT);
        assert_eq!(ct.et.vec_norm_regulariser, CovarianceRegulariser::Scd);
        assert_eq!(ct.et.max_num_neighbors, None);
        let mut periodic = h.clone();
        periodic.insert("allow_periodic".into(), PyValue::Bool(true));
        assert_eq!(
            ct_config_from_hyper(&periodic)
                .unwrap()
                .0
                .et
                .max_num_neighbors,
            Some(32)
        );
        // The released model's parameter count (docs/backbones.md §2.7): representation 9,173,272.
        let device = nucleate_core::testing::cpu_device();
        let model = DenoiseModelConfig::new(ct).init(&device).unwrap();
        use burn::module::Module;
        assert_eq!(model.backbone.num_params(), 9_173_272);
        assert_eq!(model.num_params(), 10_062_876);
    }

    #[test]
    fn yaml_errors_name_the_line() {
        let err = parse_flat_yaml("emb_dim: 256\n  nested: 1\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = parse_flat_yaml("emb_dim 256\n").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let err = parse_flat_yaml("prior_args: [1, 2]\n").unwrap_err();
        assert!(err.to_string().contains("prior_args"), "{err}");
        let h = parse_flat_yaml("name: 'a # b'  # c\n").unwrap();
        assert_eq!(h["name"], PyValue::Str("a # b".into()));
    }

    #[test]
    fn unsupported_architectures_are_refused() {
        let mut h = BTreeMap::new();
        h.insert("model".to_owned(), PyValue::Str("CFrad".into()));
        assert!(ct_config_from_hyper(&h).is_err());
        h.insert("model".to_owned(), PyValue::Str("CET".into()));
        h.insert("emb_agg".to_owned(), PyValue::Str("mean".into()));
        assert!(ct_config_from_hyper(&h).is_err());
        h.remove("emb_agg");
        h.insert("emb_dim".to_owned(), PyValue::Str("big".into()));
        assert!(ct_config_from_hyper(&h).is_err());
    }

    #[test]
    fn split_state_picks_model_or_ema() {
        let t = |v: f32| TorchTensor {
            shape: vec![1],
            dtype: "float32".into(),
            data: vec![v],
        };
        let mut all = BTreeMap::new();
        all.insert("model.mean".to_owned(), t(1.0));
        all.insert("ema_model.mean".to_owned(), t(2.0));
        all.insert("ctr_loss.tau".to_owned(), t(3.0));
        let s = split_state(all.clone(), false).unwrap();
        assert_eq!(s.state["mean"].data, [1.0]);
        assert_eq!(s.ignored.len(), 2);
        all.remove("ctr_loss.tau");
        all.insert("model.noise_normalizer.acc_count".to_owned(), t(7.0));
        all.insert("ema_model.noise_normalizer.acc_count".to_owned(), t(0.0));
        let s = split_state(all.clone(), true).unwrap();
        assert_eq!(s.state["mean"].data, [2.0]);
        assert_eq!(s.state["noise_normalizer.acc_count"].data, [7.0]);
        all.retain(|k, _| !k.starts_with("ema_model."));
        assert!(split_state(all, true).is_err());
        let mut bare = BTreeMap::new();
        bare.insert("mean".to_owned(), t(1.0));
        assert_eq!(split_state(bare, false).unwrap().state.len(), 1);
    }
}
