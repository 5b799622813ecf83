use crate::ui::components::set_title;
use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    set_title("Not found");
    view! {
        <Missing title="Nothing here"
            why="This address leads nowhere in Faro. It may have been mistyped, or what it showed was deleted."
            link=("/", "Go to the dashboard")/>
    }
}

/// What a [`Fetched`](crate::ui::fetched::Fetched) shows when the API answers 404: [`Missing`]
/// with these words.
pub fn missing(
    title: &'static str,
    why: &'static str,
    link: (&'static str, &'static str),
) -> ViewFn {
    ViewFn::from(move || view! { <Missing title=title why=why link=link/> })
}

/// What a page shows for something that is not there (or not the caller's to see), and where
/// to go instead.
#[component]
pub fn Missing(
    title: &'static str,
    why: &'static str,
    /// (address, text) of the way out.
    #[prop(optional)]
    link: Option<(&'static str, &'static str)>,
) -> impl IntoView {
    view! {
        <section class="panel">
            <h1>{title}</h1>
            <p>{why}</p>
            {link.map(|(href, text)| view! { <p><a href=href>{text}</a></p> })}
        </section>
    }
}
