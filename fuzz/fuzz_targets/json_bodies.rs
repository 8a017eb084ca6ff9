//! Every JSON request body type of the API, decoded by `parse_json` exactly as the `AppJson`
//! extractor does: first byte picks the type, the rest is the body. No panic; a refusal is a
//! 400 (`invalid_json` / `invalid_request`), never anything else; what decodes goes on through
//! the domain parsers the handlers call.
#![no_main]

use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use sesame::http::extract::parse_json;
use sesame::http::{admin, auth, email, profile};
use sesame_core::domain::{Email, Password, Role, Username};

fn check<T: serde::de::DeserializeOwned + std::fmt::Debug>(body: &[u8]) -> Option<T> {
    match parse_json::<T>(body) {
        Ok(v) => {
            let _ = format!("{v:?}");
            Some(v)
        }
        Err(e) => {
            let status = e.into_response().status();
            assert_eq!(status, 400, "a malformed body answered {status}");
            None
        }
    }
}

/// The Debug output of a decoded request must not depend on its secret fields: decode the body
/// again with each secret changed and compare (secrecy's redaction, and no field copying it).
fn secret_hidden<T: serde::de::DeserializeOwned + std::fmt::Debug>(body: &[u8], secrets: &[&str]) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return;
    };
    let Ok(original) = parse_json::<T>(body) else {
        return;
    };
    let shown = format!("{original:?}");
    for field in secrets {
        let Some(serde_json::Value::String(secret)) = map.get(*field) else {
            continue;
        };
        let mut changed = map.clone();
        changed.insert(field.to_string(), format!("{secret}-changed").into());
        let again = serde_json::to_vec(&changed).expect("serialises");
        if let Ok(other) = parse_json::<T>(&again) {
            assert_eq!(shown, format!("{other:?}"), "Debug shows the {field} field");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    match pick % 14 {
        0 => {
            secret_hidden::<auth::RegisterRequest>(body, &["password"]);
            if let Some(r) = check::<auth::RegisterRequest>(body) {
                if let Some(p) = &r.password {
                    let ids = [
                        r.email.as_deref().unwrap_or(""),
                        r.username.as_deref().unwrap_or(""),
                    ];
                    let _ = Password::parse(p, &ids);
                }
                if let Some(e) = &r.email {
                    let _ = Email::parse(e);
                }
                if let Some(u) = &r.username {
                    let _ = Username::parse(u);
                }
            }
        }
        1 => {
            secret_hidden::<auth::LoginRequest>(body, &["password"]);
            if let Some(r) = check::<auth::LoginRequest>(body) {
                if let Some(login) = r.username.as_deref().or(r.email.as_deref()) {
                    let _ = Email::parse(login);
                    let _ = Username::parse(login);
                }
            }
        }
        2 => {
            if let Some(r) = check::<auth::RefreshRequest>(body) {
                if let Some(t) = &r.refresh {
                    let _ = sesame_core::tokens::RefreshToken::parse(t.trim());
                }
            }
        }
        3 => {
            if let Some(r) = check::<auth::VerifyRequest>(body) {
                if let Some(t) = &r.token {
                    let _ = sesame_fuzz::verifier().verify(t, sesame_fuzz::NOW);
                }
            }
        }
        4 => {
            check::<auth::LogoutRequest>(body);
        }
        5 => {
            check::<auth::PasswordChangeRequest>(body);
            secret_hidden::<auth::PasswordChangeRequest>(
                body,
                &["current_password", "new_password"],
            );
        }
        6 => {
            check::<email::ForgotPasswordRequest>(body);
        }
        7 => {
            check::<email::ResetPasswordRequest>(body);
            secret_hidden::<email::ResetPasswordRequest>(body, &["new_password"]);
        }
        8 => {
            check::<email::VerifyEmailRequest>(body);
        }
        9 => {
            secret_hidden::<profile::ProfileUpdateRequest>(body, &["current_password"]);
            if let Some(r) = check::<profile::ProfileUpdateRequest>(body) {
                if let Some(Some(u)) = &r.username {
                    let _ = Username::parse(u);
                }
                if let Some(e) = &r.email {
                    let _ = Email::parse(e);
                }
            }
        }
        10 => {
            check::<profile::DeleteProfileRequest>(body);
            secret_hidden::<profile::DeleteProfileRequest>(body, &["password"]);
        }
        11 => {
            check::<admin::users::PatchUserRequest>(body);
        }
        12 => {
            if let Some(r) = check::<admin::users::RolesBody>(body) {
                for role in r.roles.iter().flatten() {
                    let _ = Role::parse(role);
                }
            }
        }
        _ => {
            check::<admin::clients::NewClientRequest>(body);
            // Preferences: any JSON value, then the object/size rule.
            check::<serde_json::Value>(body);
        }
    }
});
