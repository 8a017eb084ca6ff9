//! Which account an upstream sign-in is: never decided by an email alone.
//!
//! 1. The identity (provider, subject) is linked: that account.
//! 2. Linking from `/account/security`: the signed-in account gets the identity (unless another
//!    account has it).
//! 3. An account has the same email: linked automatically only when the provider says the email
//!    is verified **and** the account's email is verified; otherwise the person signs in there
//!    and links from `/account/security` (`UpstreamLinkRequired`). Registering someone's email
//!    at a provider takes over nothing.
//! 4. Nobody: a new account (when sign-up is on for the provider and for Sesame, and the
//!    provider verified the email — else `UpstreamEmailUnverified`: no pre-hijacking), the email
//!    verified, no password (until a reset sets one), and the roles
//!    of the provider's rules.

use uuid::Uuid;

use super::{Person, Upstream, UpstreamProvider, UpstreamSignIn};
use crate::audit::AuditEvent;
use crate::domain::{Email, Role};
use crate::error::CoreError;
use crate::sessions::ClientInfo;
use crate::store::{
    Constraint, IdentityRecord, NO_PASSWORD_HASH, NewUser, StoreError, Unlink, UpstreamLogin,
    UserRecord,
};

impl Upstream {
    pub(crate) async fn settle(
        &self,
        p: &UpstreamProvider,
        person: Person,
        login: UpstreamLogin,
        client: &ClientInfo,
    ) -> Result<UpstreamSignIn, CoreError> {
        let existing = self.store.find_identity(&p.id, &person.subject).await?;
        let done = |user: UserRecord, linked: bool| UpstreamSignIn {
            user,
            provider: p.id.clone(),
            return_to: login.return_to.clone(),
            linked,
        };
        if let Some(account) = login.link_user_id {
            return match existing {
                Some(i) if i.user_id == account => Ok(done(self.user(account).await?, true)),
                Some(_) => Err(CoreError::IdentityTaken),
                None => {
                    let user = self.user(account).await?;
                    self.link(p, &person, &user, "account", client).await?;
                    Ok(done(user, true))
                }
            };
        }
        if let Some(i) = existing {
            return Ok(done(self.user(i.user_id).await?, false));
        }
        let email = person
            .email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(|_| {
                CoreError::UpstreamRefused("the provider's email does not parse".into())
            })?;
        if let Some(email) = &email
            && let Some(account) = self.store.find_user_by_login(&email.canonical()).await?
        {
            if person.email_verified && account.email_verified {
                self.link(p, &person, &account, "verified_email", client)
                    .await?;
                return Ok(done(account, false));
            }
            return Err(CoreError::UpstreamLinkRequired);
        }
        if !p.signup || !self.signup_enabled {
            return Err(CoreError::SignupDisabled);
        }
        let Some(email) = email else {
            return Err(CoreError::UpstreamRefused(
                "the provider gave no email to make an account with".into(),
            ));
        };
        // No account from an address the provider did not verify: whoever registered someone
        // else's address there would hold an account under it here, and keep it (through the
        // linked identity) even after the owner resets its password ("pre-hijacking").
        if !person.email_verified {
            return Err(CoreError::UpstreamEmailUnverified);
        }
        let user = self.create(p, &person, &email, client).await?;
        Ok(done(user, false))
    }

    async fn user(&self, id: Uuid) -> Result<UserRecord, CoreError> {
        let user = self
            .store
            .get_user(id)
            .await?
            .ok_or_else(|| CoreError::UpstreamRefused("the linked account is gone".into()))?;
        if user.disabled {
            return Err(CoreError::AccountDisabled);
        }
        Ok(user)
    }

    fn identity(&self, p: &UpstreamProvider, person: &Person, user_id: Uuid) -> IdentityRecord {
        IdentityRecord {
            id: Uuid::now_v7(),
            user_id,
            provider: p.id.clone(),
            subject: person.subject.clone(),
            email: person.email.clone(),
            linked_at: self.now(),
        }
    }

    async fn link(
        &self,
        p: &UpstreamProvider,
        person: &Person,
        user: &UserRecord,
        via: &str,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let entry = self.audit.entry(
            AuditEvent::IdentityLinked,
            Some(user.id),
            client,
            serde_json::json!({"provider": p.id, "via": via}),
        );
        if !self
            .store
            .link_identity(&self.identity(p, person, user.id), &[entry])
            .await?
        {
            // Linked (to someone) by a sign-in that raced this one.
            return Err(CoreError::IdentityTaken);
        }
        Ok(())
    }

    async fn create(
        &self,
        p: &UpstreamProvider,
        person: &Person,
        email: &Email,
        client: &ClientInfo,
    ) -> Result<UserRecord, CoreError> {
        let mut roles = vec![Role::customer().as_str().to_string()];
        for rule in &p.roles {
            if claim_matches(&person.claims, &rule.claim, &rule.value) {
                roles.push(rule.role.clone());
            }
        }
        roles.sort();
        roles.dedup();
        let user = NewUser {
            id: Uuid::now_v7(),
            email: email.as_str().to_string(),
            email_canonical: email.canonical(),
            username: None,
            username_canonical: None,
            password_hash: NO_PASSWORD_HASH.to_string(),
            roles,
            now: self.now(),
        };
        let audit = [
            self.audit.entry(
                AuditEvent::Register,
                Some(user.id),
                client,
                serde_json::json!({"via": "upstream", "provider": p.id}),
            ),
            self.audit.entry(
                AuditEvent::IdentityLinked,
                Some(user.id),
                client,
                serde_json::json!({"provider": p.id, "via": "signup"}),
            ),
        ];
        match self
            .store
            .create_user_with_identity(
                &user,
                person.email_verified,
                &self.identity(p, person, user.id),
                &audit,
            )
            .await
        {
            Ok(u) => Ok(u),
            // An account with this email appeared meanwhile: it is not joined by itself.
            Err(StoreError::Conflict(Constraint::Email)) => Err(CoreError::UpstreamLinkRequired),
            Err(StoreError::Conflict(Constraint::Identity)) => Err(CoreError::IdentityTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// The user's linked identities, oldest first.
    pub async fn identities(&self, user_id: Uuid) -> Result<Vec<IdentityRecord>, CoreError> {
        Ok(self.store.list_identities(user_id).await?)
    }

    /// Unlinks an identity of the user. `NotFound` for none of theirs; `LastSignInMethod` when
    /// it is the account's only way in (no password, no passkey, no other identity).
    pub async fn unlink(
        &self,
        user_id: Uuid,
        id: Uuid,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let provider = self
            .store
            .list_identities(user_id)
            .await?
            .into_iter()
            .find(|i| i.id == id)
            .map(|i| i.provider)
            .ok_or(CoreError::NotFound)?;
        let entry = self.audit.entry(
            AuditEvent::IdentityUnlinked,
            Some(user_id),
            client,
            serde_json::json!({"provider": provider, "identity_id": id}),
        );
        match self.store.unlink_identity(user_id, id, &[entry]).await? {
            Unlink::Unlinked => Ok(()),
            Unlink::NotFound => Err(CoreError::NotFound),
            Unlink::LastWayIn => Err(CoreError::LastSignInMethod),
        }
    }
}

/// Whether `claim` of `claims` is `value`, or a list containing it (groups, roles).
fn claim_matches(claims: &serde_json::Value, claim: &str, value: &str) -> bool {
    match claims.get(claim) {
        Some(serde_json::Value::String(s)) => s == value,
        Some(serde_json::Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(value)),
        Some(serde_json::Value::Bool(b)) => value == if *b { "true" } else { "false" },
        Some(serde_json::Value::Number(n)) => n.to_string() == value,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::claim_matches;

    #[test]
    fn role_rules_match_a_value_or_a_member_of_a_list() {
        let c = serde_json::json!({"groups": ["staff", "ops"], "dept": "it", "admin": true});
        assert!(claim_matches(&c, "groups", "ops"));
        assert!(!claim_matches(&c, "groups", "op"));
        assert!(claim_matches(&c, "dept", "it"));
        assert!(claim_matches(&c, "admin", "true"));
        assert!(!claim_matches(&c, "missing", "x"));
    }
}
