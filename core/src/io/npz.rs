//! NumPy `.npy` arrays and `.npz` archives (zip, stored or deflated members), and the rMD17
//! layout on top of them.
//!
//! `.npy`: format versions 1–3, header dict with `descr`, `fortran_order`, `shape`; dtypes
//! `f8`, `f4`, `i8`, `i4`, `i2`, `i1`, `u8`, `u4`, `u2`, `u1`, `b1`, little or big endian.
//! C order only (Fortran order is accepted for arrays of at most one dimension). Every size is
//! checked against the bytes present before anything is allocated from it.
//!
//! Binary input has no lines, so errors use the `line` of [`ReadError::at`] for the **1-based
//! member number** in the zip central directory (1 for archive-level problems and for a bare
//! `.npy`), and name the member in `field` (e.g. `"coords.npy: shape"`).

use std::collections::BTreeMap;

use super::ReadError;
use super::zip::{self, ZipError};
use crate::structure::{AtomArray, Label, LabelValue};
use crate::{Structure, elements};

/// Array values, converted to a common Rust type per kind.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// `f4`/`f8`.
    Float(Vec<f64>),
    /// Signed or unsigned integers (a `u8` above `i64::MAX` is an error).
    Int(Vec<i64>),
    /// `b1`.
    Bool(Vec<bool>),
}

/// One array: shape (C order) and data.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The dtype string as written (e.g. `"<f8"`).
    pub descr: String,
    /// Shape; the empty shape is a scalar.
    pub shape: Vec<usize>,
    /// The values, `shape.iter().product()` of them.
    pub data: NpyData,
}

impl NpyArray {
    /// Values as floats (integers and booleans converted), or `None`.
    pub fn as_f64(&self) -> Vec<f64> {
        match &self.data {
            NpyData::Float(v) => v.clone(),
            NpyData::Int(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::Bool(v) => v.iter().map(|&b| f64::from(u8::from(b))).collect(),
        }
    }
}

fn err(member: usize, field: impl AsRef<str>, msg: impl Into<String>) -> ReadError {
    ReadError::at(member, field.as_ref(), msg)
}

/// Parse one `.npy` file. `member` and `name` only label errors.
///
/// # Errors
/// A bad magic string or version, a header that is not a dict with `descr`, `fortran_order`
/// and `shape`, an unsupported dtype, Fortran order for a multi-dimensional array, a shape
/// whose size overflows or does not match the bytes present.
pub fn read_npy(bytes: &[u8]) -> Result<NpyArray, ReadError> {
    parse_npy(bytes, 1, "npy")
}

fn parse_npy(bytes: &[u8], member: usize, name: &str) -> Result<NpyArray, ReadError> {
    let f = |part: &str| format!("{name}: {part}");
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(err(
            member,
            f("magic"),
            "not a .npy array (no \\x93NUMPY magic)",
        ));
    }
    let major = bytes[6];
    let (header_len, start): (usize, usize) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(err(member, f("header"), "truncated header length"));
            }
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (n as usize, 12)
        }
        v => {
            return Err(err(
                member,
                f("version"),
                format!("unsupported .npy version {v}"),
            ));
        }
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            err(
                member,
                f("header"),
                format!(
                    "header of {header_len} bytes exceeds the {} bytes present",
                    bytes.len()
                ),
            )
        })?;
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| err(member, f("header"), "header is not text"))?;
    let descr = dict_value(header, "descr")
        .and_then(quoted)
        .ok_or_else(|| {
            err(
                member,
                f("descr"),
                format!("no 'descr' in header {header:?}"),
            )
        })?;
    let fortran = dict_value(header, "fortran_order")
        .map(|v| v.trim_start().starts_with("True"))
        .ok_or_else(|| err(member, f("fortran_order"), "no 'fortran_order' in header"))?;
    let shape_text = dict_value(header, "shape")
        .and_then(|v| {
            let v = v.trim_start().strip_prefix('(')?;
            Some(&v[..v.find(')')?])
        })
        .ok_or_else(|| {
            err(
                member,
                f("shape"),
                format!("no 'shape' tuple in header {header:?}"),
            )
        })?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| err(member, f("shape"), format!("bad dimension {s:?}")))
        })
        .collect::<Result<Vec<usize>, _>>()?;
    if fortran && shape.len() > 1 {
        return Err(err(
            member,
            f("fortran_order"),
            "Fortran-order arrays are not supported",
        ));
    }
    let (big, kind, size) = parse_descr(&descr)
        .ok_or_else(|| err(member, f("descr"), format!("unsupported dtype {descr:?}")))?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| err(member, f("shape"), format!("shape {shape:?} overflows")))?;
    let data = &bytes[end..];
    let need = count
        .checked_mul(size)
        .filter(|&n| n == data.len())
        .ok_or_else(|| {
            err(
                member,
                f("shape"),
                format!(
                    "shape {shape:?} of {descr} needs {count} × {size} bytes, {} present",
                    data.len()
                ),
            )
        })?;
    debug_assert_eq!(need, data.len());
    let word = |c: &[u8]| -> u64 {
        let mut v = 0u64;
        if big {
            for &b in c {
                v = (v << 8) | u64::from(b);
            }
        } else {
            for &b in c.iter().rev() {
                v = (v << 8) | u64::from(b);
            }
        }
        v
    };
    let chunks = data.chunks_exact(size);
    let out = match kind {
        'f' => NpyData::Float(
            chunks
                .map(|c| {
                    let w = word(c);
                    if size == 8 {
                        f64::from_bits(w)
                    } else {
                        f64::from(f32::from_bits(w as u32))
                    }
                })
                .collect(),
        ),
        'i' => NpyData::Int(
            chunks
                .map(|c| {
                    let w = word(c);
                    let shift = 64 - 8 * size as u32;
                    ((w << shift) as i64) >> shift
                })
                .collect(),
        ),
        'u' => NpyData::Int(
            chunks
                .map(|c| {
                    i64::try_from(word(c))
                        .map_err(|_| err(member, f("data"), "unsigned value exceeds the i64 range"))
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => NpyData::Bool(chunks.map(|c| c[0] != 0).collect()),
    };
    Ok(NpyArray {
        descr,
        shape,
        data: out,
    })
}

/// (big endian, kind f/i/u/b, item size)
fn parse_descr(d: &str) -> Option<(bool, char, usize)> {
    let mut c = d.chars();
    let order = c.next()?;
    let big = match order {
        '<' | '|' | '=' => false,
        '>' => true,
        _ => return None,
    };
    let kind = c.next()?;
    let size: usize = c.as_str().parse().ok()?;
    let ok = match kind {
        'f' => size == 4 || size == 8,
        'i' | 'u' => matches!(size, 1 | 2 | 4 | 8),
        'b' => size == 1,
        _ => false,
    };
    ok.then_some((big, kind, size))
}

/// The text after `'key':` in a Python dict literal.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}'");
    let at = header.find(&pat)? + pat.len();
    let rest = header[at..].trim_start().strip_prefix(':')?;
    Some(rest)
}

fn quoted(v: &str) -> Option<String> {
    let v = v.trim_start();
    let q = v.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = &v[1..];
    Some(body[..body.find(q)?].to_owned())
}

/// The raw members of a zip archive (stored or deflated), by name.
///
/// # Errors
/// No end-of-central-directory record, a central or local header outside the input, an
/// unsupported compression method, a declared size inconsistent with the input (or beyond the
/// deflate ratio limit), inflate failures, a CRC-32 mismatch.
pub fn read_zip(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ReadError> {
    let to_read_error = |e: ZipError| match e {
        ZipError::Archive { member, msg } => err(member.unwrap_or(1), "zip", msg),
        ZipError::Member {
            member,
            name,
            field,
            msg,
        } => err(member, format!("{name}: {field}"), msg),
    };
    let mut out = Vec::new();
    for (name, e) in zip::entries(bytes).map_err(to_read_error)? {
        let content = zip::read(&name, &e).map_err(to_read_error)?.into_owned();
        out.push((name, content));
    }
    Ok(out)
}

/// Every array of an `.npz` archive by key (member name without `.npy`), with the 1-based
/// member number.
///
/// # Errors
/// See [`read_zip`] and [`read_npy`].
pub fn read_npz(bytes: &[u8]) -> Result<BTreeMap<String, (usize, NpyArray)>, ReadError> {
    let mut out = BTreeMap::new();
    for (k, (name, content)) in read_zip(bytes)?.into_iter().enumerate() {
        let array = parse_npy(&content, k + 1, &name)?;
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_owned();
        out.insert(key, (k + 1, array));
    }
    Ok(out)
}

/// rMD17 (`nuclear_charges` `[n_atoms]`, `coords` `[n_frames, n_atoms, 3]` Å, `energies`
/// `[n_frames]` kcal/mol, `forces` `[n_frames, n_atoms, 3]` kcal/mol/Å, optional
/// `old_indices`): one [`Structure`] per frame, with label `energy` (unit `"kcal/mol"`),
/// per-atom array `forces` (width 3, kcal/mol/Å, which the text label `forces_unit` records),
/// and label `old_index` when present. `comment` is `"frame K"`.
///
/// # Errors
/// Archive or array errors; a missing key; shapes that disagree; an atomic number outside
/// 1..=118; a coordinate, energy or force that is not finite. An archive with zero frames gives
/// [`ReadError::Empty`].
pub fn read_rmd17(bytes: &[u8]) -> Result<Vec<Structure>, ReadError> {
    let arrays = read_npz(bytes)?;
    let get = |key: &str| {
        arrays
            .get(key)
            .ok_or_else(|| err(1, key, format!("archive has no {key:?} array")))
    };
    let (zm, z) = get("nuclear_charges")?;
    let (cm, coords) = get("coords")?;
    let (em, energies) = get("energies")?;
    let forces = arrays.get("forces");
    let old = arrays.get("old_indices");
    if z.shape.len() != 1 {
        return Err(err(
            *zm,
            "nuclear_charges",
            format!("shape {:?}, expected [n_atoms]", z.shape),
        ));
    }
    let n_atoms = z.shape[0];
    let numbers = match &z.data {
        NpyData::Int(v) => v
            .iter()
            .map(|&x| {
                u8::try_from(x)
                    .ok()
                    .filter(|x| (1..=elements::MAX_Z).contains(x))
                    .ok_or_else(|| {
                        err(*zm, "nuclear_charges", format!("invalid atomic number {x}"))
                    })
            })
            .collect::<Result<Vec<u8>, _>>()?,
        _ => return Err(err(*zm, "nuclear_charges", "expected an integer array")),
    };
    if coords.shape.len() != 3 || coords.shape[1] != n_atoms || coords.shape[2] != 3 {
        return Err(err(
            *cm,
            "coords",
            format!(
                "shape {:?}, expected [n_frames, {n_atoms}, 3]",
                coords.shape
            ),
        ));
    }
    let n_frames = coords.shape[0];
    if energies.shape != [n_frames] {
        return Err(err(
            *em,
            "energies",
            format!("shape {:?}, expected [{n_frames}]", energies.shape),
        ));
    }
    if let Some((fm, f)) = forces
        && f.shape != coords.shape
    {
        return Err(err(
            *fm,
            "forces",
            format!("shape {:?}, expected {:?}", f.shape, coords.shape),
        ));
    }
    if let Some((om, o)) = old
        && o.shape != [n_frames]
    {
        return Err(err(
            *om,
            "old_indices",
            format!("shape {:?}, expected [{n_frames}]", o.shape),
        ));
    }
    let finite = |member: usize, key: &str, v: Vec<f64>| -> Result<Vec<f64>, ReadError> {
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(err(
                member,
                key,
                format!("value {i} is not finite: {}", v[i]),
            ));
        }
        Ok(v)
    };
    let xyz = finite(*cm, "coords", coords.as_f64())?;
    let e = finite(*em, "energies", energies.as_f64())?;
    let fr = forces
        .map(|(fm, f)| finite(*fm, "forces", f.as_f64()))
        .transpose()?;
    let old = old.map(|(_, o)| o.as_f64());
    let per = 3 * n_atoms;
    let mut out = Vec::with_capacity(n_frames);
    for k in 0..n_frames {
        let positions = xyz[k * per..(k + 1) * per]
            .chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect();
        let mut s = Structure {
            numbers: numbers.clone(),
            positions,
            comment: format!("frame {k}"),
            record_index: k,
            ..Structure::default()
        };
        s.labels.insert(
            "energy".into(),
            Label {
                value: LabelValue::Float(e[k]),
                unit: Some(crate::units::Unit::KcalPerMol.symbol().into()),
            },
        );
        if let Some(f) = &fr {
            s.atom_arrays.insert(
                "forces".into(),
                AtomArray::Float {
                    width: 3,
                    values: f[k * per..(k + 1) * per].to_vec(),
                },
            );
            s.labels.insert(
                "forces_unit".into(),
                Label {
                    value: LabelValue::Text(
                        crate::units::Unit::KcalPerMolPerAngstrom.symbol().into(),
                    ),
                    unit: None,
                },
            );
        }
        if let Some(o) = &old {
            s.labels.insert(
                "old_index".into(),
                Label {
                    value: LabelValue::Int(o[k] as i64),
                    unit: None,
                },
            );
        }
        out.push(s);
    }
    if out.is_empty() {
        return Err(ReadError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(h.len() as u16).to_le_bytes());
        v.extend_from_slice(h.as_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn dtypes() {
        let a = read_npy(&npy("<f4", "(2,)", &[0, 0, 128, 63, 0, 0, 0, 192])).unwrap();
        assert_eq!(a.data, NpyData::Float(vec![1.0, -2.0]));
        let a = read_npy(&npy("<i2", "(2,)", &[255, 255, 2, 0])).unwrap();
        assert_eq!(a.data, NpyData::Int(vec![-1, 2]));
        let a = read_npy(&npy(">i4", "(1,)", &[0, 0, 1, 0])).unwrap();
        assert_eq!(a.data, NpyData::Int(vec![256]));
        let a = read_npy(&npy("|u1", "(2, 1)", &[6, 200])).unwrap();
        assert_eq!(
            (a.shape.clone(), a.data),
            (vec![2, 1], NpyData::Int(vec![6, 200]))
        );
        let a = read_npy(&npy("|b1", "()", &[1])).unwrap();
        assert_eq!(a.data, NpyData::Bool(vec![true]));
    }

    #[test]
    fn sizes_are_checked() {
        let e = read_npy(&npy("<f8", "(1000000000000, 1000000000000)", &[0; 8])).unwrap_err();
        assert!(e.to_string().contains("shape"), "{e}");
        let e = read_npy(&npy("<f8", "(18446744073709551615, 2)", &[])).unwrap_err();
        assert!(e.to_string().contains("overflows"), "{e}");
        let e = read_npy(&npy("<f8", "(2,)", &[0; 8])).unwrap_err();
        assert!(e.to_string().contains("8 present"), "{e}");
        let e = read_npy(&npy("<c16", "(1,)", &[0; 16])).unwrap_err();
        assert!(e.to_string().contains("dtype"), "{e}");
        let mut v = npy("<f8", "(1,)", &[0; 8]);
        v[8] = 255;
        v[9] = 255;
        assert!(read_npy(&v).unwrap_err().to_string().contains("header"));
        assert!(read_npy(b"PK\x03\x04").is_err());
        assert!(read_zip(b"not a zip at all, just some text").is_err());
    }
}
