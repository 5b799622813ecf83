//! Releases as a table: the dashboard's recent ones and a project's list.

use crate::state::format;
use crate::ui::components::{StatusBadge, Time};
use faro_types::Release;
use leptos::prelude::*;

#[component]
pub fn ReleaseTable(
    releases: Vec<Release>,
    /// Whether to show the project column (the dashboard spans projects).
    #[prop(optional)]
    show_project: bool,
    caption: &'static str,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="releases">
                <caption class="visually-hidden">{caption}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Release"</th>
                        <th scope="col">"Status"</th>
                        {show_project.then_some(view! { <th scope="col">"Project"</th> })}
                        <th scope="col">"Environment"</th>
                        <th scope="col">"Branch · commit"</th>
                        <th scope="col">"Requested"</th>
                    </tr>
                </thead>
                <tbody>
                    {releases
                        .into_iter()
                        .map(|r| {
                            let status = r.status;
                            view! {
                                <tr data-release=r.id>
                                    <td><a href=format!("/releases/{}", r.id)>{format!("#{}", r.id)}</a>
                                        {r.tag.clone().map(|t| view! { " " <span class="tag">{t}</span> })}</td>
                                    <td><StatusBadge status=Signal::derive(move || status)/></td>
                                    {show_project.then(|| view! {
                                        <td><a href=format!("/projects/{}", r.project)>{r.project.clone()}</a></td>
                                    })}
                                    <td>{r.environment.clone()}{r.production.then_some(view! { " " <span class="tag">"prod"</span> })}</td>
                                    <td><span class="branch">{r.branch.clone()}</span>" · "<code>{format::short_sha(r.commit_sha.as_deref()).to_owned()}</code></td>
                                    <td><Time at=r.requested_at/>" by "{r.requested_by.name.clone()}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
