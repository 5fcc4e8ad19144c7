//! `Idempotency-Key` for the stores that create records through the API (incidents,
//! declared outages): a key remembers the request it created a record for (its canonical
//! JSON), so that a retried request finds that record and a reused key with another body is
//! refused (the API answers 409).

use rusqlite::{Connection, OptionalExtension};

/// What a key says of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Never used: create the record.
    New,
    /// Used for this same request: the record it created.
    Same(i64),
    /// Used for another request.
    Other,
}

/// Looks `key` up in `table`'s `idempotency_key` and `request` columns (`table` is one of
/// the stores' own table names, never user input).
pub fn seen(conn: &Connection, table: &str, key: &str, request: &str) -> rusqlite::Result<Seen> {
    let found: Option<(i64, String)> = conn
        .query_row(
            &format!("SELECT id, request FROM {table} WHERE idempotency_key = ?1"),
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match found {
        None => Seen::New,
        Some((id, earlier)) if earlier == request => Seen::Same(id),
        Some(_) => Seen::Other,
    })
}
