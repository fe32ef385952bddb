//! mmCIF (PDBx) coordinate files: the `_atom_site` table of each data block, with the cell from
//! `_cell`. The CIF syntax (loops, quoted values, text fields) is read by the tokenizer shared
//! with the small-molecule CIF reader (`io/cif_tokens.rs`), which expands symmetry; this one
//! does not need to.
//!
//! * One [`Structure`] per model (`pdbx_PDB_model_num`, in order of first appearance) per data
//!   block that has atom sites.
//! * Element from `type_symbol` (`D`/`T` read as hydrogen, unknown symbols as Z = 0); without
//!   that column, from the first letter of the atom name.
//! * Alternate locations (`label_alt_id`): as for PDB, a blank (`.`/`?`) altloc is always kept,
//!   otherwise only the first altloc seen for (chain, residue number, insertion code, atom name).
//! * `_cell.length_*`/`angle_*` give the lattice in the standard orientation and pbc true (the
//!   1×1×1 placeholder gives none); `_atom_sites.fract_transf_matrix` is ignored.
//! * Per-atom arrays as for PDB: `atom_names`, `residue_names`, `chain_ids`, `insertion_codes`,
//!   `residue_numbers` (auth numbering preferred; unknown gives 0) and `hetatm`. Author (`auth_`)
//!   names are preferred to label names when both are present.

use std::collections::HashMap;

use super::cif_tokens::{self, Kind, Token};
use super::{ReadError, field};
use crate::{AtomArray, Structure, elements};

/// A loop (or a set of single items of one category, as a one-row table).
struct Table {
    tags: Vec<String>,
    /// Row-major values with their lines; `None` for unknown (`.` or `?`, unquoted).
    values: Vec<(Option<String>, usize)>,
    line: usize,
}

/// One data block: its name, single-valued items and loops.
struct Block {
    items: HashMap<String, (Option<String>, usize)>,
    tables: Vec<Table>,
}

fn value(kind: Kind) -> Option<Option<String>> {
    match kind {
        Kind::Value { text, quoted } => {
            Some((quoted || (text != "." && text != "?")).then_some(text))
        }
        _ => None,
    }
}

fn blocks(tokens: Vec<Token>) -> Result<Vec<Block>, ReadError> {
    let mut out: Vec<Block> = Vec::new();
    let mut it = tokens.into_iter().peekable();
    while let Some(tok) = it.next() {
        match tok.kind {
            Kind::Data(_) => out.push(Block {
                items: HashMap::new(),
                tables: Vec::new(),
            }),
            Kind::Loop => {
                let mut tags = Vec::new();
                while let Some(Token {
                    kind: Kind::Tag(_), ..
                }) = it.peek()
                {
                    if let Some(Token {
                        kind: Kind::Tag(t), ..
                    }) = it.next()
                    {
                        tags.push(t);
                    }
                }
                let mut values = Vec::new();
                while let Some(Token {
                    kind: Kind::Value { .. },
                    ..
                }) = it.peek()
                {
                    if let Some(t) = it.next() {
                        let line = t.line;
                        if let Some(v) = value(t.kind) {
                            values.push((v, line));
                        }
                    }
                }
                if tags.is_empty() || !values.len().is_multiple_of(tags.len()) {
                    return Err(ReadError::at(
                        tok.line,
                        "loop_",
                        format!(
                            "{} values do not fill rows of {} tags",
                            values.len(),
                            tags.len()
                        ),
                    ));
                }
                let block = out.last_mut().ok_or_else(|| {
                    ReadError::at(tok.line, "data_", "loop_ before any data_ block")
                })?;
                block.tables.push(Table {
                    tags,
                    values,
                    line: tok.line,
                });
            }
            Kind::Tag(tag) => {
                let v = it
                    .next()
                    .and_then(|t| value(t.kind))
                    .ok_or_else(|| ReadError::at(tok.line, &tag, "tag without a value"))?;
                let block = out.last_mut().ok_or_else(|| {
                    ReadError::at(tok.line, "data_", "item before any data_ block")
                })?;
                block.items.insert(tag, (v, tok.line));
            }
            Kind::Value { .. } => {
                return Err(ReadError::at(tok.line, "value", "value without a tag"));
            }
            Kind::Other => {}
        }
    }
    Ok(out)
}

/// Parse the atom sites of every data block of an mmCIF file.
///
/// # Errors
/// A [`ReadError`] naming the 1-based line and field of the first problem: CIF syntax errors
/// (unterminated quotes or text fields, a loop whose values do not fill its rows, a value
/// without a tag), an `_atom_site` table without `Cartn_x/y/z`, a coordinate or cell parameter
/// that is not a finite number, a model or residue number that is not an integer. A file
/// without atom sites gives [`ReadError::Empty`].
///
/// # Example
/// ```
/// let cif = "data_x\nloop_\n_atom_site.group_PDB\n_atom_site.type_symbol\n\
/// _atom_site.Cartn_x\n_atom_site.Cartn_y\n_atom_site.Cartn_z\nATOM N 1.0 2.0 3.0\n";
/// let s = &nucleate_core::io::mmcif::read_mmcif(cif).unwrap()[0];
/// assert_eq!((s.numbers[0], s.positions[0]), (7, [1.0, 2.0, 3.0]));
/// ```
pub fn read_mmcif(text: &str) -> Result<Vec<Structure>, ReadError> {
    let mut out = Vec::new();
    for block in blocks(cif_tokens::tokenize(text)?)? {
        let lattice = cell(&block)?;
        let single: Vec<(&String, &(Option<String>, usize))> = block
            .items
            .iter()
            .filter(|(k, _)| k.starts_with("_atom_site."))
            .collect();
        let table = block
            .tables
            .iter()
            .find(|t| t.tags.iter().any(|g| g.starts_with("_atom_site.")));
        let owned;
        let table = match table {
            Some(t) => t,
            None if !single.is_empty() => {
                owned = Table {
                    tags: single.iter().map(|(k, _)| (*k).clone()).collect(),
                    values: single.iter().map(|(_, v)| (*v).clone()).collect(),
                    line: single.iter().map(|(_, v)| v.1).min().unwrap_or(1),
                };
                &owned
            }
            None => continue,
        };
        for mut s in atom_sites(table)? {
            s.lattice = lattice;
            s.pbc = [lattice.is_some(); 3];
            s.record_index = out.len();
            out.push(s);
        }
    }
    if out.is_empty() {
        return Err(ReadError::Empty);
    }
    Ok(out)
}

/// A number with an optional standard uncertainty in parentheses (`34.770(2)`).
fn number(v: &(Option<String>, usize), field_name: &str) -> Result<f64, ReadError> {
    let text = v.0.as_deref().unwrap_or("?");
    let bare = text.split('(').next().unwrap_or(text);
    field::finite(bare, v.1, field_name)
}

fn cell(block: &Block) -> Result<Option<[[f64; 3]; 3]>, ReadError> {
    let names = [
        "_cell.length_a",
        "_cell.length_b",
        "_cell.length_c",
        "_cell.angle_alpha",
        "_cell.angle_beta",
        "_cell.angle_gamma",
    ];
    let mut p = [0.0; 6];
    for (v, name) in p.iter_mut().zip(names) {
        match block.items.get(name) {
            Some(item) if item.0.is_some() => *v = number(item, name)?,
            Some(_) if name.contains("angle") => *v = 90.0,
            _ => return Ok(None),
        }
    }
    let lengths = [p[0], p[1], p[2]];
    if lengths == [1.0; 3] {
        return Ok(None);
    }
    Ok(field::cell_from_parameters(lengths, [p[3], p[4], p[5]]))
}

/// Atoms of one model being collected.
#[derive(Default)]
struct Model {
    number: i64,
    numbers: Vec<u8>,
    positions: Vec<[f64; 3]>,
    atom_names: Vec<String>,
    residue_names: Vec<String>,
    residue_numbers: Vec<i64>,
    chain_ids: Vec<String>,
    insertion_codes: Vec<String>,
    hetatm: Vec<bool>,
    altlocs: HashMap<(String, i64, String, String), String>,
}

fn atom_sites(table: &Table) -> Result<Vec<Structure>, ReadError> {
    let col = |names: &[&str]| {
        names.iter().find_map(|n| {
            let full = format!("_atom_site.{n}");
            table.tags.iter().position(|t| *t == full)
        })
    };
    let need = |n: &str| {
        col(&[n])
            .ok_or_else(|| ReadError::at(table.line, n, format!("_atom_site has no {n} column")))
    };
    let (cx, cy, cz) = (need("cartn_x")?, need("cartn_y")?, need("cartn_z")?);
    let c_type = col(&["type_symbol"]);
    let c_name = col(&["auth_atom_id", "label_atom_id"]);
    let c_res = col(&["auth_comp_id", "label_comp_id"]);
    let c_chain = col(&["auth_asym_id", "label_asym_id"]);
    let c_seq = col(&["auth_seq_id", "label_seq_id"]);
    let c_icode = col(&["pdbx_pdb_ins_code"]);
    let c_alt = col(&["label_alt_id"]);
    let c_model = col(&["pdbx_pdb_model_num"]);
    let c_group = col(&["group_pdb"]);

    let mut models: Vec<Model> = Vec::new();
    let width = table.tags.len();
    for row in table.values.chunks(width) {
        let line = row.first().map_or(table.line, |v| v.1);
        let text = |c: Option<usize>| -> String {
            c.and_then(|c| row.get(c))
                .and_then(|v| v.0.clone())
                .unwrap_or_default()
        };
        let int_or_zero = |c: Option<usize>, name: &str| -> Result<i64, ReadError> {
            match c.and_then(|c| row.get(c)) {
                Some((Some(t), l)) => field::int(t, *l, name),
                _ => Ok(0),
            }
        };
        let model_num = int_or_zero(c_model, "pdbx_PDB_model_num")?;
        let idx = match models.iter().position(|m| m.number == model_num) {
            Some(i) => i,
            None => {
                models.push(Model {
                    number: model_num,
                    ..Model::default()
                });
                models.len() - 1
            }
        };
        let Some(m) = models.get_mut(idx) else {
            continue;
        };
        let name = text(c_name);
        let chain = text(c_chain);
        let seq = int_or_zero(c_seq, "auth_seq_id")?;
        let icode = text(c_icode);
        let alt = text(c_alt);
        if !alt.is_empty() {
            let key = (chain.clone(), seq, icode.clone(), name.clone());
            let first = m.altlocs.entry(key).or_insert_with(|| alt.clone());
            if *first != alt {
                continue;
            }
        }
        let mut pos = [0.0; 3];
        for (p, (c, n)) in pos
            .iter_mut()
            .zip([(cx, "Cartn_x"), (cy, "Cartn_y"), (cz, "Cartn_z")])
        {
            let v = row
                .get(c)
                .ok_or_else(|| ReadError::at(line, n, "missing value"))?;
            *p = number(v, n)?;
        }
        let symbol = text(c_type);
        let z = if symbol.is_empty() {
            name.chars()
                .find(char::is_ascii_alphabetic)
                .and_then(|c| elements::number_from_symbol(&c.to_string()))
                .unwrap_or(0)
        } else {
            match symbol.to_ascii_uppercase().as_str() {
                "D" | "T" => 1,
                _ => elements::number_from_symbol(&symbol).unwrap_or(0),
            }
        };
        m.numbers.push(z);
        m.positions.push(pos);
        m.atom_names.push(name);
        m.residue_names.push(text(c_res));
        m.residue_numbers.push(seq);
        m.chain_ids.push(chain);
        m.insertion_codes.push(icode);
        m.hetatm.push(text(c_group).eq_ignore_ascii_case("HETATM"));
    }
    Ok(models
        .into_iter()
        .filter(|m| !m.numbers.is_empty())
        .map(|m| {
            let tx = |values| AtomArray::Text { width: 1, values };
            let mut s = Structure::molecule(m.numbers, m.positions);
            s.atom_arrays.insert("atom_names".into(), tx(m.atom_names));
            s.atom_arrays
                .insert("residue_names".into(), tx(m.residue_names));
            s.atom_arrays.insert("chain_ids".into(), tx(m.chain_ids));
            s.atom_arrays
                .insert("insertion_codes".into(), tx(m.insertion_codes));
            s.atom_arrays.insert(
                "residue_numbers".into(),
                AtomArray::Int {
                    width: 1,
                    values: m.residue_numbers,
                },
            );
            s.atom_arrays.insert(
                "hetatm".into(),
                AtomArray::Bool {
                    width: 1,
                    values: m.hetatm,
                },
            );
            s
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CIF: &str = "data_TEST
_cell.length_a 10.0
_cell.length_b 20.0
_cell.length_c 30.0(1)
_cell.angle_alpha 90
_cell.angle_beta 90
_cell.angle_gamma 90
loop_
_atom_site.group_PDB
_atom_site.id
_atom_site.type_symbol
_atom_site.label_atom_id
_atom_site.label_alt_id
_atom_site.label_comp_id
_atom_site.label_asym_id
_atom_site.label_seq_id
_atom_site.pdbx_PDB_ins_code
_atom_site.Cartn_x
_atom_site.Cartn_y
_atom_site.Cartn_z
_atom_site.pdbx_PDB_model_num
ATOM   1 N  N   . ALA A 1 ? 1.0 2.0 3.0 1
ATOM   2 C  CA  A ALA A 1 ? 1.5 2.0 3.0 1
ATOM   3 C  CA  B ALA A 1 ? 1.6 2.0 3.0 1
HETATM 4 FE FE  . HEM B . ? 5.0 5.0 5.0 1
ATOM   5 N  \"N'\" . ALA A 1 ? 1.1 2.1 3.1 2
";

    #[test]
    fn reads_models_altlocs_and_cell() {
        let m = read_mmcif(CIF).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].numbers, vec![7, 6, 26]);
        assert_eq!(m[0].positions[1], [1.5, 2.0, 3.0]);
        assert_eq!(
            m[0].lattice,
            Some([[10.0, 0.0, 0.0], [0.0, 20.0, 0.0], [0.0, 0.0, 30.0]])
        );
        assert_eq!(
            m[0].atom_arrays["hetatm"],
            AtomArray::Bool {
                width: 1,
                values: vec![false, false, true]
            }
        );
        assert_eq!(
            m[1].atom_arrays["atom_names"],
            AtomArray::Text {
                width: 1,
                values: vec!["N'".into()]
            }
        );
        assert_eq!(m[1].record_index, 1);
    }

    fn err(text: &str) -> (usize, String) {
        match read_mmcif(text) {
            Err(ReadError::Parse(p)) => (p.line, p.field),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_line_and_field() {
        assert_eq!(
            err(&CIF.replace("1.5 2.0", "1.5 nan")),
            (23, "Cartn_y".into())
        );
        assert_eq!(
            err(&CIF.replace("5.0 5.0 5.0", "x 5.0 5.0")),
            (25, "Cartn_x".into())
        );
        assert_eq!(err(&CIF.replace(" 3.1 2\n", " 3.1\n")), (8, "loop_".into()));
        assert_eq!(
            err(&CIF.replace("_atom_site.Cartn_z", "_atom_site.foo")),
            (8, "cartn_z".into())
        );
        assert_eq!(
            err(&CIF.replace("30.0(1)", "abc")),
            (4, "_cell.length_c".into())
        );
        assert_eq!(
            err(&CIF.replace("ALA A 1 ? 1.0", "ALA A 1 ? 'x")),
            (22, "quoted value".into())
        );
        assert_eq!(
            read_mmcif("data_x\n_cell.length_a 1\n"),
            Err(ReadError::Empty)
        );
    }
}
