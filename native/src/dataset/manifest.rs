//! `manifest.json`: what a converted dataset directory holds, written last by the converter.

use super::schema::ExtraColumn;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Value of [`Manifest::format`].
pub const FORMAT: &str = "nucleate-dataset";
/// File name of the manifest inside a dataset directory.
pub const FILE_NAME: &str = "manifest.json";

/// The dataset directory's table of contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`super::schema::SCHEMA_VERSION`] of the shards.
    pub schema_version: u32,
    /// `nucleate <version>`.
    pub created_by: String,
    pub n_structures: usize,
    pub n_atoms: usize,
    /// Structures per shard and per row group asked for at conversion.
    pub shard_size: usize,
    pub row_group_size: usize,
    /// Shards in order; structure `i` of the dataset is the `i`-th row across them.
    pub shards: Vec<ShardInfo>,
    /// Input files in the order they were read.
    pub sources: Vec<SourceInfo>,
    /// Union of the shards' label and per-atom array columns.
    pub columns: Vec<ExtraColumn>,
}

/// One Parquet file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// File name relative to the dataset directory.
    pub file: String,
    pub n_structures: usize,
    pub n_atoms: usize,
    /// Rows per row group, in order.
    pub row_groups: Vec<usize>,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
    pub bytes: u64,
}

/// One input file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The path as given (or found in a directory / glob).
    pub path: String,
    /// SHA-256 of the file as stored (compressed bytes for compressed files), lower-case hex.
    pub sha256: String,
    pub bytes: u64,
    pub n_structures: usize,
    /// For a table of labels joined onto the structures of other sources (e.g. the QM9
    /// polarizability tensor): the label it added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_label: Option<String>,
}

impl Manifest {
    /// Read and check `dir/manifest.json`.
    ///
    /// # Errors
    /// Missing or malformed file, another format or schema version, counts that do not add up.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(FILE_NAME);
        let text = crate::input::read_text(&path)?;
        let m: Manifest =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if m.format != FORMAT {
            bail!(
                "format {:?} is not {FORMAT:?}: {}",
                m.format,
                path.display()
            );
        }
        if m.schema_version != super::schema::SCHEMA_VERSION {
            bail!(
                "schema version {} is not supported (this nucleate reads {}): {}",
                m.schema_version,
                super::schema::SCHEMA_VERSION,
                path.display()
            );
        }
        let rows: usize = m.shards.iter().map(|s| s.n_structures).sum();
        let bad_shard = m
            .shards
            .iter()
            .find(|s| s.row_groups.iter().sum::<usize>() != s.n_structures);
        if rows != m.n_structures || bad_shard.is_some() {
            bail!(
                "shard and row-group counts do not add up to n_structures = {}: {}",
                m.n_structures,
                path.display()
            );
        }
        Ok(m)
    }

    /// Whether `dir` holds a manifest (is a converted dataset).
    pub fn exists_in(dir: &Path) -> bool {
        dir.join(FILE_NAME).is_file()
    }
}

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
