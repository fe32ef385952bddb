//! The extended-XYZ comment line: `key=value` pairs and bare flag keys, with `"…"`/`'…'` quoted
//! values (backslash escapes) and `[…]`/`{…}` bracketed lists.

use crate::io::ReadError;

/// One `key=value` pair of the comment line; `value` is `None` for a bare flag.
pub(super) type Pair = (String, Option<String>);

/// Split an extended-XYZ comment line into key/value pairs, removing quotes and escapes.
pub(super) fn key_values(comment: &str, line: usize) -> Result<Vec<Pair>, ReadError> {
    let chars: Vec<char> = comment.chars().collect();
    let mut pairs = Vec::new();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while chars.get(*i).is_some_and(|c| c.is_whitespace()) {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= chars.len() {
            break;
        }
        let key = read_token(&chars, &mut i, line, true)?;
        skip_ws(&mut i);
        if chars.get(i) == Some(&'=') {
            i += 1;
            skip_ws(&mut i);
            let value = if i < chars.len() {
                read_token(&chars, &mut i, line, false)?
            } else {
                String::new()
            };
            pairs.push((key, Some(value)));
        } else {
            pairs.push((key, None));
        }
    }
    Ok(pairs)
}

/// A quoted, bracketed or bare token starting at `chars[*i]`. Keys stop at `=`.
fn read_token(
    chars: &[char],
    i: &mut usize,
    line: usize,
    is_key: bool,
) -> Result<String, ReadError> {
    let field_name = if is_key {
        "comment key"
    } else {
        "comment value"
    };
    let mut out = String::new();
    match chars.get(*i) {
        Some(&q @ ('"' | '\'')) => {
            *i += 1;
            loop {
                match chars.get(*i) {
                    None => {
                        return Err(ReadError::at(
                            line,
                            field_name,
                            format!("unterminated {q} quote"),
                        ));
                    }
                    Some('\\') => {
                        if let Some(&c) = chars.get(*i + 1) {
                            out.push(match c {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                        *i += 2;
                    }
                    Some(&c) if c == q => {
                        *i += 1;
                        break;
                    }
                    Some(&c) => {
                        out.push(c);
                        *i += 1;
                    }
                }
            }
        }
        Some(&open @ ('[' | '{')) if !is_key => {
            let close = if open == '[' { ']' } else { '}' };
            let mut depth = 0usize;
            loop {
                match chars.get(*i) {
                    None => {
                        return Err(ReadError::at(
                            line,
                            field_name,
                            format!("unterminated {open} bracket"),
                        ));
                    }
                    Some(&c) => {
                        out.push(c);
                        *i += 1;
                        if c == open {
                            depth += 1;
                        } else if c == close {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                break;
                            }
                        }
                    }
                }
            }
        }
        _ => {
            while let Some(&c) = chars.get(*i) {
                if c.is_whitespace() || (is_key && c == '=') {
                    break;
                }
                out.push(c);
                *i += 1;
            }
        }
    }
    Ok(out)
}

/// The whitespace- or comma-separated items of a value, brackets removed.
pub(super) fn list_items(value: &str) -> Vec<&str> {
    let v = value.trim();
    let v = v
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .or_else(|| v.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .unwrap_or(v);
    v.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_pairs_flags_and_quotes() {
        let p = key_values(r#"a=1 flag b = "x y" c='q\'s' d=[1, 2]"#, 1).unwrap();
        let want: Vec<Pair> = vec![
            ("a".into(), Some("1".into())),
            ("flag".into(), None),
            ("b".into(), Some("x y".into())),
            ("c".into(), Some("q's".into())),
            ("d".into(), Some("[1, 2]".into())),
        ];
        assert_eq!(p, want);
        assert_eq!(list_items("[1, 2]"), vec!["1", "2"]);
        assert_eq!(key_values("a=\"open", 7).unwrap_err().line(), Some(7));
    }
}
