//! The parsers of second factors: a typed TOTP code, a typed recovery code, and the browser's
//! WebAuthn JSON (a registration's answer and a sign-in's assertion) through the real
//! use-cases of a running Sesame. First byte picks; the rest is the input. Nothing may panic;
//! a code is accepted only if it is the code of a step within one of now's; a WebAuthn answer
//! the fuzzer made up (it cannot sign the server's challenge) is refused with exactly the
//! error the API turns into `invalid_passkey`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sesame_core::CoreError;
use sesame_core::mfa::recovery_codes;
use sesame_core::mfa::totp::{TotpSecret, time_step};
use sesame_core::secret::{SecretBytes, secret_bytes};
use sesame_core::sessions::PasskeySignIn;
use sesame_fuzz::App;

fn totp() -> &'static TotpSecret {
    static SECRET: OnceLock<TotpSecret> = OnceLock::new();
    SECRET.get_or_init(TotpSecret::generate)
}

fn recovery_key() -> &'static SecretBytes {
    static KEY: OnceLock<SecretBytes> = OnceLock::new();
    KEY.get_or_init(|| secret_bytes(vec![7; 32]))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match pick % 4 {
        0 => {
            let now = chrono::DateTime::from_timestamp(sesame_fuzz::NOW, 0).expect("a time");
            if let Some(step) = totp().matching_step(&text, now) {
                assert!((step - time_step(now)).abs() <= 1, "a step out of the window");
                let typed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                assert_eq!(totp().code_at_step(step), typed, "accepted another code");
            }
        }
        1 => {
            if let Some(hash) = recovery_codes::hash(recovery_key(), &text) {
                assert_eq!(hash.len(), 32);
                assert_eq!(recovery_codes::hash(recovery_key(), &text), Some(hash));
            }
        }
        2 => {
            let Ok(answer) = serde_json::from_slice::<serde_json::Value>(rest) else {
                return;
            };
            let app = App::get();
            let user: uuid::Uuid = app.user_id().parse().expect("a user id");
            app.rt.block_on(async {
                let mfa = app.sesame.mfa();
                let started = mfa.begin_passkey(user, None).await.expect("a ceremony");
                let result = mfa
                    .finish_passkey(user, &started.challenge_id, &answer, &Default::default())
                    .await;
                assert!(
                    matches!(result, Err(CoreError::PasskeyRejected)),
                    "a made-up registration answer: {result:?}"
                );
            });
        }
        _ => {
            let Ok(answer) = serde_json::from_slice::<serde_json::Value>(rest) else {
                return;
            };
            let app = App::get();
            app.rt.block_on(async {
                let sessions = app.sesame.sessions();
                let started = sessions
                    .begin_passkey_sign_in(PasskeySignIn::Discoverable)
                    .await
                    .expect("a ceremony");
                let result = sessions
                    .finish_passkey_sign_in(&started.challenge_id, &answer, Default::default())
                    .await;
                assert!(
                    matches!(result, Err(CoreError::PasskeyInvalid)),
                    "a made-up assertion: {result:?}"
                );
            });
        }
    }
});
