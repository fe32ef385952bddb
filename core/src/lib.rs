//! nucleate-core: the science of nucleate, independent of files, threads and backends.
//!
//! Data flows file bytes → [`io`] readers → [`Structure`] → [`bonds`] / graphs → backbones.
//! This crate opens no files and picks no burn backend; it must build for `wasm32-unknown-unknown`.

pub mod backbone;
pub mod bonds;
pub mod elements;
pub mod graph;
pub mod head;
pub mod io;
pub mod metrics;
pub mod nn;
pub mod objective;
pub mod rng;
pub mod structure;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod train;
pub mod units;

pub use bonds::{Bond, BondOptions, infer_bonds};
pub use elements::Element;
pub use structure::{AtomArray, Label, LabelValue, Structure};
