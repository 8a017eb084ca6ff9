//! The domain parsers every request body goes through (`Email`, `Username`, `Password`,
//! `Role`): no panic, and what they accept is what the rules say — canonical forms idempotent,
//! the stored form parsing back to itself, the length and alphabet limits kept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use sesame_core::domain::{Email, Password, PasswordProblem, Role, Username};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(e) = Email::parse(raw) {
        let s = e.as_str();
        assert!(s.chars().count() <= 254, "email too long: {s:?}");
        assert_eq!(s, s.trim());
        assert!(!s.chars().any(char::is_control), "control char in {s:?}");
        let (local, domain) = s.rsplit_once('@').expect("an email has an @");
        assert!(!local.is_empty() && !domain.is_empty());
        // What is stored parses back to itself (the profile and login re-parse it).
        assert_eq!(Email::parse(s).as_ref(), Ok(&e), "stored form re-parses");
        let c = e.canonical();
        assert_eq!(c, c.to_lowercase(), "canonical form is lower case");
    }
    if let Ok(u) = Username::parse(raw) {
        let s = u.as_str();
        assert!((3..=100).contains(&s.len()));
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        );
        assert_eq!(Username::parse(s).as_ref(), Ok(&u));
        assert_eq!(
            Username::parse(&u.canonical()).map(|x| x.canonical()),
            Ok(u.canonical())
        );
        assert!(!s.contains('@'), "a username is never an email");
    }
    if let Ok(r) = Role::parse(raw) {
        assert_eq!(r.as_str(), raw);
        assert!((1..=50).contains(&raw.len()));
    }
    let (pw, id) = raw.split_once('\n').unwrap_or((raw, ""));
    match Password::parse(&SecretString::from(pw.to_string()), &[id]) {
        Ok(_) => {
            assert!(pw.len() <= 1024 && pw.chars().count() >= 8);
            assert!(id.is_empty() || id.to_lowercase() != pw.trim().to_lowercase());
        }
        Err(PasswordProblem::TooLong) => assert!(pw.len() > 1024),
        Err(PasswordProblem::TooShort) => assert!(pw.chars().count() < 8),
        Err(_) => {}
    }
});
