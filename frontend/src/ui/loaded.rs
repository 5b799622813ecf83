//! A value a view fetches from the API: requested when made, again when a signal its request
//! reads changes or on [`Loaded::refetch`]; the last value stays shown while the next loads.
//!
//! Leptos's `LocalResource` does the same, but compiles its async machinery once per loaded
//! type (about 40 KB of the wasm for the app's ten). Here the machinery is compiled once, for
//! a type-erased value, and only boxing and downcasting are per type.

use crate::api::ApiError;
use leptos::prelude::*;
use std::any::Any;
use std::cell::Cell;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;

type Erased = Rc<dyn Any>;
type Pending = Pin<Box<dyn Future<Output = Result<Erased, ApiError>>>>;

/// A loaded value of type `T` (the type is only on the surface: see the module's doc).
pub struct Loaded<T> {
    core: Core,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Loaded<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Loaded<T> {}

impl<T> std::fmt::Debug for Loaded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Loaded")
    }
}

impl<T: Clone + 'static> Loaded<T> {
    /// Loads what `request` answers.
    pub fn new<Fut>(request: impl Fn() -> Fut + 'static) -> Self
    where
        Fut: IntoFuture<Output = Result<T, ApiError>> + 'static,
    {
        Self::when(move || Some(request()))
    }

    /// Loads what `request` answers once it can ask: `None` means it waits for something
    /// else first (another load it reads), and shows as loading meanwhile.
    pub fn when<Fut>(request: impl Fn() -> Option<Fut> + 'static) -> Self
    where
        Fut: IntoFuture<Output = Result<T, ApiError>> + 'static,
    {
        let erased = move || {
            request().map(|future| {
                Box::pin(async move { future.await.map(|value| Rc::new(value) as Erased) })
                    as Pending
            })
        };
        Self {
            core: Core::start(Box::new(erased)),
            _type: PhantomData,
        }
    }

    /// `None` until the first answer; then the latest.
    pub fn get(self) -> Option<Result<T, ApiError>> {
        self.core.value.get().map(|answer| {
            answer.map(|value| {
                value
                    .downcast_ref::<T>()
                    .cloned()
                    .expect("a Loaded<T> only ever holds a T")
            })
        })
    }

    /// Requests it again (after a change this page made).
    pub fn refetch(self) {
        self.core.reload.notify();
    }
}

#[derive(Clone, Copy)]
struct Core {
    value: RwSignal<Option<Result<Erased, ApiError>>, LocalStorage>,
    reload: Trigger,
}

impl Core {
    fn start(request: Box<dyn Fn() -> Option<Pending>>) -> Self {
        let core = Self {
            value: RwSignal::new_local(None),
            reload: Trigger::new(),
        };
        // Only the latest request may answer: an older one still in flight is stale.
        let latest = Rc::new(Cell::new(0_u64));
        Effect::new(move || {
            core.reload.track();
            // Every run supersedes the requests before it, waiting ones included: an answer
            // to an older request must not end the wait for what this run depends on.
            let this = latest.get() + 1;
            latest.set(this);
            let Some(pending) = request() else {
                core.value.set(None);
                return;
            };
            let latest = latest.clone();
            leptos::task::spawn_local(async move {
                let answer = pending.await;
                if latest.get() == this {
                    // The view may be gone by now: then nobody waits for the answer.
                    core.value.try_set(Some(answer));
                }
            });
        });
        core
    }
}
