//! Small-molecule and inorganic CIF (CIF 1.1 syntax): one [`Structure`] per data block that
//! has fractional atom sites.
//!
//! What is read:
//! - the syntax: `data_` blocks, `loop_`s, `'…'`/`"…"` quoted values, `;`-delimited multi-line
//!   text fields, `#` comments (`save_` frames are read as part of their block);
//! - the cell `_cell_length_a..c` (Å), `_cell_angle_alpha..gamma` (degrees), numbers with
//!   standard uncertainties like `5.031(2)`; the lattice is put in the standard crystallographic
//!   orientation (a along x, b in the xy plane, c completing a right-handed set), as ASE's
//!   `cellpar_to_cell` and gemmi do;
//! - sites `_atom_site_fract_x/y/z`, element from `_atom_site_type_symbol` (charges and digits
//!   stripped: `Fe3+` → Fe) or else from `_atom_site_label` (`C12A` → C, `Cl1` → Cl);
//! - symmetry operations from `_symmetry_equiv_pos_as_xyz` or `_space_group_symop_operation_xyz`
//!   (dotted CIF2/mmCIF-style names too), like `-x+1/2,y,-z` or `x-y,x,z+1/3`. Every site is
//!   expanded by every operation, wrapped into [0, 1) and merged with an existing atom when they
//!   lie within [`CifOptions::merge_tolerance`] (fractional, per axis, periodic).
//!
//! Partial occupancies (< 1) and coinciding sites of different elements cannot be represented
//! by a [`Structure`]: they are a [`Warning`] (the site is kept as if fully occupied) or, with
//! [`CifOptions::strict`], an error. A block with sites but no operation loop is expanded by the
//! operations of the space group it names (Hall symbol, Hermann–Mauguin symbol or number; see
//! [`super::space_group`]): an unknown or ambiguous name is an error, never a partial crystal.
//! A block that names no group either is read as P1 with a warning (an error when strict). Cartesian-only `_atom_site_Cartn_*` blocks are not
//! read (such a block yields no structure).
//!
//! Output: positions (Å) are the wrapped fractional coordinates times the lattice, `pbc` is all
//! true, `comment` is the block name, the per-atom text array `"site_label"` holds each atom's
//! `_atom_site_label`, and the label `"space_group"` the Hermann–Mauguin symbol when given.

use std::collections::BTreeMap;

use super::ReadError;
use crate::structure::{AtomArray, Label, LabelValue};
use crate::{Structure, elements};

/// How strictly [`read_cif_with`] treats what a [`Structure`] cannot represent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CifOptions {
    /// Make partial occupancies, coinciding different-element sites and missing symmetry
    /// operations errors instead of warnings.
    pub strict: bool,
    /// Two expanded sites closer than this in every fractional coordinate (modulo 1) are one
    /// atom. Default 1e-3.
    pub merge_tolerance: f64,
}

impl Default for CifOptions {
    fn default() -> Self {
        Self {
            strict: false,
            merge_tolerance: 1e-3,
        }
    }
}

/// Something a reader accepted but could not represent exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    /// 1-based line.
    pub line: usize,
    /// The field concerned.
    pub field: String,
    /// What was approximated.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, field \"{}\": {}",
            self.line, self.field, self.message
        )
    }
}

/// Read every data block with atom sites, with default (lenient) options; warnings dropped.
///
/// # Errors
/// See [`read_cif_with`].
pub fn read_cif(text: &str) -> Result<Vec<Structure>, ReadError> {
    read_cif_with(text, CifOptions::default()).map(|(s, _)| s)
}

/// Read every data block with atom sites; one [`Structure`] per such block, plus warnings.
///
/// # Errors
/// A [`ReadError`] naming line and field: broken syntax (unterminated quote or text field, a
/// loop whose value count is not a multiple of its tag count, a value outside any block), a
/// missing or invalid cell parameter, a coordinate that is not a finite number, an unknown
/// element, an unparsable symmetry operation, and in strict mode partial occupancy, coinciding
/// sites of different elements or missing symmetry operations. [`ReadError::Empty`] if no block
/// has atom sites.
pub fn read_cif_with(
    text: &str,
    options: CifOptions,
) -> Result<(Vec<Structure>, Vec<Warning>), ReadError> {
    let blocks = parse_blocks(text)?;
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for block in &blocks {
        if let Some(mut s) = block_structure(block, options, &mut warnings)? {
            s.record_index = out.len();
            out.push(s);
        }
    }
    if out.is_empty() {
        return Err(ReadError::Empty);
    }
    Ok((out, warnings))
}

// ----------------------------------------------------------------------------- syntax

/// One value with the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Value {
    pub text: String,
    pub line: usize,
    /// Quoted or text-field values are never the null markers `?` / `.`.
    pub quoted: bool,
}

impl Value {
    fn is_null(&self) -> bool {
        !self.quoted && (self.text == "?" || self.text == ".")
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Data(String),
    Loop,
    Other, // save_, global_, stop_
    Tag(String),
    Val(Value),
}

/// The shared CIF tokenizer's tokens, with tags normalised and values carrying their line.
fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, ReadError> {
    use super::cif_tokens::{self, Kind};
    Ok(cif_tokens::tokenize(text)?
        .into_iter()
        .map(|t| {
            let tok = match t.kind {
                Kind::Data(name) => Tok::Data(name),
                Kind::Loop => Tok::Loop,
                Kind::Other => Tok::Other,
                Kind::Tag(tag) => Tok::Tag(normalize_tag(&tag)),
                Kind::Value { text, quoted } => Tok::Val(Value {
                    text,
                    line: t.line,
                    quoted,
                }),
            };
            (tok, t.line)
        })
        .collect())
}

/// Lower case, with `.` (CIF2/mmCIF category separator) read as `_`.
fn normalize_tag(tag: &str) -> String {
    tag.to_ascii_lowercase().replace('.', "_")
}

/// One data block: single items and loops, with tags normalised by [`normalize_tag`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Block {
    pub name: String,
    pub line: usize,
    items: BTreeMap<String, Value>,
    loops: Vec<Loop>,
    /// tag → (loop index, column)
    columns: BTreeMap<String, (usize, usize)>,
}

#[derive(Debug, Clone, Default)]
struct Loop {
    rows: Vec<Vec<Value>>,
}

impl Block {
    /// A single item, or the first value of a looped column.
    pub fn item(&self, tag: &str) -> Option<&Value> {
        if let Some(v) = self.items.get(tag) {
            return Some(v);
        }
        let &(l, c) = self.columns.get(tag)?;
        self.loops[l].rows.first().map(|r| &r[c])
    }

    /// Values of a looped column (a single item reads as a one-row column).
    pub fn column(&self, tag: &str) -> Option<Vec<&Value>> {
        if let Some(v) = self.items.get(tag) {
            return Some(vec![v]);
        }
        let &(l, c) = self.columns.get(tag)?;
        Some(self.loops[l].rows.iter().map(|r| &r[c]).collect())
    }
}

pub(crate) fn parse_blocks(text: &str) -> Result<Vec<Block>, ReadError> {
    let toks = tokenize(text)?;
    let mut blocks: Vec<Block> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let (tok, line) = &toks[i];
        match tok {
            Tok::Data(name) => {
                blocks.push(Block {
                    name: name.clone(),
                    line: *line,
                    ..Block::default()
                });
                i += 1;
            }
            Tok::Other => i += 1,
            Tok::Val(v) => {
                return Err(ReadError::at(
                    *line,
                    "value",
                    format!("value {:?} without a tag", v.text),
                ));
            }
            Tok::Tag(tag) => {
                let Some(block) = blocks.last_mut() else {
                    return Err(ReadError::at(*line, tag, "tag before any data_ block"));
                };
                match toks.get(i + 1) {
                    Some((Tok::Val(v), _)) => {
                        block.items.insert(tag.clone(), v.clone());
                        i += 2;
                    }
                    _ => {
                        return Err(ReadError::at(*line, tag, "tag without a value"));
                    }
                }
            }
            Tok::Loop => {
                let Some(block) = blocks.last_mut() else {
                    return Err(ReadError::at(
                        *line,
                        "loop_",
                        "loop_ before any data_ block",
                    ));
                };
                let loop_line = *line;
                i += 1;
                let mut tags = Vec::new();
                while let Some((Tok::Tag(t), _)) = toks.get(i) {
                    tags.push(t.clone());
                    i += 1;
                }
                if tags.is_empty() {
                    return Err(ReadError::at(loop_line, "loop_", "loop_ without tags"));
                }
                let mut values = Vec::new();
                while let Some((Tok::Val(v), _)) = toks.get(i) {
                    values.push(v.clone());
                    i += 1;
                }
                if values.len() % tags.len() != 0 {
                    let at = values.last().map_or(loop_line, |v| v.line);
                    return Err(ReadError::at(
                        at,
                        &tags[0],
                        format!(
                            "loop of {} tags has {} values, not a multiple of {}",
                            tags.len(),
                            values.len(),
                            tags.len()
                        ),
                    ));
                }
                let width = tags.len();
                let rows: Vec<Vec<Value>> = values.chunks(width).map(<[Value]>::to_vec).collect();
                let l = block.loops.len();
                for (c, t) in tags.iter().enumerate() {
                    block.columns.insert(t.clone(), (l, c));
                }
                block.loops.push(Loop { rows });
            }
        }
    }
    Ok(blocks)
}

// ----------------------------------------------------------------------------- semantics

/// A CIF number: `5.031(2)` → 5.031; `None` for `?`, `.`, or text that is not a finite number.
pub(crate) fn cif_number(text: &str) -> Option<f64> {
    let t = text.trim();
    let t = match t.find('(') {
        Some(p) if t.ends_with(')') => &t[..p],
        _ => t,
    };
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn number_of(block: &Block, tag: &str) -> Result<f64, ReadError> {
    let v = block.item(tag).ok_or_else(|| {
        ReadError::at(
            block.line,
            tag,
            format!("data block {:?} has atom sites but no {tag}", block.name),
        )
    })?;
    cif_number(&v.text).ok_or_else(|| {
        ReadError::at(
            v.line,
            tag,
            format!("expected a finite number, got {:?}", v.text),
        )
    })
}

/// An element from an `_atom_site_type_symbol` (`Fe3+`, `O2-`, `Si`) or `_atom_site_label`
/// (`C12A`, `Cl1`, `H3B`): the leading letters, read as a two-letter symbol when that is an
/// element, else as one letter.
pub(crate) fn element_from_site(text: &str) -> Option<u8> {
    let letters: String = text
        .trim()
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    if letters.is_empty() {
        return None;
    }
    if letters.len() >= 2 {
        let two = &letters[..2];
        if let Some(z) = elements::number_from_symbol(two) {
            let canonical = elements::symbol(z);
            // Accept "CL" and "Cl" but read "CA1"-style labels with an upper-case second letter
            // only when the symbol is the whole alphabetic part (labels like "CA" stay Ca).
            if letters.len() == 2 || canonical == two {
                return Some(z);
            }
        }
    }
    elements::number_from_symbol(&letters[..1])
}

/// A symmetry operation: fractional `x' = R x + t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SymOp {
    /// Rotation part, rows are the output coordinates.
    pub rot: [[f64; 3]; 3],
    /// Translation part.
    pub trans: [f64; 3],
}

impl SymOp {
    /// Apply to fractional coordinates.
    pub fn apply(&self, f: [f64; 3]) -> [f64; 3] {
        let mut out = self.trans;
        for (i, o) in out.iter_mut().enumerate() {
            for (j, fj) in f.iter().enumerate() {
                *o += self.rot[i][j] * fj;
            }
        }
        out
    }
}

/// Parse an operation like `-x+1/2, y, -z` or `x-y,x,z+1/3` (case-insensitive, spaces allowed,
/// coefficients like `2x` or `0.5+x`).
///
/// # Errors
/// A message describing what is not understood.
pub fn parse_symop(text: &str) -> Result<SymOp, String> {
    let parts: Vec<&str> = text.split(',').collect();
    if parts.len() != 3 {
        return Err(format!(
            "expected three comma-separated components, got {text:?}"
        ));
    }
    let mut op = SymOp {
        rot: [[0.0; 3]; 3],
        trans: [0.0; 3],
    };
    for (i, part) in parts.iter().enumerate() {
        let s: Vec<char> = part
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if s.is_empty() {
            return Err(format!("empty component in {text:?}"));
        }
        let mut k = 0;
        while k < s.len() {
            let mut sign = 1.0;
            if s[k] == '+' || s[k] == '-' {
                if s[k] == '-' {
                    sign = -1.0;
                }
                k += 1;
            }
            // Optional number (decimal or fraction).
            let start = k;
            while k < s.len() && (s[k].is_ascii_digit() || s[k] == '.' || s[k] == '/') {
                k += 1;
            }
            let num: Option<f64> = if k > start {
                let t: String = s[start..k].iter().collect();
                let v = match t.split_once('/') {
                    Some((n, d)) => {
                        let n: f64 = n.parse().map_err(|_| format!("bad number {t:?}"))?;
                        let d: f64 = d.parse().map_err(|_| format!("bad number {t:?}"))?;
                        if d == 0.0 {
                            return Err(format!("division by zero in {t:?}"));
                        }
                        n / d
                    }
                    None => t.parse().map_err(|_| format!("bad number {t:?}"))?,
                };
                Some(v)
            } else {
                None
            };
            if k < s.len() && s[k] == '*' {
                k += 1;
            }
            let var = match s.get(k) {
                Some('x') => Some(0),
                Some('y') => Some(1),
                Some('z') => Some(2),
                _ => None,
            };
            match (num, var) {
                (_, Some(j)) => {
                    k += 1;
                    op.rot[i][j] += sign * num.unwrap_or(1.0);
                }
                (Some(v), None) => op.trans[i] += sign * v,
                (None, None) => {
                    return Err(format!("cannot read {:?} in {text:?}", part.trim()));
                }
            }
            if k < s.len() && s[k] != '+' && s[k] != '-' {
                return Err(format!("unexpected {:?} in {text:?}", s[k]));
            }
        }
    }
    Ok(op)
}

const SYMOP_TAGS: [&str; 4] = [
    "_symmetry_equiv_pos_as_xyz",
    "_space_group_symop_operation_xyz",
    "_space_group_symop_operation_xyz_",
    "_symmetry_equiv_pos_xyz",
];

/// Wrap into [0, 1).
pub(crate) fn wrap01(v: f64) -> f64 {
    let w = v - v.floor();
    if w >= 1.0 { 0.0 } else { w }
}

fn push_warning(
    warnings: &mut Vec<Warning>,
    strict: bool,
    line: usize,
    field: &str,
    message: String,
) -> Result<(), ReadError> {
    if strict {
        return Err(ReadError::at(line, field, message));
    }
    warnings.push(Warning {
        line,
        field: field.to_owned(),
        message,
    });
    Ok(())
}

/// The first non-null value among `tags`.
fn first_item<'b>(block: &'b Block, tags: &[&str]) -> Option<&'b Value> {
    tags.iter()
        .find_map(|t| block.item(t))
        .filter(|v| !v.is_null())
}

/// The operations of a block without an operation loop: from its space group's Hall symbol,
/// Hermann–Mauguin symbol or number ([`super::space_group`]); the identity, with a warning,
/// when it names none (an error when strict). Never a subset of the group's operations.
fn group_operations(
    block: &Block,
    lengths: [f64; 3],
    angles: [f64; 3],
    warnings: &mut Vec<Warning>,
    strict: bool,
) -> Result<Vec<SymOp>, ReadError> {
    use super::space_group::{SpaceGroupNames, resolve};
    const HALL: [&str; 2] = ["_space_group_name_hall", "_symmetry_space_group_name_hall"];
    const HM: [&str; 2] = [
        "_space_group_name_h-m_alt",
        "_symmetry_space_group_name_h-m",
    ];
    const NUMBER: [&str; 2] = ["_space_group_it_number", "_symmetry_int_tables_number"];
    let hall = first_item(block, &HALL);
    let hm = first_item(block, &HM);
    let number_item = first_item(block, &NUMBER);
    let number = match number_item {
        Some(v) => Some(
            v.text
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|n| (1..=230).contains(n))
                .ok_or_else(|| {
                    ReadError::at(
                        v.line,
                        "_space_group_IT_number",
                        format!("expected a space group number 1..=230, got {:?}", v.text),
                    )
                })?,
        ),
        None => None,
    };
    let names = SpaceGroupNames {
        hall: hall.map(|v| v.text.as_str()),
        hermann_mauguin: hm.map(|v| v.text.as_str()),
        number,
    };
    match resolve(names, lengths, angles) {
        Ok(Some(group)) => Ok(group.ops),
        Ok(None) => {
            push_warning(
                warnings,
                strict,
                block.line,
                "_space_group_symop_operation_xyz",
                format!(
                    "data block {:?} names no space group and lists no symmetry operations; \
                     read as P1",
                    block.name
                ),
            )?;
            Ok(vec![SymOp {
                rot: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                trans: [0.0; 3],
            }])
        }
        Err(e) => {
            let (value, field) = match e.field {
                "hall" => (hall, "_space_group_name_Hall"),
                "number" => (number_item, "_space_group_IT_number"),
                _ => (hm, "_symmetry_space_group_name_H-M"),
            };
            Err(ReadError::at(
                value.map_or(block.line, |v| v.line),
                field,
                format!("data block {:?}: {}", block.name, e.message),
            ))
        }
    }
}

fn block_structure(
    block: &Block,
    options: CifOptions,
    warnings: &mut Vec<Warning>,
) -> Result<Option<Structure>, ReadError> {
    let (Some(fx), Some(fy), Some(fz)) = (
        block.column("_atom_site_fract_x"),
        block.column("_atom_site_fract_y"),
        block.column("_atom_site_fract_z"),
    ) else {
        return Ok(None);
    };
    if fx.len() != fy.len() || fx.len() != fz.len() {
        return Err(ReadError::at(
            fx.first().map_or(block.line, |v| v.line),
            "_atom_site_fract_x",
            "fract_x, fract_y and fract_z are not in one loop of equal length",
        ));
    }
    let n_sites = fx.len();
    let lengths = [
        number_of(block, "_cell_length_a")?,
        number_of(block, "_cell_length_b")?,
        number_of(block, "_cell_length_c")?,
    ];
    let angles = [
        number_of(block, "_cell_angle_alpha")?,
        number_of(block, "_cell_angle_beta")?,
        number_of(block, "_cell_angle_gamma")?,
    ];
    let lattice = super::field::cell_from_parameters(lengths, angles).ok_or_else(|| {
        let line = block
            .item("_cell_angle_alpha")
            .map_or(block.line, |v| v.line);
        ReadError::at(
            line,
            "_cell_angle_alpha",
            format!("cell lengths {lengths:?} and angles {angles:?} do not form a cell"),
        )
    })?;

    // Symmetry operations.
    let mut ops = Vec::new();
    if let Some(col) = SYMOP_TAGS
        .iter()
        .find_map(|t| block.column(t).map(|c| (t, c)))
    {
        let (tag, values) = col;
        for v in values {
            let op = parse_symop(&v.text).map_err(|m| ReadError::at(v.line, tag, m))?;
            ops.push(op);
        }
    }
    if ops.is_empty() {
        ops = group_operations(block, lengths, angles, warnings, options.strict)?;
    }

    let types = block.column("_atom_site_type_symbol");
    let labels = block.column("_atom_site_label");
    let occupancy = block.column("_atom_site_occupancy");
    for (name, col) in [
        ("_atom_site_type_symbol", &types),
        ("_atom_site_label", &labels),
        ("_atom_site_occupancy", &occupancy),
    ] {
        if let Some(c) = col
            && c.len() != n_sites
        {
            return Err(ReadError::at(
                c.first().map_or(block.line, |v| v.line),
                name,
                format!("{} values for {n_sites} sites", c.len()),
            ));
        }
    }

    let mut numbers: Vec<u8> = Vec::new();
    let mut fracs: Vec<[f64; 3]> = Vec::new();
    let mut site_labels: Vec<String> = Vec::new();
    for s in 0..n_sites {
        let line = fx[s].line;
        let type_val = types.as_ref().map(|c| c[s]).filter(|v| !v.is_null());
        let label_val = labels.as_ref().map(|c| c[s]).filter(|v| !v.is_null());
        let (elem_field, elem_val) = match (type_val, label_val) {
            (Some(t), _) => ("_atom_site_type_symbol", t),
            (None, Some(l)) => ("_atom_site_label", l),
            (None, None) => {
                return Err(ReadError::at(
                    line,
                    "_atom_site_type_symbol",
                    "site has neither a type symbol nor a label",
                ));
            }
        };
        let z = element_from_site(&elem_val.text).ok_or_else(|| {
            ReadError::at(
                elem_val.line,
                elem_field,
                format!("unknown element {:?}", elem_val.text),
            )
        })?;
        let mut f = [0.0; 3];
        for (k, (name, col)) in [
            ("_atom_site_fract_x", &fx),
            ("_atom_site_fract_y", &fy),
            ("_atom_site_fract_z", &fz),
        ]
        .into_iter()
        .enumerate()
        {
            let v = col[s];
            if !v.quoted && v.text == "." {
                // "Inapplicable": pymatgen reads it as 0; so do we, and say so.
                push_warning(
                    warnings,
                    options.strict,
                    v.line,
                    name,
                    "coordinate written as `.` (inapplicable); read as 0".to_owned(),
                )?;
                continue;
            }
            f[k] = cif_number(&v.text).ok_or_else(|| {
                ReadError::at(
                    v.line,
                    name,
                    format!("expected a finite number, got {:?}", v.text),
                )
            })?;
        }
        if let Some(occ) = occupancy.as_ref().map(|c| c[s]).filter(|v| !v.is_null()) {
            let o = cif_number(&occ.text).ok_or_else(|| {
                ReadError::at(
                    occ.line,
                    "_atom_site_occupancy",
                    format!("expected a finite number, got {:?}", occ.text),
                )
            })?;
            if !(0.0..=1.0 + 1e-3).contains(&o) {
                return Err(ReadError::at(
                    occ.line,
                    "_atom_site_occupancy",
                    format!("occupancy {o} outside [0, 1]"),
                ));
            }
            if o < 1.0 - 1e-3 {
                push_warning(
                    warnings,
                    options.strict,
                    occ.line,
                    "_atom_site_occupancy",
                    format!(
                        "site {:?} has occupancy {o}; kept as a full atom",
                        label_val.map_or("", |l| l.text.as_str())
                    ),
                )?;
            }
        }
        let site_label = label_val.map_or_else(String::new, |l| l.text.clone());
        for op in &ops {
            let g = op.apply(f).map(wrap01);
            let dup = fracs.iter().position(|h| {
                (0..3).all(|k| {
                    let d = g[k] - h[k];
                    (d - d.round()).abs() < options.merge_tolerance
                })
            });
            match dup {
                Some(j) if numbers[j] == z => {}
                Some(j) => {
                    push_warning(
                        warnings,
                        options.strict,
                        line,
                        "_atom_site_fract_x",
                        format!(
                            "site {site_label:?} ({}) coincides with an atom of {}; kept the first",
                            elements::symbol(z),
                            elements::symbol(numbers[j])
                        ),
                    )?;
                }
                None => {
                    numbers.push(z);
                    fracs.push(g);
                    site_labels.push(site_label.clone());
                }
            }
        }
    }

    let positions = fracs
        .iter()
        .map(|f| {
            let mut p = [0.0; 3];
            for (k, fk) in f.iter().enumerate() {
                for (c, pc) in p.iter_mut().enumerate() {
                    *pc += fk * lattice[k][c];
                }
            }
            p
        })
        .collect();
    let mut structure = Structure {
        numbers,
        positions,
        lattice: Some(lattice),
        pbc: [true; 3],
        comment: block.name.clone(),
        ..Structure::default()
    };
    structure.atom_arrays.insert(
        "site_label".to_owned(),
        AtomArray::Text {
            width: 1,
            values: site_labels,
        },
    );
    if let Some(sg) = block
        .item("_symmetry_space_group_name_h-m")
        .or_else(|| block.item("_space_group_name_h-m_alt"))
        .filter(|v| !v.is_null())
    {
        structure.labels.insert(
            "space_group".to_owned(),
            Label {
                value: LabelValue::Text(sg.text.clone()),
                unit: None,
            },
        );
    }
    Ok(Some(structure))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NACL: &str = "data_NaCl
_cell_length_a 5.64(1)
_cell_length_b 5.64
_cell_length_c 5.64
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'F m -3 m'
loop_
_symmetry_equiv_pos_as_xyz
x,y,z
x,1/2+y,1/2+z
1/2+x,y,1/2+z
1/2+x,1/2+y,z
-x,-y,-z
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Na1 Na+ 0 0 0
Cl1 Cl- 0.5 0.5 0.5
";

    #[test]
    fn expands_and_merges() {
        let s = read_cif(NACL).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].n_atoms(), 8);
        assert_eq!(s[0].formula(), "Cl4Na4");
        assert_eq!(s[0].comment, "NaCl");
        assert_eq!(s[0].lattice.unwrap()[0], [5.64, 0.0, 0.0]);
    }

    #[test]
    fn symops_parse() {
        let op = parse_symop("-x+1/2, Y ,-z").unwrap();
        assert_eq!(op.apply([0.1, 0.2, 0.3]), [0.4, 0.2, -0.3]);
        let op = parse_symop("x-y,x,z+1/3").unwrap();
        assert_eq!(op.rot[0], [1.0, -1.0, 0.0]);
        assert!((op.trans[2] - 1.0 / 3.0).abs() < 1e-15);
        let op = parse_symop("0.5+x,2*y,-z").unwrap();
        assert_eq!(op.apply([0.0, 0.25, 0.5]), [0.5, 0.5, -0.5]);
        assert!(parse_symop("x,y").is_err());
        assert!(parse_symop("x,y,w").is_err());
        assert!(parse_symop("x,y,1/0").is_err());
    }

    #[test]
    fn text_fields_quotes_and_numbers() {
        let text = "data_t\n_title\n;\nline one\n'not a value'\n;\n_q 'it''s ok' _r \"a b\"\n";
        let blocks = parse_blocks(text).unwrap();
        assert_eq!(
            blocks[0].item("_title").unwrap().text,
            "line one\n'not a value'"
        );
        assert_eq!(blocks[0].item("_q").unwrap().text, "it''s ok");
        assert_eq!(blocks[0].item("_r").unwrap().text, "a b");
        assert_eq!(cif_number("5.031(2)"), Some(5.031));
        assert_eq!(cif_number("?"), None);
        assert_eq!(cif_number("nan"), None);
    }

    #[test]
    fn elements_from_labels() {
        assert_eq!(element_from_site("Fe3+"), Some(26));
        assert_eq!(element_from_site("C12A"), Some(6));
        assert_eq!(element_from_site("Cl1"), Some(17));
        assert_eq!(element_from_site("CL"), Some(17));
        assert_eq!(element_from_site("H3B"), Some(1));
        assert_eq!(element_from_site("O2-"), Some(8));
        assert_eq!(element_from_site("12"), None);
    }

    fn err(text: &str, options: CifOptions) -> (usize, String, String) {
        match read_cif_with(text, options) {
            Err(ReadError::Parse(p)) => (p.line, p.field, p.message),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn occupancy_warns_or_errors() {
        let text = NACL
            .replace("Cl1 Cl- 0.5 0.5 0.5", "Cl1 Cl- 0.5 0.5 0.5 0.5")
            .replace(
                "_atom_site_fract_z\n",
                "_atom_site_fract_z\n_atom_site_occupancy\n",
            )
            .replace("Na1 Na+ 0 0 0", "Na1 Na+ 0 0 0 1.0");
        let (s, w) = read_cif_with(&text, CifOptions::default()).unwrap();
        assert_eq!(s[0].n_atoms(), 8);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].field, "_atom_site_occupancy");
        // `.` (inapplicable) as a coordinate: 0, with a warning; `?` (unknown) stays an error.
        let dotted = NACL.replace("Na1 Na+ 0 0 0", "Na1 Na+ . 0 0");
        let (s, w) = read_cif_with(&dotted, CifOptions::default()).unwrap();
        assert_eq!((s[0].n_atoms(), w.len()), (8, 1));
        assert_eq!((w[0].line, w[0].field.as_str()), (22, "_atom_site_fract_x"));
        let (line, field, _) = err(
            &NACL.replace("Cl1 Cl- 0.5 0.5 0.5", "Cl1 Cl- 0.5 ? 0.5"),
            CifOptions::default(),
        );
        assert_eq!((line, field.as_str()), (23, "_atom_site_fract_y"));
        let strict = CifOptions {
            strict: true,
            ..CifOptions::default()
        };
        let (line, field, _) = err(&text, strict);
        assert_eq!((line, field.as_str()), (24, "_atom_site_occupancy"));
    }

    #[test]
    fn malformed() {
        let o = CifOptions::default();
        let (line, field, _) = err(&NACL.replace("0.5 0.5 0.5", "0.5 0.5"), o);
        assert_eq!((line, field.as_str()), (23, "_atom_site_label"));
        let (line, field, msg) = err(&NACL.replace("Cl- 0.5 0.5", "Cl- nan 0.5"), o);
        assert_eq!((line, field.as_str()), (23, "_atom_site_fract_x"));
        assert!(msg.contains("nan"));
        let (line, field, _) = err(&NACL.replace("5.64(1)", "abc"), o);
        assert_eq!((line, field.as_str()), (2, "_cell_length_a"));
        let (line, field, _) = err(
            &NACL.replace("_cell_angle_beta 90", "_cell_angle_beta 200"),
            o,
        );
        assert_eq!((line, field.as_str()), (5, "_cell_angle_alpha"));
        let (line, field, _) = err(&NACL.replace("1/2+x,y,1/2+z", "1/2+q,y,1/2+z"), o);
        assert_eq!((line, field.as_str()), (13, "_symmetry_equiv_pos_as_xyz"));
        let (line, field, _) = err(&NACL.replace("'F m -3 m'", "'F m -3 m"), o);
        assert_eq!((line, field.as_str()), (8, "quoted value"));
        let (line, field, _) = err("data_x\n_t\n;\nnever closed\n", o);
        assert_eq!((line, field.as_str()), (3, "text field"));
        let (line, field, _) = err(&NACL.replace("Cl1 Cl-", "Cl1 Qq"), o);
        assert_eq!((line, field.as_str()), (23, "_atom_site_type_symbol"));
        assert_eq!(read_cif("data_empty\n_x 1\n"), Err(ReadError::Empty));
        assert_eq!(read_cif(""), Err(ReadError::Empty));
    }
}
