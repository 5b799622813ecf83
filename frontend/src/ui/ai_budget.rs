//! The organization's DeepSeek tokens today against its daily budget, shown where the AI
//! features are and on the organization's page.

use crate::api;
use crate::state::format;
use faro_types::AiBudget;
use leptos::prelude::*;

/// Counts the AI calls a page made, so its budget line reloads after each.
#[derive(Debug, Clone, Copy)]
pub struct AiCalls(RwSignal<u32>);

impl AiCalls {
    pub fn provide() -> Self {
        let calls = Self(RwSignal::new(0));
        provide_context(calls);
        calls
    }

    /// The page's counter, if it shows a budget.
    pub fn of_page() -> Option<Self> {
        use_context::<Self>()
    }

    pub fn made(self) {
        self.0.try_update(|n| *n += 1);
    }
}

#[component]
pub fn AiBudgetLine(#[prop(into)] org: Signal<Option<String>>) -> impl IntoView {
    let budget = RwSignal::new(None::<AiBudget>);
    let calls = AiCalls::of_page();
    Effect::new(move || {
        if let Some(calls) = calls {
            calls.0.track();
        }
        let Some(org) = org.get() else { return };
        leptos::task::spawn_local(async move {
            if let Ok(today) = api::ai_usage(&org).await {
                budget.try_set(Some(today));
            }
        });
    });
    move || {
        budget.get().map(|b| {
            let spent = b.remaining() == 0;
            let class = if spent { "ai-budget spent" } else { "ai-budget muted small" };
            view! {
                <p class=class id="ai-budget" data-used=b.used_tokens data-limit=b.limit_tokens>
                    "AI today: " {format::tokens_of(b.used_tokens, b.limit_tokens)}
                    {if spent { " — the organization's budget is spent until midnight UTC." } else { " (the budget restarts at midnight UTC)." }}
                </p>
            }
        })
    }
}
