//! The claims of a Sesame access token (RFC 9068 profile plus Sesame's own `sid` and `roles`).

use serde::{Deserialize, Serialize};

/// `aud` may be one string or a list (RFC 7519 §4.1.3); Sesame writes a string when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn from_list(mut list: Vec<String>) -> Self {
        if list.len() == 1 {
            Audience::One(list.remove(0))
        } else {
            Audience::Many(list)
        }
    }

    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::One(a) => a == aud,
            Audience::Many(list) => list.iter().any(|a| a == aud),
        }
    }

    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Audience::One(a) => vec![a.clone()],
            Audience::Many(list) => list.clone(),
        }
    }
}

/// An access token's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user id, or for a service client its client id.
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    /// Unique per token; what a deny-list names.
    pub jti: String,
    pub client_id: String,
    /// The session (login) this token belongs to; absent on service-client tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// RFC 8693 actor: the client that obtained this token on the user's behalf by exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
    /// Where the token's revocation is published (IETF Token Status List): absent on tokens
    /// issued before Sesame published status lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TokenStatus>,
    /// How the user signed in (RFC 8176 values: `pwd`, `otp`, `mfa`, ...): absent on service
    /// tokens and on tokens issued before Sesame recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// The assurance level of that sign-in: `aal1` (one factor) or `aal2` (two factors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

/// The `status` claim of a token (draft-ietf-oauth-status-list §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenStatus {
    pub status_list: StatusListRef,
}

/// A token's entry in a status list: bit `idx` of the list at `uri` (1 = revoked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusListRef {
    pub idx: u64,
    pub uri: String,
}

impl Claims {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the sign-in behind this token reached at least `acr` (`aal1` < `aal2` < `aal3`).
    /// A token without `acr` counts as `aal1` when it is a user's (`sid`), and as nothing when
    /// it is a service's.
    pub fn meets_acr(&self, acr: &str) -> bool {
        let level = |a: &str| match a {
            "aal1" => Some(1),
            "aal2" => Some(2),
            "aal3" => Some(3),
            _ => None,
        };
        let Some(wanted) = level(acr) else {
            return false;
        };
        let have = match self.acr.as_deref() {
            Some(a) => level(a).unwrap_or(0),
            None if self.sid.is_some() => 1,
            None => 0,
        };
        have >= wanted
    }
}
