//! `nucleate model summary CONFIG [--json]`: build a model from a TOML config and count its
//! parameters.

use anyhow::Context;
use std::path::PathBuf;

/// Arguments of `nucleate model`.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub command: ModelCommand,
}

/// Subcommands of `nucleate model`.
#[derive(Debug, clap::Subcommand)]
pub enum ModelCommand {
    /// Build the model of a config and print its parameter counts.
    Summary(SummaryArgs),
}

/// Arguments of `nucleate model summary`.
#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    /// Model config (TOML with `[model]` and `[model.<backbone>]`).
    pub config: PathBuf,
    /// Print JSON: `{"backbone", "params", "params_trainable", "modules": {name: count}}`.
    #[arg(long)]
    pub json: bool,
}

/// Run `nucleate model …`.
pub fn run(args: &ModelArgs) -> anyhow::Result<()> {
    match &args.command {
        ModelCommand::Summary(a) => summary(a),
    }
}

fn summary(args: &SummaryArgs) -> anyhow::Result<()> {
    let config = crate::model_config::read_model_config(&args.config)?;
    let summary = config
        .summary(&crate::backend::model_device())
        .with_context(|| format!("building the model of {}", args.config.display()))?;
    if args.json {
        let modules: serde_json::Map<String, serde_json::Value> = summary
            .modules
            .iter()
            .map(|(name, n)| (name.clone(), serde_json::Value::from(*n)))
            .collect();
        let out = serde_json::json!({
            "backbone": summary.backbone,
            "params": summary.params,
            "params_trainable": summary.params_trainable,
            "modules": modules,
        });
        println!("{out}");
    } else {
        println!("backbone          {}", summary.backbone);
        println!("params            {}", summary.params);
        println!("params_trainable  {}", summary.params_trainable);
        for (name, n) in &summary.modules {
            println!("  {name:24} {n}");
        }
    }
    Ok(())
}
