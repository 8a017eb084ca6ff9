//! Where to go after signing in: only ever a path on Sesame's own origin.
//!
//! A `return_to` that could name another site would make the sign-in page an open redirect
//! (a phishing link through Sesame's trusted address). Browsers read a `Location` of `//host`
//! or `/\host` as another host, and some strip tabs and newlines from URLs before reading them,
//! so the rule is strict: one leading `/`, not followed by `/` or `\`, no `\` anywhere, no
//! control characters or spaces. Anything else is dropped for the default, `/account`.

/// A same-origin path; its only constructor checks that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnTo(String);

/// Long enough for any of our paths with a query; a longer one is not ours. The longest is an
/// authorization request on its way back from sign-in: `state` and `nonce` of up to 1024
/// characters and a redirect URI of up to 2000, each up to three times as long encoded.
const MAX_LEN: usize = 16 * 1024;

impl ReturnTo {
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() <= MAX_LEN
            && raw.starts_with('/')
            && !raw[1..].starts_with(['/', '\\'])
            && !raw.contains('\\')
            && !raw.chars().any(|c| c.is_control() || c.is_whitespace());
        ok.then(|| ReturnTo(raw.to_string()))
    }

    /// Where to go when no (acceptable) `return_to` was given.
    pub fn account() -> Self {
        ReturnTo("/account".to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_paths_are_kept() {
        for p in [
            "/account",
            "/account/sessions?x=1",
            "/oauth/authorize?client_id=a&state=%2F%2F",
        ] {
            assert_eq!(ReturnTo::parse(p).unwrap().as_str(), p);
        }
    }

    #[test]
    fn anything_that_can_leave_the_origin_is_refused() {
        for p in [
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "evil.example",
            "",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "/account\\..\\",
        ] {
            assert!(ReturnTo::parse(p).is_none(), "{p:?} must be refused");
        }
        assert!(ReturnTo::parse(&format!("/{}", "a".repeat(MAX_LEN))).is_none());
    }
}
