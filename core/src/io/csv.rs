//! A small RFC 4180 CSV parser shared by the dataset readers: comma-separated fields,
//! `"…"` quoting with `""` for a quote, line breaks (LF or CRLF) inside quoted fields.

use super::ReadError;

/// One field with the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    pub text: String,
    pub line: usize,
}

/// One record: its first line and its fields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub line: usize,
    pub fields: Vec<Field>,
}

/// Parse all records; blank lines between records are skipped.
///
/// # Errors
/// An unterminated quoted field (line of its opening quote, field `"csv"`), or text between a
/// closing quote and the next separator.
pub(crate) fn parse_csv(text: &str) -> Result<Vec<Record>, ReadError> {
    let mut records = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut line = 1;
    let mut fields: Vec<Field> = Vec::new();
    let mut record_line = 1;
    let mut cur = String::new();
    let mut cur_line = 1;
    let mut at_field_start = true;
    let mut any_content = false;
    while let Some((_, c)) = chars.next() {
        match c {
            '"' if at_field_start => {
                let open = line;
                let mut closed = false;
                while let Some((_, q)) = chars.next() {
                    if q == '"' {
                        if matches!(chars.peek(), Some((_, '"'))) {
                            chars.next();
                            cur.push('"');
                        } else {
                            closed = true;
                            break;
                        }
                    } else {
                        if q == '\n' {
                            line += 1;
                        }
                        cur.push(q);
                    }
                }
                if !closed {
                    return Err(ReadError::at(open, "csv", "quoted field is never closed"));
                }
                match chars.peek() {
                    None | Some((_, ',' | '\n' | '\r')) => {}
                    Some((_, other)) => {
                        return Err(ReadError::at(
                            line,
                            "csv",
                            format!("unexpected {other:?} after a closing quote"),
                        ));
                    }
                }
                at_field_start = false;
                any_content = true;
            }
            ',' => {
                fields.push(Field {
                    text: std::mem::take(&mut cur),
                    line: cur_line,
                });
                cur_line = line;
                at_field_start = true;
                any_content = true;
            }
            '\r' if matches!(chars.peek(), Some((_, '\n'))) => {}
            '\n' => {
                if any_content || !cur.is_empty() {
                    fields.push(Field {
                        text: std::mem::take(&mut cur),
                        line: cur_line,
                    });
                    records.push(Record {
                        line: record_line,
                        fields: std::mem::take(&mut fields),
                    });
                }
                line += 1;
                record_line = line;
                cur_line = line;
                at_field_start = true;
                any_content = false;
            }
            _ => {
                if at_field_start {
                    cur_line = line;
                }
                cur.push(c);
                at_field_start = false;
                any_content = true;
            }
        }
    }
    if any_content || !cur.is_empty() {
        fields.push(Field {
            text: cur,
            line: cur_line,
        });
        records.push(Record {
            line: record_line,
            fields,
        });
    }
    Ok(records)
}

/// A header row mapped to column positions, with each record checked for the same width.
pub(crate) struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Record>,
}

impl Table {
    /// Parse `text` whose first record is a header.
    ///
    /// # Errors
    /// CSV syntax errors; a row with a different number of fields than the header (its line,
    /// field `"columns"`); [`ReadError::Empty`] without a header.
    pub fn parse(text: &str) -> Result<Self, ReadError> {
        let mut records = parse_csv(text)?.into_iter();
        let header: Vec<String> = records
            .next()
            .ok_or(ReadError::Empty)?
            .fields
            .into_iter()
            .map(|f| f.text.trim().to_owned())
            .collect();
        let rows: Vec<Record> = records.collect();
        for r in &rows {
            if r.fields.len() != header.len() {
                return Err(ReadError::at(
                    r.line,
                    "columns",
                    format!(
                        "row has {} fields, the header {}",
                        r.fields.len(),
                        header.len()
                    ),
                ));
            }
        }
        Ok(Self { header, rows })
    }

    /// Position of the column named `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Position of a column that must exist.
    ///
    /// # Errors
    /// Line 1, field `name`, when the header lacks it.
    pub fn require(&self, name: &str) -> Result<usize, ReadError> {
        self.column(name)
            .ok_or_else(|| ReadError::at(1, name, format!("header has no column {name:?}")))
    }
}

/// A finite number from a field.
pub(crate) fn number(f: &Field, name: &str) -> Result<f64, ReadError> {
    let t = f.text.trim();
    let v: f64 = t
        .parse()
        .map_err(|_| ReadError::at(f.line, name, format!("expected a number, got {t:?}")))?;
    if !v.is_finite() {
        return Err(ReadError::at(
            f.line,
            name,
            format!("value is not finite: {t:?}"),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_newlines_and_escapes() {
        let r = parse_csv("a,b,c\n1,\"x\ny\",\"q\"\"q\"\r\n\n2,,3").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].fields[1].text, "x\ny");
        assert_eq!(r[1].fields[1].line, 2);
        assert_eq!(r[1].fields[2].text, "q\"q");
        assert_eq!(r[1].fields[2].line, 3);
        assert_eq!(r[2].line, 5);
        assert_eq!(r[2].fields[1].text, "");
        assert!(parse_csv("a,\"b\nc").is_err());
        assert!(parse_csv("a,\"b\"c\n").is_err());
    }
}
