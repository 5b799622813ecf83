//! One release: its status and details, the live timeline, and the AI panels.

use super::not_found::{Missing, missing};
use super::release_ai::{Chat, Explain, Notes};
use super::release_control::{ApprovalPanel, Promote};
use crate::api::stream;
use crate::api::{self, ApiError};
use crate::state::format;
use crate::state::timeline::{Connection, Timeline};
use crate::ui::ai_budget::{AiBudgetLine, AiCalls};
use crate::ui::components::{Alert, StatusBadge, Time, set_title};
use crate::ui::fetched::{Fetched, Load};
use crate::ui::router::use_navigate;
use faro_types::{Release, ReleaseStatus, Role};
use leptos::prelude::*;

#[component]
pub fn ReleasePage(id: String) -> impl IntoView {
    // Another id (a retry opened from here) is another page: state starts afresh.
    match id.parse::<u64>() {
        Ok(id) => view! { <ReleaseView id=id/> }.into_any(),
        Err(_) => view! {
            <Missing title="No such release" why="Release addresses end with a number, like /releases/42."/>
        }
        .into_any(),
    }
}

#[component]
fn ReleaseView(id: u64) -> impl IntoView {
    set_title(&format!("Release #{id}"));
    let loaded = RwSignal::new(None::<Result<Release, ApiError>>);
    let role = RwSignal::new(None::<Role>);
    // The organization that pays for the AI panels' calls.
    let org = RwSignal::new(None::<String>);
    AiCalls::provide();
    let load = move || {
        leptos::task::spawn_local(async move {
            let result = api::release(id).await;
            if let Ok(release) = &result
                && role.get_untracked().is_none()
                && let Ok(project) = api::project(&release.project).await
            {
                role.try_set(Some(project.role));
                org.try_set(Some(project.organization));
            }
            loaded.try_set(Some(result));
        });
    };
    load();
    // Later loads only ever replace a release with a newer one: a failed refresh keeps the page.
    let refresh = move || {
        leptos::task::spawn_local(async move {
            if let Ok(release) = api::release(id).await {
                loaded.try_set(Some(Ok(release)));
            }
        });
    };
    // Whether it loaded, and its project (which never changes): a refresh must not rebuild the
    // page.
    let phase = Memo::new(move |_| loaded.get().map(|r| r.map(|r| r.project)));
    let release =
        Signal::derive(move || loaded.with(|r| r.as_ref().and_then(|r| r.as_ref().ok()).cloned()));

    let timeline = RwSignal::new(Timeline::new());
    let abort = stream::abort_on_cleanup();
    leptos::task::spawn_local(stream::follow_timeline(id, timeline, abort));
    // The timeline knows first when the status moves: reload the release for its new fields.
    Effect::new(move || {
        let live_status = timeline.with(Timeline::status);
        let shown = release.with_untracked(|r| r.as_ref().map(|r| r.status));
        if live_status.is_some() && shown.is_some() && live_status != shown {
            refresh();
        }
    });
    let status = Signal::derive(move || {
        timeline
            .with(Timeline::status)
            .or_else(|| release.with(|r| r.as_ref().map(|r| r.status)))
            .unwrap_or(ReleaseStatus::Queued)
    });

    let can_write = Signal::derive(move || role.get().is_some_and(Role::can_write));
    let load = Load::new(
        move || phase.get(),
        move || {
            loaded.set(None);
            load();
        },
    );
    view! {
        <Fetched what="the release" load=load
            not_found=missing("No such release", "It does not exist, or you are not a member of its project.",
                ("/", "Go to the dashboard"))
            let:project>
            <div class="page release-page" data-release=id>
                <nav class="crumbs" aria-label="Breadcrumb">
                    <a href="/projects">"Projects"</a>" / "
                    <a href=format!("/projects/{project}")>{project.clone()}</a>" / "
                </nav>
                <div class="page-head">
                    <h1>{format!("Release #{id}")}</h1>
                    <StatusBadge status=status/>
                </div>
                <Details release=release/>
                <ApprovalPanel release=release status=status role=role on_change=refresh/>
                <Actions release=release status=status can_write=can_write on_change=refresh/>
                <Promote project=project.clone() release=release status=status can_write=can_write/>
                <div class="columns">
                    <LiveTimeline timeline=timeline/>
                    <div class="stack">
                        <AiBudgetLine org=org/>
                        <Explain id=id status=status/>
                        <Notes id=id release=release can_write=can_write/>
                        <Chat id=id/>
                    </div>
                </div>
            </div>
        </Fetched>
    }
}

#[component]
fn Details(release: Signal<Option<Release>>) -> impl IntoView {
    move || {
        release.get().map(|r| {
            view! {
                <section class="panel" aria-label="Details">
                    <dl class="details">
                        <div><dt>"Project"</dt><dd><a href=format!("/projects/{}", r.project)>{r.project.clone()}</a></dd></div>
                        <div><dt>"Environment"</dt><dd>{r.environment.clone()}{r.production.then_some(view! { " " <span class="tag">"production"</span> })}</dd></div>
                        <div><dt>"Branch"</dt><dd class="branch">{r.branch.clone()}</dd></div>
                        <div><dt>"Commit"</dt><dd><code title=r.commit_sha.clone().unwrap_or_default()>{format::short_sha(r.commit_sha.as_deref()).to_owned()}</code></dd></div>
                        {r.tag.clone().map(|t| view! { <div><dt>"Tag"</dt><dd>{t}</dd></div> })}
                        <div><dt>"Requested"</dt><dd><Time at=r.requested_at/>" by "{r.requested_by.name.clone()}</dd></div>
                        {r.deployed_at.map(|at| view! { <div><dt>"Deployed"</dt><dd><Time at=at/></dd></div> })}
                        {r.finished_at.zip(r.started_at).map(|(end, start)| view! {
                            <div><dt>"Took"</dt><dd>{format::duration((end - start).num_seconds().max(0) as u64)}</dd></div>
                        })}
                        {link("Retry of", "retry-of", r.retry_of)}
                        {link("Promoted from", "promoted-from", r.promoted_from)}
                        {(!r.promoted_to.is_empty()).then(|| view! {
                            <div><dt>"Promoted to"</dt><dd id="promoted-to">{r.promoted_to.iter().map(|to| view! {
                                <a href=format!("/releases/{to}")>{format!("#{to}")}</a>" "
                            }).collect_view()}</dd></div>
                        })}
                        {link("Rolls back", "rollback-of", r.rollback_of)}
                        {link("Deploys the build of", "build-of", r.build_of)}
                        {r.sleakops_build_id.clone().map(|b| view! { <div><dt>"SleakOps build"</dt><dd><code>{b}</code></dd></div> })}
                        {r.sleakops_deployment_id.clone().map(|d| view! { <div><dt>"SleakOps deployment"</dt><dd><code>{d}</code></dd></div> })}
                    </dl>
                    {r.failure_reason.clone().map(|why| view! {
                        <div class="failure" role="alert" id="failure-reason">
                            <h2>{format::reason_heading(r.status)}</h2>
                            <p>{why}</p>
                        </div>
                    })}
                    {format::still_on_sleakops(&r).map(|notice| view! {
                        <div class="failure" role="status" id="still-on-sleakops">
                            <p>{notice}</p>
                        </div>
                    })}
                </section>
            }
        })
    }
}

/// A row of the details naming another release, when there is one.
fn link(term: &'static str, id: &'static str, to: Option<u64>) -> Option<impl IntoView> {
    to.map(|to| {
        view! { <div><dt>{term}</dt><dd id=id><a href=format!("/releases/{to}")>{format!("#{to}")}</a></dd></div> }
    })
}

#[component]
fn Actions(
    release: Signal<Option<Release>>,
    status: Signal<ReleaseStatus>,
    can_write: Signal<bool>,
    #[prop(into)] on_change: Callback<()>,
) -> impl IntoView {
    let navigate = use_navigate();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    // One retry per visit: a double click or a resend reuses the key.
    let retry_key = StoredValue::new(api::random_key());
    let id = move || {
        release
            .with_untracked(|r| r.as_ref().map(|r| r.id))
            .unwrap_or_default()
    };
    let cancel = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::cancel_release(id()).await {
                Ok(_) => on_change.run(()),
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    let retry = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::retry_release(id(), &retry_key.get_value()).await {
                Ok(new) => navigate(&format!("/releases/{}", new.id)),
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.try_set(false);
        });
    };
    move || {
        let s = status.get();
        (can_write.get() && (s.can_cancel() || s.can_retry())).then(|| {
            view! {
                <div class="actions">
                    {s.can_cancel().then(|| view! {
                        <button type="button" class="button danger" id="cancel-release" on:click=cancel disabled=move || busy.get()>"Cancel release"</button>
                    })}
                    {s.can_retry().then(|| view! {
                        <button type="button" class="button primary" id="retry-release" on:click=retry disabled=move || busy.get()>"Retry"</button>
                    })}
                    <Alert error=error/>
                </div>
            }
        })
    }
}

#[component]
fn LiveTimeline(timeline: RwSignal<Timeline>) -> impl IntoView {
    let connection = move || timeline.with(|t| t.connection.clone());
    let state_class = move || match connection() {
        Connection::Live => "live-state live",
        Connection::Ended(_) => "live-state ended",
        Connection::Connecting | Connection::Waiting { .. } => "live-state waiting",
        Connection::SignedOut | Connection::Failed(_) => "live-state stopped",
    };
    view! {
        <section class="panel wide" aria-labelledby="timeline-title">
            <div class="panel-head">
                <h2 id="timeline-title">"Timeline"</h2>
                <span class=state_class id="timeline-state" role="status">{move || connection().label()}</span>
            </div>
            <ol class="timeline" id="timeline" aria-live="polite" aria-relevant="additions">
                {move || {
                    timeline.with(|t| t.events.clone()).into_iter().map(|e| {
                        let class = format!("event {}", e.kind.as_str());
                        view! {
                            <li class=class data-seq=e.seq data-kind=e.kind.as_str() data-status=e.status.as_str()>
                                <time datetime=e.at.to_rfc3339() title=format::datetime(e.at)>{format::clock(e.at)}</time>
                                <span class="event-kind">{format::event_label(e.kind)}</span>
                                <span class="event-message">{e.message.clone()}</span>
                                {e.actor.clone().map(|a| view! { <span class="muted small">{format!(" — {}", a.name)}</span> })}
                            </li>
                        }
                    }).collect_view()
                }}
            </ol>
            {move || timeline.with(|t| t.events.is_empty()).then_some(view! { <p class="muted">"No events yet."</p> })}
        </section>
    }
}
