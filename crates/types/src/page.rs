use serde::{Deserialize, Serialize};

/// One page of a keyset-paginated list. Pass `next_cursor` back as `?cursor=` for the next
/// page; it is absent on the last page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}
