//! Reading a converted dataset: streaming over shards and row groups, and random access
//! (structure `i` → shard, row group, row; only that row group's pages are read).

use super::manifest::Manifest;
use super::schema::{self, ColumnKind, DType, ExtraColumn};
use anyhow::{Context, bail};
use nucleate_core::Structure;
use nucleate_core::structure::{AtomArray, Label, LabelValue};
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DataType, DoubleType, Int32Type, Int64Type,
};
use parquet::file::reader::{FileReader, RowGroupReader};
use parquet::file::serialized_reader::SerializedFileReader;
use std::path::{Path, PathBuf};

/// An opened dataset directory.
#[derive(Debug)]
pub struct Dataset {
    dir: PathBuf,
    manifest: Manifest,
    /// Index of the first structure of each shard.
    shard_starts: Vec<usize>,
}

/// Where structure `i` lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub shard: usize,
    pub row_group: usize,
    /// Row within the row group.
    pub row: usize,
}

impl Dataset {
    /// Open `dir` by its manifest.
    ///
    /// # Errors
    /// See [`Manifest::load`].
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let manifest = Manifest::load(dir)?;
        let mut start = 0;
        let shard_starts = manifest
            .shards
            .iter()
            .map(|s| {
                let here = start;
                start += s.n_structures;
                here
            })
            .collect();
        Ok(Self {
            dir: dir.to_owned(),
            manifest,
            shard_starts,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Number of structures.
    pub fn len(&self) -> usize {
        self.manifest.n_structures
    }

    /// Shard, row group and row of structure `i`, or `None` past the end.
    pub fn locate(&self, i: usize) -> Option<Location> {
        if i >= self.len() {
            return None;
        }
        let shard = self.shard_starts.partition_point(|&s| s <= i) - 1;
        let mut row = i - self.shard_starts[shard];
        for (row_group, &n) in self.manifest.shards[shard].row_groups.iter().enumerate() {
            if row < n {
                return Some(Location {
                    shard,
                    row_group,
                    row,
                });
            }
            row -= n;
        }
        None
    }

    /// Structure `i`, reading one row of one row group.
    ///
    /// # Errors
    /// `i` out of range, unreadable or inconsistent shard.
    pub fn get(&self, i: usize) -> anyhow::Result<Structure> {
        let Some(loc) = self.locate(i) else {
            bail!(
                "structure {i} is out of range (the dataset has {})",
                self.len()
            );
        };
        let shard = self.open_shard(loc.shard)?;
        let mut rows = shard.read_row_group(loc.row_group, loc.row, 1)?;
        rows.pop()
            .with_context(|| format!("row {} missing in {}", loc.row, shard.path.display()))
    }

    fn open_shard(&self, k: usize) -> anyhow::Result<Shard> {
        Shard::open(&self.dir.join(&self.manifest.shards[k].file))
    }

    /// Every row group in order, decoded one at a time.
    pub fn row_groups(&self) -> RowGroups<'_> {
        RowGroups {
            dataset: self,
            shard: 0,
            row_group: 0,
            open: None,
        }
    }

    /// Every structure in order, streaming row group by row group.
    pub fn structures(&self) -> impl Iterator<Item = anyhow::Result<Structure>> + '_ {
        self.row_groups().flat_map(|rg| match rg {
            Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    }
}

/// Iterator over decoded row groups (see [`Dataset::row_groups`]).
pub struct RowGroups<'a> {
    dataset: &'a Dataset,
    shard: usize,
    row_group: usize,
    open: Option<Shard>,
}

impl Iterator for RowGroups<'_> {
    type Item = anyhow::Result<Vec<Structure>>;

    fn next(&mut self) -> Option<Self::Item> {
        let shards = &self.dataset.manifest.shards;
        while self.shard < shards.len() {
            if self.row_group >= shards[self.shard].row_groups.len() {
                self.shard += 1;
                self.row_group = 0;
                self.open = None;
                continue;
            }
            if self.open.is_none() {
                match self.dataset.open_shard(self.shard) {
                    Ok(s) => self.open = Some(s),
                    Err(e) => {
                        self.shard = shards.len();
                        return Some(Err(e));
                    }
                }
            }
            let shard = self.open.as_ref()?;
            let rg = self.row_group;
            self.row_group += 1;
            return Some(shard.read_row_group(rg, 0, usize::MAX));
        }
        None
    }
}

/// One open Parquet shard with its extra columns.
struct Shard {
    path: PathBuf,
    reader: SerializedFileReader<std::fs::File>,
    extra: Vec<ExtraColumn>,
}

impl Shard {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let reader = SerializedFileReader::new(file)
            .with_context(|| format!("reading Parquet metadata of {}", path.display()))?;
        let meta = reader.metadata().file_metadata();
        let kv = |key: &str| {
            meta.key_value_metadata()
                .and_then(|kv| kv.iter().find(|e| e.key == key))
                .and_then(|e| e.value.clone())
        };
        let version = kv(schema::KEY_VERSION);
        if version.as_deref() != Some(&schema::SCHEMA_VERSION.to_string()) {
            bail!(
                "schema version {version:?} is not {} (not a nucleate shard?): {}",
                schema::SCHEMA_VERSION,
                path.display()
            );
        }
        let extra: Vec<ExtraColumn> = serde_json::from_str(
            &kv(schema::KEY_COLUMNS).unwrap_or_default(),
        )
        .with_context(|| {
            format!(
                "parsing {} metadata of {}",
                schema::KEY_COLUMNS,
                path.display()
            )
        })?;
        let descr = meta.schema_descr();
        if descr.num_columns() != schema::N_FIXED + extra.len() {
            bail!(
                "{} leaf columns, but the metadata names {} extra columns: {}",
                descr.num_columns(),
                extra.len(),
                path.display()
            );
        }
        for (k, c) in extra.iter().enumerate() {
            let leaf = descr.column(schema::N_FIXED + k);
            let top = leaf.path().parts().first().cloned().unwrap_or_default();
            if top != c.column_name() {
                bail!(
                    "leaf column {} is {top:?}, the metadata says {:?}: {}",
                    schema::N_FIXED + k,
                    c.column_name(),
                    path.display()
                );
            }
        }
        Ok(Self {
            path: path.to_owned(),
            reader,
            extra,
        })
    }

    /// Rows `skip..skip + take` (clamped) of row group `rg`.
    fn read_row_group(
        &self,
        rg: usize,
        skip: usize,
        take: usize,
    ) -> anyhow::Result<Vec<Structure>> {
        let ctx = || format!("row group {rg} of {}", self.path.display());
        let reader = self.reader.get_row_group(rg).with_context(ctx)?;
        let total = usize::try_from(reader.metadata().num_rows()).with_context(ctx)?;
        let n = take.min(total.saturating_sub(skip));
        let mut out: Vec<Structure> = (0..n).map(|_| Structure::default()).collect();
        let col_ctx = |leaf: usize| {
            let name = reader
                .metadata()
                .schema_descr()
                .column(leaf)
                .path()
                .string();
            format!("column {name}, row group {rg} of {}", self.path.display())
        };
        let r = reader.as_ref();
        // Fixed columns.
        for (s, v) in out
            .iter_mut()
            .zip(rows::<ByteArrayType>(r, 0, skip, n).with_context(|| col_ctx(0))?)
        {
            s.source = utf8(one(v)?)?;
        }
        for (s, v) in out
            .iter_mut()
            .zip(rows::<Int64Type>(r, 1, skip, n).with_context(|| col_ctx(1))?)
        {
            s.record_index = usize::try_from(one(v)?).with_context(|| col_ctx(1))?;
        }
        for (s, v) in out
            .iter_mut()
            .zip(rows::<ByteArrayType>(r, 2, skip, n).with_context(|| col_ctx(2))?)
        {
            s.comment = utf8(one(v)?)?;
        }
        for (s, v) in out
            .iter_mut()
            .zip(rows::<Int32Type>(r, 3, skip, n).with_context(|| col_ctx(3))?)
        {
            s.numbers = v
                .unwrap_or_default()
                .into_iter()
                .map(u8::try_from)
                .collect::<Result<_, _>>()
                .with_context(|| col_ctx(3))?;
        }
        for (s, v) in out
            .iter_mut()
            .zip(rows::<DoubleType>(r, 4, skip, n).with_context(|| col_ctx(4))?)
        {
            let v = v.unwrap_or_default();
            if v.len() != 3 * s.numbers.len() {
                bail!(
                    "{} positions for {} atoms ({})",
                    v.len(),
                    s.numbers.len(),
                    col_ctx(4)
                );
            }
            s.positions = v.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
        }
        for (s, v) in out
            .iter_mut()
            .zip(rows::<DoubleType>(r, 5, skip, n).with_context(|| col_ctx(5))?)
        {
            s.lattice = match v {
                None => None,
                Some(l) if l.len() == 9 => {
                    Some([[l[0], l[1], l[2]], [l[3], l[4], l[5]], [l[6], l[7], l[8]]])
                }
                Some(l) => bail!("lattice of {} values, expected 9 ({})", l.len(), col_ctx(5)),
            };
        }
        for (s, v) in out
            .iter_mut()
            .zip(rows::<BoolType>(r, 6, skip, n).with_context(|| col_ctx(6))?)
        {
            let v = v.unwrap_or_default();
            let [a, b, c] = v[..] else {
                bail!("pbc of {} values, expected 3 ({})", v.len(), col_ctx(6));
            };
            s.pbc = [a, b, c];
        }
        for (k, c) in self.extra.iter().enumerate() {
            let leaf = schema::N_FIXED + k;
            read_extra(r, leaf, c, skip, &mut out).with_context(|| col_ctx(leaf))?;
        }
        Ok(out)
    }
}

fn utf8(b: ByteArray) -> anyhow::Result<String> {
    Ok(b.as_utf8()?.to_owned())
}

/// The single value of a required scalar.
fn one<T>(v: Option<Vec<T>>) -> anyhow::Result<T> {
    v.and_then(|mut v| v.pop())
        .context("missing value in a required column")
}

/// Rows `skip..skip + n` of leaf column `leaf`: `None` for null, the list (or the one scalar
/// value) otherwise.
fn rows<T: DataType>(
    rg: &dyn RowGroupReader,
    leaf: usize,
    skip: usize,
    n: usize,
) -> anyhow::Result<Vec<Option<Vec<T::T>>>> {
    let descr = rg.metadata().schema_descr().column(leaf);
    let (max_def, max_rep) = (descr.max_def_level(), descr.max_rep_level());
    let Some(mut reader) = T::get_column_reader(rg.get_column_reader(leaf)?) else {
        bail!("unexpected physical type {}", descr.physical_type());
    };
    if skip > 0 && reader.skip_records(skip)? != skip {
        bail!("fewer than {skip} rows");
    }
    let (mut values, mut def, mut rep) = (Vec::new(), Vec::new(), Vec::new());
    let mut got = 0;
    while got < n {
        let (records, _, levels) =
            reader.read_records(n - got, Some(&mut def), Some(&mut rep), &mut values)?;
        if records == 0 && levels == 0 {
            break;
        }
        got += records;
    }
    if got < n {
        bail!("{got} rows where {n} were expected");
    }
    let mut values = values.into_iter();
    let mut take = || values.next().context("fewer values than definition levels");
    let mut out: Vec<Option<Vec<T::T>>> = Vec::with_capacity(n);
    if max_def == 0 && max_rep == 0 {
        for _ in 0..n {
            out.push(Some(vec![take()?]));
        }
    } else if max_rep == 0 {
        for &d in &def {
            out.push(if d == max_def {
                Some(vec![take()?])
            } else {
                None
            });
        }
    } else {
        for (k, &d) in def.iter().enumerate() {
            let r = rep
                .get(k)
                .copied()
                .context("fewer repetition than definition levels")?;
            if r == 0 {
                out.push(if d >= max_def - 1 {
                    Some(Vec::new())
                } else {
                    None
                });
            }
            if d == max_def {
                let v = take()?;
                match out.last_mut() {
                    Some(Some(list)) => list.push(v),
                    _ => bail!("list element outside a list"),
                }
            }
        }
    }
    if out.len() != n {
        bail!("{} rows decoded where {n} were expected", out.len());
    }
    Ok(out)
}

fn read_extra(
    rg: &dyn RowGroupReader,
    leaf: usize,
    c: &ExtraColumn,
    skip: usize,
    out: &mut [Structure],
) -> anyhow::Result<()> {
    let n = out.len();
    let unit = || c.unit.clone();
    let label = |s: &mut Structure, value: LabelValue| {
        s.labels.insert(
            c.name.clone(),
            Label {
                value,
                unit: unit(),
            },
        );
    };
    let width = c.width.unwrap_or(1);
    let check = |s: &Structure, len: usize| -> anyhow::Result<()> {
        if len != width * s.n_atoms() {
            bail!("{len} values for {} atoms of width {width}", s.n_atoms());
        }
        Ok(())
    };
    match (c.kind, c.dtype) {
        (ColumnKind::Label, DType::Float) => {
            for (s, v) in out.iter_mut().zip(rows::<DoubleType>(rg, leaf, skip, n)?) {
                if let Some(v) = v {
                    label(s, LabelValue::Float(one(Some(v))?));
                }
            }
        }
        (ColumnKind::Label, DType::Int) => {
            for (s, v) in out.iter_mut().zip(rows::<Int64Type>(rg, leaf, skip, n)?) {
                if let Some(v) = v {
                    label(s, LabelValue::Int(one(Some(v))?));
                }
            }
        }
        (ColumnKind::Label, DType::Bool) => {
            for (s, v) in out.iter_mut().zip(rows::<BoolType>(rg, leaf, skip, n)?) {
                if let Some(v) = v {
                    label(s, LabelValue::Bool(one(Some(v))?));
                }
            }
        }
        (ColumnKind::Label, DType::Text) => {
            for (s, v) in out
                .iter_mut()
                .zip(rows::<ByteArrayType>(rg, leaf, skip, n)?)
            {
                if let Some(v) = v {
                    label(s, LabelValue::Text(utf8(one(Some(v))?)?));
                }
            }
        }
        (ColumnKind::LabelList, _) => {
            for (s, v) in out.iter_mut().zip(rows::<DoubleType>(rg, leaf, skip, n)?) {
                if let Some(v) = v {
                    label(s, LabelValue::Floats(v));
                }
            }
        }
        (ColumnKind::Atom, DType::Float) => {
            for (s, v) in out.iter_mut().zip(rows::<DoubleType>(rg, leaf, skip, n)?) {
                if let Some(values) = v {
                    check(s, values.len())?;
                    s.atom_arrays
                        .insert(c.name.clone(), AtomArray::Float { width, values });
                }
            }
        }
        (ColumnKind::Atom, DType::Int) => {
            for (s, v) in out.iter_mut().zip(rows::<Int64Type>(rg, leaf, skip, n)?) {
                if let Some(values) = v {
                    check(s, values.len())?;
                    s.atom_arrays
                        .insert(c.name.clone(), AtomArray::Int { width, values });
                }
            }
        }
        (ColumnKind::Atom, DType::Bool) => {
            for (s, v) in out.iter_mut().zip(rows::<BoolType>(rg, leaf, skip, n)?) {
                if let Some(values) = v {
                    check(s, values.len())?;
                    s.atom_arrays
                        .insert(c.name.clone(), AtomArray::Bool { width, values });
                }
            }
        }
        (ColumnKind::Atom, DType::Text) => {
            for (s, v) in out
                .iter_mut()
                .zip(rows::<ByteArrayType>(rg, leaf, skip, n)?)
            {
                if let Some(v) = v {
                    check(s, v.len())?;
                    let values = v.into_iter().map(utf8).collect::<Result<_, _>>()?;
                    s.atom_arrays
                        .insert(c.name.clone(), AtomArray::Text { width, values });
                }
            }
        }
    }
    Ok(())
}
