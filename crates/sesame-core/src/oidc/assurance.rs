//! `acr_values` at the authorization endpoint (issue #19): an app asking for `aal2` gets a
//! person whose browser session is `aal1` sent through the second step of a sign-in — the very
//! challenge the sign-in page's `/signin/mfa` finishes, under the same lockout — before it gets
//! a code. A person with no second factor enrolled goes on at `aal1`: `acr_values` is a
//! voluntary request (OpenID Connect Core §3.1.2.1), and the ID token's `acr` tells the app
//! what it got (docs/decisions.md).

use crate::error::CoreError;
use crate::mfa::MfaToken;
use crate::sessions::BrowserSession;
use crate::store::{Assurance, ChallengeKind};

use super::{AuthorizeRequest, Oidc};

/// Whether the session's level `have` misses what the app asked for: it named `aal2` and not
/// `have`. Values are in order of preference, so a list naming `aal1` at all accepts an `aal1`
/// session; a level Sesame cannot reach (`aal3`, another scheme's URN) asks for nothing.
fn wants_second_factor(acr_values: &[String], have: &str) -> bool {
    acr_values.iter().any(|v| v == Assurance::AAL2) && !acr_values.iter().any(|v| v == have)
}

impl Oidc {
    /// Whether this browser must take a second step before a code is issued: the app asked for
    /// more than its session has, and the person has a factor to give it.
    pub(super) async fn step_up_needed(
        &self,
        req: &AuthorizeRequest,
        session: &BrowserSession,
    ) -> Result<bool, CoreError> {
        if !wants_second_factor(&req.acr_values, &session.assurance.acr) {
            return Ok(false);
        }
        let factors = self.store.mfa_factors(session.user.id).await?;
        Ok(factors.has_second_factor())
    }

    /// The `mfa_token` of the second step this browser must take first (see
    /// [`Oidc::step_up_needed`]), or `None`.
    pub(super) async fn step_up(
        &self,
        req: &AuthorizeRequest,
        session: &BrowserSession,
    ) -> Result<Option<MfaToken>, CoreError> {
        if !self.step_up_needed(req, session).await? {
            return Ok(None);
        }
        // A browser challenge, like the one a right password opens: `/signin/mfa` finishes it
        // with a new browser session (at `aal2`) that replaces this one.
        let challenge = self
            .sessions
            .challenge(&session.user, ChallengeKind::Browser, Vec::new())
            .await?;
        Ok(Some(challenge.token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn only_a_request_for_aal2_that_the_session_misses_asks_for_a_second_factor() {
        assert!(wants_second_factor(&values("aal2"), "aal1"));
        assert!(wants_second_factor(&values("aal2 aal3"), "aal1"));
        assert!(!wants_second_factor(&values("aal2"), "aal2"));
        assert!(
            !wants_second_factor(&values("aal2 aal1"), "aal1"),
            "aal1 is acceptable to the app"
        );
        assert!(!wants_second_factor(&values(""), "aal1"));
        assert!(
            !wants_second_factor(&values("aal3"), "aal1"),
            "out of reach"
        );
        assert!(!wants_second_factor(&values("urn:example:loa:2"), "aal1"));
    }
}
