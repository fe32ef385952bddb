//! Metrics of a run as JSON lines (`metrics.jsonl`) and CSV (`metrics.csv`), one row per logged
//! training step or validation, and the PNG plots drawn from them.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;
use crate::plot::{Chart, Mark, Series, parity_chart, render_svg};

/// One logged row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Row {
    /// Optimiser steps done.
    pub step: u64,
    /// `train`, `val` or `test`.
    pub split: String,
    /// The objective's loss (training: this batch; validation: the mean over the split).
    pub loss: f64,
    /// Denoising MSE on normalised noise.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub denoise: Option<f64>,
    /// Property MSE (target units²).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub property: Option<f64>,
    /// SCD's `pos_MAE` (Å).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pos_mae: Option<f64>,
    /// Property mean absolute error (target units).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mae: Option<f64>,
    /// Learning rate of the step.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lr: Option<f64>,
    /// Global gradient norm before clipping.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub grad_norm: Option<f64>,
    /// Training seconds so far.
    pub seconds: f64,
    /// The objective's other terms by name (UniGEM's `eps`, `type`, `prop`; `force`).
    #[serde(flatten, default)]
    pub terms: std::collections::BTreeMap<String, f64>,
    /// Device→host reads of the logged step (training rows; a transaction counts once).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reads: Option<u64>,
    /// Host→device uploads of the logged step.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uploads: Option<u64>,
    /// Bytes read to the host in the logged step.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes_to_host: Option<u64>,
    /// Bytes uploaded to the device in the logged step.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes_to_device: Option<u64>,
    /// Reads of the training steps since the previous training row that did not log (0:
    /// steps that log nothing read nothing).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unlogged_reads: Option<u64>,
}

impl Row {
    /// A row of `split` at `step` with only the loss and the time.
    pub fn new(step: u64, split: &str, loss: f64, seconds: f64) -> Self {
        Self {
            step,
            split: split.into(),
            loss,
            denoise: None,
            property: None,
            pos_mae: None,
            mae: None,
            lr: None,
            grad_norm: None,
            seconds,
            terms: std::collections::BTreeMap::new(),
            reads: None,
            uploads: None,
            bytes_to_host: None,
            bytes_to_device: None,
            unlogged_reads: None,
        }
    }

    /// With the transfers of the step it logs.
    #[must_use]
    pub fn with_transfers(mut self, t: nucleate_core::train::transfer::Counters) -> Self {
        self.reads = Some(t.reads);
        self.uploads = Some(t.uploads);
        self.bytes_to_host = Some(t.bytes_to_host);
        self.bytes_to_device = Some(t.bytes_to_device);
        self
    }
}

const CSV_HEADER: &str = "step,split,loss,denoise,property,pos_mae,mae,lr,grad_norm,seconds,\
                          reads,uploads,bytes_to_host,bytes_to_device";

fn csv_line(r: &Row) -> String {
    let o = |v: Option<f64>| v.map(|x| format!("{x:e}")).unwrap_or_default();
    let u = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
    let t = format!(
        "{},{},{},{}",
        u(r.reads),
        u(r.uploads),
        u(r.bytes_to_host),
        u(r.bytes_to_device)
    );
    format!(
        "{},{},{:e},{},{},{},{},{},{},{:.3},{t}",
        r.step,
        r.split,
        r.loss,
        o(r.denoise),
        o(r.property),
        o(r.pos_mae),
        o(r.mae),
        o(r.lr),
        o(r.grad_norm),
        r.seconds
    )
}

/// The metrics files of a run directory.
#[derive(Debug, Clone)]
pub struct MetricsLog {
    jsonl: PathBuf,
    csv: PathBuf,
}

impl MetricsLog {
    /// The log in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            jsonl: dir.join("metrics.jsonl"),
            csv: dir.join("metrics.csv"),
        }
    }

    /// Every row logged so far (an unreadable last line, cut by a kill, is dropped).
    ///
    /// # Errors
    /// I/O errors other than a missing file.
    pub fn rows(&self) -> anyhow::Result<Vec<Row>> {
        if !self.jsonl.exists() {
            return Ok(Vec::new());
        }
        Ok(crate::input::read_text(&self.jsonl)?
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Keeps only the rows up to `step` (what a resumed run has not yet redone) in both files.
    ///
    /// # Errors
    /// I/O errors.
    pub fn truncate_after(&self, step: u64) -> anyhow::Result<()> {
        let rows: Vec<Row> = self
            .rows()?
            .into_iter()
            .filter(|r| r.step <= step)
            .collect();
        let mut jsonl = String::new();
        let mut csv = format!("{CSV_HEADER}\n");
        for r in &rows {
            jsonl.push_str(&serde_json::to_string(r)?);
            jsonl.push('\n');
            csv.push_str(&csv_line(r));
            csv.push('\n');
        }
        write_atomic(&self.jsonl, jsonl.as_bytes())?;
        write_atomic(&self.csv, csv.as_bytes())
    }

    /// Appends a row to both files.
    ///
    /// # Errors
    /// I/O errors.
    pub fn append(&self, row: &Row) -> anyhow::Result<()> {
        let open = |p: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))
        };
        let mut j = open(&self.jsonl)?;
        writeln!(j, "{}", serde_json::to_string(row)?)?;
        let new_csv = !self.csv.exists();
        let mut c = open(&self.csv)?;
        if new_csv {
            writeln!(c, "{CSV_HEADER}")?;
        }
        writeln!(c, "{}", csv_line(row))?;
        Ok(())
    }

    /// Draws `loss.svg` (training and validation loss, log scale) and, when validation rows
    /// carry an MAE, `val_mae.svg`, into `dir`.
    ///
    /// # Errors
    /// Rendering or I/O errors.
    pub fn plot(&self, dir: &Path, unit: &str) -> anyhow::Result<Vec<PathBuf>> {
        let rows = self.rows()?;
        let pick = |split: &str, f: &dyn Fn(&Row) -> Option<f64>| -> Vec<(f64, f64)> {
            rows.iter()
                .filter(|r| r.split == split)
                .filter_map(|r| f(r).map(|v| (r.step as f64, v)))
                .collect()
        };
        let train = pick("train", &|r| Some(r.loss));
        let mut out = Vec::new();
        let loss = Chart {
            title: "training and validation loss".into(),
            x_label: "step".into(),
            y_label: "loss".into(),
            series: vec![
                Series {
                    name: "train".into(),
                    points: smooth(&train),
                    color: [31, 119, 180],
                    mark: Mark::Line,
                },
                Series {
                    name: "val".into(),
                    points: pick("val", &|r| Some(r.loss)),
                    color: [214, 39, 40],
                    mark: Mark::Line,
                },
            ],
            log_y: true,
            width: 800,
            height: 500,
        };
        let path = dir.join("loss.svg");
        write_atomic(&path, render_svg(&loss)?.as_bytes())?;
        out.push(path);
        let mae = pick("val", &|r| r.mae);
        if !mae.is_empty() {
            let chart = Chart {
                title: "validation MAE".into(),
                x_label: "step".into(),
                y_label: format!("MAE ({unit})"),
                series: vec![Series {
                    name: "val MAE".into(),
                    points: mae,
                    color: [44, 160, 44],
                    mark: Mark::Line,
                }],
                log_y: true,
                width: 800,
                height: 500,
            };
            let path = dir.join("val_mae.svg");
            write_atomic(&path, render_svg(&chart)?.as_bytes())?;
            out.push(path);
        }
        Ok(out)
    }
}

/// Draws `parity.svg` into `dir`: a fine-tuned model's predictions against the reference
/// values `(reference, predicted)` of the test split.
///
/// # Errors
/// Rendering or I/O errors.
pub fn plot_parity(
    dir: &Path,
    pairs: &[(f64, f64)],
    target: &str,
    unit: &str,
) -> anyhow::Result<PathBuf> {
    let mae = pairs.iter().map(|(t, p)| (p - t).abs()).sum::<f64>() / pairs.len().max(1) as f64;
    let path = dir.join("parity.svg");
    write_atomic(
        &path,
        render_svg(&parity_chart(pairs, target, unit, mae))?.as_bytes(),
    )?;
    Ok(path)
}

/// Moving average over a window of 1/20 of the points (at least 1), for noisy batch losses.
fn smooth(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let w = (points.len() / 20).max(1);
    points
        .iter()
        .enumerate()
        .map(|(i, &(x, _))| {
            let lo = i.saturating_sub(w - 1);
            let window = &points[lo..=i];
            (
                x,
                window.iter().map(|p| p.1).sum::<f64>() / window.len() as f64,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: u64, split: &str, loss: f64) -> Row {
        let mut r = Row::new(step, split, loss, step as f64);
        r.denoise = Some(loss);
        r.mae = (split == "val").then_some(loss / 2.0);
        r.lr = Some(1e-3);
        r.grad_norm = Some(0.5);
        r.terms = [("force".to_string(), 0.25)].into();
        if split == "train" {
            r = r.with_transfers(nucleate_core::train::transfer::Counters {
                reads: 1,
                uploads: 9,
                bytes_to_host: 40,
                bytes_to_device: 1000,
            });
        }
        r
    }

    #[test]
    fn append_truncate_and_plot() {
        let dir = std::env::temp_dir().join(format!("nucleate-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = MetricsLog::new(&dir);
        for s in 1..=10 {
            log.append(&row(s, "train", 1.0 / s as f64)).unwrap();
        }
        log.append(&row(10, "val", 0.2)).unwrap();
        assert_eq!(log.rows().unwrap().len(), 11);
        log.truncate_after(6).unwrap();
        let rows = log.rows().unwrap();
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[5], row(6, "train", 1.0 / 6.0));
        let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
        assert_eq!(csv.lines().count(), 7);
        assert!(csv.starts_with("step,split,loss"));
        assert!(
            csv.lines().nth(1).unwrap().ends_with(",1,9,40,1000"),
            "{csv}"
        );
        let json = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
        assert!(
            json.contains(
                "\"reads\":1,\"uploads\":9,\"bytes_to_host\":40,\"bytes_to_device\":1000"
            ),
            "{json}"
        );
        assert!(json.contains("\"force\":0.25"), "{json}");
        log.append(&row(8, "val", 0.3)).unwrap();
        let files = log.plot(&dir, "eV").unwrap();
        assert_eq!(files.len(), 2);
        for f in files {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(
                text.starts_with("<svg") && text.contains("<polyline"),
                "{text}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
