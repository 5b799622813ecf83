//! Keyset pages: limits, opaque cursors, and the page a read of one row more than asked
//! makes.

use crate::error::ApiError;
use faro_types::Page;

/// `value` (or `default` when absent) if it is between 1 and `max`.
pub fn limit(value: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    match value.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::field(
            "limit",
            format!("must be between 1 and {max}"),
        )),
    }
}

/// A cursor for `key`, hex-encoded so clients treat it as opaque.
pub fn encode(key: &str) -> String {
    hex::encode(key.as_bytes())
}

/// The key a cursor carries, as `parse` reads it; a value this API did not issue is a 422
/// on `cursor`.
pub fn decode<T>(cursor: &str, parse: impl FnOnce(String) -> Option<T>) -> Result<T, ApiError> {
    hex::decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(parse)
        .ok_or_else(|| ApiError::conflict_on("cursor", "is not a cursor this API issued"))
}

/// The first `limit` of `items`, read with `limit + 1` so that a further page shows; its
/// cursor is the `key` of the last item kept.
pub fn page<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|item| encode(&key(item)))
    } else {
        None
    };
    Page { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_came() {
        let full = page(vec![1, 2, 3], 2, u32::to_string);
        assert_eq!(full.items, [1, 2]);
        assert_eq!(full.next_cursor.as_deref(), Some(encode("2").as_str()));
        let last = page(vec![1, 2], 2, u32::to_string);
        assert_eq!((last.items.len(), last.next_cursor), (2, None));
    }

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(limit(None, 20, 100).expect("default"), 20);
        assert_eq!(limit(Some(100), 20, 100).expect("max"), 100);
        assert!(limit(Some(0), 20, 100).is_err());
        assert!(limit(Some(101), 20, 100).is_err());
    }
}
