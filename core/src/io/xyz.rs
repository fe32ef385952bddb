//! Plain XYZ: one or more frames of `count`, `comment`, then `count` lines `element x y z …`.
//!
//! The element is a symbol (any case) or an atomic number; columns after z are ignored, so the
//! first four columns of extended XYZ written by ASE (`species:S:1:pos:R:3`) read the same way.
//! Coordinates must be finite numbers in Å.
//!
//! A frame whose comment line declares `Properties=` or `Lattice=` is extended XYZ and is read by
//! the rules of [`super::extxyz`] (lattice, pbc, per-atom arrays and labels).

use super::field::parse_element;
use super::{ReadError, extxyz};
use crate::Structure;

/// Parse all frames of an XYZ or extended XYZ file (each frame is detected separately).
///
/// # Errors
/// A [`ReadError`] naming the line and field of the first problem: a count that is not a
/// non-negative integer, fewer atom lines than declared, an unknown element, a coordinate that is
/// missing, not a number or not finite. Empty input gives [`ReadError::Empty`].
///
/// # Example
/// ```
/// let frames = nucleate_core::io::xyz::read_xyz("2\nH2\nH 0 0 0\nH 0 0 0.74\n").unwrap();
/// assert_eq!(frames[0].numbers, vec![1, 1]);
/// ```
pub fn read_xyz(text: &str) -> Result<Vec<Structure>, ReadError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut frames = Vec::new();
    let mut at = 0; // index of the next line to read (0-based)
    while at < lines.len() {
        if lines[at].trim().is_empty() {
            // Trailing blank lines end the file; a blank line before more data is an error.
            if lines[at..].iter().all(|l| l.trim().is_empty()) {
                break;
            }
            return Err(ReadError::at(
                at + 1,
                "atom count",
                "expected an atom count, got a blank line",
            ));
        }
        let count_text = lines[at].trim();
        let count: usize = count_text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .parse()
            .map_err(|_| {
                ReadError::at(
                    at + 1,
                    "atom count",
                    format!("expected a non-negative integer, got {count_text:?}"),
                )
            })?;
        let available = lines.len().saturating_sub(at + 2);
        if count > available {
            return Err(ReadError::at(
                at + 1,
                "atom count",
                format!("declares {count} atoms but only {available} atom lines follow"),
            ));
        }
        let comment = lines.get(at + 1).copied().unwrap_or("").trim().to_owned();
        if extxyz::is_extended(&comment) {
            let atom_lines = lines.get(at + 2..at + 2 + count).unwrap_or(&[]);
            let mut frame = extxyz::parse_frame(&comment, at + 2, atom_lines)?;
            frame.record_index = frames.len();
            frames.push(frame);
            at += 2 + count;
            continue;
        }
        let mut numbers = Vec::with_capacity(count);
        let mut positions = Vec::with_capacity(count);
        for k in 0..count {
            let line_no = at + 3 + k;
            let (z, pos) = parse_atom_line(lines[at + 2 + k], line_no)?;
            numbers.push(z);
            positions.push(pos);
        }
        frames.push(Structure {
            numbers,
            positions,
            comment,
            record_index: frames.len(),
            ..Structure::default()
        });
        at += 2 + count;
    }
    if frames.is_empty() {
        return Err(ReadError::Empty);
    }
    Ok(frames)
}

fn parse_atom_line(line: &str, line_no: usize) -> Result<(u8, [f64; 3]), ReadError> {
    let mut fields = line.split_whitespace();
    let element = fields.next().ok_or_else(|| {
        ReadError::at(
            line_no,
            "element",
            "expected an atom line, got a blank line",
        )
    })?;
    let z = parse_element(element)
        .ok_or_else(|| ReadError::at(line_no, "element", format!("unknown element {element:?}")))?;
    let mut pos = [0.0; 3];
    for (k, name) in ["x", "y", "z"].into_iter().enumerate() {
        let text = fields
            .next()
            .ok_or_else(|| ReadError::at(line_no, name, "missing coordinate"))?;
        let v: f64 = text.parse().map_err(|_| {
            ReadError::at(line_no, name, format!("expected a number, got {text:?}"))
        })?;
        if !v.is_finite() {
            return Err(ReadError::at(
                line_no,
                name,
                format!("coordinate is not finite: {text:?}"),
            ));
        }
        pos[k] = v;
    }
    Ok((z, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_two_frames_and_comments() {
        let text = "2\nfirst\nH 0 0 0\nh 0 0 0.74 extra columns\n1\nsecond\n8 1.5 -2 3e-1\n\n";
        let frames = read_xyz(text).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].numbers, vec![1, 1]);
        assert_eq!(frames[0].positions[1], [0.0, 0.0, 0.74]);
        assert_eq!(frames[0].comment, "first");
        assert_eq!(frames[1].numbers, vec![8]);
        assert_eq!(frames[1].positions[0], [1.5, -2.0, 0.3]);
        assert_eq!(frames[1].record_index, 1);
    }

    fn err(text: &str) -> (usize, String, String) {
        match read_xyz(text) {
            Err(ReadError::Parse(p)) => (p.line, p.field, p.message),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_line_and_field() {
        assert_eq!(err("two\n\nH 0 0 0\n").0, 1);
        assert_eq!(err("two\n\nH 0 0 0\n").1, "atom count");
        let (line, field, msg) = err("2\nc\nH 0 0 0\nH 0 1.2.3 0\n");
        assert_eq!((line, field.as_str()), (4, "y"));
        assert!(msg.contains("1.2.3"), "{msg}");
        assert_eq!(err("1\nc\nQq 0 0 0\n").1, "element");
        assert_eq!(err("1\nc\nH 0 0\n").1, "z");
        let (line, field, _) = err("1\nc\nH 0 nan 0\n");
        assert_eq!((line, field.as_str()), (3, "y"));
        assert_eq!(err("1\nc\nH inf 0 0\n").1, "x");
    }

    #[test]
    fn absurd_counts_are_rejected_without_allocating() {
        let (line, field, msg) = err("18446744073709551615\nc\nH 0 0 0\n");
        assert_eq!((line, field.as_str()), (1, "atom count"));
        assert!(msg.contains("only 1"), "{msg}");
        assert_eq!(err("-3\nc\n").1, "atom count");
        assert_eq!(err("3\nc\nH 0 0 0\n").1, "atom count");
    }

    #[test]
    fn blank_input_is_empty_and_inner_blank_lines_are_errors() {
        assert_eq!(read_xyz(""), Err(ReadError::Empty));
        assert_eq!(read_xyz("\n \n"), Err(ReadError::Empty));
        assert_eq!(err("1\nc\nH 0 0 0\n\n1\nc\nH 0 0 0\n").0, 4);
    }
}
