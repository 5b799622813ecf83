//! What the app fetched, shown the same way on every page: "Loading …" while it is in flight,
//! the error with a way to try again, "nothing here yet" when it came back empty, else the
//! page's own view of it.

use crate::api::ApiError;
use faro_types::Page;
use leptos::prelude::*;

/// A load to follow: its outcome so far (`None` while in flight) and how to run it again.
#[derive(Debug)]
pub struct Load<T: Send + Sync + 'static> {
    value: Signal<Option<Result<T, ApiError>>>,
    retry: Callback<()>,
}

impl<T: Send + Sync + 'static> Load<T> {
    pub fn new(
        value: impl Fn() -> Option<Result<T, ApiError>> + Send + Sync + 'static,
        retry: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        Self {
            value: Signal::derive(value),
            retry: Callback::new(move |()| retry()),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> From<LocalResource<Result<T, ApiError>>> for Load<T> {
    fn from(resource: LocalResource<Result<T, ApiError>>) -> Self {
        Self::new(move || resource.get(), move || resource.refetch())
    }
}

/// Shows `load` by its state; `children` gets the loaded value. With `is_empty` and `empty`,
/// an empty value shows `empty` instead; with `not_found`, a 404 shows it instead of the error.
#[component]
pub fn Fetched<T, F, V>(
    /// What is being loaded, for "Loading …".
    what: &'static str,
    #[prop(into)] load: Load<T>,
    #[prop(optional)] is_empty: Option<fn(&T) -> bool>,
    #[prop(optional, into)] empty: Option<ViewFn>,
    #[prop(optional, into)] not_found: Option<ViewFn>,
    children: F,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    F: Fn(T) -> V + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let Load { value, retry } = load;
    move || match value.get() {
        None => view! { <Loading what=what/> }.into_any(),
        Some(Err(e)) if e.is_not_found() && not_found.is_some() => {
            not_found.as_ref().map(ViewFn::run).into_any()
        }
        Some(Err(e)) => view! { <ErrorState error=e retry=retry/> }.into_any(),
        Some(Ok(value)) if is_empty.is_some_and(|is_empty| is_empty(&value)) => {
            let empty = empty.clone();
            view! { <Empty>{empty.map(|e| e.run())}</Empty> }.into_any()
        }
        Some(Ok(value)) => children(value).into_any(),
    }
}

/// "Loading …" with a live region, so screen readers hear it too.
#[component]
pub fn Loading(what: &'static str) -> impl IntoView {
    view! {
        <p class="state loading" role="status" aria-live="polite">
            <span class="spinner" aria-hidden="true"></span>
            {format!("Loading {what}…")}
        </p>
    }
}

/// A failed load: what went wrong, the request id to quote, and a way to try again.
#[component]
pub fn ErrorState(error: ApiError, #[prop(into)] retry: Callback<()>) -> impl IntoView {
    let request_id = error.request_id().map(str::to_owned);
    view! {
        <div class="state error-state" role="alert">
            <p>{error.to_string()}</p>
            {request_id.map(|id| view! { <p class="muted small">"Request id: " <code>{id}</code></p> })}
            <button type="button" class="button secondary" on:click=move |_| retry.run(())>
                "Try again"
            </button>
        </div>
    }
}

/// Nothing to show yet, and what to do about it.
#[component]
pub fn Empty(children: Children) -> impl IntoView {
    view! { <div class="state empty">{children()}</div> }
}

/// `is_empty` of a [`Page`] of a list.
pub fn no_items<T>(page: &Page<T>) -> bool {
    page.items.is_empty()
}
