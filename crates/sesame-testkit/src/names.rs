//! Names no other test uses, so tests can share one server or database and run in parallel;
//! and the password of every test account.

use std::sync::atomic::{AtomicU64, Ordering};

/// The password test accounts get: long and uncommon enough for Sesame's policy.
pub const PASSWORD: &str = "correct horse battery staple";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `prefix`, a per-process counter and 8 random hex digits: unique across the tests of one
/// process and across processes sharing a database, and a valid username and email local part
/// when `prefix` is one.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{n}{}", &random[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differ_and_keep_their_prefix() {
        let (a, b) = (unique("user"), unique("user"));
        assert_ne!(a, b);
        assert!(a.starts_with("user") && b.starts_with("user"));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
