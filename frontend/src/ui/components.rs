//! The building blocks every page uses: labelled fields with their errors, the states of
//! loading, emptiness and failure, status badges and times.

use crate::api::ApiError;
use crate::format;
use crate::forms::FormErrors;
use chrono::{DateTime, Utc};
use faro_types::ReleaseStatus;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

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

pub fn status_class(status: ReleaseStatus) -> &'static str {
    match status {
        ReleaseStatus::Queued => "badge queued",
        ReleaseStatus::Building | ReleaseStatus::Deploying => "badge active",
        ReleaseStatus::Deployed => "badge ok",
        ReleaseStatus::Failed => "badge failed",
        ReleaseStatus::Cancelled => "badge cancelled",
    }
}

#[component]
pub fn StatusBadge(#[prop(into)] status: Signal<ReleaseStatus>) -> impl IntoView {
    view! {
        <span class=move || status_class(status.get()) data-status=move || status.get().as_str()>
            {move || format::status_label(status.get())}
        </span>
    }
}

/// Now, from the browser's clock.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(js_sys::Date::now() as i64).unwrap_or_default()
}

/// "3 min ago", with the exact time on hover and for machines.
#[component]
pub fn Time(at: DateTime<Utc>) -> impl IntoView {
    view! {
        <time datetime=at.to_rfc3339() title=format::datetime(at)>
            {format::relative(at, now())}
        </time>
    }
}

/// Moves the keyboard focus to the element with this id, if there is one.
pub fn focus(id: &str) {
    if let Some(element) = document()
        .get_element_by_id(id)
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = element.focus();
    }
}

/// The page's title, for tabs, history and screen readers.
pub fn set_title(title: &str) {
    document().set_title(&format!("{title} · Faro"));
}

/// After a rejected submit: focus the first wrong field, in the order the form shows them,
/// so the keyboard lands where the fix is.
pub fn focus_first_error(form: &str, errors: &FormErrors) {
    let prefix = format!("{form}-");
    let in_order = document()
        .query_selector_all(&format!("#{form} input, #{form} select, #{form} textarea"))
        .ok();
    let first = in_order.and_then(|controls| {
        (0..controls.length())
            .filter_map(|i| controls.item(i))
            .filter_map(|node| node.dyn_into::<web_sys::Element>().ok())
            .map(|element| element.id())
            .find(|id| {
                id.strip_prefix(&prefix)
                    .is_some_and(|field| errors.field(field).is_some())
            })
    });
    match first {
        Some(id) => focus(&id),
        None => {
            if let Some(field) = errors.first_field() {
                focus(&format!("{prefix}{field}"));
            }
        }
    }
}

/// A labelled input whose error (ours or the API's) shows right below it.
#[component]
pub fn Field(
    #[prop(into)] form: String,
    name: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    errors: RwSignal<FormErrors>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] placeholder: Option<&'static str>,
    #[prop(optional)] required: bool,
) -> impl IntoView {
    let id = format!("{form}-{name}");
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let error = move || errors.with(|e| e.field(name));
    let described = {
        let (error_id, hint_id) = (error_id.clone(), hint_id.clone());
        move || {
            let mut ids = Vec::new();
            if hint.is_some() {
                ids.push(hint_id.clone());
            }
            if error().is_some() {
                ids.push(error_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div class="field" class:invalid=move || error().is_some()>
            <label for=id.clone()>{label}{required.then_some(view! { <span class="required" aria-hidden="true">" *"</span> })}</label>
            <input
                id=id
                name=name
                type=kind
                autocomplete=autocomplete
                placeholder=placeholder
                required=required
                aria-invalid=move || error().is_some().then_some("true")
                aria-describedby=described
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
            {hint.map(|h| view! { <p class="hint" id=hint_id>{h}</p> })}
            <p class="field-error" id=error_id hidden=move || error().is_none()>
                {error}
            </p>
        </div>
    }
}

/// A labelled select with the same error handling as [`Field`].
#[component]
pub fn SelectField(
    #[prop(into)] form: String,
    name: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    errors: RwSignal<FormErrors>,
    /// (value, label) pairs.
    #[prop(into)]
    options: Signal<Vec<(String, String)>>,
) -> impl IntoView {
    let id = format!("{form}-{name}");
    let error_id = format!("{id}-error");
    let error = move || errors.with(|e| e.field(name));
    let described = {
        let error_id = error_id.clone();
        move || error().is_some().then(|| error_id.clone())
    };
    view! {
        <div class="field" class:invalid=move || error().is_some()>
            <label for=id.clone()>{label}</label>
            <select
                id=id
                name=name
                aria-invalid=move || error().is_some().then_some("true")
                aria-describedby=described
                prop:value=move || value.get()
                on:change=move |ev| value.set(event_target_value(&ev))
            >
                {move || {
                    options
                        .get()
                        .into_iter()
                        .map(|(v, l)| {
                            let selected = value.get_untracked() == v;
                            view! { <option value=v selected=selected>{l}</option> }
                        })
                        .collect_view()
                }}
            </select>
            <p class="field-error" id=error_id hidden=move || error().is_none()>
                {error}
            </p>
        </div>
    }
}

/// A labelled multi-line input.
#[component]
pub fn TextArea(
    #[prop(into)] form: String,
    name: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    errors: RwSignal<FormErrors>,
    #[prop(default = 6)] rows: u32,
    #[prop(optional)] hint: Option<&'static str>,
) -> impl IntoView {
    let id = format!("{form}-{name}");
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let error = move || errors.with(|e| e.field(name));
    let described = {
        let (error_id, hint_id) = (error_id.clone(), hint_id.clone());
        move || {
            if error().is_some() {
                Some(error_id.clone())
            } else {
                hint.map(|_| hint_id.clone())
            }
        }
    };
    view! {
        <div class="field" class:invalid=move || error().is_some()>
            <label for=id.clone()>{label}</label>
            <textarea
                id=id
                name=name
                rows=rows
                aria-invalid=move || error().is_some().then_some("true")
                aria-describedby=described
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            ></textarea>
            {hint.map(|h| view! { <p class="hint" id=hint_id>{h}</p> })}
            <p class="field-error" id=error_id hidden=move || error().is_none()>
                {error}
            </p>
        </div>
    }
}

/// The error of a form that belongs to no field, above its buttons.
#[component]
pub fn FormError(#[prop(into)] form: String, errors: RwSignal<FormErrors>) -> impl IntoView {
    let general = move || errors.with(|e| e.general.clone());
    view! {
        <p class="form-error" id=format!("{form}-error") role="alert" hidden=move || general().is_none()>
            {general}
        </p>
    }
}

/// A submit button that says what it is doing and cannot be pressed twice meanwhile.
#[component]
pub fn Submit(
    label: &'static str,
    busy_label: &'static str,
    #[prop(into)] busy: Signal<bool>,
    #[prop(optional)] id: Option<&'static str>,
) -> impl IntoView {
    view! {
        <button
            type="submit"
            class="button primary"
            id=id
            disabled=move || busy.get()
            aria-busy=move || busy.get().then_some("true")
        >
            {move || if busy.get() { busy_label } else { label }}
        </button>
    }
}
