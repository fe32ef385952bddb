//! The V3000 connection table: `M  V30` lines (a trailing `-` continues a line) with a
//! `COUNTS` line, an `ATOM` block and a `BOND` block inside `BEGIN CTAB` … `END CTAB`, then
//! `M  END`. Collections, S-groups and 3D blocks are skipped.

use super::{element, line_at};
use crate::io::{ReadError, field};
use crate::{AtomArray, Structure};

/// One logical `M  V30` line (continuations joined) and the 1-based line it starts on.
struct V30 {
    line: usize,
    text: String,
}

/// Read a V3000 table whose first `M  V30` line is 0-based line `start`; returns the structure
/// and the index of the line after `M  END`.
pub(super) fn read_ctab(lines: &[&str], start: usize) -> Result<(Structure, usize), ReadError> {
    let mut logical: Vec<V30> = Vec::new();
    let mut i = start;
    let mut continuing = false;
    loop {
        let line = line_at(lines, i, "M  END")?;
        i += 1;
        if line.starts_with("M  END") {
            break;
        }
        let Some(body) = line.strip_prefix("M  V30") else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(ReadError::at(
                i,
                "M  V30",
                format!("expected an \"M  V30\" line or \"M  END\", got {line:?}"),
            ));
        };
        let body = body.trim();
        let (body, more) = match body.strip_suffix('-') {
            Some(b) => (b, true),
            None => (body, false),
        };
        match logical.last_mut() {
            Some(last) if continuing => last.text.push_str(body),
            _ => logical.push(V30 {
                line: i,
                text: body.to_owned(),
            }),
        }
        continuing = more;
    }
    let mut rows = logical.iter().peekable();
    // BEGIN CTAB, then COUNTS.
    let counts = loop {
        let row = rows
            .next()
            .ok_or_else(|| ReadError::at(i, "COUNTS", "no COUNTS line before M  END"))?;
        if let Some(rest) = row.text.strip_prefix("COUNTS") {
            break (row.line, rest.to_owned());
        }
    };
    let mut t = counts.1.split_whitespace();
    let available = logical.len();
    let n_atoms = field::count(t.next().unwrap_or(""), available, counts.0, "atom count")?;
    let n_bonds = field::count(
        t.next().unwrap_or(""),
        available.saturating_sub(n_atoms),
        counts.0,
        "bond count",
    )?;
    let has_atom_block = rows
        .peek()
        .is_some_and(|r| r.text.starts_with("BEGIN ATOM"));
    if has_atom_block {
        rows.next();
    } else if n_atoms > 0 {
        let (line, got) = rows
            .peek()
            .map_or((i, String::new()), |r| (r.line, r.text.clone()));
        return Err(ReadError::at(
            line,
            "BEGIN ATOM",
            format!("expected BEGIN ATOM, got {got:?}"),
        ));
    }
    let mut numbers = Vec::with_capacity(n_atoms);
    let mut positions = Vec::with_capacity(n_atoms);
    let mut charges = Vec::with_capacity(n_atoms);
    for _ in 0..n_atoms {
        let row = rows.next().ok_or_else(|| {
            ReadError::at(i, "atom line", "fewer atom lines than COUNTS declares")
        })?;
        if row.text.starts_with("END ATOM") {
            return Err(ReadError::at(
                row.line,
                "atom line",
                "fewer atom lines than COUNTS declares",
            ));
        }
        let (z, pos, chg) = atom(&row.text, row.line)?;
        numbers.push(z);
        positions.push(pos);
        charges.push(chg);
    }
    if has_atom_block {
        match rows.next() {
            Some(r) if r.text.starts_with("END ATOM") => {}
            Some(r) => {
                return Err(ReadError::at(
                    r.line,
                    "END ATOM",
                    "more atom lines than COUNTS declares",
                ));
            }
            None => return Err(ReadError::at(i, "END ATOM", "missing END ATOM")),
        }
    }
    // Bonds are only counted.
    let mut bonds = 0usize;
    let mut in_bonds = false;
    for r in rows {
        if r.text.starts_with("BEGIN BOND") {
            in_bonds = true;
        } else if r.text.starts_with("END BOND") {
            in_bonds = false;
        } else if in_bonds {
            bonds += 1;
        }
    }
    if bonds != n_bonds {
        return Err(ReadError::at(
            counts.0,
            "bond count",
            format!("declares {n_bonds} bonds but the BOND block has {bonds}"),
        ));
    }
    let mut s = Structure::molecule(numbers, positions);
    s.atom_arrays.insert(
        "formal_charges".to_owned(),
        AtomArray::Int {
            width: 1,
            values: charges,
        },
    );
    Ok((s, i))
}

/// Split a V3000 line into fields, keeping quoted text and bracketed lists whole.
fn fields(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let start = i;
        let mut depth = 0i32;
        let mut quoted = false;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'"' => quoted = !quoted,
                b'[' | b'(' if !quoted => depth += 1,
                b']' | b')' if !quoted => depth -= 1,
                _ if b.is_ascii_whitespace() && !quoted && depth <= 0 => break,
                _ => {}
            }
            i += 1;
        }
        if let Some(f) = text.get(start..i).filter(|f| !f.is_empty()) {
            out.push(f);
        }
    }
    out
}

/// `index type x y z aamap [KEY=VALUE …]`.
fn atom(text: &str, ln: usize) -> Result<(u8, [f64; 3], i64), ReadError> {
    let f = fields(text);
    let get = |k: usize, name: &str| {
        f.get(k)
            .copied()
            .ok_or_else(|| ReadError::at(ln, name, "missing field in V3000 atom line"))
    };
    field::int(get(0, "atom index")?, ln, "atom index")?;
    let symbol = get(1, "element")?;
    let z = if symbol.starts_with('[') || symbol.starts_with("NOT") || symbol.starts_with('"') {
        0 // atom list or quoted query: no single element
    } else {
        element(symbol)
            .ok_or_else(|| ReadError::at(ln, "element", format!("unknown element {symbol:?}")))?
    };
    let mut pos = [0.0; 3];
    for (k, name) in ["x", "y", "z"].into_iter().enumerate() {
        pos[k] = field::finite(get(2 + k, name)?, ln, name)?;
    }
    let mut charge = 0;
    for kv in f.iter().skip(6) {
        if let Some(v) = kv.strip_prefix("CHG=") {
            charge = field::int(v, ln, "CHG")?;
        }
    }
    Ok((z, pos, charge))
}

#[cfg(test)]
mod tests {
    use super::super::read_sdf;
    use crate::io::ReadError;

    const MOL: &str = "t\n  RDKit\n\n  0  0  0  0  0  0  0  0  0  0999 V3000\nM  V30 BEGIN CTAB\nM  V30 COUNTS 3 2 0 0 0\nM  V30 BEGIN ATOM\nM  V30 1 O 0 0 0 0 CHG=-1\nM  V30 2 H 0.96 0 -\nM  V30 0 0\nM  V30 3 R# -0.24 0.93 0 0\nM  V30 END ATOM\nM  V30 BEGIN BOND\nM  V30 1 1 1 2\nM  V30 2 1 1 3\nM  V30 END BOND\nM  V30 END CTAB\nM  END\n";

    #[test]
    fn reads_v3000_with_continuations_and_queries() {
        let s = &read_sdf(MOL).unwrap()[0];
        assert_eq!(s.numbers, vec![8, 1, 0]);
        assert_eq!(s.positions[1], [0.96, 0.0, 0.0]);
        assert_eq!(
            s.atom_arrays["formal_charges"],
            crate::AtomArray::Int {
                width: 1,
                values: vec![-1, 0, 0]
            }
        );
        let list = MOL.replace("3 R#", "3 [C,N]");
        assert_eq!(read_sdf(&list).unwrap()[0].numbers, vec![8, 1, 0]);
    }

    fn err(text: &str) -> (usize, String) {
        match read_sdf(text) {
            Err(ReadError::Parse(p)) => (p.line, p.field),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_line_and_field() {
        assert_eq!(
            err(&MOL.replace("COUNTS 3 2", "COUNTS 99999999999 2")),
            (6, "atom count".into())
        );
        assert_eq!(
            err(&MOL.replace("COUNTS 3 2", "COUNTS 3 5")),
            (6, "bond count".into())
        );
        assert_eq!(err(&MOL.replace("0.93", "nan")), (11, "y".into()));
        assert_eq!(err(&MOL.replace("1 O 0", "1 Qq 0")), (8, "element".into()));
        assert_eq!(err(&MOL.replace("M  END\n", "")), (18, "M  END".into()));
        assert_eq!(
            err(&MOL.replace("COUNTS 3 2", "COUNTS 4 2")),
            (12, "atom line".into())
        );
    }
}
