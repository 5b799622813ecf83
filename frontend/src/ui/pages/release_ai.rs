//! DeepSeek's help with a release: notes (draft, edit, save), the explanation of a failure,
//! and a chat whose answers stream in token by token.

use crate::api;
use crate::api::stream;
use crate::state::chat::{self, Speaker};
use crate::state::form::FormErrors;
use crate::ui::ai_budget::AiCalls;
use crate::ui::components::{Alert, Field, FormEnd, FormError, Submit, focus_first_error};
use crate::ui::form::Form;
use faro_types::{ChatRequest, DraftNotes, Explanation, Release, ReleaseStatus, UpdateRelease};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

#[component]
pub fn Notes(id: u64, release: Signal<Option<Release>>, can_write: Signal<bool>) -> impl IntoView {
    let changelog = RwSignal::new(String::new());
    let notes = RwSignal::new(
        release
            .get_untracked()
            .and_then(|r| r.notes)
            .unwrap_or_default(),
    );
    let drafter = Form::new("draft-notes", &["changelog"]);
    let saver = Form::new("notes", &["notes"]);
    let saved = RwSignal::new(false);
    let calls = AiCalls::of_page();

    let draft = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = DraftNotes {
            changelog: changelog.get_untracked(),
        };
        let checked = request.validate();
        drafter.submit(checked, api::draft_notes(id, &request), move |drafted| {
            notes.try_set(drafted.notes);
            saved.try_set(true);
            if let Some(calls) = calls {
                calls.made();
            }
        });
    };
    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        let text = notes.get_untracked();
        let request = UpdateRelease {
            notes: (!text.trim().is_empty()).then_some(text),
        };
        saved.set(false);
        let checked = request.validate();
        saver.submit(checked, api::save_notes(id, &request), move |_| {
            saved.try_set(true);
        });
    };

    view! {
        <section class="panel" aria-labelledby="notes-title">
            <h2 id="notes-title">"Release notes"</h2>
            {move || (!can_write.get()).then_some(view! {
                <p class="muted small">"Maintainers and owners draft and edit the notes."</p>
            })}
            <form id="draft-notes" novalidate on:submit=draft>
                <fieldset disabled=move || !can_write.get()>
                    <Field form="draft-notes" name="changelog" label="Changes in this release" value=changelog errors=drafter.errors rows=4
                        hint="Paste commit messages or a changelog; DeepSeek drafts the notes from them."/>
                    <FormEnd form="draft-notes" errors=drafter.errors label="Generate notes" busy_label="Drafting…" busy=drafter.busy id="generate-notes"/>
                </fieldset>
            </form>
            <form id="notes" novalidate on:submit=save>
                <fieldset disabled=move || !can_write.get()>
                    <Field form="notes" name="notes" label="Notes" value=notes errors=saver.errors rows=8/>
                    <FormError form="notes" errors=saver.errors/>
                    <p class="notice ok" role="status" id="notes-saved" hidden=move || !saved.get()>"Saved on the release."</p>
                    <Submit label="Save notes" busy_label="Saving…" busy=saver.busy id="save-notes"/>
                </fieldset>
            </form>
        </section>
    }
}

#[component]
pub fn Explain(id: u64, status: Signal<ReleaseStatus>) -> impl IntoView {
    let explanation = RwSignal::new(None::<Explanation>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let calls = AiCalls::of_page();
    let ask = move |_| {
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::explain(id).await {
                Ok(e) => {
                    explanation.try_set(Some(e));
                    if let Some(calls) = calls {
                        calls.made();
                    }
                }
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                }
            }
            busy.try_set(false);
        });
    };
    move || {
        (status.get() == ReleaseStatus::Failed).then(|| {
            view! {
                <section class="panel explain" aria-labelledby="explain-title">
                    <h2 id="explain-title">"What went wrong"</h2>
                    {move || match explanation.get() {
                        None => view! {
                            <button type="button" class="button primary" id="explain-failure" on:click=ask disabled=move || busy.get()
                                aria-busy=move || busy.get().then_some("true")>
                                {move || if busy.get() { "Asking DeepSeek…" } else { "Explain failure" }}
                            </button>
                        }.into_any(),
                        Some(e) => view! {
                            <div id="explanation">
                                <p>{e.explanation}</p>
                                {(!e.suggested_fixes.is_empty()).then(|| view! {
                                    <h3>"Try this"</h3>
                                    <ul>{e.suggested_fixes.into_iter().map(|f| view! { <li>{f}</li> }).collect_view()}</ul>
                                })}
                            </div>
                        }.into_any(),
                    }}
                    <Alert error=error/>
                </section>
            }
        })
    }
}

#[component]
pub fn Chat(id: u64) -> impl IntoView {
    let chat = RwSignal::new(chat::Chat::default());
    let message = RwSignal::new(String::new());
    let errors = RwSignal::new(FormErrors::none());
    let abort = StoredValue::new_local(stream::abort_on_cleanup());
    let busy = Signal::derive(move || chat.with(chat::Chat::busy));
    // An answer that ended (whole or not) may have spent tokens.
    let calls = AiCalls::of_page();
    Effect::new(move |was_busy: Option<bool>| {
        let now = busy.get();
        if was_busy == Some(true)
            && !now
            && let Some(calls) = calls
        {
            calls.made();
        }
        now
    });
    let send = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let text = message.get_untracked().trim().to_owned();
        let request = ChatRequest {
            message: text.clone(),
            conversation_id: None,
        };
        let checked = FormErrors::from_validation(request.validate());
        if !checked.is_empty() {
            focus_first_error("chat", &checked);
            errors.set(checked);
            return;
        }
        errors.set(FormErrors::none());
        message.set(String::new());
        let signal = abort.get_value();
        leptos::task::spawn_local(stream::ask(id, chat, text, signal));
    };
    view! {
        <section class="panel chat" aria-labelledby="chat-title">
            <h2 id="chat-title">"Ask about this release"</h2>
            <ol class="messages" id="chat-log" aria-live="polite">
                {move || chat.with(|c| c.messages.clone()).into_iter().map(|m| {
                    let (class, who) = match m.speaker {
                        Speaker::User => ("message user", "You"),
                        Speaker::Assistant => ("message assistant", "DeepSeek"),
                    };
                    view! {
                        <li class=class aria-busy=m.streaming.then_some("true")>
                            <span class="who">{who}</span>
                            <p class="text">{m.text}{m.streaming.then_some(view! { <span class="cursor" aria-hidden="true">"▍"</span> })}</p>
                            {m.error.map(|e| view! { <p class="field-error">{format!("Incomplete: {e}")}</p> })}
                        </li>
                    }
                }).collect_view()}
            </ol>
            <form id="chat" novalidate on:submit=send>
                <Field form="chat" name="message" label="Your question" value=message errors=errors rows=2/>
                <FormEnd form="chat" errors=errors label="Send" busy_label="Answering…" busy=busy id="chat-send"/>
            </form>
        </section>
    }
}
