//! "Load more": the pages of a list after the first, fetched one per click and shown after it.

use super::components::Alert;
use super::loaded::Loaded;
use crate::api::ApiError;
use faro_types::Page;
use leptos::prelude::*;
use std::future::IntoFuture;

/// The pages loaded after the first one of a list.
#[derive(Debug)]
pub struct MorePages<T: Send + Sync + 'static> {
    /// Their items, in order.
    pub items: RwSignal<Vec<T>>,
    /// The button's side, the same for every list.
    more: LoadState,
}

impl<T: Send + Sync + 'static> Clone for MorePages<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for MorePages<T> {}

/// Where the next page starts (`None` at the end), whether it is loading, why it failed, and
/// how to load it.
#[derive(Debug, Clone, Copy)]
struct LoadState {
    cursor: RwSignal<Option<String>>,
    busy: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    load: Callback<()>,
}

impl<T: Clone + Send + Sync + 'static> MorePages<T> {
    /// Follows `first`: each time it (re)loads, the pages after it start afresh from its cursor.
    /// `fetch` loads the page at a cursor.
    pub fn after<Fut>(
        first: Loaded<Page<T>>,
        fetch: impl Fn(String) -> Fut + Send + Sync + 'static,
    ) -> Self
    where
        Fut: IntoFuture<Output = Result<Page<T>, ApiError>> + 'static,
    {
        let items = RwSignal::new(Vec::new());
        let cursor = RwSignal::new(None);
        let busy = RwSignal::new(false);
        let error = RwSignal::new(None);
        let load = Callback::new(move |()| {
            let Some(next) = cursor.get_untracked() else {
                return;
            };
            busy.set(true);
            let request = fetch(next);
            leptos::task::spawn_local(async move {
                match request.await {
                    Ok(Page {
                        items: more,
                        next_cursor,
                    }) => {
                        items.update(|all: &mut Vec<T>| all.extend(more));
                        cursor.set(next_cursor);
                        error.set(None);
                    }
                    Err(e) => error.set(Some(e.to_string())),
                }
                busy.set(false);
            });
        });
        Effect::new(move || {
            if let Some(Ok(page)) = first.get() {
                items.set(Vec::new());
                cursor.set(page.next_cursor);
            }
        });
        Self {
            items,
            more: LoadState {
                cursor,
                busy,
                error,
                load,
            },
        }
    }

    /// Why the last page failed, and the button that loads the next one while there is one.
    pub fn button(self, id: Option<&'static str>) -> impl IntoView {
        load_more(self.more, id)
    }
}

fn load_more(state: LoadState, id: Option<&'static str>) -> impl IntoView {
    let LoadState {
        cursor,
        busy,
        error,
        load,
    } = state;
    view! {
        <Alert error=error/>
        {move || cursor.get().map(|_| view! {
            <button type="button" class="button secondary" id=id on:click=move |_| load.run(()) disabled=move || busy.get()>
                {move || if busy.get() { "Loading…" } else { "Load more" }}
            </button>
        })}
    }
}
