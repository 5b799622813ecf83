//! A project's environments as cards: what runs in each (release, commit, since when), whether
//! releases there wait for a second owner's approval, and "Roll back", which names the release
//! it goes back to before anyone confirms.

use crate::api::{self, ReleaseFilter};
use crate::state::form::FormErrors;
use crate::state::format;
use crate::state::release_control::{rollback_question, rollback_target};
use crate::ui::components::{Alert, Confirm, Time};
use crate::ui::form::Once;
use crate::ui::router::use_navigate;
use faro_types::{Environment, Release, ReleaseStatus, RollBack, RunningRelease};
use leptos::prelude::*;

#[component]
pub fn EnvironmentCards(
    slug: String,
    environments: Signal<Vec<Environment>>,
    /// Whether the viewer may roll back (maintainers and owners).
    can_write: bool,
) -> impl IntoView {
    let slug = StoredValue::new(slug);
    view! {
        <section class="panel" aria-labelledby="environments-title">
            <h2 id="environments-title">"Environments"</h2>
            <div class="card-grid">
                {move || environments.get().into_iter().map(|e| view! {
                    <EnvironmentCard slug=slug.get_value() environment=e can_write=can_write/>
                }).collect_view()}
            </div>
        </section>
    }
}

#[component]
fn EnvironmentCard(slug: String, environment: Environment, can_write: bool) -> impl IntoView {
    let name = environment.name.clone();
    let running = environment.running.clone();
    let roll_back = running.clone().filter(|_| can_write).map(
        |running| view! { <RollBackButton slug=slug environment=name.clone() running=running/> },
    );
    view! {
        <article class="card env-card" data-environment=name.clone() aria-label=format!("Environment {name}")>
            <header class="card-head">
                <h3>{name.clone()}</h3>
                {environment.production.then_some(view! { <span class="tag">"production"</span> })}
            </header>
            {match running {
                Some(r) => view! {
                    <p class="running">
                        "Running "<a href=format!("/releases/{}", r.release_id)>{format!("release #{}", r.release_id)}</a>
                        ": "<code>{format::short_sha(r.commit_sha.as_deref()).to_owned()}</code>" of "
                        <span class="branch">{r.branch.clone()}</span>", since "<Time at=r.deployed_at/>
                    </p>
                }.into_any(),
                None => view! { <p class="running muted">"Nothing deployed here yet."</p> }.into_any(),
            }}
            {environment.requires_approval.then_some(view! {
                <p class="small approval-rule">"Releases here need a second owner's approval."</p>
            })}
            {roll_back}
        </article>
    }
}

/// "Roll back…": looks up the release it would go back to, asks about that one by name, and
/// only then rolls back (to that very release, so what runs is what was confirmed).
#[component]
fn RollBackButton(slug: String, environment: String, running: RunningRelease) -> impl IntoView {
    let navigate = use_navigate();
    let target = RwSignal::new(None::<Release>);
    let error = RwSignal::new(None::<String>);
    let looking = RwSignal::new(false);
    let once = Once::default();
    let busy = once.busy();
    let names = StoredValue::new((slug, environment));
    let running = StoredValue::new(running);
    let id = names.with_value(|(_, env)| format!("rollback-{env}"));

    let look = move |_| {
        error.set(None);
        looking.set(true);
        leptos::task::spawn_local(async move {
            let (slug, environment) = names.get_value();
            let filter = ReleaseFilter {
                environment: Some(environment),
                status: Some(ReleaseStatus::Deployed.as_str().to_owned()),
                branch: None,
            };
            match api::releases(&slug, &filter, None).await {
                Ok(page) => {
                    match running.with_value(|r| rollback_target(r, &page.items).cloned()) {
                        Some(found) => {
                            target.try_set(Some(found));
                        }
                        None => {
                            error.try_set(Some(
                            "Nothing to roll back to: no earlier deployment of another build here."
                                .to_owned(),
                        ));
                        }
                    }
                }
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                }
            }
            looking.try_set(false);
        });
    };
    let confirm = move || {
        let Some(to) = target.with_untracked(|t| t.as_ref().map(|t| t.id)) else {
            return;
        };
        let request = RollBack { to: Some(to) };
        let (slug, environment) = names.get_value();
        let body = request.clone();
        once.send(
            &request,
            move |key| async move { api::roll_back(&slug, &environment, &body, &key).await },
            move |answer| match answer {
                Ok(release) => navigate(&format!("/releases/{}", release.id)),
                Err(e) => {
                    let shown = FormErrors::from_api(&e, &[]);
                    error.try_set(shown.general);
                }
            },
        );
    };

    view! {
        <div class="rollback">
            {move || match target.get() {
                None => view! {
                    <button type="button" class="button secondary small" id=id.clone() on:click=look
                        disabled=move || looking.get() aria-busy=move || looking.get().then_some("true")>
                        "Roll back…"
                    </button>
                }.into_any(),
                Some(t) => {
                    let question = names.with_value(|(_, env)| rollback_question(env, &t));
                    view! {
                        <Confirm id=id.clone() question=question label="Roll back"
                            busy_label="Rolling back…" keep_label="Keep it" busy=busy
                            on_confirm=Box::new(confirm) on_keep=Box::new(move || target.set(None))
                            danger=true small=true/>
                    }.into_any()
                }
            }}
            <Alert error=error/>
        </div>
    }
}
