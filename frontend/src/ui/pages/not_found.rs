use crate::ui::components::set_title;
use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    set_title("Not found");
    view! {
        <section class="panel">
            <h1>"Nothing here"</h1>
            <p>"This address leads nowhere in Faro. It may have been mistyped, or what it showed was deleted."</p>
            <p><a href="/">"Go to the dashboard"</a></p>
        </section>
    }
}
