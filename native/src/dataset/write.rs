//! Writing structures into Parquet shards (`shard-00000.parquet`, …) and the manifest.

use super::manifest::{self, Manifest, ShardInfo, SourceInfo};
use super::schema::{self, ColumnKind, DType, ExtraColumn};
use anyhow::{Context, bail};
use nucleate_core::Structure;
use nucleate_core::structure::{AtomArray, LabelValue};
use parquet::basic::Compression;
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DataType, DoubleType, Int32Type, Int64Type,
};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Shard and row-group sizes, in structures, and the page compression.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    pub shard_size: usize,
    pub row_group_size: usize,
    pub codec: Codec,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            shard_size: 10_000,
            row_group_size: 1_000,
            codec: Codec::Snappy,
        }
    }
}

/// Page compression of the shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    /// Fast to write and read.
    Snappy,
    /// Smaller files, slower to write.
    Gzip,
    /// No compression.
    None,
}

impl Codec {
    fn parquet(self) -> Compression {
        match self {
            Codec::Snappy => Compression::SNAPPY,
            Codec::Gzip => Compression::GZIP(parquet::basic::GzipLevel::default()),
            Codec::None => Compression::UNCOMPRESSED,
        }
    }
}

/// Buffers structures and writes a shard whenever `shard_size` of them are pending.
pub struct DatasetWriter {
    dir: PathBuf,
    options: WriteOptions,
    pending: Vec<Structure>,
    shards: Vec<ShardInfo>,
    columns: Vec<ExtraColumn>,
    n_structures: usize,
    n_atoms: usize,
}

/// Shard file name for shard `k`.
pub fn shard_name(k: usize) -> String {
    format!("shard-{k:05}.parquet")
}

impl DatasetWriter {
    /// Prepare `dir` (created if missing). An existing dataset there is an error unless
    /// `overwrite`, which removes its manifest and shards first; other files are left alone.
    ///
    /// # Errors
    /// Zero sizes, an existing dataset without `overwrite`, file-system errors.
    pub fn create(dir: &Path, options: WriteOptions, overwrite: bool) -> anyhow::Result<Self> {
        if options.shard_size == 0 || options.row_group_size == 0 {
            bail!("shard and row-group sizes must be at least 1");
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let existing: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                name.is_some_and(|n| {
                    n == manifest::FILE_NAME || (n.starts_with("shard-") && n.ends_with(".parquet"))
                })
            })
            .collect();
        if !existing.is_empty() {
            if !overwrite {
                bail!(
                    "{} already holds a dataset (use --overwrite to replace it)",
                    dir.display()
                );
            }
            for p in existing {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            options,
            pending: Vec::new(),
            shards: Vec::new(),
            columns: Vec::new(),
            n_structures: 0,
            n_atoms: 0,
        })
    }

    /// Queue structures; full shards are written at once.
    ///
    /// # Errors
    /// Structures that disagree on a column's type or unit within a shard, write errors.
    pub fn push(&mut self, batch: Vec<Structure>) -> anyhow::Result<()> {
        self.pending.extend(batch);
        while self.pending.len() >= self.options.shard_size {
            let rest = self.pending.split_off(self.options.shard_size);
            let full = std::mem::replace(&mut self.pending, rest);
            self.write_shard(&full)?;
        }
        Ok(())
    }

    /// Write the last shard and `manifest.json` (atomically, last: a directory with a manifest is
    /// complete).
    ///
    /// # Errors
    /// No structures at all, write errors.
    pub fn finish(mut self, sources: Vec<SourceInfo>) -> anyhow::Result<Manifest> {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.write_shard(&rest)?;
        }
        if self.n_structures == 0 {
            bail!("no structures to write");
        }
        let m = Manifest {
            format: manifest::FORMAT.to_owned(),
            schema_version: schema::SCHEMA_VERSION,
            created_by: format!("nucleate {}", env!("CARGO_PKG_VERSION")),
            n_structures: self.n_structures,
            n_atoms: self.n_atoms,
            shard_size: self.options.shard_size,
            row_group_size: self.options.row_group_size,
            shards: self.shards,
            sources,
            columns: self.columns,
        };
        let text = serde_json::to_string_pretty(&m)? + "\n";
        crate::fsutil::write_atomic(&self.dir.join(manifest::FILE_NAME), text.as_bytes())?;
        Ok(m)
    }

    fn write_shard(&mut self, structures: &[Structure]) -> anyhow::Result<()> {
        let name = shard_name(self.shards.len());
        let path = self.dir.join(&name);
        let columns = schema::columns_of(structures)?;
        for c in &columns {
            schema::merge_column(&mut self.columns, c.clone(), &|| name.clone())?;
        }
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let sink = HashingWriter::new(std::io::BufWriter::new(file));
        let info = write_parquet(sink, structures, &columns, self.options)
            .with_context(|| format!("writing {}", tmp.display()))?;
        crate::fsutil::commit(&tmp, &path)?;
        let n_atoms: usize = structures.iter().map(Structure::n_atoms).sum();
        self.n_structures += structures.len();
        self.n_atoms += n_atoms;
        self.shards.push(ShardInfo {
            file: name,
            n_structures: structures.len(),
            n_atoms,
            row_groups: info.row_groups,
            sha256: info.sha256,
            bytes: info.bytes,
        });
        Ok(())
    }
}

/// A `Write` that hashes and counts what passes through.
struct HashingWriter<W> {
    inner: W,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        use sha2::Digest;
        Self {
            inner,
            hasher: sha2::Sha256::new(),
            bytes: 0,
        }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct Written {
    row_groups: Vec<usize>,
    sha256: String,
    bytes: u64,
}

/// Write `structures` as one Parquet file with `columns` as extra columns.
fn write_parquet<W: Write + Send>(
    sink: HashingWriter<W>,
    structures: &[Structure],
    columns: &[ExtraColumn],
    options: WriteOptions,
) -> anyhow::Result<Written> {
    let message = schema::message_type(columns)?;
    let metadata = vec![
        KeyValue::new(
            schema::KEY_VERSION.to_owned(),
            schema::SCHEMA_VERSION.to_string(),
        ),
        KeyValue::new(
            schema::KEY_COLUMNS.to_owned(),
            serde_json::to_string(columns)?,
        ),
    ];
    // Numbers do not repeat much, so dictionaries only pay off for the source path. (Doubles
    // stored byte-stream-split measured 4% smaller with snappy but 9% larger with gzip on QM9,
    // and slower to write, so they keep the plain encoding.)
    let properties = WriterProperties::builder()
        .set_compression(options.codec.parquet())
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled("source".into(), true)
        .set_created_by(format!("nucleate {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(metadata))
        .build();
    let mut writer = SerializedFileWriter::new(sink, message, Arc::new(properties))?;
    let mut row_groups = Vec::new();
    for rows in structures.chunks(options.row_group_size) {
        let mut rg = writer.next_row_group()?;
        let mut leaf = 0;
        while let Some(mut col) = rg.next_column()? {
            write_leaf(&mut col, leaf, rows, columns)?;
            col.close()?;
            leaf += 1;
        }
        rg.close()?;
        row_groups.push(rows.len());
    }
    let mut sink = writer.into_inner()?;
    sink.flush()?;
    use sha2::Digest;
    let sha256 = sink
        .hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Written {
        row_groups,
        sha256,
        bytes: sink.bytes,
    })
}

/// Values and definition levels of a nullable scalar column (def 1 = present).
fn scalars<T>(rows: impl Iterator<Item = Option<T>>) -> (Vec<T>, Vec<i16>) {
    let mut values = Vec::new();
    let mut def = Vec::new();
    for r in rows {
        match r {
            Some(v) => {
                values.push(v);
                def.push(1);
            }
            None => def.push(0),
        }
    }
    (values, def)
}

/// Values, definition and repetition levels of a list column. With `nullable`, def 0 = null,
/// 1 = empty, 2 = element; without, def 0 = empty, 1 = element.
fn lists<T>(
    rows: impl Iterator<Item = Option<Vec<T>>>,
    nullable: bool,
) -> (Vec<T>, Vec<i16>, Vec<i16>) {
    let top = if nullable { 2 } else { 1 };
    let (mut values, mut def, mut rep) = (Vec::new(), Vec::new(), Vec::new());
    for r in rows {
        match r {
            None => {
                def.push(0);
                rep.push(0);
            }
            Some(v) if v.is_empty() => {
                def.push(top - 1);
                rep.push(0);
            }
            Some(v) => {
                for (k, x) in v.into_iter().enumerate() {
                    values.push(x);
                    def.push(top);
                    rep.push(i16::from(k > 0));
                }
            }
        }
    }
    (values, def, rep)
}

fn put<T: DataType>(
    col: &mut SerializedColumnWriter<'_>,
    values: &[T::T],
    def: Option<&[i16]>,
    rep: Option<&[i16]>,
) -> anyhow::Result<()> {
    col.typed::<T>().write_batch(values, def, rep)?;
    Ok(())
}

fn put_list<T: DataType>(
    col: &mut SerializedColumnWriter<'_>,
    (values, def, rep): (Vec<T::T>, Vec<i16>, Vec<i16>),
) -> anyhow::Result<()> {
    put::<T>(col, &values, Some(&def), Some(&rep))
}

fn put_scalars<T: DataType>(
    col: &mut SerializedColumnWriter<'_>,
    (values, def): (Vec<T::T>, Vec<i16>),
) -> anyhow::Result<()> {
    put::<T>(col, &values, Some(&def), None)
}

fn text(s: &str) -> ByteArray {
    ByteArray::from(s)
}

/// Write leaf column `leaf` (schema order: the fixed columns, then `columns`) for `rows`.
fn write_leaf(
    col: &mut SerializedColumnWriter<'_>,
    leaf: usize,
    rows: &[Structure],
    columns: &[ExtraColumn],
) -> anyhow::Result<()> {
    match leaf {
        0 => {
            let v: Vec<ByteArray> = rows.iter().map(|s| text(&s.source)).collect();
            put::<ByteArrayType>(col, &v, None, None)
        }
        1 => {
            let v = rows
                .iter()
                .map(|s| i64::try_from(s.record_index))
                .collect::<Result<Vec<i64>, _>>()?;
            put::<Int64Type>(col, &v, None, None)
        }
        2 => {
            let v: Vec<ByteArray> = rows.iter().map(|s| text(&s.comment)).collect();
            put::<ByteArrayType>(col, &v, None, None)
        }
        3 => put_list::<Int32Type>(
            col,
            lists(
                rows.iter()
                    .map(|s| Some(s.numbers.iter().map(|&z| i32::from(z)).collect())),
                false,
            ),
        ),
        4 => put_list::<DoubleType>(
            col,
            lists(
                rows.iter()
                    .map(|s| Some(s.positions.iter().flatten().copied().collect())),
                false,
            ),
        ),
        5 => put_list::<DoubleType>(
            col,
            lists(
                rows.iter()
                    .map(|s| s.lattice.map(|l| l.iter().flatten().copied().collect())),
                true,
            ),
        ),
        6 => put_list::<BoolType>(col, lists(rows.iter().map(|s| Some(s.pbc.to_vec())), false)),
        k => {
            let Some(c) = columns.get(k - schema::N_FIXED) else {
                bail!("schema has more columns than nucleate wrote (leaf {k})");
            };
            write_extra(col, c, rows)
        }
    }
}

fn write_extra(
    col: &mut SerializedColumnWriter<'_>,
    c: &ExtraColumn,
    rows: &[Structure],
) -> anyhow::Result<()> {
    let label = |s: &'_ Structure| s.labels.get(&c.name).map(|l| l.value.clone());
    let array = |s: &'_ Structure| s.atom_arrays.get(&c.name).cloned();
    match (c.kind, c.dtype) {
        (ColumnKind::Label, DType::Float) => put_scalars::<DoubleType>(
            col,
            scalars(rows.iter().map(|s| match label(s) {
                Some(LabelValue::Float(v)) => Some(v),
                Some(LabelValue::Int(v)) => Some(v as f64),
                _ => None,
            })),
        ),
        (ColumnKind::Label, DType::Int) => put_scalars::<Int64Type>(
            col,
            scalars(rows.iter().map(|s| match label(s) {
                Some(LabelValue::Int(v)) => Some(v),
                _ => None,
            })),
        ),
        (ColumnKind::Label, DType::Bool) => put_scalars::<BoolType>(
            col,
            scalars(rows.iter().map(|s| match label(s) {
                Some(LabelValue::Bool(v)) => Some(v),
                _ => None,
            })),
        ),
        (ColumnKind::Label, DType::Text) => put_scalars::<ByteArrayType>(
            col,
            scalars(rows.iter().map(|s| match label(s) {
                Some(LabelValue::Text(v)) => Some(text(&v)),
                _ => None,
            })),
        ),
        (ColumnKind::LabelList, _) => put_list::<DoubleType>(
            col,
            lists(
                rows.iter().map(|s| match label(s) {
                    Some(LabelValue::Floats(v)) => Some(v),
                    _ => None,
                }),
                true,
            ),
        ),
        (ColumnKind::Atom, DType::Float) => put_list::<DoubleType>(
            col,
            lists(
                rows.iter().map(|s| match array(s) {
                    Some(AtomArray::Float { values, .. }) => Some(values),
                    Some(AtomArray::Int { values, .. }) => {
                        Some(values.into_iter().map(|v| v as f64).collect())
                    }
                    _ => None,
                }),
                true,
            ),
        ),
        (ColumnKind::Atom, DType::Int) => put_list::<Int64Type>(
            col,
            lists(
                rows.iter().map(|s| match array(s) {
                    Some(AtomArray::Int { values, .. }) => Some(values),
                    _ => None,
                }),
                true,
            ),
        ),
        (ColumnKind::Atom, DType::Bool) => put_list::<BoolType>(
            col,
            lists(
                rows.iter().map(|s| match array(s) {
                    Some(AtomArray::Bool { values, .. }) => Some(values),
                    _ => None,
                }),
                true,
            ),
        ),
        (ColumnKind::Atom, DType::Text) => put_list::<ByteArrayType>(
            col,
            lists(
                rows.iter().map(|s| match array(s) {
                    Some(AtomArray::Text { values, .. }) => {
                        Some(values.iter().map(|v| text(v)).collect())
                    }
                    _ => None,
                }),
                true,
            ),
        ),
    }
}
