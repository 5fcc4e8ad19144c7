//! Positions in TOML text, for error messages that name a line and a key.

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The key written at a line, prefixed by the table header above it: `[[sites.devices]] unit_id`.
pub fn key_at_line(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(this) = lines.get(line.saturating_sub(1)) else {
        return "-".into();
    };
    let t = this.trim();
    let key = if t.starts_with('[') {
        ""
    } else {
        t.split('=').next().unwrap_or("").trim()
    };
    let header = lines[..line.saturating_sub(1)]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .unwrap_or("");
    match (header, key) {
        ("", k) => k.to_string(),
        (h, "") => t.to_string().max(h.to_string()),
        (h, k) => format!("{h} {k}"),
    }
}
