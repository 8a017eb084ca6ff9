//! A new password that passed the policy. Only ever held as a secret.

use std::collections::HashSet;
use std::io::Read;
use std::sync::OnceLock;

use secrecy::{ExposeSecret, SecretString};

/// Django's list of 19,640 common passwords (see `data/README.md`), checked case-insensitively.
static COMMON_GZ: &[u8] = include_bytes!("../../data/common-passwords.txt.gz");

fn common_passwords() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut text = String::new();
        // The list is compiled in; if it ever failed to inflate we would refuse nothing extra,
        // which the unit test below would catch.
        let _ = flate2::read::GzDecoder::new(COMMON_GZ).read_to_string(&mut text);
        text.lines()
            .map(|l| l.trim().to_lowercase())
            .filter(|l| !l.is_empty())
            .collect()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort,
    TooLong,
    Common,
    SameAsIdentity,
}

impl PasswordProblem {
    pub fn message(self) -> &'static str {
        match self {
            PasswordProblem::TooShort => "must be at least 8 characters",
            PasswordProblem::TooLong => "must be at most 1024 bytes",
            PasswordProblem::Common => "this password is too common",
            PasswordProblem::SameAsIdentity => "must differ from the email and the username",
        }
    }

    /// Length problems are plain validation errors; the others are `weak_password`.
    pub fn is_weak(self) -> bool {
        matches!(
            self,
            PasswordProblem::Common | PasswordProblem::SameAsIdentity
        )
    }
}

#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    /// Checks a candidate password against the policy. `identities` are the email and username
    /// it must not equal.
    pub fn parse(raw: &SecretString, identities: &[&str]) -> Result<Self, PasswordProblem> {
        let pw = raw.expose_secret();
        if pw.len() > 1024 {
            return Err(PasswordProblem::TooLong);
        }
        if pw.chars().count() < 8 {
            return Err(PasswordProblem::TooShort);
        }
        let lower = pw.trim().to_lowercase();
        if common_passwords().contains(&lower) {
            return Err(PasswordProblem::Common);
        }
        if identities
            .iter()
            .any(|id| !id.is_empty() && id.to_lowercase() == lower)
        {
            return Err(PasswordProblem::SameAsIdentity);
        }
        Ok(Password(raw.clone()))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> SecretString {
        SecretString::from(x.to_string())
    }

    #[test]
    fn list_is_loaded() {
        assert!(common_passwords().len() > 19_000);
    }

    #[test]
    fn refuses_common_short_long_and_identity() {
        assert_eq!(
            Password::parse(&s("password"), &[]).unwrap_err(),
            PasswordProblem::Common
        );
        assert_eq!(
            Password::parse(&s("PassWord1"), &[]).unwrap_err(),
            PasswordProblem::Common
        );
        assert_eq!(
            Password::parse(&s("short"), &[]).unwrap_err(),
            PasswordProblem::TooShort
        );
        assert_eq!(
            Password::parse(&s(&"x".repeat(1025)), &[]).unwrap_err(),
            PasswordProblem::TooLong
        );
        assert_eq!(
            Password::parse(&s("Alice@Example.com"), &["alice@example.com"]).unwrap_err(),
            PasswordProblem::SameAsIdentity
        );
    }

    #[test]
    fn accepts_a_decent_password_and_hides_it() {
        let p = Password::parse(&s("correct horse battery staple"), &["alice"]).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
