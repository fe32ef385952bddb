//! Symmetry operations of a space group named by its Hall symbol, Hermann–Mauguin symbol or
//! International Tables number, for CIF blocks that name their group but list no operations.
//!
//! The table of the 530 settings and the generation of a group from its Hall symbol come from
//! the `moyo` crate (spglib's Hall-symbol database, maintained, pure Rust, builds for wasm32);
//! this file only resolves a CIF's names to one setting and turns moyo's operations into
//! [`SymOp`]s, centring translations included.
//!
//! Resolution, in order of precedence: a Hall symbol names one setting exactly. A
//! Hermann–Mauguin symbol is matched against every setting's full and short symbol (spaces and
//! `_` ignored, case-insensitive; a `:1`/`:2`/`:H`/`:R` suffix picks the origin choice or axes;
//! the pre-2002 `a`-glide names like `C m c a` are accepted for `C m c e`); the IT number, when
//! also given, must agree. A number alone means its standard setting. Where the names leave a
//! real choice open, the cell decides between rhombohedral and hexagonal axes, and a choice
//! between two origins is an error that says how to fix the file — a crystal is never built
//! from a guessed setting.

use moyo::data::{HallSymbol, HallSymbolEntry, Setting, hall_symbol_entry};

use super::cif::SymOp;

/// What a CIF block says about its space group (each field as written, or absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct SpaceGroupNames<'a> {
    /// `_space_group_name_Hall` / `_symmetry_space_group_name_Hall`.
    pub hall: Option<&'a str>,
    /// `_space_group_name_H-M_alt` / `_symmetry_space_group_name_H-M`.
    pub hermann_mauguin: Option<&'a str>,
    /// `_space_group_IT_number` / `_symmetry_Int_Tables_number`.
    pub number: Option<i32>,
}

/// A resolved setting and its operations in the conventional cell.
#[derive(Debug, Clone)]
pub struct SpaceGroupOps {
    /// The Hall symbol of the setting used.
    pub hall_symbol: String,
    /// Every operation, centring translations included (192 for `F m -3 m`).
    pub ops: Vec<SymOp>,
}

/// Which name failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceGroupError {
    /// `"hall"`, `"hermann_mauguin"` or `"number"`.
    pub field: &'static str,
    /// What to do about it.
    pub message: String,
}

fn err(field: &'static str, message: String) -> SpaceGroupError {
    SpaceGroupError { field, message }
}

/// The operations of the group the names designate; `Ok(None)` when no name is given.
/// `lengths` and `angles_deg` are the cell's, used only to tell rhombohedral from hexagonal axes.
///
/// # Errors
/// An unreadable Hall symbol, an unknown Hermann–Mauguin symbol or number, names that
/// contradict each other, or an origin choice the names leave open.
pub fn resolve(
    names: SpaceGroupNames<'_>,
    lengths: [f64; 3],
    angles_deg: [f64; 3],
) -> Result<Option<SpaceGroupOps>, SpaceGroupError> {
    if let Some(hall) = names.hall {
        let ops = operations(hall)
            .ok_or_else(|| err("hall", format!("cannot read the Hall symbol {hall:?}")))?;
        return Ok(Some(ops));
    }
    let candidates: Vec<HallSymbolEntry> = if let Some(hm) = names.hermann_mauguin {
        let found = by_hermann_mauguin(hm, names.number)?;
        if found.is_empty() {
            return Err(err(
                "hermann_mauguin",
                format!(
                    "unknown Hermann–Mauguin symbol {hm:?}{}; give the symmetry operations \
                     (_space_group_symop_operation_xyz) or a Hall symbol",
                    names
                        .number
                        .map_or_else(String::new, |n| format!(" for space group {n}"))
                ),
            ));
        }
        found
    } else if let Some(n) = names.number {
        let found: Vec<_> = entries().filter(|e| e.number == n).collect();
        if found.is_empty() {
            return Err(err(
                "number",
                format!("space group number {n} is not in 1..=230"),
            ));
        }
        // A number alone means the standard setting, but for its origin choice or axes.
        let standard = Setting::Standard.hall_number(n);
        let settings: Vec<&str> = found.iter().map(|e| e.setting).collect();
        if settings.iter().any(|s| matches!(*s, "1" | "2" | "H" | "R")) {
            found
        } else {
            found
                .into_iter()
                .filter(|e| Some(e.hall_number) == standard)
                .collect()
        }
    } else {
        return Ok(None);
    };
    let entry = choose(candidates, names, lengths, angles_deg)?;
    let ops = operations(entry.hall_symbol).ok_or_else(|| {
        err(
            "hall",
            format!("moyo cannot expand {:?}", entry.hall_symbol),
        )
    })?;
    Ok(Some(ops))
}

/// Every operation of the setting with this Hall symbol; `None` when it is not a Hall symbol of
/// a crystallographic space group.
///
/// moyo's parser and group generation trust their input (they serve moyo's own table): an empty
/// symbol, a lone `-`, an unknown trailing letter, a non-numeric origin shift or a non-ASCII
/// character make them panic, and generators of an infinite group make the generation run
/// forever. A symbol from a file is therefore checked against the grammar first
/// ([`well_formed`]) and its rotations against crystallographic point groups ([`finite`])
/// before moyo expands it; the 530 symbols of moyo's table pass both checks (tested).
fn operations(hall: &str) -> Option<SpaceGroupOps> {
    if !well_formed(hall) {
        return None;
    }
    let group = HallSymbol::new(hall.trim())?;
    if !finite(&group.generators) {
        return None;
    }
    let mut ops = Vec::new();
    // moyo lists the centring translations without the zero one.
    let zero = moyo::base::Translation::zeros();
    for op in group.traverse() {
        for t in std::iter::once(&zero).chain(&group.centering_translations) {
            let mut rot = [[0.0; 3]; 3];
            let mut trans = [0.0; 3];
            for i in 0..3 {
                for (j, r) in rot[i].iter_mut().enumerate() {
                    *r = f64::from(op.rotation[(i, j)]);
                }
                let v = op.translation[i] + t[i];
                trans[i] = v - v.floor();
            }
            ops.push(SymOp { rot, trans });
        }
    }
    Some(SpaceGroupOps {
        hall_symbol: group.hall_symbol,
        ops,
    })
}

/// Whether `hall` follows the Hall-symbol grammar as moyo reads it (ASCII, whitespace-separated
/// tokens): a lattice token `-?[PABCIRF]`, then rotation tokens `-?[1-6][^=]?[xyz*]?[1-6abcnuvwd']*`,
/// then optionally an origin shift of three numbers in parentheses, `(0 0 1)`.
fn well_formed(hall: &str) -> bool {
    if !hall.is_ascii() {
        return false;
    }
    let tokens: Vec<&str> = hall.split_whitespace().collect();
    let Some((lattice, rest)) = tokens.split_first() else {
        return false;
    };
    let l = lattice.strip_prefix('-').unwrap_or(lattice);
    if l.len() != 1 || !"PABCIRF".contains(l) {
        return false;
    }
    let shift_at = rest
        .iter()
        .position(|t| t.starts_with('('))
        .unwrap_or(rest.len());
    let rotation = |t: &str| {
        let t = t.strip_prefix('-').unwrap_or(t).as_bytes();
        let Some((&n, mut t)) = t.split_first() else {
            return false;
        };
        if !(b'1'..=b'6').contains(&n) {
            return false;
        }
        if let Some((b'^' | b'=', r)) = t.split_first() {
            t = r;
        }
        if let Some((b'x' | b'y' | b'z' | b'*', r)) = t.split_first() {
            t = r;
        }
        t.iter().all(|c| b"123456abcnuvwd'".contains(c))
    };
    if !rest[..shift_at].iter().all(|t| rotation(t)) {
        return false;
    }
    if shift_at == rest.len() {
        return true;
    }
    // moyo strips one `(` from the front of a token or else one `)` from its end, and wants
    // three numbers.
    let parts: Vec<&str> = rest[shift_at..]
        .iter()
        .map(|t| {
            t.strip_prefix('(')
                .or_else(|| t.strip_suffix(')'))
                .unwrap_or(t)
        })
        .filter(|t| !t.is_empty())
        .collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|t| t.parse::<f64>().is_ok_and(f64::is_finite))
}

/// Whether `generators` generate a crystallographic point group: at most 48 rotations, each with
/// entries in {-1, 0, 1} (true of every point-group operation in a conventional basis). Checked
/// on the rotations alone, without moyo's unbounded generation.
fn finite(generators: &[moyo::base::Operation]) -> bool {
    let identity = moyo::base::Rotation::identity();
    let mut seen = vec![identity];
    let mut queue = vec![identity];
    while let Some(r) = queue.pop() {
        for g in generators {
            let next = r * g.rotation;
            if next.iter().any(|e| e.abs() > 1) {
                return false;
            }
            if !seen.contains(&next) {
                if seen.len() == 48 {
                    return false;
                }
                seen.push(next);
                queue.push(next);
            }
        }
    }
    true
}

fn entries() -> impl Iterator<Item = HallSymbolEntry> {
    (1..=530).filter_map(hall_symbol_entry)
}

/// Spaces and `_` dropped, ASCII lower case: `P 1 21/c 1` and `P 1 2_1/c 1` become `p121/c1`.
fn normalize(symbol: &str) -> String {
    symbol
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The `e`-glide groups under their older names (International Tables, 2002 revision).
const OLD_NAMES: [(&str, &str); 5] = [
    ("abm2", "aem2"),
    ("aba2", "aea2"),
    ("cmca", "cmce"),
    ("cmma", "cmme"),
    ("ccca", "ccce"),
];

fn by_hermann_mauguin(
    hm: &str,
    number: Option<i32>,
) -> Result<Vec<HallSymbolEntry>, SpaceGroupError> {
    let (symbol, suffix) = match hm.split_once(':') {
        Some((s, x)) => (s, Some(x.trim())),
        None => (hm, None),
    };
    let mut key = normalize(symbol);
    if let Some((_, new)) = OLD_NAMES.iter().find(|(old, _)| *old == key) {
        key = (*new).to_owned();
    }
    let matches = |e: &HallSymbolEntry| {
        number.is_none_or(|n| n == e.number)
            && suffix.is_none_or(|x| e.setting.eq_ignore_ascii_case(x))
    };
    // A full symbol names one setting; a short one may stand for several (its standard first).
    let full: Vec<_> = entries()
        .filter(|e| normalize(e.hm_full) == key && matches(e))
        .collect();
    if !full.is_empty() {
        return Ok(full);
    }
    let short: Vec<_> = entries()
        .filter(|e| normalize(e.hm_short) == key && matches(e))
        .collect();
    if short.is_empty() && number.is_some() {
        let any = entries().any(|e| normalize(e.hm_full) == key || normalize(e.hm_short) == key);
        if any {
            return Err(err(
                "number",
                format!("space group number {number:?} contradicts the symbol {hm:?}"),
            ));
        }
    }
    Ok(short)
}

/// One setting among `candidates` (all of one space-group type, or an error).
fn choose(
    mut candidates: Vec<HallSymbolEntry>,
    names: SpaceGroupNames<'_>,
    lengths: [f64; 3],
    angles: [f64; 3],
) -> Result<HallSymbolEntry, SpaceGroupError> {
    let field = if names.hermann_mauguin.is_some() {
        "hermann_mauguin"
    } else {
        "number"
    };
    let named = names
        .hermann_mauguin
        .map_or_else(|| format!("{:?}", names.number), |s| format!("{s:?}"));
    if candidates.len() > 1 && candidates.iter().all(|e| matches!(e.setting, "H" | "R")) {
        // Rhombohedral axes: a = b = c and α = β = γ; otherwise the hexagonal cell.
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-3 * x.abs().max(1.0);
        let rhombohedral = close(lengths[0], lengths[1])
            && close(lengths[1], lengths[2])
            && close(angles[0], angles[1])
            && close(angles[1], angles[2])
            && !close(angles[2], 120.0);
        let axes = if rhombohedral { "R" } else { "H" };
        candidates.retain(|e| e.setting == axes);
    }
    if candidates.len() > 1 {
        let number = candidates[0].number;
        if candidates.iter().any(|e| e.number != number) {
            return Err(err(
                field,
                format!("{named} names more than one space group; give its number"),
            ));
        }
        if candidates.iter().any(|e| matches!(e.setting, "1" | "2")) {
            return Err(err(
                field,
                format!(
                    "{named} (space group {number}) has two origin choices and the file does not \
                     say which: write the symbol with \":1\" or \":2\", or give a Hall symbol or \
                     the symmetry operations"
                ),
            ));
        }
        // A short symbol of several settings (monoclinic axes, cell choices): the standard one.
        let standard = Setting::Standard.hall_number(number);
        candidates.retain(|e| Some(e.hall_number) == standard);
    }
    match candidates.len() {
        1 => Ok(candidates.swap_remove(0)),
        _ => Err(err(
            field,
            format!(
                "cannot tell which setting of {named} is meant; give a Hall symbol or the symmetry operations"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(names: SpaceGroupNames<'_>) -> Result<Option<SpaceGroupOps>, SpaceGroupError> {
        resolve(names, [5.0, 5.0, 5.0], [90.0, 90.0, 90.0])
    }

    #[test]
    fn hall_symbols_moyo_cannot_read_are_errors_not_panics() {
        // The fuzzer's find (an empty `_symmetry_space_group_name_Hall ''`) and its relatives,
        // which make moyo panic (empty, lone `-`, unknown letters, bad origin shifts, non-ASCII)
        // or generate forever (`P 6z 4x`: no finite group has a 6-fold and a 4-fold axis), and
        // symbols that moyo would half-read (`PP 2`).
        for bad in [
            "",
            "  ",
            "-",
            "P -",
            "P 2zq",
            "P 2 (1) 0 0",
            "P 2 (a b c)",
            "P 2 (0 0)",
            "Pü 2",
            "X 2",
            "PP 2",
            "P 7",
            "P 6z 4x",
            "P 3 3x 4y",
        ] {
            let out = ops(SpaceGroupNames {
                hall: Some(bad),
                ..Default::default()
            });
            let e = out.expect_err(bad);
            assert_eq!(e.field, "hall", "{bad:?}");
        }
        // Origin shifts and the grammar's corners still read.
        for good in [
            "P 2yb (0 0 1)",
            "-P 2ybc",
            "P 4w 2c",
            "-P 3 2=",
            "P 61 2 (0 0 -1)",
            "P 4x 3*",
        ] {
            assert!(well_formed(good), "{good:?}");
        }
        for (good, n) in [("-P 2ybc", 4), ("P 2yb (0 0 1)", 2), ("P 4x 3*", 24)] {
            let got = ops(SpaceGroupNames {
                hall: Some(good),
                ..Default::default()
            });
            assert_eq!(got.expect(good).expect(good).ops.len(), n, "{good:?}");
        }
    }

    #[test]
    fn every_setting_of_the_table_passes_the_checks() {
        for e in entries() {
            assert!(well_formed(e.hall_symbol), "{:?}", e.hall_symbol);
            let group = HallSymbol::new(e.hall_symbol).expect("moyo reads its table");
            assert!(finite(&group.generators), "{:?}", e.hall_symbol);
        }
    }

    #[test]
    fn operation_counts_of_named_groups() {
        let n = |hm: &str| {
            ops(SpaceGroupNames {
                hermann_mauguin: Some(hm),
                ..Default::default()
            })
            .unwrap()
            .unwrap()
            .ops
            .len()
        };
        assert_eq!(n("F m -3 m"), 192);
        assert_eq!(n("P 21/c"), 4);
        assert_eq!(n("P 1 21/c 1"), 4);
        assert_eq!(n("Fd-3m:2"), 192);
        assert_eq!(n("C m c a"), 16);
        assert_eq!(n("P1"), 1);
        let hall = ops(SpaceGroupNames {
            hall: Some("-F 4 2 3"),
            ..Default::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(hall.ops.len(), 192);
        let by_number = ops(SpaceGroupNames {
            number: Some(14),
            ..Default::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(by_number.hall_symbol, "-P 2ybc");
    }

    #[test]
    fn open_choices_and_contradictions_are_errors() {
        let e = ops(SpaceGroupNames {
            hermann_mauguin: Some("F d -3 m"),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.message.contains("two origin choices"), "{e:?}");
        let e = ops(SpaceGroupNames {
            hermann_mauguin: Some("F m -3 m"),
            number: Some(14),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.field, "number");
        let e = ops(SpaceGroupNames {
            hermann_mauguin: Some("Q 9"),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.field, "hermann_mauguin");
        let e = ops(SpaceGroupNames {
            hall: Some("Z 9q"),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.field, "hall");
        assert!(ops(SpaceGroupNames::default()).unwrap().is_none());
    }

    #[test]
    fn the_cell_tells_rhombohedral_from_hexagonal_axes() {
        let names = SpaceGroupNames {
            hermann_mauguin: Some("R -3 m"),
            ..Default::default()
        };
        let hex = resolve(names, [4.0, 4.0, 12.0], [90.0, 90.0, 120.0])
            .unwrap()
            .unwrap();
        assert_eq!(hex.ops.len(), 36);
        let rho = resolve(names, [5.0, 5.0, 5.0], [60.0, 60.0, 60.0])
            .unwrap()
            .unwrap();
        assert_eq!(rho.ops.len(), 12);
    }
}
