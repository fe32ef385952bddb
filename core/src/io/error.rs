//! Errors of the readers: every problem names a 1-based line, the field and the offending text.

/// A problem at one place of a file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, field \"{field}\": {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// Name of the field being read (e.g. `"x"`, `"atom count"`, `"element"`).
    pub field: String,
    /// What was wrong, including the offending text where there is one.
    pub message: String,
}

/// Everything a reader can fail with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadError {
    /// The content is malformed at a known place.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The file holds no structure at all.
    #[error("no structure found (empty input)")]
    Empty,
}

impl ReadError {
    /// Shorthand for a [`ReadError::Parse`].
    pub fn at(line: usize, field: &str, message: impl Into<String>) -> Self {
        Self::Parse(ParseError {
            line,
            field: field.to_owned(),
            message: message.into(),
        })
    }

    /// The line the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Parse(p) => Some(p.line),
            Self::Empty => None,
        }
    }
}

/// Decode UTF-8, pointing at the line of the first invalid byte.
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, ReadError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
        ReadError::at(
            line,
            "text",
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })
}
