//! Sending a create request at most once per intent, whatever the user's fingers do.
//!
//! Every attempt carries an `Idempotency-Key`. While one is in flight, further clicks send
//! nothing; a retry of the same body after an error reuses the key, so the API answers with the
//! release the first attempt may already have created; a changed body gets a new key (the API
//! refuses a key reused for a different request); a success starts afresh.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceGuard<B> {
    key: String,
    /// The body the key was last sent with.
    sent: Option<B>,
    in_flight: bool,
}

impl<B: Clone + PartialEq> OnceGuard<B> {
    pub fn new(key: String) -> Self {
        Self {
            key,
            sent: None,
            in_flight: false,
        }
    }

    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// The key to send `body` with, or `None` while an attempt is in flight.
    pub fn begin(&mut self, body: &B, fresh_key: impl FnOnce() -> String) -> Option<String> {
        if self.in_flight {
            return None;
        }
        if self.sent.as_ref().is_some_and(|sent| sent != body) {
            self.key = fresh_key();
        }
        self.sent = Some(body.clone());
        self.in_flight = true;
        Some(self.key.clone())
    }

    /// The attempt got an answer that leaves nothing created (or an unknown outcome): the
    /// same body may be sent again with the same key.
    pub fn failed(&mut self) {
        self.in_flight = false;
    }

    /// The request was carried out: the next one is a new intent.
    pub fn succeeded(&mut self, fresh_key: String) {
        self.in_flight = false;
        self.sent = None;
        self.key = fresh_key;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("k{n}")
        }
    }

    #[test]
    fn a_double_click_sends_once() {
        let mut next = keys();
        let mut guard = OnceGuard::new(next());
        assert_eq!(guard.begin(&"body", &mut next).as_deref(), Some("k1"));
        assert!(guard.in_flight());
        assert_eq!(guard.begin(&"body", &mut next), None);
        guard.succeeded(next());
        assert_eq!(guard.begin(&"body", &mut next).as_deref(), Some("k2"));
    }

    #[test]
    fn retries_reuse_the_key_until_the_body_changes() {
        let mut next = keys();
        let mut guard = OnceGuard::new(next());
        assert_eq!(guard.begin(&"a", &mut next).as_deref(), Some("k1"));
        guard.failed();
        assert_eq!(guard.begin(&"a", &mut next).as_deref(), Some("k1"));
        guard.failed();
        assert_eq!(guard.begin(&"b", &mut next).as_deref(), Some("k2"));
    }
}
