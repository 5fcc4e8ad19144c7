//! What every list route shares: `limit` and `cursor` (pages go back in time by row
//! number), and how a page and its `next_cursor` are cut.

/// The largest page.
pub const MAX_PAGE: usize = 1000;
/// The page when `limit` is not given.
pub const DEFAULT_PAGE: usize = 100;

/// A list route's `limit` and `cursor`.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: usize,
    /// Rows below this number (the previous page's `next_cursor`).
    pub cursor: Option<i64>,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            limit: DEFAULT_PAGE,
            cursor: None,
        }
    }
}

impl Page {
    /// Takes the parameter `k=v` when it is `limit` or `cursor` (Some: its outcome, with
    /// the message for a 400); None for any other parameter.
    pub fn take(&mut self, k: &str, v: &str) -> Option<Result<(), String>> {
        match k {
            "limit" => Some(match v.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => {
                    self.limit = n;
                    Ok(())
                }
                _ => Err(format!("limit: a number from 1 to {MAX_PAGE}")),
            }),
            "cursor" => Some(
                v.parse::<i64>()
                    .map(|c| self.cursor = Some(c))
                    .map_err(|_| "cursor: give the next_cursor of the previous page".into()),
            ),
            _ => None,
        }
    }

    /// How many rows to fetch: one more than the page, to know whether another follows.
    pub fn fetch(&self) -> usize {
        self.limit + 1
    }

    /// Cuts `rows` (fetched with [`Page::fetch`], newest first) to the page; returns the next
    /// page's cursor when there is a next page.
    pub fn cut<T>(&self, rows: &mut Vec<T>, number: impl Fn(&T) -> i64) -> Option<String> {
        let more = rows.len() > self.limit;
        rows.truncate(self.limit);
        if more {
            rows.last().map(|r| number(r).to_string())
        } else {
            None
        }
    }
}
