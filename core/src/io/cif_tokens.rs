//! The one CIF 1.1 tokenizer, shared by the small-molecule CIF and the mmCIF readers: comments,
//! `data_`/`loop_` keywords, tags, bare, quoted (`'…'`, `"…"`, closed by the quote followed by
//! whitespace) and semicolon text-field values.

use crate::io::ReadError;

/// Kinds of CIF tokens.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// `data_NAME` (the name without the prefix).
    Data(String),
    /// `loop_`.
    Loop,
    /// `_category.item` (lower-cased).
    Tag(String),
    /// A value; `quoted` is true for quoted and text-field values (then `.`/`?` are literal).
    Value { text: String, quoted: bool },
    /// `save_…`, `global_`, `stop_`: frames the atom-site reader ignores.
    Other,
}

/// One token and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub line: usize,
    pub kind: Kind,
}

/// Split `text` into tokens.
///
/// # Errors
/// An unterminated quoted value or text field, naming its line.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, ReadError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines.get(i).copied().unwrap_or("");
        let ln = i + 1;
        if let Some(first) = line.strip_prefix(';') {
            // Text field up to the next line starting with ';'.
            let mut body = vec![first];
            let mut j = i + 1;
            loop {
                let Some(&l) = lines.get(j) else {
                    return Err(ReadError::at(
                        ln,
                        "text field",
                        "unterminated ;-delimited text field",
                    ));
                };
                if l.starts_with(';') {
                    break;
                }
                body.push(l);
                j += 1;
            }
            out.push(Token {
                line: ln,
                kind: Kind::Value {
                    text: body.join("\n").trim().to_owned(),
                    quoted: true,
                },
            });
            // The rest of the closing line continues as ordinary tokens.
            let rest = lines.get(j).and_then(|l| l.get(1..)).unwrap_or("");
            line_tokens(rest, j + 1, &mut out)?;
            i = j + 1;
            continue;
        }
        line_tokens(line, ln, &mut out)?;
        i += 1;
    }
    Ok(out)
}

fn line_tokens(line: &str, ln: usize, out: &mut Vec<Token>) -> Result<(), ReadError> {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b.get(i).copied().unwrap_or(b' ');
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            break;
        }
        if c == b'\'' || c == b'"' {
            let start = i + 1;
            let mut j = start;
            loop {
                match b.get(j) {
                    None => {
                        return Err(ReadError::at(ln, "quoted value", "unterminated quote"));
                    }
                    Some(&q) if q == c && b.get(j + 1).is_none_or(u8::is_ascii_whitespace) => break,
                    Some(_) => j += 1,
                }
            }
            out.push(Token {
                line: ln,
                kind: Kind::Value {
                    text: line.get(start..j).unwrap_or("").to_owned(),
                    quoted: true,
                },
            });
            i = j + 1;
            continue;
        }
        let start = i;
        while b.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
            i += 1;
        }
        let word = line.get(start..i).unwrap_or("");
        let lower = word.to_ascii_lowercase();
        let kind = if lower == "loop_" {
            Kind::Loop
        } else if lower.starts_with("data_") {
            Kind::Data(word.get(5..).unwrap_or("").to_owned())
        } else if lower.starts_with("save_") || lower == "global_" || lower == "stop_" {
            Kind::Other
        } else if word.starts_with('_') {
            Kind::Tag(lower)
        } else {
            Kind::Value {
                text: word.to_owned(),
                quoted: false,
            }
        };
        out.push(Token { line: ln, kind });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<String> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .filter_map(|t| match t.kind {
                Kind::Value { text, .. } => Some(text),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn quotes_text_fields_and_comments() {
        assert_eq!(values("_a 'it''s' # c\n_b \"x y\"\n"), vec!["it''s", "x y"]);
        // A quote closes only when followed by whitespace.
        assert_eq!(values("_a 'O1'' x'\n"), vec!["O1'", "x'"]);
        assert_eq!(values("_a 'O1'x'\n"), vec!["O1'x"]);
        assert_eq!(
            values("_a\n;line 1\nline 2\n;\n_b 3\n"),
            vec!["line 1\nline 2", "3"]
        );
        let t = tokenize("data_1ABC\nloop_\n_atom_site.id\n").unwrap();
        assert_eq!(t[0].kind, Kind::Data("1ABC".into()));
        assert_eq!(t[1].kind, Kind::Loop);
        assert_eq!(
            t[2],
            Token {
                line: 3,
                kind: Kind::Tag("_atom_site.id".into())
            }
        );
    }

    #[test]
    fn unterminated_values_are_errors() {
        assert_eq!(tokenize("_a 'abc\n").unwrap_err().line(), Some(1));
        assert_eq!(tokenize("_a\n;abc\n").unwrap_err().line(), Some(2));
    }
}
