//! VASP POSCAR / CONTCAR: one periodic [`Structure`].
//!
//! Layout: a comment line; the scale (one number: a factor, or when negative the target cell
//! volume in Å³; or three per-axis factors); three lattice vectors (rows, Å before scaling); the
//! species line (VASP 5) and the counts line; optionally `Selective dynamics`; the coordinate
//! mode (`Direct`, or `Cartesian` / `K…`, read by its first letter as VASP does); then one line
//! per atom. Cartesian coordinates are scaled like the lattice; direct ones are multiplied by
//! the scaled lattice (no wrapping). Lines after the coordinates (velocities, predictor) are
//! ignored.
//!
//! VASP 4 files have no species line. As ASE does, the species are then read from the comment
//! line, whose first whitespace-separated words must be as many element symbols as there are
//! counts; otherwise the file is rejected with an error on line 1, field `"species"`.
//! Species names like `Fe_pv` or `Fe/1a2b` (POTCAR tags) are read as the element before the
//! `_` or `/`.
//!
//! Selective-dynamics flags are kept in the per-atom boolean array `"selective_dynamics"`
//! (width 3, `true` = free to move, VASP's `T`).

use super::ReadError;
use crate::structure::AtomArray;
use crate::{Structure, elements};

/// Parse a POSCAR / CONTCAR file.
///
/// # Errors
/// A [`ReadError`] naming the line and field of the first problem: a missing line, a scale or
/// lattice component or coordinate that is not a finite number, a zero or negative-volume cell,
/// an unknown element, species and counts of different lengths, counts that exceed the lines
/// present, an unknown coordinate mode, missing selective-dynamics flags. Empty input gives
/// [`ReadError::Empty`].
pub fn read_poscar(text: &str) -> Result<Vec<Structure>, ReadError> {
    let lines: Vec<&str> = text.lines().collect();
    if lines.iter().all(|l| l.trim().is_empty()) {
        return Err(ReadError::Empty);
    }
    let get = |i: usize, field: &str| -> Result<&str, ReadError> {
        lines
            .get(i)
            .copied()
            .ok_or_else(|| ReadError::at(i + 1, field, "file ends here"))
    };
    let comment = lines[0].trim().to_owned();

    // Scale.
    let scale_line = get(1, "scale")?;
    let scales: Vec<f64> = scale_line
        .split_whitespace()
        .take_while(|w| !w.starts_with('#') && !w.starts_with('!'))
        .map(|w| parse_f64(w, 2, "scale"))
        .collect::<Result<_, _>>()?;
    if scales.len() != 1 && scales.len() != 3 {
        return Err(ReadError::at(
            2,
            "scale",
            format!("expected one or three numbers, got {:?}", scale_line.trim()),
        ));
    }

    // Lattice.
    let mut lattice = [[0.0; 3]; 3];
    for (r, row) in lattice.iter_mut().enumerate() {
        let line_no = 3 + r;
        let line = get(line_no - 1, "lattice")?;
        let mut words = line.split_whitespace();
        for (c, name) in ["x", "y", "z"].iter().enumerate() {
            let field = format!("lattice {}{}", ["a", "b", "c"][r], name);
            let w = words
                .next()
                .ok_or_else(|| ReadError::at(line_no, &field, "missing component"))?;
            row[c] = parse_f64(w, line_no, &field)?;
        }
    }
    let raw_det = det3(&lattice);
    let cart_factor: [f64; 3] = if scales.len() == 1 {
        let s = scales[0];
        let factor = if s < 0.0 {
            if raw_det.abs() < 1e-12 {
                return Err(ReadError::at(
                    3,
                    "lattice",
                    "lattice vectors are degenerate",
                ));
            }
            (-s / raw_det.abs()).cbrt()
        } else if s > 0.0 {
            s
        } else {
            return Err(ReadError::at(2, "scale", "scale factor is zero"));
        };
        [factor; 3]
    } else {
        if scales.iter().any(|&s| s <= 0.0) {
            return Err(ReadError::at(
                2,
                "scale",
                "per-axis scale factors must be positive",
            ));
        }
        [scales[0], scales[1], scales[2]]
    };
    for row in &mut lattice {
        for (c, v) in row.iter_mut().enumerate() {
            *v *= cart_factor[c];
        }
    }
    let det = det3(&lattice);
    if det.abs() < 1e-12 {
        return Err(ReadError::at(
            3,
            "lattice",
            "lattice vectors are degenerate",
        ));
    }

    // Species and counts.
    let line6 = get(5, "species")?;
    let first = line6.split_whitespace().next().unwrap_or("");
    let vasp5 = first.parse::<u64>().is_err();
    let (species_line_no, counts_idx) = if vasp5 { (6, 6) } else { (1, 5) };
    let counts_line = get(counts_idx, "counts")?;
    let counts: Vec<usize> = counts_line
        .split_whitespace()
        .take_while(|w| !w.starts_with('#') && !w.starts_with('!'))
        .map(|w| {
            w.parse::<usize>().map_err(|_| {
                ReadError::at(
                    counts_idx + 1,
                    "counts",
                    format!("expected a non-negative integer, got {w:?}"),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    if counts.is_empty() {
        return Err(ReadError::at(counts_idx + 1, "counts", "no atom counts"));
    }
    let species_words: Vec<&str> = if vasp5 {
        line6.split_whitespace().collect()
    } else {
        lines[0].split_whitespace().take(counts.len()).collect()
    };
    if species_words.len() < counts.len() || (vasp5 && species_words.len() != counts.len()) {
        let msg = if vasp5 {
            format!(
                "{} species but {} counts on the next line",
                species_words.len(),
                counts.len()
            )
        } else {
            format!(
                "VASP 4 file (no species line), and the comment line {:?} does not start with \
                 {} element symbols (where ASE also looks): insert a line naming the {} \
                 species (e.g. `Si O`) after the lattice vectors, as VASP 5 writes it, or \
                 start the comment line with them",
                lines[0].trim(),
                counts.len(),
                counts.len()
            )
        };
        return Err(ReadError::at(species_line_no, "species", msg));
    }
    let mut species = Vec::with_capacity(counts.len());
    for w in &species_words[..counts.len()] {
        let name = w.split(['_', '/']).next().unwrap_or("");
        let z = elements::number_from_symbol(name).ok_or_else(|| {
            ReadError::at(species_line_no, "species", format!("unknown element {w:?}"))
        })?;
        species.push(z);
    }

    // Mode line (after optional Selective dynamics).
    let mut at = counts_idx + 1;
    let mut selective = false;
    let mode_line = get(at, "coordinate mode")?.trim();
    if mode_line.starts_with(['S', 's']) {
        selective = true;
        at += 1;
    }
    let mode_line = get(at, "coordinate mode")?.trim();
    let cartesian = match mode_line.chars().next() {
        Some('C' | 'c' | 'K' | 'k') => true,
        Some('D' | 'd') => false,
        _ => {
            return Err(ReadError::at(
                at + 1,
                "coordinate mode",
                format!("expected Direct or Cartesian, got {mode_line:?}"),
            ));
        }
    };
    at += 1;

    let total = counts
        .iter()
        .try_fold(0usize, |acc, &c| acc.checked_add(c))
        .unwrap_or(usize::MAX);
    let available = lines.len().saturating_sub(at);
    if total > available {
        return Err(ReadError::at(
            counts_idx + 1,
            "counts",
            format!("declares {total} atoms but only {available} coordinate lines follow"),
        ));
    }
    let mut numbers = Vec::with_capacity(total);
    for (z, &n) in species.iter().zip(&counts) {
        numbers.extend(std::iter::repeat_n(*z, n));
    }
    let mut positions = Vec::with_capacity(total);
    let mut flags = Vec::new();
    for k in 0..total {
        let line_no = at + 1 + k;
        let mut words = lines[at + k].split_whitespace();
        let mut c = [0.0; 3];
        for (i, name) in ["x", "y", "z"].iter().enumerate() {
            let w = words
                .next()
                .ok_or_else(|| ReadError::at(line_no, name, "missing coordinate"))?;
            c[i] = parse_f64(w, line_no, name)?;
        }
        let p = if cartesian {
            [
                c[0] * cart_factor[0],
                c[1] * cart_factor[1],
                c[2] * cart_factor[2],
            ]
        } else {
            let mut p = [0.0; 3];
            for (i, ci) in c.iter().enumerate() {
                for (j, pj) in p.iter_mut().enumerate() {
                    *pj += ci * lattice[i][j];
                }
            }
            p
        };
        positions.push(p);
        if selective {
            for name in ["selective x", "selective y", "selective z"] {
                let w = words.next().ok_or_else(|| {
                    ReadError::at(line_no, name, "missing selective-dynamics flag")
                })?;
                flags.push(match w {
                    "T" | "t" => true,
                    "F" | "f" => false,
                    _ => {
                        return Err(ReadError::at(
                            line_no,
                            name,
                            format!("expected T or F, got {w:?}"),
                        ));
                    }
                });
            }
        }
    }
    let mut s = Structure {
        numbers,
        positions,
        lattice: Some(lattice),
        pbc: [true; 3],
        comment,
        ..Structure::default()
    };
    if selective {
        s.atom_arrays.insert(
            "selective_dynamics".to_owned(),
            AtomArray::Bool {
                width: 3,
                values: flags,
            },
        );
    }
    Ok(vec![s])
}

fn det3(m: &[[f64; 3]; 3]) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

fn parse_f64(w: &str, line_no: usize, field: &str) -> Result<f64, ReadError> {
    let v: f64 = w
        .parse()
        .map_err(|_| ReadError::at(line_no, field, format!("expected a number, got {w:?}")))?;
    if !v.is_finite() {
        return Err(ReadError::at(
            line_no,
            field,
            format!("value is not finite: {w:?}"),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SI: &str =
        "Si2\n5.43\n0 0.5 0.5\n0.5 0 0.5\n0.5 0.5 0\nSi\n2\nDirect\n0 0 0\n0.25 0.25 0.25\n";

    #[test]
    fn reads_vasp5_direct() {
        let s = &read_poscar(SI).unwrap()[0];
        assert_eq!(s.numbers, vec![14, 14]);
        assert_eq!(s.lattice.unwrap()[0], [0.0, 2.715, 2.715]);
        let p = s.positions[1];
        assert!((p[0] - 1.3575).abs() < 1e-12);
        assert_eq!(s.pbc, [true; 3]);
    }

    #[test]
    fn negative_scale_is_volume_and_cartesian_scales() {
        let text = "H\n-8\n1 0 0\n0 1 0\n0 0 1\nH\n1\nCartesian\n0.5 0 0\n";
        let s = &read_poscar(text).unwrap()[0];
        assert!((s.lattice.unwrap()[0][0] - 2.0).abs() < 1e-12);
        assert!((s.positions[0][0] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn vasp4_species_from_comment_and_selective() {
        let text = "O H\n1.0\n5 0 0\n0 5 0\n0 0 5\n1 2\nSelective dynamics\nCart\n0 0 0 T T F\n\
                    0.9 0 0 F F F\n0 0.9 0 T T T\n";
        let s = &read_poscar(text).unwrap()[0];
        assert_eq!(s.numbers, vec![8, 1, 1]);
        match &s.atom_arrays["selective_dynamics"] {
            AtomArray::Bool { width, values } => {
                assert_eq!(*width, 3);
                assert_eq!(&values[..3], &[true, true, false]);
            }
            other => panic!("{other:?}"),
        }
        let bad = text.replacen("O H", "my structure", 1);
        match read_poscar(&bad) {
            Err(ReadError::Parse(p)) => assert_eq!((p.line, p.field.as_str()), (1, "species")),
            other => panic!("{other:?}"),
        }
    }

    fn err(text: &str) -> (usize, String) {
        match read_poscar(text) {
            Err(ReadError::Parse(p)) => (p.line, p.field),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn malformed() {
        assert_eq!(err(&SI.replace("5.43", "x")), (2, "scale".into()));
        assert_eq!(
            err(&SI.replace("0.5 0 0.5", "0.5 nan 0.5")),
            (4, "lattice by".into())
        );
        assert_eq!(
            err(&SI.replace("\n2\n", "\n99999999999\n")),
            (7, "counts".into())
        );
        assert_eq!(err(&SI.replace("\n2\n", "\n2 3\n")), (6, "species".into()));
        assert_eq!(
            err(&SI.replace("Direct", "Fractional")),
            (8, "coordinate mode".into())
        );
        assert_eq!(
            err(&SI.replace("0.25 0.25 0.25", "0.25 0.25")),
            (10, "z".into())
        );
        assert_eq!(
            err(&SI.replace("0.25 0.25 0.25", "0.25 inf 1")),
            (10, "y".into())
        );
        assert_eq!(err("Si\n1.0\n1 0 0\n"), (4, "lattice".into()));
        assert_eq!(err(&SI.replace("\nSi\n", "\nXx\n")), (6, "species".into()));
        assert_eq!(read_poscar(""), Err(ReadError::Empty));
    }
}
