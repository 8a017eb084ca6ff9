//! Passkeys: WebAuthn credentials (webauthn-rs, the relying-party library Kanidm and Rauthy
//! use), added by a signed-in user and used to sign in — alone (a user-verified passkey is two
//! factors: the device and its PIN or biometric) or as the second step after a password.
//!
//! Every ceremony (registration, sign-in) is kept in the database by the hash of the
//! `challenge_id` handed out, for five minutes, and taken once by its finish whatever the
//! outcome: any replica finishes what another started, and no challenge is answered twice.
//! What webauthn-rs checks on a finish — the signature, the origin, the RP id hash, user
//! verification, the counter — is not repeated here; what it leaves to us is: one account per
//! credential id, the credential belonging to the user the ceremony was for, and the counter
//! moving forward decided by the database (two replicas racing with a cloned authenticator).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{
    CredentialID, DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn,
    WebauthnBuilder,
};

use crate::error::CoreError;
use crate::mfa::MfaToken;
use crate::settings::Settings;
use crate::store::{Ceremony, CeremonyKind, PasskeyRecord, PasskeyUse};

/// How long a started ceremony may take (the browser's own timeout is the same).
pub const CEREMONY_TTL_SECS: i64 = 5 * 60;
/// Passkeys one account may hold: more than anyone uses, few enough that an account cannot
/// fill the table (each costs only an authenticator's signature to add).
pub const MAX_PER_USER: usize = 32;
/// The longest passkey name, in characters.
pub const NAME_MAX_CHARS: usize = 64;

/// A started ceremony, for the browser: the id to send back with the answer, and the
/// `PublicKeyCredentialCreationOptions` / `…RequestOptions` (WebAuthn's JSON form, binary as
/// base64url) to hand to `navigator.credentials`. `Debug` hides the id.
#[derive(Clone)]
pub struct PasskeyChallenge {
    pub challenge_id: String,
    pub options: serde_json::Value,
    /// A username-less sign-in: the page may offer it in the browser's autofill
    /// (`mediation: "conditional"`).
    pub conditional: bool,
}

impl std::fmt::Debug for PasskeyChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyChallenge")
            .field("challenge_id", &"[REDACTED]")
            .field("conditional", &self.conditional)
            .finish_non_exhaustive()
    }
}

/// A passkey as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyInfo {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&PasskeyRecord> for PasskeyInfo {
    fn from(r: &PasskeyRecord) -> Self {
        PasskeyInfo {
            id: r.id,
            name: r.name.clone(),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// webauthn-rs's state of a ceremony, as stored.
#[derive(Serialize, Deserialize)]
enum State {
    Register(PasskeyRegistration),
    Login(PasskeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

/// A name as given, trimmed; `None` for a blank one. Too long or with control characters is a
/// validation error.
pub fn parse_name(raw: Option<&str>) -> Result<Option<String>, CoreError> {
    let Some(name) = raw.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(CoreError::field(
            "name",
            format!("at most {NAME_MAX_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(CoreError::field("name", "no control characters"));
    }
    Ok(Some(name.to_string()))
}

/// The relying party: webauthn-rs configured with the RP id and the origins allowed.
#[derive(Clone)]
pub(crate) struct RelyingParty {
    webauthn: Arc<Webauthn>,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("origins", &self.webauthn.get_allowed_origins())
            .finish()
    }
}

/// The RP id and origins of `settings`: `SESAME_WEBAUTHN_RP_ID` or the issuer's host, and
/// `SESAME_WEBAUTHN_ORIGINS` or the issuer's origin.
pub fn rp_id_and_origins(settings: &Settings) -> Result<(String, Vec<Url>), String> {
    let issuer = Url::parse(&settings.issuer).map_err(|e| format!("the issuer: {e}"))?;
    let rp_id = match &settings.webauthn_rp_id {
        Some(id) => id.clone(),
        None => issuer
            .host_str()
            .ok_or("the issuer has no host")?
            .to_string(),
    };
    let origins = if settings.webauthn_origins.is_empty() {
        vec![
            Url::parse(&issuer.origin().ascii_serialization())
                .map_err(|e| format!("the issuer's origin: {e}"))?,
        ]
    } else {
        settings
            .webauthn_origins
            .iter()
            .map(|o| Url::parse(o).map_err(|e| format!("{o}: {e}")))
            .collect::<Result<_, _>>()?
    };
    for origin in &origins {
        let fits = origin
            .domain()
            .is_some_and(|d| d == rp_id || d.ends_with(&format!(".{rp_id}")));
        if !fits {
            return Err(format!(
                "the origin {origin} is not on the RP id {rp_id} or a subdomain of it"
            ));
        }
    }
    Ok((rp_id, origins))
}

impl RelyingParty {
    /// The relying party of `settings`, or `None` when the RP id is left to default and the
    /// issuer's host is an IP address (no domain to bind passkeys to).
    pub(crate) fn for_settings(settings: &Settings) -> Result<Option<Self>, CoreError> {
        let ip_issuer = Url::parse(&settings.issuer)
            .ok()
            .is_some_and(|u| matches!(u.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))));
        if settings.webauthn_rp_id.is_none() && ip_issuer {
            tracing::warn!(
                issuer = %settings.issuer,
                "passkeys are off: the issuer is an IP address; set SESAME_WEBAUTHN_RP_ID to a domain"
            );
            return Ok(None);
        }
        Self::new(settings).map(Some)
    }

    pub(crate) fn new(settings: &Settings) -> Result<Self, CoreError> {
        let (rp_id, origins) = rp_id_and_origins(settings)
            .map_err(|e| CoreError::internal(format!("WebAuthn settings: {e}")))?;
        let Some((first, more)) = origins.split_first() else {
            return Err(CoreError::internal("WebAuthn settings: no origin"));
        };
        let mut builder = WebauthnBuilder::new(&rp_id, first)
            .map_err(|e| CoreError::internal_because("WebAuthn settings", e))?
            .rp_name(&settings.product_name)
            // On localhost (development, tests) the port is whatever the machine had free:
            // any port of an allowed origin's host is accepted. Elsewhere origins match exactly.
            .allow_any_port(rp_id == "localhost");
        for origin in more {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder
            .build()
            .map_err(|e| CoreError::internal_because("WebAuthn settings", e))?;
        Ok(RelyingParty {
            webauthn: Arc::new(webauthn),
        })
    }

    /// Starts adding a passkey for `user_id`, excluding the credentials they have (the
    /// authenticator then says it holds one already). Asks for a discoverable credential where
    /// the authenticator can make one, so that it also signs in without a username.
    pub(crate) fn start_registration(
        &self,
        user_id: Uuid,
        user_name: &str,
        display_name: &str,
        existing: &[PasskeyRecord],
    ) -> Result<(serde_json::Value, String), CoreError> {
        let exclude: Vec<CredentialID> = existing
            .iter()
            .map(|p| CredentialID::from(p.credential_id.clone()))
            .collect();
        let (ccr, state) = self
            .webauthn
            .start_passkey_registration(
                user_id,
                user_name,
                display_name,
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(|e| CoreError::internal_because("WebAuthn registration start", e))?;
        let mut options = serde_json::to_value(ccr.public_key).map_err(CoreError::internal)?;
        // webauthn-rs asks for a server-side credential ("discouraged"); "preferred" makes the
        // same passkey usable from the browser's autofill, without typing a username.
        options["authenticatorSelection"]["residentKey"] = "preferred".into();
        options["authenticatorSelection"]["requireResidentKey"] = false.into();
        Ok((options, store_state(&State::Register(state))?))
    }

    /// Finishes a registration: the new credential, or `PasskeyRejected`.
    pub(crate) fn finish_registration(
        &self,
        credential: &serde_json::Value,
        state: &str,
    ) -> Result<Passkey, CoreError> {
        let State::Register(state) = load_state(state)? else {
            return Err(CoreError::PasskeyRejected);
        };
        let credential: RegisterPublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| CoreError::PasskeyRejected)?;
        self.webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(|e| {
                tracing::info!(error = %e, "a passkey registration was refused");
                CoreError::PasskeyRejected
            })
    }

    /// Starts a sign-in with one of `passkeys` (of a named user, or the second step).
    pub(crate) fn start_login(
        &self,
        passkeys: &[PasskeyRecord],
    ) -> Result<(serde_json::Value, String), CoreError> {
        let keys = passkeys
            .iter()
            .map(credential_of)
            .collect::<Result<Vec<_>, _>>()?;
        let (rcr, state) = self
            .webauthn
            .start_passkey_authentication(&keys)
            .map_err(|e| CoreError::internal_because("WebAuthn sign-in start", e))?;
        let options = serde_json::to_value(rcr.public_key).map_err(CoreError::internal)?;
        Ok((options, store_state(&State::Login(state))?))
    }

    /// Starts a username-less sign-in: the authenticator offers the credentials it holds.
    pub(crate) fn start_discoverable(&self) -> Result<(serde_json::Value, String), CoreError> {
        let (rcr, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| CoreError::internal_because("WebAuthn sign-in start", e))?;
        let options = serde_json::to_value(rcr.public_key).map_err(CoreError::internal)?;
        Ok((options, store_state(&State::Discoverable(state))?))
    }

    /// Verifies an assertion of `passkey` against the ceremony's `state`: the passkey as
    /// updated (counter, backup flags) to record, or `PasskeyInvalid`.
    pub(crate) fn finish_login(
        &self,
        credential: &PublicKeyCredential,
        state: &str,
        passkey: &PasskeyRecord,
    ) -> Result<PasskeyUse, CoreError> {
        let mut key = credential_of(passkey)?;
        let result = match load_state(state)? {
            State::Login(state) => self
                .webauthn
                .finish_passkey_authentication(credential, &state),
            State::Discoverable(state) => self.webauthn.finish_discoverable_authentication(
                credential,
                state,
                &[DiscoverableKey::from(&key)],
            ),
            State::Register(_) => return Err(CoreError::PasskeyInvalid),
        }
        .map_err(|e| {
            tracing::info!(error = %e, passkey_id = %passkey.id, "a passkey assertion was refused");
            CoreError::PasskeyInvalid
        })?;
        if !result.user_verified() {
            // webauthn-rs asks for and checks user verification; a passkey without it would
            // be one factor, and is not accepted as a sign-in.
            return Err(CoreError::PasskeyInvalid);
        }
        key.update_credential(&result);
        Ok(PasskeyUse {
            id: passkey.id,
            credential: serde_json::to_string(&key).map_err(CoreError::internal)?,
            sign_count: result.counter(),
        })
    }
}

/// The credential an assertion names, parsed from the browser's JSON (`PasskeyInvalid` when
/// it is no assertion).
pub(crate) fn parse_assertion(raw: &serde_json::Value) -> Result<PublicKeyCredential, CoreError> {
    serde_json::from_value(raw.clone()).map_err(|_| CoreError::PasskeyInvalid)
}

/// A new passkey record for `user_id` from a finished registration.
pub(crate) fn new_record(
    user_id: Uuid,
    name: String,
    passkey: &Passkey,
    now: DateTime<Utc>,
) -> Result<PasskeyRecord, CoreError> {
    Ok(PasskeyRecord {
        id: Uuid::now_v7(),
        user_id,
        credential_id: passkey.cred_id().to_vec(),
        name,
        credential: serde_json::to_string(passkey).map_err(CoreError::internal)?,
        sign_count: 0,
        created_at: now,
        last_used_at: None,
    })
}

/// A fresh ceremony to store, and the `challenge_id` to hand out (only its hash is kept).
pub(crate) fn new_ceremony(
    kind: CeremonyKind,
    user_id: Option<Uuid>,
    mfa_hash: Option<Vec<u8>>,
    name: Option<String>,
    state: String,
    now: DateTime<Utc>,
) -> (Ceremony, String) {
    // The same 256-bit, hashed-at-rest shape as an `mfa_token`.
    let id = MfaToken::generate();
    (
        Ceremony {
            hash: id.hash(),
            kind,
            user_id,
            mfa_hash,
            name,
            state,
            created_at: now,
            expires_at: now + chrono::Duration::seconds(CEREMONY_TTL_SECS),
        },
        id.as_str().to_string(),
    )
}

/// The stored hash of a `challenge_id` as sent, or `None` for one of the wrong shape.
pub(crate) fn ceremony_hash(challenge_id: &str) -> Option<Vec<u8>> {
    MfaToken::parse(challenge_id).map(|t| t.hash())
}

fn credential_of(record: &PasskeyRecord) -> Result<Passkey, CoreError> {
    serde_json::from_str(&record.credential)
        .map_err(|e| CoreError::internal_because("a stored passkey does not parse", e))
}

fn store_state(state: &State) -> Result<String, CoreError> {
    serde_json::to_string(state).map_err(CoreError::internal)
}

fn load_state(raw: &str) -> Result<State, CoreError> {
    serde_json::from_str(raw)
        .map_err(|e| CoreError::internal_because("a stored WebAuthn ceremony does not parse", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(issuer: &str, rp: Option<&str>, origins: &[&str]) -> Settings {
        Settings {
            issuer: issuer.into(),
            webauthn_rp_id: rp.map(Into::into),
            webauthn_origins: origins.iter().map(|o| o.to_string()).collect(),
            ..Settings::default()
        }
    }

    #[test]
    fn the_rp_id_and_origin_default_to_the_issuers() {
        let (rp, origins) =
            rp_id_and_origins(&settings("https://id.example.com:8443/x", None, &[])).unwrap();
        assert_eq!(rp, "id.example.com");
        assert_eq!(origins[0].as_str(), "https://id.example.com:8443/");
    }

    #[test]
    fn origins_must_sit_on_the_rp_id() {
        let ok = settings(
            "https://id.example.com",
            Some("example.com"),
            &["https://id.example.com", "https://app.example.com"],
        );
        assert_eq!(rp_id_and_origins(&ok).unwrap().1.len(), 2);
        let bad = settings(
            "https://id.example.com",
            Some("example.com"),
            &["https://example.org"],
        );
        assert!(
            rp_id_and_origins(&bad)
                .unwrap_err()
                .contains("not on the RP id")
        );
        // A look-alike suffix is not a subdomain.
        let bad = settings(
            "https://id.example.com",
            Some("example.com"),
            &["https://badexample.com"],
        );
        assert!(rp_id_and_origins(&bad).is_err());
        assert!(RelyingParty::new(&ok).is_ok());
    }

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(parse_name(None).unwrap(), None);
        assert_eq!(parse_name(Some("  ")).unwrap(), None);
        assert_eq!(
            parse_name(Some(" Laptop ")).unwrap().as_deref(),
            Some("Laptop")
        );
        assert!(parse_name(Some(&"x".repeat(65))).is_err());
        assert!(parse_name(Some("a\u{0007}b")).is_err());
    }

    #[test]
    fn a_registration_asks_for_a_user_verified_discoverable_credential() {
        let rp = RelyingParty::new(&Settings::default()).unwrap();
        let (options, state) = rp
            .start_registration(Uuid::now_v7(), "ann@example.com", "Ann", &[])
            .unwrap();
        assert_eq!(
            options["authenticatorSelection"]["residentKey"],
            "preferred"
        );
        assert_eq!(
            options["authenticatorSelection"]["userVerification"],
            "required"
        );
        assert_eq!(options["rp"]["id"], "localhost");
        // The stored state finishes nothing but a registration.
        assert!(matches!(load_state(&state), Ok(State::Register(_))));
        let garbage = serde_json::json!({"id": "x"});
        assert!(matches!(
            rp.finish_registration(&garbage, &state),
            Err(CoreError::PasskeyRejected)
        ));
    }
}
