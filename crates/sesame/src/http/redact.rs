//! `Debug` for request types that carry credentials — refresh and access tokens, emailed reset
//! and verification tokens, OAuth client secrets: a field shows whether it was sent, never its
//! value, so a `{:?}` in a log line, a span or a panic message cannot leak one (zero2prod's
//! rule). Passwords are `SecretString`s already; they are shown the same way here.

use std::fmt;

/// An optional credential in `Debug`: `Some([REDACTED])` or `None`.
pub(crate) struct Redacted<'a, T>(pub &'a Option<T>);

impl<T> fmt::Debug for Redacted<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Some([REDACTED])"),
            None => f.write_str("None"),
        }
    }
}

/// OAuth form parameters whose values `Debug` may show: names and hints, never a secret,
/// token, code or verifier. Anything not listed (including parameters added later) is hidden.
pub(crate) const FORM_SHOWN: &[&str] = &[
    "grant_type",
    "client_id",
    "scope",
    "token_type_hint",
    "subject_token_type",
    "requested_token_type",
];

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};
    use serde_json::json;

    use super::super::auth::{
        LoginRequest, LogoutRequest, PasswordChangeRequest, RefreshRequest, RegisterRequest,
        VerifyRequest,
    };
    use super::super::email::{ResetPasswordRequest, VerifyEmailRequest};
    use super::super::oauth::parse_form;
    use super::super::profile::{DeleteProfileRequest, ProfileUpdateRequest};

    fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn request_types_holding_credentials_show_none_in_debug() {
        let mut form_headers = HeaderMap::new();
        form_headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let form = parse_form(
            &form_headers,
            b"grant_type=client_credentials&client_id=svc_shown&client_secret=S3CRET-client\
              &token=S3CRET-introspected&subject_token=S3CRET-subject&refresh_token=S3CRET-rt\
              &code=S3CRET-code&code_verifier=S3CRET-verifier&audience=gallery",
        )
        .unwrap();
        let shown = [
            format!(
                "{:?}",
                parse::<RefreshRequest>(json!({"refresh": "S3CRET-refresh"}))
            ),
            format!(
                "{:?}",
                parse::<VerifyRequest>(json!({"token": "S3CRET-access"}))
            ),
            format!(
                "{:?}",
                parse::<LogoutRequest>(
                    json!({"refresh_token": "S3CRET-logout", "refresh": "S3CRET-logout2"})
                )
            ),
            format!(
                "{:?}",
                parse::<ResetPasswordRequest>(
                    json!({"token": "S3CRET-reset", "new_password": "S3CRET-new-password"})
                )
            ),
            format!(
                "{:?}",
                parse::<VerifyEmailRequest>(json!({"token": "S3CRET-verify"}))
            ),
            format!(
                "{:?}",
                parse::<LoginRequest>(json!({"username": "alice", "password": "S3CRET-login"}))
            ),
            format!(
                "{:?}",
                parse::<RegisterRequest>(
                    json!({"email": "a@example.com", "password": "S3CRET-register"})
                )
            ),
            format!(
                "{:?}",
                parse::<PasswordChangeRequest>(
                    json!({"current_password": "S3CRET-current", "new_password": "S3CRET-next"})
                )
            ),
            format!(
                "{:?}",
                parse::<ProfileUpdateRequest>(json!({"current_password": "S3CRET-profile"}))
            ),
            format!(
                "{:?}",
                parse::<DeleteProfileRequest>(json!({"password": "S3CRET-delete"}))
            ),
            format!("{form:?}"),
            // Issue #19: second factors.
            format!(
                "{:?}",
                parse::<super::super::mfa::PasswordRequest>(json!({"password": "S3CRET-mfa-pw"}))
            ),
            format!(
                "{:?}",
                parse::<super::super::mfa::ConfirmRequest>(json!({"code": "S3CRET-code"}))
            ),
            format!(
                "{:?}",
                parse::<super::super::mfa::VerifyRequest>(json!({
                    "mfa_token": "S3CRET-mfa-token",
                    "code": "S3CRET-totp",
                    "recovery_code": "S3CRET-recovery",
                }))
            ),
            format!(
                "{:?}",
                super::super::mfa::TotpEnrollmentView {
                    secret: "S3CRET-base32".into(),
                    otpauth_uri: "otpauth://totp/x?secret=S3CRET".into(),
                }
            ),
            format!(
                "{:?}",
                super::super::mfa::RecoveryCodesView {
                    recovery_codes: vec!["S3CRET-1".into(), "S3CRET-2".into()],
                }
            ),
        ];
        for s in &shown {
            assert!(!s.contains("S3CRET"), "a credential in Debug output: {s}");
        }
        // What is not secret stays visible, so the output is still useful.
        assert!(
            shown[0].contains("refresh: Some([REDACTED])"),
            "{}",
            shown[0]
        );
        assert!(shown[2].contains("refresh: Some(") && shown[2].contains("refresh_token"));
        assert!(shown[5].contains("alice"), "{}", shown[5]);
        let form = &shown[10];
        assert!(
            form.contains("svc_shown")
                && form.contains("client_credentials")
                && form.contains("gallery")
                && form.contains("\"client_secret\": \"[REDACTED]\""),
            "{form}"
        );
    }
}
