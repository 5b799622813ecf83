//! "Load more": the pages of a list after the first, fetched one per click and shown after it.

use crate::api::ApiError;
use faro_types::Page;
use leptos::prelude::*;
use std::future::Future;
use std::pin::Pin;

type Fetch<T> = Box<dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<Page<T>, ApiError>>>>>;

/// The pages loaded after the first one of a list.
#[derive(Debug)]
pub struct MorePages<T: Send + Sync + 'static> {
    /// Their items, in order.
    pub items: RwSignal<Vec<T>>,
    /// Where the next page starts; `None` at the end.
    cursor: RwSignal<Option<String>>,
    busy: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    fetch: StoredValue<Fetch<T>, LocalStorage>,
}

impl<T: Send + Sync + 'static> Clone for MorePages<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for MorePages<T> {}

impl<T: Clone + Send + Sync + 'static> MorePages<T> {
    /// Follows `first`: each time it (re)loads, the pages after it start afresh from its cursor.
    /// `fetch` loads the page at a cursor.
    pub fn after<Fut>(
        first: LocalResource<Result<Page<T>, ApiError>>,
        fetch: impl Fn(String) -> Fut + 'static,
    ) -> Self
    where
        Fut: Future<Output = Result<Page<T>, ApiError>> + 'static,
    {
        let pages = Self {
            items: RwSignal::new(Vec::new()),
            cursor: RwSignal::new(None),
            busy: RwSignal::new(false),
            error: RwSignal::new(None),
            fetch: StoredValue::new_local(Box::new(move |cursor| Box::pin(fetch(cursor)))),
        };
        Effect::new(move || {
            if let Some(Ok(page)) = first.get() {
                pages.items.set(Vec::new());
                pages.cursor.set(page.next_cursor);
            }
        });
        pages
    }

    fn load_next(self) {
        let Some(next) = self.cursor.get_untracked() else {
            return;
        };
        self.busy.set(true);
        let request = self.fetch.with_value(|fetch| fetch(next));
        leptos::task::spawn_local(async move {
            match request.await {
                Ok(Page { items, next_cursor }) => {
                    self.items.update(|all| all.extend(items));
                    self.cursor.set(next_cursor);
                    self.error.set(None);
                }
                Err(e) => self.error.set(Some(e.to_string())),
            }
            self.busy.set(false);
        });
    }
}

/// Why the last page failed, and the button that loads the next one while there is one.
#[component]
pub fn LoadMore<T>(pages: MorePages<T>, #[prop(optional)] id: Option<&'static str>) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
{
    let MorePages {
        cursor,
        busy,
        error,
        ..
    } = pages;
    view! {
        <p class="form-error" role="alert" hidden=move || error.get().is_none()>{move || error.get()}</p>
        {move || cursor.get().map(|_| view! {
            <button type="button" class="button secondary" id=id on:click=move |_| pages.load_next() disabled=move || busy.get()>
                {move || if busy.get() { "Loading…" } else { "Load more" }}
            </button>
        })}
    }
}
