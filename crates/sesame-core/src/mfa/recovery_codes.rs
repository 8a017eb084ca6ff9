//! Recovery codes: ten single-use codes for the day the phone is lost, shown once.
//!
//! Each is 80 random bits, written as 16 characters of Crockford's base32 in groups of four
//! (`7k2m-q9xd-4hfa-0wne`): no I, L, O or U to misread, and typing is forgiving (any case,
//! with or without the dashes, `i`/`l` read as `1` and `o` as `0`). Stored as HMAC-SHA-256
//! under an instance key, which is enough at 80 bits (docs/decisions.md): no guessing of a code
//! from its hash is feasible even with the key, and the look-up is one indexed read, not an
//! argon2 hash per stored code.

use aws_lc_rs::hmac;
use rand::RngCore;
use secrecy::ExposeSecret;

use crate::secret::SecretBytes;

/// How many codes a set has.
pub const RECOVERY_CODES: usize = 10;
/// Random bytes per code: 80 bits.
const CODE_BYTES: usize = 10;
/// Characters per code, without dashes.
const CODE_CHARS: usize = CODE_BYTES * 8 / 5;
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// One recovery code, as shown to the user once. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode([REDACTED])")
    }
}

impl RecoveryCode {
    pub fn generate() -> Self {
        let mut bytes = [0u8; CODE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let mut chars = String::with_capacity(CODE_CHARS + 3);
        let (mut buffer, mut bits) = (0u32, 0u32);
        for b in bytes {
            buffer = (buffer << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                if !chars.is_empty() && chars.len() % 5 == 4 {
                    chars.push('-');
                }
                chars.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
            }
        }
        RecoveryCode(chars)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A typed code in its one canonical form (16 characters of the alphabet), or `None`.
pub fn normalise(typed: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_CHARS);
    for c in typed.chars() {
        let c = match c.to_ascii_lowercase() {
            '-' | ' ' | '\t' => continue,
            'i' | 'l' => '1',
            'o' => '0',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        out.push(c);
        if out.len() > CODE_CHARS {
            return None;
        }
    }
    (out.len() == CODE_CHARS).then_some(out)
}

/// What the store keeps of a code: its keyed hash, or `None` for text that is no code.
pub fn hash(key: &SecretBytes, typed: &str) -> Option<Vec<u8>> {
    let code = normalise(typed)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.expose_secret());
    Some(hmac::sign(&key, code.as_bytes()).as_ref().to_vec())
}

/// A new set: the codes to show and their hashes to store.
pub fn new_set(key: &SecretBytes) -> (Vec<RecoveryCode>, Vec<Vec<u8>>) {
    let codes: Vec<RecoveryCode> = (0..RECOVERY_CODES)
        .map(|_| RecoveryCode::generate())
        .collect();
    let hashes = codes.iter().filter_map(|c| hash(key, c.as_str())).collect();
    (codes, hashes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::secret_bytes;

    #[test]
    fn codes_are_80_bits_in_four_groups_and_distinct() {
        let key = secret_bytes(vec![1; 32]);
        let (codes, hashes) = new_set(&key);
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(hashes.len(), RECOVERY_CODES);
        for c in &codes {
            let groups: Vec<&str> = c.as_str().split('-').collect();
            assert_eq!(groups.len(), 4, "{}", c.as_str());
            assert!(groups.iter().all(|g| g.len() == 4));
            assert!(!format!("{c:?}").contains(c.as_str()));
        }
        let distinct: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
    }

    #[test]
    fn typing_is_forgiving_but_only_codes_hash() {
        let key = secret_bytes(vec![2; 32]);
        let code = RecoveryCode::generate();
        let stored = hash(&key, code.as_str()).unwrap();
        let shouted = code.as_str().to_uppercase().replace('-', " ");
        assert_eq!(hash(&key, &shouted).unwrap(), stored);
        assert_eq!(
            normalise("IL0O-abcd-efgh-jkmn").unwrap(),
            "1100abcdefghjkmn"
        );
        assert_eq!(normalise("abcd-efgh-jkmn-pqrs-t"), None, "too long");
        assert_eq!(normalise("abcd-efgh-jkmn-pqr"), None, "too short");
        assert_eq!(
            normalise("abcd-efgh-jkmn-pqru"),
            None,
            "u is not in the alphabet"
        );
        assert_eq!(normalise("abcd-efgh-jkmn-pqré"), None);
        assert_ne!(
            hash(&secret_bytes(vec![3; 32]), code.as_str()).unwrap(),
            stored,
            "keyed"
        );
    }
}
