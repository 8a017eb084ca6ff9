//! Anti-forgery tokens for Sesame's own pages (the "synchroniser token" of OWASP's CSRF sheet,
//! in its stateless HMAC form).
//!
//! A browser holds a random *binding* (the `__Host-sesame-csrf` cookie: HttpOnly, so page script
//! cannot read it, and `__Host-`, so a sibling subdomain cannot plant one); every form it is
//! shown carries `HMAC(key, binding)`. A forged cross-site POST carries the victim's cookie but
//! cannot know the token, since the attacker can read neither the cookie nor the page. The key
//! is derived from an instance secret shared by every replica (in the database), so a form
//! rendered by one replica is accepted by another, and no state is kept per form.
//!
//! The binding is not the session: it exists before sign-in too, so the sign-in form itself is
//! protected (login CSRF), and it does not change at sign-in — the session cookie does.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use crate::secret::{ExposeSecret, SecretBytes};

/// Bytes of randomness in a binding: 256 bits, like every other secret Sesame hands out.
const BINDING_BYTES: usize = 32;

/// Issues and checks page form tokens.
pub struct FormTokens {
    key: hmac::Key,
}

impl std::fmt::Debug for FormTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormTokens([REDACTED])")
    }
}

impl FormTokens {
    /// Derives the key from the instance secret under a label of its own, so a form token is
    /// never equal to any other MAC made with that secret.
    pub(crate) fn new(instance_secret: &SecretBytes) -> Self {
        let root = hmac::Key::new(hmac::HMAC_SHA256, instance_secret.expose_secret());
        let derived = hmac::sign(&root, b"sesame page form token v1");
        FormTokens {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// A fresh binding for a browser that has none (URL-safe base64, 43 characters).
    pub fn new_binding() -> String {
        let mut bytes = [0u8; BINDING_BYTES];
        rand::thread_rng().fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether a cookie value has the shape of a binding this module issues; anything else is
    /// replaced rather than trusted (a planted short value would weaken nothing, but it also
    /// serves no one).
    pub fn is_binding(value: &str) -> bool {
        value.len() == 43
            && URL_SAFE_NO_PAD
                .decode(value)
                .is_ok_and(|b| b.len() == BINDING_BYTES)
    }

    /// The token forms carry for this binding.
    pub fn token(&self, binding: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, binding.as_bytes()).as_ref())
    }

    /// Whether `token` is this binding's, compared in constant time.
    pub fn check(&self, binding: &str, token: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(token.trim()) else {
            return false;
        };
        FormTokens::is_binding(binding) && hmac::verify(&self.key, binding.as_bytes(), &tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::secret_bytes;

    fn tokens(seed: u8) -> FormTokens {
        FormTokens::new(&secret_bytes(vec![seed; 32]))
    }

    #[test]
    fn a_token_checks_only_for_its_own_binding_and_key() {
        let t = tokens(1);
        let a = FormTokens::new_binding();
        let b = FormTokens::new_binding();
        assert!(FormTokens::is_binding(&a));
        assert_ne!(a, b);
        let token = t.token(&a);
        assert!(t.check(&a, &token));
        assert!(!t.check(&b, &token), "another browser's token");
        assert!(!tokens(2).check(&a, &token), "another instance's key");
        assert!(!t.check(&a, ""), "missing token");
        assert!(!t.check(&a, &a), "the binding itself is not the token");
        let mut tampered = token.clone().into_bytes();
        tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
        assert!(!t.check(&a, &String::from_utf8(tampered).unwrap()));
    }

    #[test]
    fn a_planted_binding_of_the_wrong_shape_is_not_one() {
        assert!(!FormTokens::is_binding(""));
        assert!(!FormTokens::is_binding("short"));
        assert!(!FormTokens::is_binding(&"A".repeat(44)));
        let t = tokens(1);
        assert!(!t.check("short", &t.token("short")));
    }
}
