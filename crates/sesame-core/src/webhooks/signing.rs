//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): a secret `whsec_` +
//! base64 of 32 random bytes; each attempt carries `webhook-id`, `webhook-timestamp` (Unix
//! seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with
//! the secret's bytes. Receivers verify with any Standard Webhooks library.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::secret::{SecretBytes, secret_bytes};

/// The prefix of a secret as shown to the admin, as Standard Webhooks writes it.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing key: its bytes (stored) and the `whsec_…` text (shown once).
pub fn generate_secret() -> (SecretBytes, SecretString) {
    let mut bytes = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let shown = SecretString::from(format!("{SECRET_PREFIX}{}", B64.encode(&bytes)));
    (secret_bytes(bytes), shown)
}

/// The `webhook-signature` header value of one attempt.
pub fn sign(secret: &SecretBytes, id: &str, timestamp: i64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body.as_bytes());
    format!("v1,{}", B64.encode(ctx.sign().as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification and its reference libraries.
    #[test]
    fn signs_like_the_reference_libraries() {
        let key = B64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = sign(
            &secret_bytes(key),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_are_whsec_and_32_random_bytes() {
        let (bytes, shown) = generate_secret();
        let shown = shown.expose_secret();
        let encoded = shown.strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(B64.decode(encoded).unwrap(), *bytes.expose_secret());
        assert_eq!(bytes.expose_secret().len(), 32);
        assert_ne!(generate_secret().0.expose_secret(), bytes.expose_secret());
        assert!(!format!("{bytes:?}").contains(&format!("{:?}", bytes.expose_secret())));
    }
}
