//! Config errors that name the file, the line and column, and the field.
//!
//! Every error found in a config file — TOML syntax, an unknown key, or a
//! value that parsed but makes no sense — becomes a [`Diagnostic`], shown as
//! `FILE:LINE:COL: field `ports[1].mtu`: message`, one line, so editors and
//! scripts can jump to it.
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// What is wrong with a value. One variant per kind of mistake so tests and
/// callers can match on it; the text is what the operator reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// TOML syntax or a type mismatch, in the words of the TOML parser.
    #[error("{0}")]
    Syntax(String),
    /// A key the schema does not know (typo, or a key in the wrong table).
    #[error("{0}")]
    UnknownKey(String),
    #[error("{value:?} is not an IPv4 address with a prefix length (like \"192.168.10.200/24\"): {reason}")]
    BadInterfaceAddress { value: String, reason: String },
    #[error("{value:?} is not an IPv4 prefix (like \"172.20.0.0/24\"): {reason}")]
    BadPrefix { value: String, reason: String },
    #[error("{value:?} is not an IPv4 address: {reason}")]
    BadAddress { value: String, reason: String },
    /// A prefix and its next hop of different families.
    #[error("{value}: {reason}")]
    FamilyMismatch { value: String, reason: String },
    #[error("{value} has host bits set (did you mean {network}?)")]
    HostBitsSet { value: String, network: String },
    #[error("next hop {next_hop} is on no connected subnet of a port")]
    NextHopNotConnected { next_hop: String },
    #[error("address {address} is already used at {first}")]
    DuplicateAddress { address: String, first: String },
    #[error("subnet {subnet} overlaps {other} at {first}")]
    OverlappingSubnet {
        subnet: String,
        other: String,
        first: String,
    },
    #[error("name {name:?} is already used at {first}")]
    DuplicateName { name: String, first: String },
    #[error("a route for {prefix} is already configured at {first}")]
    DuplicateRoute { prefix: String, first: String },
    #[error("no port named {name:?} (ports: {known})")]
    UnknownPort { name: String, known: String },
    #[error("mtu {value} is out of range (68..=65535; RFC 791 requires at least 68)")]
    BadMtu { value: i64 },
    #[error("worker_threads must be at least 1 (got {value})")]
    BadWorkerCount { value: i64 },
    #[error("{value} is out of range ({range})")]
    OutOfRange { value: i64, range: String },
    /// Anything else, with its own words.
    #[error("{0}")]
    Invalid(String),
}

/// One located config error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The path as given by the operator.
    pub file: String,
    /// 1-based line and column (in characters); 0 when unknown.
    pub line: usize,
    pub column: usize,
    /// Dotted path of the key, e.g. `ports[1].addresses[0]`; empty when the
    /// error is about the file as a whole.
    pub field: String,
    pub problem: Problem,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.problem)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read config: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

impl ConfigError {
    /// The diagnostic, for errors inside the file.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            ConfigError::Invalid(d) => Some(d),
            ConfigError::Read { .. } => None,
        }
    }
}

/// A config file's text with its name, mapping byte offsets (TOML spans) to
/// lines and columns.
#[derive(Debug, Clone)]
pub struct Source {
    pub file: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl Source {
    pub fn new(file: impl Into<String>, text: impl Into<String>) -> Source {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source {
            file: file.into(),
            text,
            line_starts,
        }
    }

    /// 1-based (line, column) of a byte offset; the column counts characters.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        (line + 1, column)
    }

    /// An error at `span` (a TOML span; `None` or an empty 0..0 span when
    /// the position is unknown).
    pub fn error(
        &self,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        problem: Problem,
    ) -> ConfigError {
        let (line, column) = match span {
            Some(r) if !(r.start == 0 && r.end == 0) => self.position(r.start),
            _ => (0, 0),
        };
        ConfigError::Invalid(Box::new(Diagnostic {
            file: self.file.clone(),
            line,
            column,
            field: field.into(),
            problem,
        }))
    }

    /// Converts a TOML parser error, naming the field from the text around
    /// its span (the parser knows the position but not the key path).
    pub fn from_toml(&self, e: &toml::de::Error) -> ConfigError {
        // One line: the parser's message may span several ("invalid
        // array\nexpected `]`").
        let message = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let span = e.span();
        let mut field = span
            .as_ref()
            .map(|r| field_path_at(&self.text, r.start))
            .unwrap_or_default();
        // "missing field `x`" is reported at the enclosing table.
        if let Some(missing) = backticked_after(&message, "missing field ") {
            field = if field.is_empty() {
                missing.to_string()
            } else {
                format!("{field}.{missing}")
            };
        }
        let problem = if message.starts_with("unknown field") {
            Problem::UnknownKey(message.replacen("unknown field", "unknown key", 1))
        } else {
            Problem::Syntax(message)
        };
        // An error spanning a whole table (e.g. missing field) points at the
        // table's first line.
        self.error(span, field, problem)
    }
}

fn backticked_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split('`').next()
}

/// Best-effort dotted key path of the value at byte `offset`: the enclosing
/// `[table]`/`[[array]]` header (with the array index) and the key of the
/// nearest `key = ` line. Used only for parser errors; semantic errors know
/// their path exactly.
pub(crate) fn field_path_at(text: &str, offset: usize) -> String {
    let mut header = String::new();
    let mut key = String::new();
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut pos = 0;
    for raw_line in text.split_inclusive('\n') {
        let line_start = pos;
        pos += raw_line.len();
        if line_start > offset {
            break;
        }
        let line = raw_line.trim();
        if let Some(inner) = line.strip_prefix("[[") {
            let name = key_chars(inner.trim_start());
            let n = counts.entry(name.clone()).or_insert(0);
            header = format!("{}[{}]", name, *n);
            *n += 1;
            key.clear();
        } else if let Some(inner) = line.strip_prefix('[') {
            let name = key_chars(inner.trim_start());
            // Keys under an array element's sub-table: [ports.x] after [[ports]].
            header = name;
            key.clear();
        } else if let Some(eq) = line.find('=') {
            let k = line[..eq].trim();
            let plain = !k.is_empty()
                && k.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | '\'')
                });
            if plain {
                key = k.trim_matches(|c| c == '"' || c == '\'').to_string();
            }
        }
    }
    match (header.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => header,
        (false, false) => format!("{header}.{key}"),
    }
}

/// The leading dotted key of a table header (up to `]`, a space or
/// anything a bare or quoted key cannot hold).
fn key_chars(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | '\''))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_chars() {
        let s = Source::new("f.toml", "a = 1\nbé = \"x\"\n");
        assert_eq!(s.position(0), (1, 1));
        assert_eq!(s.position(6), (2, 1));
        // 'é' is two bytes: the '=' after "bé " is at column 4.
        let eq = s.text.rfind('=').unwrap();
        assert_eq!(s.position(eq), (2, 4));
        assert_eq!(s.position(10_000).0, 3);
    }

    #[test]
    fn field_paths_follow_headers_and_array_indices() {
        let text = "[router]\nworker_threads = 2\n[[ports]]\nname = \"a\"\n[[ports]]\nname = \"b\"\nmtu = 1\n";
        let at = |needle: &str| field_path_at(text, text.rfind(needle).unwrap());
        assert_eq!(at("2\n"), "router.worker_threads");
        assert_eq!(at("\"b\""), "ports[1].name");
        assert_eq!(at("1\n"), "ports[1].mtu");
        assert_eq!(at("[[ports]]"), "ports[1]");
        assert_eq!(field_path_at("x = 1\n", 4), "x");
    }

    #[test]
    fn display_has_file_line_column_and_field() {
        let s = Source::new("lab.toml", "a = 1\nb = 2\n");
        let e = s.error(Some(6..7), "b", Problem::Invalid("nope".into()));
        assert_eq!(e.to_string(), "lab.toml:2:1: field `b`: nope");
        let e = s.error(None, "", Problem::Invalid("empty".into()));
        assert_eq!(e.to_string(), "lab.toml: empty");
    }
}
