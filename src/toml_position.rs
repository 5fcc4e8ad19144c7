//! Positions in TOML text, for error messages that name a line and a key (shared by the
//! config and profile loaders, so neither depends on the other for it).
//!
//! [`Document`] parses a file with the `toml` crate's spanned parser, so every key and value
//! keeps its byte range. Two questions are answered from that tree, never by searching the text:
//! where a key path such as `sites[1].devices[0].unit_id` is written
//! ([`Document::line_of_path`]), and which key path a byte offset (a parser error's span)
//! belongs to ([`Document::path_at`]).

use std::fmt;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// One step of a key path: a key in a table or an index in an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A key path as errors name it: `sites[1].devices[0].unit_id`, `zones[0].fed_by[2]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    /// Parses `a.b[1].c`; a bare key is anything between `.` and `[`; `[n]` must hold a
    /// number. Whatever does not parse ends the path there (a shorter path is still useful
    /// to find a line).
    pub fn parse(path: &str) -> KeyPath {
        let mut segments = Vec::new();
        for part in path.split('.') {
            let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
            if !key.is_empty() {
                segments.push(Segment::Key(key.to_string()));
            }
            while let Some(inner) = rest.strip_prefix('[') {
                let Some((n, after)) = inner.split_once(']') else {
                    return KeyPath(segments);
                };
                let Ok(n) = n.trim().parse() else {
                    return KeyPath(segments);
                };
                segments.push(Segment::Index(n));
                rest = after;
            }
            if !rest.is_empty() {
                return KeyPath(segments);
            }
        }
        KeyPath(segments)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The path with `key` appended.
    pub fn join(mut self, key: &str) -> KeyPath {
        self.0.push(Segment::Key(key.to_string()));
        self
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Segment::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A TOML document with the byte range of every key and value.
pub struct Document<'t> {
    text: &'t str,
    root: Spanned<DeTable<'t>>,
    syntax_ok: bool,
}

impl<'t> Document<'t> {
    /// Parses `text`. A syntax error does not stop it: the parser recovers what it can, so
    /// positions before (and mostly after) the error are still known.
    pub fn parse(text: &'t str) -> Document<'t> {
        let (root, errors) = DeTable::parse_recoverable(text);
        Document {
            text,
            root,
            syntax_ok: errors.is_empty(),
        }
    }

    /// False when the text is not valid TOML (positions are then the parser's best effort).
    pub fn syntax_ok(&self) -> bool {
        self.syntax_ok
    }

    /// The 1-based line where the value at `path` is written: the line of its key (of its
    /// first character for an array element, of its `[[header]]` for an array-of-tables
    /// element). When the path is not written in full, the line of the deepest part that is
    /// (a key missing from `[influxdb]` gives the `[influxdb]` line); None when not even the
    /// first key is in the document.
    pub fn line_of_path(&self, path: &str) -> Option<usize> {
        self.offset_of(&KeyPath::parse(path))
            .map(|offset| line_of(self.text, offset))
    }

    /// Byte offset of the deepest written part of `path`.
    fn offset_of(&self, path: &KeyPath) -> Option<usize> {
        let mut found: Option<usize> = None;
        let mut table: Option<&DeTable<'t>> = Some(self.root.get_ref());
        let mut array: Option<&[Spanned<DeValue<'t>>]> = None;
        for segment in &path.0 {
            let next = match segment {
                Segment::Key(k) => table
                    .and_then(|t| t.get_key_value(k.as_str()))
                    .map(|(key, value)| (key.span().start, value)),
                Segment::Index(n) => array
                    .and_then(|a| a.get(*n))
                    .map(|value| (value.span().start, value)),
            };
            let Some((offset, value)) = next else {
                break;
            };
            found = Some(offset);
            (table, array) = match value.get_ref() {
                DeValue::Table(t) => (Some(t), None),
                DeValue::Array(a) => (None, Some(a.as_ref())),
                _ => (None, None),
            };
        }
        found
    }

    /// The key path written at byte `offset`: [`Document::written_at`], or else
    /// [`Document::table_before`].
    pub fn path_at(&self, offset: usize) -> Option<KeyPath> {
        self.written_at(offset)
            .or_else(|| self.table_before(offset))
    }

    /// The innermost key or value whose range holds byte `offset`:
    /// `sites[0].devices[1].unit_id` for the `300` of `unit_id = 300`, `sites[0].devices[1]`
    /// for its `[[sites.devices]]` header.
    pub fn written_at(&self, offset: usize) -> Option<KeyPath> {
        innermost_in_table(self.root.get_ref(), &mut Vec::new(), offset).map(KeyPath)
    }

    /// For an offset no key or value holds (a line the parser refused): the table whose
    /// `[header]` comes last before it. None before the first header, and on a header line
    /// (one that did not parse: its table is not known).
    pub fn table_before(&self, offset: usize) -> Option<KeyPath> {
        let end = offset.min(self.text.len());
        let line_start = self.text.as_bytes()[..end]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if self.text[line_start..].trim_start().starts_with('[') {
            return None;
        }
        let mut best: Option<(usize, Vec<Segment>)> = None;
        last_header_before(
            self.text,
            self.root.get_ref(),
            &mut Vec::new(),
            offset,
            &mut best,
        );
        best.map(|(_, p)| KeyPath(p))
    }
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || (span.is_empty() && span.start == offset && offset > 0)
}

fn innermost_in_table(
    table: &DeTable<'_>,
    path: &mut Vec<Segment>,
    offset: usize,
) -> Option<Vec<Segment>> {
    for (key, value) in table.iter() {
        path.push(Segment::Key(key.get_ref().to_string()));
        if let Some(p) = innermost_in_value(value, path, offset) {
            return Some(p);
        }
        if contains(&key.span(), offset) || contains(&value.span(), offset) {
            return Some(path.clone());
        }
        path.pop();
    }
    None
}

fn innermost_in_value(
    value: &Spanned<DeValue<'_>>,
    path: &mut Vec<Segment>,
    offset: usize,
) -> Option<Vec<Segment>> {
    match value.get_ref() {
        DeValue::Table(t) => innermost_in_table(t, path, offset),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.push(Segment::Index(i));
                if let Some(p) = innermost_in_value(item, path, offset) {
                    return Some(p);
                }
                if contains(&item.span(), offset) {
                    return Some(path.clone());
                }
                path.pop();
            }
            None
        }
        _ => None,
    }
}

/// The `[table]` or `[[array.element]]` whose header starts last at or before `offset`.
fn last_header_before(
    text: &str,
    table: &DeTable<'_>,
    path: &mut Vec<Segment>,
    offset: usize,
    best: &mut Option<(usize, Vec<Segment>)>,
) {
    for (key, value) in table.iter() {
        path.push(Segment::Key(key.get_ref().to_string()));
        visit_headers(text, value, path, offset, best);
        path.pop();
    }
}

fn visit_headers(
    text: &str,
    value: &Spanned<DeValue<'_>>,
    path: &mut Vec<Segment>,
    offset: usize,
    best: &mut Option<(usize, Vec<Segment>)>,
) {
    match value.get_ref() {
        DeValue::Table(t) => {
            let start = value.span().start;
            let is_header = text.get(start..).is_some_and(|s| s.starts_with('['));
            if is_header && start <= offset && best.as_ref().is_none_or(|(b, _)| start > *b) {
                *best = Some((start, path.clone()));
            }
            last_header_before(text, t, path, offset, best);
        }
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.push(Segment::Index(i));
                visit_headers(text, item, path, offset, best);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Where a TOML parse or type error is: the line its span starts on, and the key path
/// written there (`sites[0].devices[0].poll_interval`); a missing field is named under its
/// table (`sites[0].devices[0].profile`, at the table's line). `-` when no key is known.
pub fn locate_toml_error(text: &str, e: &toml::de::Error) -> (Option<usize>, String) {
    let message = e.message();
    let (line, path) = match e.span() {
        Some(span) => {
            let doc = Document::parse(text);
            let path = doc.written_at(span.start).or_else(|| {
                // A key the parser refused (e.g. a duplicate) is not in the tree: name it
                // under the table that holds it.
                let table = doc.table_before(span.start).unwrap_or_default();
                match written_key(text, span.clone()) {
                    Some(k) => Some(table.join(k)),
                    None => (!table.is_empty()).then_some(table),
                }
            });
            (Some(line_of(text, span.start)), path)
        }
        None => (None, None),
    };
    let mut path = path.unwrap_or_default();
    if let Some(field) = missing_field(message) {
        path = path.join(field);
    }
    let key = if path.is_empty() {
        "-".into()
    } else {
        path.to_string()
    };
    (line, key)
}

/// The bare key at `span` when the span covers exactly a `key =` of the text.
fn written_key(text: &str, span: std::ops::Range<usize>) -> Option<&str> {
    let key = text.get(span.clone())?;
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let after = text.get(span.end..)?.trim_start_matches([' ', '\t']);
    (bare && after.starts_with('=')).then_some(key)
}

/// The field a serde "missing field `x`" message names.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.split_once("missing field `")?.1;
    rest.split_once('`').map(|(field, _)| field)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# a comment about the url
[influxdb]
url = "http://127.0.0.1:8086"

[[sites]]
id = "A"
[[sites.devices]]
id = "d"
unit_id = 1
[[sites]]
id = "B"
devices = [
  { id = "d", unit_id = 1 },
  { id = "e",
    unit_id = 2 },
]
[[zones]]
id = "Z"
fed_by = ["A",
  "C"]
"#;

    #[test]
    fn paths_resolve_to_the_line_of_their_value() {
        let d = Document::parse(TEXT);
        for (path, line) in [
            ("influxdb.url", Some(3)),
            ("influxdb.database", Some(2)),
            ("influxdb", Some(2)),
            ("buffer.history", None),
            ("sites[0].id", Some(6)),
            ("sites[0].devices[0]", Some(7)),
            ("sites[0].devices[0].unit_id", Some(9)),
            ("sites[0].devices[0].profile", Some(7)),
            ("sites[1].id", Some(11)),
            ("sites[1].devices[0].unit_id", Some(13)),
            ("sites[1].devices[1].unit_id", Some(15)),
            ("sites[1].devices[1].timeout", Some(14)),
            ("sites[1].devices[5].timeout", Some(12)),
            ("zones[0].fed_by", Some(19)),
            ("zones[0].fed_by[1]", Some(20)),
        ] {
            assert_eq!(d.line_of_path(path), line, "{path}");
        }
    }

    #[test]
    fn offsets_resolve_to_key_paths() {
        let d = Document::parse(TEXT);
        let at = |needle: &str| {
            let offset = TEXT.find(needle).unwrap();
            d.path_at(offset).map(|p| p.to_string())
        };
        assert_eq!(at("\"http").as_deref(), Some("influxdb.url"));
        assert_eq!(
            at("[[sites.devices]]").as_deref(),
            Some("sites[0].devices[0]")
        );
        assert_eq!(
            at("unit_id = 2").as_deref(),
            Some("sites[1].devices[1].unit_id")
        );
        assert_eq!(at("\"C\"").as_deref(), Some("zones[0].fed_by[1]"));
        assert_eq!(at("# a comment"), None);
    }

    #[test]
    fn key_paths_parse_and_print() {
        for p in ["sites[1].devices[0].unit_id", "zones[0].fed_by[2]", "a", ""] {
            assert_eq!(KeyPath::parse(p).to_string(), p);
        }
        assert_eq!(
            KeyPath::parse("a[x].b").0,
            vec![Segment::Key("a".into())],
            "a bad index ends the path"
        );
    }
}
