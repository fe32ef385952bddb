//! The Parquet layout of a converted dataset, schema version [`SCHEMA_VERSION`].
//!
//! One row per structure. Fixed columns, in this order:
//!
//! | column | Parquet type | meaning |
//! |---|---|---|
//! | `source` | `string` | file the structure came from (as given on the command line) |
//! | `index` | `int64` | zero-based record index within `source` |
//! | `comment` | `string` | title / comment line of the record |
//! | `numbers` | `list<uint8>` | atomic numbers `[n_atoms]` |
//! | `positions` | `list<double>` | Cartesian positions in Å, flat `[n_atoms * 3]` |
//! | `lattice` | `list<double>`, nullable | lattice vectors as rows (Å), flat `[9]`; null without a cell |
//! | `pbc` | `list<boolean>` | periodicity along a, b, c `[3]` |
//!
//! Then one nullable column per label (`label_<name>`: `double`, `int64`, `boolean`, `string`,
//! or `list<double>` for list labels) and per per-atom array (`atom_<name>`: a flat list of
//! `n_atoms * width` values), null where a structure lacks it. Lists use the standard
//! three-level `LIST` encoding (`<col>.list.element`). The file's key-value metadata holds
//! `nucleate.schema_version` and `nucleate.columns`: a JSON array of [`ExtraColumn`]s giving
//! each extra column's name, type, unit and width. Different shards may have different extra
//! columns; the manifest lists their union.

use anyhow::bail;
use nucleate_core::Structure;
use nucleate_core::structure::{AtomArray, LabelValue};
use parquet::basic::{LogicalType, Repetition, Type as PhysicalType};
use parquet::schema::types::{Type, TypePtr};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Version of the layout above; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Key-value metadata key holding the schema version.
pub const KEY_VERSION: &str = "nucleate.schema_version";
/// Key-value metadata key holding the JSON array of extra columns.
pub const KEY_COLUMNS: &str = "nucleate.columns";

/// Number of fixed leaf columns (`source` … `pbc`).
pub const N_FIXED: usize = 7;

/// Value type of a label or per-atom array column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DType {
    Float,
    Int,
    Bool,
    Text,
}

/// What an extra column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// One value per structure ([`LabelValue::Float`], `Int`, `Bool`, `Text`).
    Label,
    /// A list of reals per structure ([`LabelValue::Floats`]).
    LabelList,
    /// A per-atom array, `n_atoms * width` values.
    Atom,
}

/// A label or per-atom array column beyond the fixed ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraColumn {
    /// Label or array name as in [`Structure`] (`"homo"`, `"forces"`).
    pub name: String,
    pub kind: ColumnKind,
    pub dtype: DType,
    /// Unit symbol (`crate::units` spelling), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Values per atom, for [`ColumnKind::Atom`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
}

impl ExtraColumn {
    /// The Parquet column name: `label_<name>` or `atom_<name>`.
    pub fn column_name(&self) -> String {
        match self.kind {
            ColumnKind::Label | ColumnKind::LabelList => format!("label_{}", self.name),
            ColumnKind::Atom => format!("atom_{}", self.name),
        }
    }

    /// Whether the column is a list (repeated) column.
    pub fn is_list(&self) -> bool {
        !matches!(self.kind, ColumnKind::Label)
    }
}

fn label_column(name: &str, value: &LabelValue, unit: Option<&String>) -> ExtraColumn {
    let (kind, dtype) = match value {
        LabelValue::Float(_) => (ColumnKind::Label, DType::Float),
        LabelValue::Int(_) => (ColumnKind::Label, DType::Int),
        LabelValue::Bool(_) => (ColumnKind::Label, DType::Bool),
        LabelValue::Text(_) => (ColumnKind::Label, DType::Text),
        LabelValue::Floats(_) => (ColumnKind::LabelList, DType::Float),
    };
    ExtraColumn {
        name: name.to_owned(),
        kind,
        dtype,
        unit: unit.cloned(),
        width: None,
    }
}

fn atom_column(name: &str, array: &AtomArray, unit: Option<String>) -> ExtraColumn {
    let dtype = match array {
        AtomArray::Float { .. } => DType::Float,
        AtomArray::Int { .. } => DType::Int,
        AtomArray::Bool { .. } => DType::Bool,
        AtomArray::Text { .. } => DType::Text,
    };
    ExtraColumn {
        name: name.to_owned(),
        kind: ColumnKind::Atom,
        dtype,
        unit,
        width: Some(array.width()),
    }
}

/// Merge `col` into `columns` (sorted by kind then name): integers widen to floats; any other
/// disagreement in type, unit or width is an error naming `origin`.
pub fn merge_column(
    columns: &mut Vec<ExtraColumn>,
    col: ExtraColumn,
    origin: &dyn Fn() -> String,
) -> anyhow::Result<()> {
    let key = |c: &ExtraColumn| (c.kind == ColumnKind::Atom, c.name.clone());
    match columns.binary_search_by_key(&key(&col), key) {
        Err(at) => columns.insert(at, col),
        Ok(at) => {
            let have = &mut columns[at];
            if have.kind != col.kind || have.width != col.width {
                bail!(
                    "column {:?} changes shape ({:?} width {:?} before, {:?} width {:?} in {})",
                    col.column_name(),
                    have.kind,
                    have.width,
                    col.kind,
                    col.width,
                    origin()
                );
            }
            if have.unit != col.unit {
                bail!(
                    "column {:?} changes unit ({:?} before, {:?} in {})",
                    col.column_name(),
                    have.unit,
                    col.unit,
                    origin()
                );
            }
            match (have.dtype, col.dtype) {
                (a, b) if a == b => {}
                (DType::Float, DType::Int) => {}
                (DType::Int, DType::Float) => have.dtype = DType::Float,
                (a, b) => bail!(
                    "column {:?} changes type ({a:?} before, {b:?} in {})",
                    col.column_name(),
                    origin()
                ),
            }
        }
    }
    Ok(())
}

/// The extra columns needed by `structures` (sorted: labels by name, then arrays by name).
///
/// # Errors
/// Structures disagree on a label's or array's type, unit or width (naming source and index).
pub fn columns_of(structures: &[Structure]) -> anyhow::Result<Vec<ExtraColumn>> {
    let mut columns = Vec::new();
    for s in structures {
        let origin = || format!("{} record {}", s.source, s.record_index);
        for (name, label) in &s.labels {
            merge_column(
                &mut columns,
                label_column(name, &label.value, label.unit.as_ref()),
                &origin,
            )?;
        }
        for (name, array) in &s.atom_arrays {
            merge_column(&mut columns, atom_column(name, array, None), &origin)?;
        }
    }
    Ok(columns)
}

fn primitive(
    name: &str,
    physical: PhysicalType,
    repetition: Repetition,
    logical: Option<LogicalType>,
) -> anyhow::Result<TypePtr> {
    Ok(Arc::new(
        Type::primitive_type_builder(name, physical)
            .with_repetition(repetition)
            .with_logical_type(logical)
            .build()?,
    ))
}

/// `<name> (LIST) { repeated group list { required <element> } }`.
fn list(name: &str, element: TypePtr, nullable: bool) -> anyhow::Result<TypePtr> {
    let repeated = Type::group_type_builder("list")
        .with_repetition(Repetition::REPEATED)
        .with_fields(vec![element])
        .build()?;
    Ok(Arc::new(
        Type::group_type_builder(name)
            .with_repetition(if nullable {
                Repetition::OPTIONAL
            } else {
                Repetition::REQUIRED
            })
            .with_logical_type(Some(LogicalType::List))
            .with_fields(vec![Arc::new(repeated)])
            .build()?,
    ))
}

fn element_of(dtype: DType) -> anyhow::Result<TypePtr> {
    let (physical, logical) = physical_of(dtype);
    primitive("element", physical, Repetition::REQUIRED, logical)
}

fn physical_of(dtype: DType) -> (PhysicalType, Option<LogicalType>) {
    match dtype {
        DType::Float => (PhysicalType::DOUBLE, None),
        DType::Int => (PhysicalType::INT64, None),
        DType::Bool => (PhysicalType::BOOLEAN, None),
        DType::Text => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
    }
}

/// The Parquet message type for the fixed columns plus `extra`.
///
/// # Errors
/// Only if the parquet crate rejects a type it should accept (a bug).
pub fn message_type(extra: &[ExtraColumn]) -> anyhow::Result<TypePtr> {
    use PhysicalType as P;
    const REQUIRED: Repetition = Repetition::REQUIRED;
    let mut fields = vec![
        primitive("source", P::BYTE_ARRAY, REQUIRED, Some(LogicalType::String))?,
        primitive("index", P::INT64, REQUIRED, None)?,
        primitive(
            "comment",
            P::BYTE_ARRAY,
            REQUIRED,
            Some(LogicalType::String),
        )?,
        list(
            "numbers",
            primitive(
                "element",
                P::INT32,
                REQUIRED,
                Some(LogicalType::integer(8, false)),
            )?,
            false,
        )?,
        list("positions", element_of(DType::Float)?, false)?,
        list("lattice", element_of(DType::Float)?, true)?,
        list("pbc", element_of(DType::Bool)?, false)?,
    ];
    for col in extra {
        let name = col.column_name();
        fields.push(if col.is_list() {
            list(&name, element_of(col.dtype)?, true)?
        } else {
            let (physical, logical) = physical_of(col.dtype);
            primitive(&name, physical, Repetition::OPTIONAL, logical)?
        });
    }
    Ok(Arc::new(
        Type::group_type_builder("structure")
            .with_fields(fields)
            .build()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nucleate_core::structure::Label;

    fn with_label(value: LabelValue, unit: Option<&str>) -> Structure {
        let mut s = Structure::molecule(vec![1], vec![[0.0; 3]]);
        s.labels.insert(
            "y".into(),
            Label {
                value,
                unit: unit.map(str::to_owned),
            },
        );
        s
    }

    #[test]
    fn ints_widen_to_floats_and_conflicts_are_errors() {
        let cols = columns_of(&[
            with_label(LabelValue::Int(1), Some("eV")),
            with_label(LabelValue::Float(1.5), Some("eV")),
        ])
        .expect("int and float merge");
        assert_eq!(cols.len(), 1);
        assert_eq!(cols[0].dtype, DType::Float);
        assert_eq!(cols[0].column_name(), "label_y");
        let err = columns_of(&[
            with_label(LabelValue::Float(1.0), Some("eV")),
            with_label(LabelValue::Float(1.0), Some("Hartree")),
        ])
        .expect_err("unit conflict");
        assert!(err.to_string().contains("unit"), "{err}");
        assert!(
            columns_of(&[
                with_label(LabelValue::Text("a".into()), None),
                with_label(LabelValue::Float(1.0), None),
            ])
            .is_err()
        );
    }

    #[test]
    fn message_type_has_fixed_then_extra_leaves() {
        let extra = vec![ExtraColumn {
            name: "forces".into(),
            kind: ColumnKind::Atom,
            dtype: DType::Float,
            unit: None,
            width: Some(3),
        }];
        let t = message_type(&extra).expect("valid schema");
        let descr = parquet::schema::types::SchemaDescriptor::new(t);
        assert_eq!(descr.num_columns(), N_FIXED + 1);
        let forces = descr.column(N_FIXED);
        assert_eq!(forces.path().string(), "atom_forces.list.element");
        assert_eq!((forces.max_def_level(), forces.max_rep_level()), (2, 1));
        assert_eq!(descr.column(3).max_def_level(), 1);
    }
}
