//! Places in something a task holds for a while, bounded per user and per task: live
//! timelines (`FARO_EVENTS_STREAMS_PER_USER`, `FARO_EVENTS_STREAMS_PER_TASK`) and AI calls
//! (`FARO_AI_CONCURRENT_PER_USER`, `FARO_AI_MAX_CONCURRENT`). Past the user's bound the answer
//! is 429, so one user cannot take everyone's share; past the task's, 503, so the task's memory
//! stays bounded. A [`Slot`] is held for as long as the stream or call lasts. The count is in
//! memory and per task: what a stream or call costs (memory, a timer, a connection) is that
//! task's.

use crate::error::ApiError;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

#[derive(Debug)]
pub struct Slots {
    /// What the places are for, as a refusal names it ("Live timelines").
    what: &'static str,
    per_user: usize,
    per_task: usize,
    /// What a refused caller is told to wait: until one of the places is likely given back.
    retry_after: Duration,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    /// Users with at least one stream open.
    by_user: HashMap<u64, usize>,
}

/// One stream's or call's place; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    user_id: u64,
}

impl Slots {
    pub fn new(
        what: &'static str,
        per_user: usize,
        per_task: usize,
        retry_after: Duration,
    ) -> Self {
        Self {
            what,
            per_user,
            per_task,
            retry_after,
            held: Mutex::new(Held::default()),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for one more of `user_id`'s streams or calls, or the refusal to answer.
    pub fn take(self: &Arc<Self>, user_id: u64) -> Result<Slot, ApiError> {
        let mut held = self.held();
        if held.by_user.get(&user_id).copied().unwrap_or(0) >= self.per_user {
            return Err(ApiError::TooManyRequests {
                retry_after: self.retry_after,
            });
        }
        if held.total >= self.per_task {
            return Err(ApiError::Busy {
                what: self.what,
                retry_after: self.retry_after,
            });
        }
        held.total += 1;
        *held.by_user.entry(user_id).or_default() += 1;
        Ok(Slot {
            slots: self.clone(),
            user_id,
        })
    }

    /// Places held on this task.
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
        let slots = Arc::new(Slots::new("Things", 2, 3, Duration::from_secs(1)));
        let a1 = slots.take(1).expect("first");
        let _a2 = slots.take(1).expect("second");
        assert!(matches!(
            slots.take(1),
            Err(ApiError::TooManyRequests { .. })
        ));
        let _b1 = slots.take(2).expect("another user");
        assert!(matches!(slots.take(3), Err(ApiError::Busy { .. })));
        drop(a1);
        assert_eq!(slots.open(), 2);
        let _a3 = slots.take(1).expect("a slot came back");
        assert_eq!(slots.held().by_user.len(), 2);
    }
}
