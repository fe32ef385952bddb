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

#[cfg(test)]
mod tests {
    use super::*;
    use nucleate_core::Structure;
    use nucleate_core::structure::{AtomArray, Label, LabelValue};

    fn label(value: LabelValue, unit: Option<&str>) -> Label {
        Label {
            value,
            unit: unit.map(str::to_owned),
        }
    }

    /// Structures exercising every column type, nulls, empty lists and an atom-less record.
    fn structures() -> Vec<Structure> {
        let mut a = Structure::molecule(
            vec![8, 1, 1],
            vec![[0.0, 0.1, -0.2], [0.9, 0.0, 0.0], [-0.3, 0.8, 1e-300]],
        );
        a.source = "a.xyz".into();
        a.comment = "water".into();
        a.labels.insert(
            "energy".into(),
            label(LabelValue::Float(-76.4), Some("Hartree")),
        );
        a.labels
            .insert("ok".into(), label(LabelValue::Bool(true), None));
        a.labels
            .insert("tag".into(), label(LabelValue::Text("w".into()), None));
        a.labels
            .insert("stress".into(), label(LabelValue::Floats(vec![]), None));
        a.atom_arrays.insert(
            "forces".into(),
            AtomArray::Float {
                width: 3,
                values: (0..9).map(f64::from).collect(),
            },
        );
        a.atom_arrays.insert(
            "fixed".into(),
            AtomArray::Bool {
                width: 1,
                values: vec![true, false, true],
            },
        );
        a.atom_arrays.insert(
            "name".into(),
            AtomArray::Text {
                width: 1,
                values: vec!["O1".into(), "H1".into(), "H2".into()],
            },
        );
        let mut b = Structure::molecule(vec![26, 26], vec![[0.0; 3], [1.4, 1.4, 1.4]]);
        b.source = "b.cif".into();
        b.record_index = 7;
        b.lattice = Some([[2.8, 0.0, 0.0], [0.0, 2.8, 0.0], [0.1, 0.2, 2.8]]);
        b.pbc = [true, true, false];
        b.labels.insert(
            "stress".into(),
            label(LabelValue::Floats(vec![1.0, -2.5, 3.0]), None),
        );
        b.labels
            .insert("n".into(), label(LabelValue::Int(-3), None));
        b.atom_arrays.insert(
            "tags".into(),
            AtomArray::Int {
                width: 2,
                values: vec![1, 2, 3, 4],
            },
        );
        let c = Structure {
            source: "c.xyz".into(),
            record_index: 1,
            ..Structure::default()
        };
        vec![a, b, c]
    }

    #[test]
    fn write_then_read_every_column_type() {
        let dir =
            std::env::temp_dir().join(format!("nucleate-dataset-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let options = WriteOptions {
            shard_size: 2,
            row_group_size: 1,
            codec: write::Codec::Snappy,
        };
        let mut w = DatasetWriter::create(&dir, options, false).expect("create");
        let want = structures();
        w.push(want.clone()).expect("push");
        let m = w.finish(Vec::new()).expect("finish");
        assert_eq!((m.n_structures, m.n_atoms, m.shards.len()), (3, 5, 2));
        let ds = Dataset::open(&dir).expect("open");
        let got: Vec<Structure> = ds
            .structures()
            .collect::<anyhow::Result<_>>()
            .expect("stream");
        assert_eq!(got, want);
        for (i, s) in want.iter().enumerate() {
            assert_eq!(&ds.get(i).expect("random access"), s, "structure {i}");
        }
        assert_eq!(
            ds.locate(2),
            Some(read::Location {
                shard: 1,
                row_group: 0,
                row: 0
            })
        );
        assert!(ds.get(3).is_err());
        assert!(
            DatasetWriter::create(&dir, options, false).is_err(),
            "existing dataset"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
