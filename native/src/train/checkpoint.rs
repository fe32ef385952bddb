//! Training checkpoints: one file, written atomically, holding everything a run needs to
//! continue exactly where it stopped.
//!
//! Layout of `checkpoint.bin`: the magic `NUCCKPT2`, a little-endian `u64` header length, the
//! JSON [`Header`], then the engine's flat tensors as little-endian `f32`: the weights, the EMA
//! weights (when the run keeps an EMA), AdamW's first and second moments, each in the model's
//! visiting order — exactly what the device holds, so a resumed run continues bit for bit.
//! Checkpoints of the host optimiser (`NUCCKPT1`, moments in `f64`) still load; their moments
//! are rounded to `f32`. The file is written under a temporary name, flushed to disk and
//! renamed over the previous checkpoint, so a run killed at any moment leaves either the old or
//! the new checkpoint, never a torn one.

use std::path::Path;

use anyhow::{Context, bail};
use nucleate_core::train::{EngineState, NoiseNormalizer};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"NUCCKPT2";
const MAGIC_V1: &[u8; 8] = b"NUCCKPT1";

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
    /// AdamW's update count (its bias correction).
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
    /// The engine's state (its `step` and `clip_history` are the header's).
    pub state: EngineState,
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
    let n = c.state.params.len();
    let mut out = Vec::with_capacity(16 + header.len() + n * 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    let s = &c.state;
    for values in [Some(&s.params), s.ema.as_ref(), Some(&s.m), Some(&s.v)]
        .into_iter()
        .flatten()
    {
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
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

    fn f32s(&mut self, n: usize, what: &str) -> anyhow::Result<Vec<f32>> {
        let b = self.take(n.checked_mul(4).context("size overflow")?, what)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// `f64` values rounded to `f32` (version 1 moments).
    fn f64s_as_f32(&mut self, n: usize, what: &str) -> anyhow::Result<Vec<f32>> {
        let b = self.take(n.checked_mul(8).context("size overflow")?, what)?;
        Ok(b.chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect())
    }
}

/// Parses a checkpoint.
///
/// # Errors
/// Wrong magic, truncated data, a bad header, trailing bytes.
pub fn decode(bytes: &[u8]) -> anyhow::Result<Checkpoint> {
    let mut r = Reader { bytes, at: 0 };
    let magic = r.take(8, "magic")?;
    let v1 = magic == MAGIC_V1;
    if magic != MAGIC && !v1 {
        bail!("not a nucleate checkpoint (bad magic)");
    }
    let len_bytes = r.take(8, "header length")?;
    let len = u64::from_le_bytes(len_bytes.try_into().context("header length")?);
    let len = usize::try_from(len).context("header length")?;
    let header: Header =
        serde_json::from_slice(r.take(len, "header")?).context("checkpoint header")?;
    let n = header
        .sizes
        .iter()
        .try_fold(0usize, |a, &b| a.checked_add(b))
        .context("size overflow")?;
    let params = r.f32s(n, "weights")?;
    let ema = if header.has_ema {
        Some(r.f32s(n, "EMA weights")?)
    } else {
        None
    };
    let (m, v) = if v1 {
        (
            r.f64s_as_f32(n, "first moments")?,
            r.f64s_as_f32(n, "second moments")?,
        )
    } else {
        (r.f32s(n, "first moments")?, r.f32s(n, "second moments")?)
    };
    if r.at != bytes.len() {
        bail!("{} trailing bytes after the checkpoint", bytes.len() - r.at);
    }
    Ok(Checkpoint {
        state: EngineState {
            step: header.step,
            adam_step: header.adam_step,
            params,
            m,
            v,
            ema,
            clip_history: header.clip_history.clone(),
        },
        header,
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
    use crate::fsutil::write_atomic;

    fn sample() -> Checkpoint {
        Checkpoint {
            header: Header {
                step: 7,
                config_sha256: "ab".into(),
                sizes: vec![2, 1],
                has_ema: true,
                adam_step: 5,
                norm_sum: [0.1, -0.2, 0.3],
                norm_sum_sq: [1.0, 2.0, 3.0],
                norm_count: 99,
                seconds: 1.5,
                clip_history: vec![3000.0, 2.5],
            },
            state: EngineState {
                step: 7,
                adam_step: 5,
                params: vec![1.0, f32::MIN_POSITIVE, -3.5],
                ema: Some(vec![0.5, 0.25, 1e-30]),
                m: vec![0.1, 0.2, 0.3],
                v: vec![1e-30, 2.0, 3.0],
                clip_history: vec![3000.0, 2.5],
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
    fn version_1_checkpoints_load_with_moments_rounded_to_f32() {
        let c = sample();
        let header = serde_json::to_vec(&c.header).unwrap();
        let mut bytes = b"NUCCKPT1".to_vec();
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header);
        for v in c.state.params.iter().chain(c.state.ema.as_ref().unwrap()) {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        for v in c.state.m.iter().chain(&c.state.v) {
            bytes.extend_from_slice(&(f64::from(*v) * (1.0 + 1e-12)).to_le_bytes());
        }
        let read = decode(&bytes).unwrap();
        assert_eq!(
            read, c,
            "f64 moments within f32 rounding come back as the f32 values"
        );
        assert!(decode(&bytes[..bytes.len() - 8]).is_err());
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
