//! Converted datasets: sharded Parquet files plus `manifest.json` in one directory.
//!
//! - [`schema`]: the columns of a shard (one row per structure) and their metadata;
//! - [`write`]: [`DatasetWriter`] buffers structures and writes shards and the manifest;
//! - [`read`]: [`Dataset`] streams row groups and fetches structure `i` by random access;
//! - [`stats`]: one-pass summary statistics;
//! - [`split`]: seeded, platform-independent train/validation/test splits.

pub mod manifest;
pub mod read;
pub mod schema;
pub mod split;
pub mod stats;
pub mod write;

pub use manifest::Manifest;
pub use read::Dataset;
pub use write::{DatasetWriter, WriteOptions};
