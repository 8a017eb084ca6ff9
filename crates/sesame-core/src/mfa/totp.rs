//! TOTP (RFC 6238) with the parameters every authenticator app honours: HMAC-SHA-1, 6 digits,
//! 30-second steps. Codes come from `totp-rs`; what is Sesame's own is which steps are
//! accepted (the current one and one either side, for clocks that drift), that a step is used
//! once (the store's `last_step`), and how the secret is kept: sealed with AES-256-GCM under an
//! instance key, the user's id as associated data.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::error::CoreError;
use crate::secret::{SecretBytes, secret_bytes};
use crate::store::SealedSecret;

/// Digits of a code.
pub const DIGITS: usize = 6;
/// Seconds per time step.
pub const STEP_SECS: i64 = 30;
/// Steps accepted either side of the current one.
pub const SKEW_STEPS: i64 = 1;
/// 160 bits: RFC 4226 §4 recommends it (the length of an HMAC-SHA-1 key), and it is what the
/// common authenticator apps generate themselves.
const SECRET_LEN: usize = 20;
/// The first byte of a sealed secret: the layout below, so a later one can be told apart.
const SEALED_V1: u8 = 1;

/// A TOTP secret in the clear. `Debug` hides it.
pub struct TotpSecret(SecretBytes);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        TotpSecret(secret_bytes(bytes))
    }

    /// The secret as authenticator apps take it when typed in: base32 (RFC 4648) without
    /// padding.
    pub fn base32(&self) -> SecretString {
        SecretString::from(base32_encode(self.0.expose_secret()))
    }

    fn totp(&self) -> totp_rs::TOTP {
        // `new_unchecked`: the parameters are fixed above (and valid). The crate's otpauth
        // feature is off: the URI is made here, with every parameter spelt out.
        totp_rs::TOTP::new_unchecked(
            totp_rs::Algorithm::SHA1,
            DIGITS,
            SKEW_STEPS as u8,
            STEP_SECS as u64,
            self.0.expose_secret().clone(),
        )
    }

    /// The code of time step `step`.
    pub fn code_at_step(&self, step: i64) -> String {
        self.totp()
            .generate(step.max(0).unsigned_abs() * STEP_SECS as u64)
    }

    /// The step, within [`SKEW_STEPS`] of `now`'s, whose code `code` is; the newest if several
    /// match (two steps sharing a code happens once in a million). `None` for a wrong code or
    /// one that is not six digits. Every candidate is compared, in constant time, so the time
    /// taken does not say which step came close.
    pub fn matching_step(&self, code: &str, now: DateTime<Utc>) -> Option<i64> {
        let code = normalise_code(code)?;
        let current = time_step(now);
        let totp = self.totp();
        let mut found = None;
        for step in current - SKEW_STEPS..=current + SKEW_STEPS {
            let expected = totp.generate(step.max(0).unsigned_abs() * STEP_SECS as u64);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                found = Some(step);
            }
        }
        found
    }
}

/// The time step of an instant (RFC 6238 §4: T = floor((now - T0) / X), T0 = 0, X = 30).
pub fn time_step(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(STEP_SECS)
}

/// A typed code without the spaces apps show in the middle (`123 456`): six ASCII digits, or
/// nothing.
fn normalise_code(code: &str) -> Option<String> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// RFC 4648 base32, upper case, no padding.
fn base32_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `otpauth://` URI an authenticator app reads from a QR code (the Key Uri Format of
/// Google Authenticator, which every app follows): label `issuer:account`, the secret, and
/// the parameters spelt out although they are the defaults, so an app never has to guess.
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account: &str) -> SecretString {
    // A colon separates issuer and account in the label: none may stand inside either.
    let issuer = percent_encode(&issuer.replace(':', " "));
    let account = percent_encode(&account.replace(':', " "));
    SecretString::from(format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        secret.base32().expose_secret()
    ))
}

/// Seals TOTP secrets for the database and opens them again: AES-256-GCM under an instance
/// key, a fresh random nonce per seal, the user's id as associated data (a row copied onto
/// another user fails to open). Layout: version byte, nonce, ciphertext and tag.
pub struct SecretCipher {
    key: LessSafeKey,
}

impl std::fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretCipher([REDACTED])")
    }
}

impl SecretCipher {
    /// `key`: 32 bytes.
    pub fn new(key: &[u8]) -> Result<Self, CoreError> {
        let key = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| CoreError::internal("the TOTP key is not an AES-256 key"))?;
        Ok(SecretCipher {
            key: LessSafeKey::new(key),
        })
    }

    pub fn seal(&self, user_id: Uuid, secret: &TotpSecret) -> Result<SealedSecret, CoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut in_out = secret.0.expose_secret().clone();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(user_id.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| CoreError::internal("sealing a TOTP secret failed"))?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        sealed.push(SEALED_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        Ok(SealedSecret(sealed))
    }

    pub fn open(&self, user_id: Uuid, sealed: &SealedSecret) -> Result<TotpSecret, CoreError> {
        let bytes = &sealed.0;
        if bytes.len() <= 1 + NONCE_LEN || bytes[0] != SEALED_V1 {
            return Err(CoreError::internal(
                "a stored TOTP secret has an unknown layout",
            ));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[1..=NONCE_LEN]);
        let mut in_out = bytes[1 + NONCE_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(user_id.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| CoreError::internal("a stored TOTP secret does not open with the key"))?;
        Ok(TotpSecret(secret_bytes(plain.to_vec())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rfc_secret() -> TotpSecret {
        // RFC 6238 appendix B: the SHA-1 seed is the ASCII of "12345678901234567890".
        TotpSecret(secret_bytes(b"12345678901234567890".to_vec()))
    }

    #[test]
    fn codes_are_rfc_6238s_test_vectors() {
        // RFC 6238 appendix B gives 8 digits; the last six are the 6-digit codes.
        for (t, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            let at = Utc.timestamp_opt(t, 0).unwrap();
            assert_eq!(
                rfc_secret().code_at_step(time_step(at)),
                eight[2..],
                "T={t}"
            );
        }
    }

    #[test]
    fn one_step_either_side_matches_and_two_do_not() {
        let secret = TotpSecret::generate();
        let now = Utc.timestamp_opt(1_700_000_015, 0).unwrap();
        let step = time_step(now);
        for offset in [-1, 0, 1] {
            let code = secret.code_at_step(step + offset);
            assert_eq!(secret.matching_step(&code, now), Some(step + offset));
        }
        for offset in [-2, 2, 3] {
            let code = secret.code_at_step(step + offset);
            // A code two steps away could equal a nearer one by chance (one in a million).
            if (-1..=1).all(|o| secret.code_at_step(step + o) != code) {
                assert_eq!(secret.matching_step(&code, now), None, "offset {offset}");
            }
        }
        let code = secret.code_at_step(step);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(secret.matching_step(&spaced, now), Some(step));
        assert_eq!(secret.matching_step("12345", now), None);
        assert_eq!(secret.matching_step("12345a", now), None);
        assert_eq!(secret.matching_step("", now), None);
    }

    #[test]
    fn base32_is_rfc_4648s() {
        // RFC 4648 §10, without padding.
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
        }
        assert_eq!(TotpSecret::generate().base32().expose_secret().len(), 32);
    }

    #[test]
    fn the_uri_names_every_parameter_and_escapes_the_label() {
        let secret = rfc_secret();
        let uri = otpauth_uri(&secret, "Acme: ID", "alice+x@example.com");
        assert_eq!(
            uri.expose_secret(),
            "otpauth://totp/Acme%20%20ID:alice%2Bx%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20%20ID&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn sealed_secrets_open_for_their_user_only() {
        let cipher = SecretCipher::new(&[7u8; 32]).unwrap();
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let secret = TotpSecret::generate();
        let sealed = cipher.seal(alice, &secret).unwrap();
        assert_ne!(
            cipher.seal(alice, &secret).unwrap(),
            sealed,
            "a fresh nonce"
        );
        let b32 = secret.base32();
        assert!(
            !sealed
                .0
                .windows(SECRET_LEN)
                .any(|w| w == secret.0.expose_secret().as_slice()),
            "not in the clear"
        );
        let opened = cipher.open(alice, &sealed).unwrap();
        assert_eq!(opened.base32().expose_secret(), b32.expose_secret());
        assert!(cipher.open(bob, &sealed).is_err(), "another user's row");
        let other = SecretCipher::new(&[8u8; 32]).unwrap();
        assert!(other.open(alice, &sealed).is_err(), "another key");
        let mut tampered = sealed.clone();
        let last = tampered.0.len() - 1;
        tampered.0[last] ^= 1;
        assert!(cipher.open(alice, &tampered).is_err(), "tampered");
        assert!(!format!("{secret:?} {sealed:?}").contains(b32.expose_secret()));
    }
}
