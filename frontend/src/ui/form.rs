//! The life of a submitted form, the same for every form: the app's own checks first (the
//! rules the API applies too), then the request; errors land next to their fields, the focus
//! moves to the first wrong one, and the button waits while the request is in flight.

use super::components::focus_first_error;
use crate::api::{self, ApiError};
use crate::state::form::FormErrors;
use crate::state::idempotency::OnceGuard;
use faro_types::{FieldError, Release};
use leptos::prelude::*;
use serde::Serialize;
use std::any::Any;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

#[derive(Debug, Clone, Copy)]
pub struct Form {
    /// The `<form>`'s id, and the prefix of its fields' ids.
    pub id: &'static str,
    /// The fields it shows, whose errors go next to them.
    fields: &'static [&'static str],
    pub errors: RwSignal<FormErrors>,
    pub busy: RwSignal<bool>,
}

impl Form {
    pub fn new(id: &'static str, fields: &'static [&'static str]) -> Self {
        Self {
            id,
            fields,
            errors: RwSignal::new(FormErrors::none()),
            busy: RwSignal::new(false),
        }
    }

    /// Shows `errors` (of our checks or of the API) and focuses the first wrong field.
    pub fn show(self, errors: FormErrors) {
        focus_first_error(self.id, &errors);
        self.errors.try_set(errors);
    }

    /// Submits: `checked` is the request's `validate()`; `request` runs only when it passed
    /// and no other submit of this form is in flight; `done` gets its answer.
    pub fn submit<T: 'static>(
        self,
        checked: Result<(), Vec<FieldError>>,
        request: impl IntoFuture<Output = Result<T, ApiError>> + 'static,
        done: impl FnOnce(T) + 'static,
    ) {
        // Only this boxing is compiled per form; the cycle itself once.
        let sent = Box::pin(async move { request.await.map(|answer| Box::new(answer) as Answer) });
        let done = Box::new(move |answer: Answer| {
            if let Ok(answer) = answer.downcast::<T>() {
                done(*answer);
            }
        });
        self.send(checked, sent, done);
    }

    fn send(
        self,
        checked: Result<(), Vec<FieldError>>,
        request: Pin<Box<dyn Future<Output = Result<Answer, ApiError>>>>,
        done: Box<dyn FnOnce(Answer)>,
    ) {
        if self.busy.get_untracked() {
            return;
        }
        let checked = FormErrors::from_validation(checked);
        if !checked.is_empty() {
            self.show(checked);
            return;
        }
        self.errors.set(FormErrors::none());
        self.busy.set(true);
        leptos::task::spawn_local(async move {
            match request.await {
                Ok(answer) => done(answer),
                Err(e) => self.show(FormErrors::from_api(&e, self.fields)),
            }
            self.busy.try_set(false);
        });
    }
}

/// An answer of any type, on its way from the request to `done`.
type Answer = Box<dyn Any>;

/// A request a new release comes of (a create, a promotion, a rollback), sent at most once per
/// intent: see [`OnceGuard`]. The intent is the request's JSON, so that one guard, not one per
/// request type, is compiled into the app.
#[derive(Debug, Clone, Copy)]
pub struct Once {
    guard: RwSignal<OnceGuard<String>>,
}

type Sent = Pin<Box<dyn Future<Output = Result<Release, ApiError>>>>;

impl Default for Once {
    fn default() -> Self {
        Self {
            guard: RwSignal::new(OnceGuard::new(api::random_key())),
        }
    }
}

impl Once {
    /// Whether an attempt is in flight.
    pub fn busy(self) -> Signal<bool> {
        let guard = self.guard;
        Signal::derive(move || guard.with(OnceGuard::in_flight))
    }

    /// Sends `body` through `request` (which gets the idempotency key) unless an attempt is in
    /// flight: then `false`, and nothing is sent. `answer` gets the outcome.
    pub fn send<Fut>(
        self,
        body: &impl Serialize,
        request: impl FnOnce(String) -> Fut + 'static,
        answer: impl FnOnce(Result<Release, ApiError>) + 'static,
    ) -> bool
    where
        Fut: Future<Output = Result<Release, ApiError>> + 'static,
    {
        // Our request types always serialize.
        let intent = serde_json::to_string(body).unwrap_or_default();
        self.send_boxed(
            intent,
            Box::new(move |key| Box::pin(request(key))),
            Box::new(answer),
        )
    }

    fn send_boxed(
        self,
        intent: String,
        request: Box<dyn FnOnce(String) -> Sent>,
        answer: Box<dyn FnOnce(Result<Release, ApiError>)>,
    ) -> bool {
        let mut key = None;
        self.guard
            .update(|g| key = g.begin(&intent, api::random_key));
        let Some(key) = key else {
            return false;
        };
        let guard = self.guard;
        leptos::task::spawn_local(async move {
            let result = request(key).await;
            match &result {
                Ok(_) => guard.try_update(|g| g.succeeded(api::random_key())),
                Err(_) => guard.try_update(OnceGuard::failed),
            };
            answer(result);
        });
        true
    }
}
