//! The building blocks every page uses: labelled fields with their errors, status badges and
//! times.

use crate::state::form::FormErrors;
use crate::state::format;
use chrono::{DateTime, Utc};
use faro_types::{Environment, ReleaseStatus};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

pub fn status_class(status: ReleaseStatus) -> &'static str {
    match status {
        ReleaseStatus::Queued | ReleaseStatus::AwaitingApproval => "badge queued",
        ReleaseStatus::Building | ReleaseStatus::Deploying => "badge active",
        ReleaseStatus::Deployed => "badge ok",
        ReleaseStatus::Failed => "badge failed",
        ReleaseStatus::Cancelled | ReleaseStatus::Rejected | ReleaseStatus::Expired => {
            "badge cancelled"
        }
        ReleaseStatus::NeedsAttention => "badge attention",
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

/// What [`Field`] and [`SelectField`] share: the control's ids (`{form}-{name}`,
/// and its hint's and error's after it), its error, and the lines below it.
#[derive(Debug, Clone)]
struct Control {
    id: String,
    error_id: String,
    hint_id: String,
    name: &'static str,
    errors: RwSignal<FormErrors>,
}

impl Control {
    fn new(form: &str, name: &'static str, errors: RwSignal<FormErrors>) -> Self {
        let id = format!("{form}-{name}");
        Self {
            error_id: format!("{id}-error"),
            hint_id: format!("{id}-hint"),
            id,
            name,
            errors,
        }
    }

    fn error(&self) -> impl Fn() -> Option<String> + Copy + Send + Sync + use<> {
        let (errors, name) = (self.errors, self.name);
        move || errors.with(|e| e.field(name))
    }

    /// `aria-invalid`.
    fn invalid(&self) -> impl Fn() -> Option<&'static str> + Copy + Send + Sync + use<> {
        let error = self.error();
        move || error().is_some().then_some("true")
    }

    /// `aria-describedby`: the hint's id if there is a hint and the error's while there is an
    /// error; with `only_one`, the error's alone while there is one.
    fn described(
        &self,
        hint: Option<&'static str>,
        only_one: bool,
    ) -> impl Fn() -> Option<String> + Send + Sync + use<> {
        let (error, error_id, hint_id) =
            (self.error(), self.error_id.clone(), self.hint_id.clone());
        move || {
            let mut ids = Vec::new();
            if hint.is_some() {
                ids.push(hint_id.clone());
            }
            if error().is_some() {
                if only_one {
                    ids.clear();
                }
                ids.push(error_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    }

    /// The frame: the label, the control, its hint and its error below.
    fn frame(
        self,
        label: impl IntoView + 'static,
        control: impl IntoView + 'static,
        hint: Option<&'static str>,
    ) -> impl IntoView {
        let error = self.error();
        view! {
            <div class="field" class:invalid=move || error().is_some()>
                <label for=self.id>{label}</label>
                {control}
                {hint.map(|h| view! { <p class="hint" id=self.hint_id>{h}</p> })}
                <p class="field-error" id=self.error_id hidden=move || error().is_none()>
                    {error}
                </p>
            </div>
        }
    }
}

/// A labelled input whose error (ours or the API's) shows right below it; with `rows`, a
/// multi-line one.
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
    #[prop(optional, into)] placeholder: Option<Signal<String>>,
    #[prop(optional)] required: bool,
    /// The id of a `<datalist>` of suggestions.
    #[prop(optional)]
    list: Option<&'static str>,
    /// A `<textarea>` of this many rows instead of an `<input>`.
    #[prop(optional)]
    rows: Option<u32>,
) -> impl IntoView {
    let control = Control::new(&form, name, errors);
    let input = match rows {
        None => view! {
            <input
                id=control.id.clone()
                name=name
                type=kind
                autocomplete=autocomplete
                placeholder=move || placeholder.map(|p| p.get())
                required=required
                list=list
                aria-invalid=control.invalid()
                aria-describedby=control.described(hint, false)
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
        }
        .into_any(),
        Some(rows) => view! {
            <textarea
                id=control.id.clone()
                name=name
                rows=rows
                aria-invalid=control.invalid()
                aria-describedby=control.described(hint, true)
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            ></textarea>
        }
        .into_any(),
    };
    let label = view! {
        {label}{required.then_some(view! { <span class="required" aria-hidden="true">" *"</span> })}
    };
    control.frame(label, input, hint)
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
    let control = Control::new(&form, name, errors);
    let select = view! {
        <select
            id=control.id.clone()
            name=name
            aria-invalid=control.invalid()
            aria-describedby=control.described(None, true)
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
    };
    control.frame(label, select, None)
}

/// The options of a select of `environments`, each its name with `note` beside it where
/// there is one; keeps `selected` on one of them: the first once they are known, and again
/// if the selected one is no longer there.
pub fn environment_options(
    selected: RwSignal<String>,
    environments: Signal<Vec<Environment>>,
    note: fn(&Environment) -> Option<&'static str>,
) -> Signal<Vec<(String, String)>> {
    Effect::new(move || {
        let environments = environments.get();
        if !environments
            .iter()
            .any(|e| e.name == selected.get_untracked())
            && let Some(first) = environments.first()
        {
            selected.set(first.name.clone());
        }
    });
    Signal::derive(move || {
        environments
            .get()
            .into_iter()
            .map(|e| {
                let label = match note(&e) {
                    Some(note) => format!("{} ({note})", e.name),
                    None => e.name.clone(),
                };
                (e.name, label)
            })
            .collect()
    })
}

/// The question before an action that deploys something (promotion, rollback), with the
/// button that does it (`{id}-confirm`, saying `busy_label` while it runs) and the one that
/// puts it off. `danger` marks an action that replaces what runs; `small` fits a card.
#[component]
pub fn Confirm(
    #[prop(into)] id: String,
    #[prop(into)] question: Signal<String>,
    label: &'static str,
    busy_label: &'static str,
    keep_label: &'static str,
    busy: Signal<bool>,
    // Boxed, not generic: one copy of the component in the wasm for every use.
    on_confirm: Box<dyn Fn()>,
    on_keep: Box<dyn Fn()>,
    #[prop(optional)] danger: bool,
    #[prop(optional)] small: bool,
    #[prop(optional, into)] hidden: Signal<bool>,
) -> impl IntoView {
    let size = if small { " small" } else { "" };
    let kind = if danger { "danger" } else { "primary" };
    view! {
        <div class="confirm" role="group" aria-labelledby=format!("{id}-question") hidden=move || hidden.get()>
            <p id=format!("{id}-question")>{question}</p>
            <div class="actions">
                <button type="button" class=format!("button {kind}{size}") id=format!("{id}-confirm")
                    on:click=move |_| on_confirm() disabled=move || busy.get() aria-busy=move || busy.get().then_some("true")>
                    {move || if busy.get() { busy_label } else { label }}
                </button>
                <button type="button" class=format!("button secondary{size}") on:click=move |_| on_keep()
                    disabled=move || busy.get()>
                    {keep_label}
                </button>
            </div>
        </div>
    }
}

/// A line that says what went wrong, shown only while something did.
#[component]
pub fn Alert(
    error: RwSignal<Option<String>>,
    #[prop(default = "form-error")] class: &'static str,
) -> impl IntoView {
    view! { <p class=class role="alert" hidden=move || error.with(Option::is_none)>{error}</p> }
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

/// How every form ends: the error that names no field, then the submit button.
#[component]
pub fn FormEnd(
    form: &'static str,
    errors: RwSignal<FormErrors>,
    label: &'static str,
    busy_label: &'static str,
    #[prop(into)] busy: Signal<bool>,
    #[prop(optional)] id: Option<&'static str>,
) -> impl IntoView {
    view! {
        <FormError form=form errors=errors/>
        <Submit label=label busy_label=busy_label busy=busy id=id/>
    }
}

/// A submit button that says what it is doing and cannot be pressed twice meanwhile.
#[component]
pub fn Submit(
    label: &'static str,
    busy_label: &'static str,
    #[prop(into)] busy: Signal<bool>,
    #[prop(default = None, into)] id: Option<&'static str>,
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
