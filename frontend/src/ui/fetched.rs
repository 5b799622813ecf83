//! What the app fetched, shown the same way on every page: "Loading …" while it is in flight,
//! the error with a way to try again, "nothing here yet" when it came back empty, else the
//! page's own view of it.

use super::loaded::Loaded;
use crate::api::ApiError;
use faro_types::Page;
use leptos::prelude::*;

/// A load to follow: its outcome so far (`None` while in flight) and how to run it again.
///
/// A plain closure rather than a signal, and [`Fetched`] hands a type-erased outcome to one
/// non-generic view: the generic part, compiled once per loaded type, stays small.
pub struct Load<T> {
    value: Box<dyn Fn() -> Option<Result<T, ApiError>> + Send + Sync>,
    retry: Callback<()>,
}

impl<T> std::fmt::Debug for Load<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Load")
    }
}

impl<T> Load<T> {
    pub fn new(
        value: impl Fn() -> Option<Result<T, ApiError>> + Send + Sync + 'static,
        retry: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        Self {
            value: Box::new(value),
            retry: Callback::new(move |()| retry()),
        }
    }
}

impl<T: Clone + 'static> From<Loaded<T>> for Load<T> {
    fn from(resource: Loaded<T>) -> Self {
        Self::new(move || resource.get(), move || resource.refetch())
    }
}

/// What [`Fetched`] shows, whatever was loaded.
enum Outcome {
    Loading,
    Failed(ApiError),
    Empty,
    Loaded(AnyView),
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
    T: 'static,
    F: Fn(T) -> V + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let Load { value, retry } = load;
    let outcome = move || match value() {
        None => Outcome::Loading,
        Some(Err(e)) => Outcome::Failed(e),
        Some(Ok(v)) if is_empty.is_some_and(|is_empty| is_empty(&v)) => Outcome::Empty,
        Some(Ok(v)) => Outcome::Loaded(children(v).into_any()),
    };
    show(what, Box::new(outcome), retry, empty, not_found)
}

fn show(
    what: &'static str,
    outcome: Box<dyn Fn() -> Outcome + Send + Sync>,
    retry: Callback<()>,
    empty: Option<ViewFn>,
    not_found: Option<ViewFn>,
) -> impl IntoView {
    move || match outcome() {
        Outcome::Loading => view! { <Loading what=what/> }.into_any(),
        Outcome::Failed(e) if e.is_not_found() && not_found.is_some() => {
            not_found.as_ref().map(ViewFn::run).into_any()
        }
        Outcome::Failed(e) => view! { <ErrorState error=e retry=retry/> }.into_any(),
        Outcome::Empty => {
            let empty = empty.clone();
            view! { <Empty>{empty.map(|e| e.run())}</Empty> }.into_any()
        }
        Outcome::Loaded(view) => view,
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
