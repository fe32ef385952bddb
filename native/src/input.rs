//! Opening files: the only place the CLI turns paths into bytes — structure files for `core`'s
//! readers, and the configs, model directories, checkpoints and manifests the commands read
//! ([`read_file`], [`read_text`], [`read_json`]).
//!
//! - **Decompression** is transparent: gzip, xz and bzip2 are recognised by their magic bytes
//!   (whatever the name), and a `.gz`/`.xz`/`.bz2` suffix is dropped before the format is guessed
//!   from the extension.
//! - **Kinds** beyond `core`'s [`Format`]s: `.npz` (rMD17 layout), and `.csv` files told apart
//!   by their header: `XYZ_Ang` → QM9 (qm9pack), `cif` → CDVAE crystal CSV.
//! - **Large CSVs** are cut into blocks of whole records and parsed on all cores; blocks come
//!   back in file order ([`parse_batches`]), with line numbers and record indices of the whole
//!   file.
//! - **Path arguments** may be files, directories (walked recursively, in name order) or glob
//!   patterns ([`expand_inputs`]).

use anyhow::{Context, bail};
use nucleate_core::Structure;
use nucleate_core::io::{self, Format, ReadError};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

/// What reads a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A text format of `core` (XYZ, SDF, MOL2, PDB, mmCIF, CIF, POSCAR).
    Text(Format),
    /// qm9pack CSV (`XYZ_Ang` column).
    Qm9Csv,
    /// CDVAE crystal CSV (`cif` column).
    CrystalCsv,
    /// qm9pack's polarizability table (`XYZ_file`, `A_xx` … `A_zz`): labels for QM9 molecules,
    /// no structures; `data convert` joins it onto the QM9 CSVs.
    Qm9Polarizability,
    /// NumPy archive in the rMD17 layout.
    Npz,
}

/// Compression recognised by magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Xz,
    Bzip2,
}

impl Compression {
    /// Sniff the first bytes of a file.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            Some(Self::Gzip)
        } else if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Self::Xz)
        } else if bytes.len() >= 4 && bytes.starts_with(b"BZh") && bytes[3].is_ascii_digit() {
            Some(Self::Bzip2)
        } else {
            None
        }
    }
}

/// Extensions that name a file we can read (after a compression suffix is dropped).
const SUPPORTED: &str = ".xyz, .extxyz, .sdf, .sd, .mol, .mol2, .pdb, .ent, .mmcif, .cif, .poscar, .contcar, .vasp, \
     .npz, .csv (QM9 or CDVAE crystals), optionally .gz/.xz/.bz2-compressed";

/// The file name with a compression suffix (`.gz`, `.xz`, `.bz2`) removed.
pub fn logical_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    for suffix in [".gz", ".gzip", ".xz", ".bz2"] {
        if lower.ends_with(suffix) && lower.len() > suffix.len() {
            return name[..name.len() - suffix.len()].to_owned();
        }
    }
    name
}

/// Whether `path`'s name (compression suffix dropped) has an extension some reader takes.
pub fn has_supported_extension(path: &Path) -> bool {
    let name = logical_name(path).to_ascii_lowercase();
    Format::from_file_name(&name).is_some() || name.ends_with(".npz") || name.ends_with(".csv")
}

/// The bytes of `path` as stored (no decompression).
///
/// # Errors
/// The file cannot be read (the message names it).
pub fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The text of `path` (configs, YAML, JSON).
///
/// # Errors
/// The file cannot be read, or is not UTF-8 (the message names the file and line).
pub fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = read_file(path)?;
    // A copy: these files are small, and `utf8` names the line of a bad byte.
    Ok(utf8(&bytes)
        .with_context(|| format!("reading {}", path.display()))?
        .to_owned())
}

/// `path` parsed as JSON into `T`.
///
/// # Errors
/// The file cannot be read, or does not hold a `T` (the message names the file, line and column).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    serde_json::from_slice(&read_file(path)?).with_context(|| format!("parsing {}", path.display()))
}

/// Read `path` and undo any compression.
///
/// # Errors
/// The file cannot be read, or its compressed stream is corrupt.
pub fn read_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    decompress(read_file(path)?).with_context(|| format!("decompressing {}", path.display()))
}

/// Undo gzip, xz or bzip2 compression recognised by magic bytes; other bytes pass through.
///
/// # Errors
/// A corrupt or truncated compressed stream.
pub fn decompress(raw: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let Some(kind) = Compression::sniff(&raw) else {
        return Ok(raw);
    };
    let mut out = Vec::with_capacity(raw.len().saturating_mul(3));
    match kind {
        Compression::Gzip => {
            flate2::read::MultiGzDecoder::new(raw.as_slice())
                .read_to_end(&mut out)
                .context("gzip stream")?;
        }
        Compression::Xz => {
            lzma_rs::xz_decompress(&mut raw.as_slice(), &mut out)
                .map_err(|e| anyhow::anyhow!("xz stream: {e}"))?;
        }
        Compression::Bzip2 => {
            bzip2::read::MultiBzDecoder::new(raw.as_slice())
                .read_to_end(&mut out)
                .context("bzip2 stream")?;
        }
    }
    Ok(out)
}

/// The first line of `path` after decompression (at most 64 KiB of it): enough for
/// [`detect`] without decompressing a whole large CSV.
///
/// # Errors
/// The file cannot be read or its compressed start is corrupt.
pub fn peek_head(path: &Path) -> anyhow::Result<Vec<u8>> {
    const LIMIT: u64 = 64 * 1024;
    let ctx = || format!("reading {}", path.display());
    let mut file = std::fs::File::open(path).with_context(ctx)?;
    let mut magic = [0u8; 6];
    let n = file.read(&mut magic).with_context(ctx)?;
    let mut head = Vec::new();
    match Compression::sniff(&magic[..n]) {
        Some(Compression::Xz) => {
            // lzma-rs decodes whole streams only.
            head = read_bytes(path)?;
        }
        kind => {
            let file = std::fs::File::open(path).with_context(ctx)?;
            let mut reader: Box<dyn Read> = match kind {
                Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(file)),
                Some(Compression::Bzip2) => Box::new(bzip2::read::MultiBzDecoder::new(file)),
                _ => Box::new(file),
            };
            let mut chunk = [0u8; 4096];
            while (head.len() as u64) < LIMIT && !head.contains(&b'\n') {
                let k = reader.read(&mut chunk).with_context(ctx)?;
                if k == 0 {
                    break;
                }
                head.extend_from_slice(&chunk[..k]);
            }
        }
    }
    if let Some(end) = head.iter().position(|&b| b == b'\n') {
        head.truncate(end + 1);
    }
    Ok(head)
}

/// Load a QM9 polarizability table (see [`Kind::Qm9Polarizability`]): `XYZ_file` → the six
/// tensor components (bohr³).
///
/// # Errors
/// Reading, decompression or parse errors naming the file, line and column.
pub fn read_qm9_polarizability(path: &Path) -> anyhow::Result<HashMap<String, [f64; 6]>> {
    let bytes = read_bytes(path)?;
    let parse_ctx = || format!("parsing {}", path.display());
    let text = utf8(&bytes).with_context(parse_ctx)?;
    let rows = io::qm9::read_qm9_polarizability(text).with_context(parse_ctx)?;
    Ok(rows.into_iter().collect())
}

/// Decide how to read a file from its (logical) name and its decompressed bytes.
///
/// # Errors
/// An unknown extension, or a CSV whose header names neither `XYZ_Ang` nor `cif`.
pub fn detect(path: &Path, bytes: &[u8]) -> anyhow::Result<Kind> {
    let name = logical_name(path);
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".npz") || bytes.starts_with(b"PK\x03\x04") {
        return Ok(Kind::Npz);
    }
    if lower.ends_with(".csv") {
        let end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        let header = String::from_utf8_lossy(&bytes[..end]);
        let columns: Vec<&str> = header
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        if columns.contains(&"XYZ_Ang") {
            return Ok(Kind::Qm9Csv);
        }
        if columns.contains(&"cif") {
            return Ok(Kind::CrystalCsv);
        }
        if columns.contains(&"XYZ_file") && columns.contains(&"A_xx") {
            return Ok(Kind::Qm9Polarizability);
        }
        bail!(
            "CSV header has neither an XYZ_Ang column (QM9) nor a cif column (CDVAE crystals): {}",
            path.display()
        );
    }
    match Format::from_file_name(&name) {
        Some(f) => Ok(Kind::Text(f)),
        None => bail!(
            "unrecognised file extension (supported: {SUPPORTED}): {}",
            path.display()
        ),
    }
}

/// Read every structure in `path`, picking the reader by content and extension. Each structure's
/// `source` is set to the path when the reader left it empty.
///
/// # Errors
/// Reading, decompression, detection or parse errors, naming the path (and line and field).
pub fn read_structures(path: &Path) -> anyhow::Result<Vec<Structure>> {
    structures_from_raw(path, read_file(path)?)
}

/// Every structure in `raw`, the bytes of `path` as stored (for callers that also hash them).
///
/// # Errors
/// As [`read_structures`].
pub fn structures_from_raw(path: &Path, raw: Vec<u8>) -> anyhow::Result<Vec<Structure>> {
    let bytes = decompress(raw).with_context(|| format!("decompressing {}", path.display()))?;
    let kind = detect(path, &bytes)?;
    let mut all = Vec::new();
    parse_batches(path, &bytes, kind, |batch| {
        all.extend(batch);
        Ok(())
    })?;
    Ok(all)
}

/// Records per parallel CSV block: large enough to amortise the hand-off, small enough to keep
/// both cores busy and memory flat.
const CSV_BLOCK_RECORDS: usize = 2048;

/// Parse the decompressed `bytes` of `path` as `kind`, handing structures to `sink` in file
/// order. CSV datasets are parsed block-wise on all cores; other formats arrive as one batch.
/// `path` labels errors and fills empty `source` fields. Returns the number of structures.
///
/// # Errors
/// Parse errors (naming the path, line and field), or the first error of `sink`.
pub fn parse_batches(
    path: &Path,
    bytes: &[u8],
    kind: Kind,
    mut sink: impl FnMut(Vec<Structure>) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let source = path.display().to_string();
    let label = |mut batch: Vec<Structure>| {
        for s in &mut batch {
            if s.source.is_empty() {
                s.source.clone_from(&source);
            }
        }
        batch
    };
    let parse_ctx = || format!("parsing {}", path.display());
    let csv_reader: fn(&str) -> Result<Vec<Structure>, ReadError> = match kind {
        Kind::Text(format) => {
            let (batch, warnings) =
                io::read_bytes_with_warnings(bytes, format).with_context(parse_ctx)?;
            for w in &warnings {
                eprintln!("warning: {}: {w}", path.display());
            }
            let n = batch.len();
            sink(label(batch))?;
            return Ok(n);
        }
        Kind::Npz => {
            let batch = io::npz::read_rmd17(bytes).with_context(parse_ctx)?;
            let n = batch.len();
            sink(label(batch))?;
            return Ok(n);
        }
        Kind::Qm9Csv => io::qm9::read_qm9_csv,
        Kind::CrystalCsv => io::crystal_csv::read_crystal_csv,
        Kind::Qm9Polarizability => bail!(
            "{} is a QM9 polarizability table, not structures: give it to `nucleate data convert` \
             together with the QM9 CSVs to add the label {}",
            path.display(),
            io::qm9::POLARIZABILITY_LABEL
        ),
    };
    let text = utf8(bytes).with_context(parse_ctx)?;
    let blocks = csv_blocks(text, CSV_BLOCK_RECORDS);
    let mut n = 0;
    parse_blocks_in_order(text, &blocks, csv_reader, |result| {
        let batch = result.with_context(parse_ctx)?;
        n += batch.len();
        sink(label(batch))
    })?;
    if n == 0 {
        return Err(ReadError::Empty).with_context(parse_ctx);
    }
    Ok(n)
}

/// Decode UTF-8, pointing at the line of the first invalid byte.
fn utf8(bytes: &[u8]) -> Result<&str, ReadError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
        ReadError::at(
            line,
            "text",
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })
}

/// A run of whole CSV records: byte range, the 1-based line it starts on and the index of its
/// first record among the data rows.
#[derive(Debug, Clone, PartialEq)]
struct Block {
    range: std::ops::Range<usize>,
    first_line: usize,
    first_record: usize,
}

/// The header's byte range (without its line break) and blocks of at most `per_block` records.
/// Record ends are line breaks outside quotes (RFC 4180: a `""` escape toggles twice, so it does
/// not move the boundary); blank lines are not records, as in `core`'s CSV parser.
fn csv_blocks(text: &str, per_block: usize) -> (std::ops::Range<usize>, Vec<Block>) {
    let b = text.as_bytes();
    let per_block = per_block.max(1);
    let mut header_end = None;
    let mut blocks: Vec<Block> = Vec::new();
    let mut open: Option<(usize, usize, usize, usize)> = None; // start, line, first record, count
    let mut records = 0;
    let (mut pos, mut line) = (0, 1);
    while pos < b.len() {
        let (start, start_line) = (pos, line);
        let mut in_quote = false;
        let mut i = pos;
        while i < b.len() {
            match b[i] {
                b'"' => in_quote = !in_quote,
                b'\n' if !in_quote => break,
                b'\n' => line += 1,
                _ => {}
            }
            i += 1;
        }
        let content = &b[start..i];
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        // The record's bytes including its line break.
        let end = (i + 1).min(b.len());
        pos = i + 1;
        line += 1;
        if content.is_empty() {
            continue;
        }
        if header_end.is_none() {
            header_end = Some(start..start + content.len());
            continue;
        }
        let (block_start, block_line, first, count) =
            open.unwrap_or((start, start_line, records, 0));
        records += 1;
        if count + 1 == per_block {
            blocks.push(Block {
                range: block_start..end,
                first_line: block_line,
                first_record: first,
            });
            open = None;
        } else {
            open = Some((block_start, block_line, first, count + 1));
        }
    }
    if let Some((block_start, block_line, first, _)) = open {
        blocks.push(Block {
            range: block_start..b.len(),
            first_line: block_line,
            first_record: first,
        });
    }
    (header_end.unwrap_or(0..0), blocks)
}

/// Parse `blocks` of `text` with `reader` on all cores, handing results to `sink` in block
/// order. Each block is parsed as the header plus its records; errors and record indices are
/// shifted back to the whole file. Stops at the first error of `sink`.
fn parse_blocks_in_order(
    text: &str,
    (header, blocks): &(std::ops::Range<usize>, Vec<Block>),
    reader: fn(&str) -> Result<Vec<Structure>, ReadError>,
    mut sink: impl FnMut(Result<Vec<Structure>, ReadError>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let header = &text[header.clone()];
    let parse = |block: &Block| -> Result<Vec<Structure>, ReadError> {
        let mut chunk = String::with_capacity(header.len() + 1 + block.range.len());
        chunk.push_str(header);
        chunk.push('\n');
        chunk.push_str(&text[block.range.clone()]);
        // Line 1 is the header; the block's first record sits on line 2 of `chunk`.
        let shift = block.first_line - 2;
        let mut out = reader(&chunk).map_err(|e| match e {
            ReadError::Parse(mut p) if p.line >= 2 => {
                p.line += shift;
                ReadError::Parse(p)
            }
            other => other,
        })?;
        for s in &mut out {
            s.record_index += block.first_record;
        }
        Ok(out)
    };
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .min(blocks.len())
        .max(1);
    if threads == 1 {
        for block in blocks {
            sink(parse(block))?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (tx, rx) =
            mpsc::sync_channel::<(usize, Result<Vec<Structure>, ReadError>)>(threads * 2);
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop, parse) = (&next, &stop, &parse);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(block) = blocks.get(k) else { break };
                    if tx.send((k, parse(block))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        let mut want = 0;
        let result = (|| {
            for (k, r) in &rx {
                pending.insert(k, r);
                while let Some(r) = pending.remove(&want) {
                    want += 1;
                    sink(r)?;
                }
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        drop(rx);
        result
    })
}

/// Expand command-line inputs: existing files as given; directories walked recursively (files
/// with a supported extension, in name order); anything else as a glob pattern (matches in name
/// order). Each result says whether the user named it directly (`true`) or it was found in a
/// directory.
///
/// # Errors
/// A path that neither exists nor matches anything, an invalid pattern, an unreadable directory.
pub fn expand_inputs(args: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, bool)>> {
    let mut out = Vec::new();
    for arg in args {
        if arg.is_dir() {
            walk(arg, &mut out)?;
        } else if arg.exists() {
            out.push((arg.clone(), true));
        } else {
            let pattern = arg.to_string_lossy();
            let mut matched: Vec<PathBuf> = glob::glob(&pattern)
                .with_context(|| format!("invalid glob pattern {pattern:?}"))?
                .collect::<Result<_, _>>()
                .with_context(|| format!("expanding {pattern:?}"))?;
            if matched.is_empty() {
                bail!("no such file or directory: {}", arg.display());
            }
            matched.sort();
            for m in matched {
                if m.is_dir() {
                    walk(&m, &mut out)?;
                } else {
                    out.push((m, true));
                }
            }
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, bool)>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if has_supported_extension(&p) {
            out.push((p, false));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_suffix_is_dropped() {
        assert_eq!(logical_name(Path::new("a/qm9.csv.gz")), "qm9.csv");
        assert_eq!(logical_name(Path::new("x.XYZ.bz2")), "x.XYZ");
        assert_eq!(logical_name(Path::new("x.xz")), "x");
        assert_eq!(logical_name(Path::new(".gz")), ".gz");
        assert!(has_supported_extension(Path::new("m.sdf.xz")));
        assert!(!has_supported_extension(Path::new("LICENSE.txt")));
    }

    #[test]
    fn decompress_gzip_bzip2_xz_and_plain() {
        let text = b"1\nmethane\nC 0 0 0\n".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &text).expect("in-memory write");
        let gz = gz.finish().expect("in-memory gzip");
        assert_eq!(decompress(gz).expect("gzip"), text);
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        std::io::Write::write_all(&mut bz, &text).expect("in-memory write");
        let bz = bz.finish().expect("in-memory bzip2");
        assert_eq!(decompress(bz).expect("bzip2"), text);
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut text.as_slice(), &mut xz).expect("in-memory xz");
        assert_eq!(decompress(xz).expect("xz"), text);
        assert_eq!(decompress(text.clone()).expect("plain"), text);
        let mut broken = vec![0x1f, 0x8b];
        broken.extend_from_slice(b"not gzip at all");
        assert!(decompress(broken).is_err());
    }

    #[test]
    fn csv_blocks_respect_quotes_and_blank_lines() {
        let text = "a,b\n1,\"x\ny\"\n\n2,\"q\"\"\nr\"\r\n3,z\n4,w";
        let (h, blocks) = csv_blocks(text, 2);
        assert_eq!(&text[h], "a,b");
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            &text[blocks[0].range.clone()],
            "1,\"x\ny\"\n\n2,\"q\"\"\nr\"\r\n"
        );
        assert_eq!((blocks[0].first_line, blocks[0].first_record), (2, 0));
        assert_eq!(&text[blocks[1].range.clone()], "3,z\n4,w");
        assert_eq!((blocks[1].first_line, blocks[1].first_record), (7, 2));
    }

    #[test]
    fn csv_blocks_of_header_only() {
        let (h, blocks) = csv_blocks("a,b\n", 4);
        assert_eq!(h, 0..3);
        assert!(blocks.is_empty());
    }

    /// Small blocks on several threads give what one parse of the whole file gives, in order,
    /// and an error deep in the file keeps its line number.
    #[test]
    fn parallel_blocks_match_a_whole_file_parse() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/datasets/qm9_part1_first20.csv");
        let text = std::fs::read_to_string(&path).expect("committed slice");
        let whole = io::qm9::read_qm9_csv(&text).expect("slice parses");
        let blocks = csv_blocks(&text, 3);
        assert_eq!(blocks.1.len(), 7);
        let mut got = Vec::new();
        parse_blocks_in_order(&text, &blocks, io::qm9::read_qm9_csv, |r| {
            got.extend(r?);
            Ok(())
        })
        .expect("blocks parse");
        assert_eq!(got, whole);

        let mut lines: Vec<&str> = text.lines().collect();
        lines[17] = "broken,row";
        let bad = lines.join("\n");
        let err = parse_blocks_in_order(&bad, &csv_blocks(&bad, 3), io::qm9::read_qm9_csv, |r| {
            r?;
            Ok(())
        })
        .expect_err("row 17 is broken");
        let want = io::qm9::read_qm9_csv(&bad).expect_err("whole-file parse fails too");
        assert_eq!(err.downcast_ref::<ReadError>(), Some(&want));
        assert_eq!(want.line(), Some(18));
    }
}
