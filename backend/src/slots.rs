//! How many live timelines this task holds open: at most `FARO_EVENTS_STREAMS_PER_USER` for one
//! user (429 beyond, so one user cannot take the task's share of everyone) and
//! `FARO_EVENTS_STREAMS_PER_TASK` in all (503 beyond, so the task's memory stays bounded). A
//! stream holds its [`Slot`] for as long as it is open. The count is in memory and per task:
//! a stream lives on one task, and what it costs (memory, a timer, a session check) is that
//! task's.

use crate::error::ApiError;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

/// What a refused stream is told to wait: another of its streams must close first, which a
/// page does when the user leaves it.
const RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Slots {
    per_user: usize,
    per_task: usize,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    /// Users with at least one stream open.
    by_user: HashMap<u64, usize>,
}

/// One open stream's place; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    user_id: u64,
}

impl Slots {
    pub fn new(per_user: usize, per_task: usize) -> Self {
        Self {
            per_user,
            per_task,
            held: Mutex::new(Held::default()),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for one more stream of `user_id`, or the refusal to answer.
    pub fn take(self: &Arc<Self>, user_id: u64) -> Result<Slot, ApiError> {
        let mut held = self.held();
        if held.by_user.get(&user_id).copied().unwrap_or(0) >= self.per_user {
            return Err(ApiError::TooManyRequests {
                retry_after: RETRY_AFTER,
            });
        }
        if held.total >= self.per_task {
            return Err(ApiError::Unavailable {
                what: "Live timelines",
                detail: format!("this task holds its {} streams", self.per_task),
                retry_after: RETRY_AFTER,
            });
        }
        held.total += 1;
        *held.by_user.entry(user_id).or_default() += 1;
        Ok(Slot {
            slots: self.clone(),
            user_id,
        })
    }

    /// Streams open on this task.
    pub fn open(&self) -> usize {
        self.held().total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held();
        held.total -= 1;
        if let Some(count) = held.by_user.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                held.by_user.remove(&self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_capped_before_the_task_and_slots_come_back() {
        let slots = Arc::new(Slots::new(2, 3));
        let a1 = slots.take(1).expect("first");
        let _a2 = slots.take(1).expect("second");
        assert!(matches!(
            slots.take(1),
            Err(ApiError::TooManyRequests { .. })
        ));
        let _b1 = slots.take(2).expect("another user");
        assert!(matches!(slots.take(3), Err(ApiError::Unavailable { .. })));
        drop(a1);
        assert_eq!(slots.open(), 2);
        let _a3 = slots.take(1).expect("a slot came back");
        assert_eq!(slots.held().by_user.len(), 2);
    }
}
