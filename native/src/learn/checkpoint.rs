//! Training checkpoints: one file, written atomically, holding everything a run needs to
//! continue exactly where it stopped.
//!
//! Layout of `checkpoint.bin`: the magic `NUCCKPT1`, a little-endian `u64` header length, the
//! JSON [`Header`], then the raw weights (`f32`), the EMA weights (`f32`, when the run keeps an
//! EMA), and AdamW's first and second moments (`f64`), each parameter after the other in the
//! model's visiting order. The file is written under a temporary name, flushed to disk and
//! renamed over the previous checkpoint, so a run killed at any moment leaves either the old or
//! the new checkpoint, never a torn one.

use std::path::Path;

pub use crate::fsutil::write_atomic;

use anyhow::{Context, bail};
use nucleate_core::train::{AdamWState, NoiseNormalizer};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"NUCCKPT1";

/// The JSON header of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    /// Optimiser steps done.
    pub step: u64,
    /// SHA-256 of the resolved run config the checkpoint belongs to.
    pub config_sha256: String,
    /// Values per parameter (visiting order).
    pub sizes: Vec<usize>,
    /// Whether EMA weights follow the weights.
    pub has_ema: bool,
    /// AdamW's step count.
    pub adam_step: u64,
    /// Noise normaliser buffers: Σu, Σu², count.
    pub norm_sum: [f64; 3],
    /// Σu² per axis.
    pub norm_sum_sq: [f64; 3],
    /// Atoms seen by the normaliser.
    pub norm_count: u64,
    /// Training seconds before this checkpoint (all invocations).
    pub seconds: f64,
    /// EDM's adaptive gradient clipping: the recorded gradient norms, oldest first (empty for
    /// runs without it, and in checkpoints written before it was kept).
    #[serde(default)]
    pub clip_history: Vec<f64>,
}

/// Everything in a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Header.
    pub header: Header,
    /// Weights.
    pub params: Vec<Vec<f32>>,
    /// EMA weights.
    pub ema: Option<Vec<Vec<f32>>>,
    /// AdamW state.
    pub adam: AdamWState,
}

impl Checkpoint {
    /// The noise normaliser stored in the header.
    pub fn normalizer(&self) -> NoiseNormalizer {
        NoiseNormalizer {
            sum: self.header.norm_sum,
            sum_sq: self.header.norm_sum_sq,
            count: self.header.norm_count,
        }
    }
}

/// Serialises a checkpoint.
///
/// # Errors
/// JSON encoding of the header (not expected).
pub fn encode(c: &Checkpoint) -> anyhow::Result<Vec<u8>> {
    let header = serde_json::to_vec(&c.header)?;
    let n: usize = c.params.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(16 + header.len() + n * (4 + 4 + 16));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for p in &c.params {
        for v in p {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    if let Some(ema) = &c.ema {
        for p in ema {
            for v in p {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    for moments in [&c.adam.m, &c.adam.v] {
        for p in moments {
            for v in p {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    Ok(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &str) -> anyhow::Result<&[u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            bail!(
                "truncated: {what} needs {n} bytes at offset {}, the file has {}",
                self.at,
                self.bytes.len()
            );
        };
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn f32s(&mut self, sizes: &[usize], what: &str) -> anyhow::Result<Vec<Vec<f32>>> {
        sizes
            .iter()
            .map(|&n| {
                let b = self.take(n.checked_mul(4).context("size overflow")?, what)?;
                Ok(b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect())
            })
            .collect()
    }

    fn f64s(&mut self, sizes: &[usize], what: &str) -> anyhow::Result<Vec<Vec<f64>>> {
        sizes
            .iter()
            .map(|&n| {
                let b = self.take(n.checked_mul(8).context("size overflow")?, what)?;
                Ok(b.chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect())
            })
            .collect()
    }
}

/// Parses a checkpoint.
///
/// # Errors
/// Wrong magic, truncated data, a bad header, trailing bytes.
pub fn decode(bytes: &[u8]) -> anyhow::Result<Checkpoint> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(8, "magic")? != MAGIC {
        bail!("not a nucleate checkpoint (bad magic)");
    }
    let len_bytes = r.take(8, "header length")?;
    let len = u64::from_le_bytes(len_bytes.try_into().context("header length")?);
    let len = usize::try_from(len).context("header length")?;
    let header: Header =
        serde_json::from_slice(r.take(len, "header")?).context("checkpoint header")?;
    let sizes = header.sizes.clone();
    let params = r.f32s(&sizes, "weights")?;
    let ema = if header.has_ema {
        Some(r.f32s(&sizes, "EMA weights")?)
    } else {
        None
    };
    let m = r.f64s(&sizes, "first moments")?;
    let v = r.f64s(&sizes, "second moments")?;
    if r.at != bytes.len() {
        bail!("{} trailing bytes after the checkpoint", bytes.len() - r.at);
    }
    Ok(Checkpoint {
        adam: AdamWState {
            step: header.adam_step,
            m,
            v,
        },
        header,
        params,
        ema,
    })
}

/// Reads `path`.
///
/// # Errors
/// I/O and format errors, with the path.
pub fn read(path: &Path) -> anyhow::Result<Checkpoint> {
    let bytes = crate::input::read_file(path)?;
    decode(&bytes).with_context(|| format!("{}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            header: Header {
                step: 7,
                config_sha256: "ab".into(),
                sizes: vec![2, 1],
                has_ema: true,
                adam_step: 7,
                norm_sum: [0.1, -0.2, 0.3],
                norm_sum_sq: [1.0, 2.0, 3.0],
                norm_count: 99,
                seconds: 1.5,
                clip_history: Vec::new(),
            },
            params: vec![vec![1.0, f32::MIN_POSITIVE], vec![-3.5]],
            ema: Some(vec![vec![0.5, 0.25], vec![1e-30]]),
            adam: AdamWState {
                step: 7,
                m: vec![vec![0.1, 0.2], vec![0.3]],
                v: vec![vec![1e-300, 2.0], vec![3.0]],
            },
        }
    }

    #[test]
    fn round_trip_is_bit_exact() {
        let c = sample();
        let bytes = encode(&c).unwrap();
        assert_eq!(decode(&bytes).unwrap(), c);
    }

    #[test]
    fn damaged_files_are_errors() {
        let bytes = encode(&sample()).unwrap();
        for cut in [0, 5, 12, 40, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(format!("{:#}", decode(&bad).unwrap_err()).contains("magic"));
        let mut long = bytes;
        long.push(0);
        assert!(format!("{:#}", decode(&long).unwrap_err()).contains("trailing"));
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("nucleate-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoint.bin");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
