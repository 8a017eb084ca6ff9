//! The domain parsers: what they accept round-trips and is canonical, and what the rules
//! (API.md, `domain/`) forbid is refused, on generated inputs rather than a handful of examples.

use proptest::prelude::*;
use sesame_core::domain::{Email, Role, Username};
use sesame_core::refresh_token::{Names, RefreshKeys, RefreshToken};
use sesame_core::secret::secret_bytes;

// --- Email ---------------------------------------------------------------------------------

/// An RFC 5322 dot-atom local part of the characters Sesame allows.
fn local_part() -> impl Strategy<Value = String> {
    proptest::collection::vec("[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,12}", 1..4)
        .prop_map(|atoms| atoms.join("."))
        .prop_filter("at most 64 bytes", |l| l.len() <= 64)
}

fn label() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?"
}

fn domain() -> impl Strategy<Value = String> {
    (proptest::collection::vec(label(), 1..4), "[A-Za-z]{2,10}")
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
}

fn email() -> impl Strategy<Value = String> {
    (local_part(), domain()).prop_map(|(l, d)| format!("{l}@{d}"))
}

/// Strings the parser may or may not accept: letters of any script, digits, punctuation that
/// matters to the rules, and a few characters whose case mapping changes their length.
fn anything_like_an_email() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        "[a-zA-Z0-9]{1,8}",
        Just(".".to_string()),
        Just("-".to_string()),
        Just("@".to_string()),
        "\\PC{1,3}",
        "İ{1,70}",
        Just("ẞ".to_string()),
        Just("Ω".to_string()),
        Just("ǅ".to_string()),
    ];
    proptest::collection::vec(pieces, 1..12).prop_map(|p| p.concat())
}

/// Internationalised addresses: letters and digits of any script, including ones whose lower
/// case is longer than themselves (`İ` → `i̇`), with labels up to the 63-character limit.
fn unicode_email() -> impl Strategy<Value = String> {
    let label = prop_oneof!["[\\p{L}\\p{N}]{1,8}", "İ{1,63}", "[a-zİ]{55,63}",];
    (
        local_part(),
        proptest::collection::vec(label, 1..5),
        prop_oneof!["\\p{L}{2,8}", "İ{2,63}"],
    )
        .prop_map(|(l, labels, tld)| format!("{l}@{}.{tld}", labels.join(".")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::cases(256)))]

    #[test]
    fn valid_emails_parse_and_round_trip(raw in email(), pad in "[ \t]{0,2}") {
        let e = Email::parse(&format!("{pad}{raw}{pad}")).unwrap();
        let (local, domain) = raw.rsplit_once('@').unwrap();
        prop_assert_eq!(e.as_str(), format!("{local}@{}", domain.to_lowercase()));
        // The stored form parses back to itself, and the canonical form is a fixed point.
        prop_assert_eq!(Email::parse(&e.to_string()).unwrap(), e.clone());
        let canonical = e.canonical();
        prop_assert_eq!(Email::parse(&canonical).unwrap().canonical(), canonical.clone());
        // Case in the input never changes the account an address names.
        prop_assert_eq!(Email::parse(&raw.to_uppercase()).unwrap().canonical(), canonical);
    }

    #[test]
    fn whatever_is_accepted_is_stored_in_a_form_that_parses_back(
        raw in prop_oneof![anything_like_an_email(), unicode_email()],
    ) {
        if let Ok(e) = Email::parse(&raw) {
            let again = Email::parse(e.as_str());
            prop_assert_eq!(again.as_ref(), Ok(&e), "stored form {:?} of {:?}", e.as_str(), raw);
            prop_assert!(e.as_str().chars().count() <= 254);
        }
    }

    #[test]
    fn an_address_without_at_is_refused(raw in "[^@]{0,80}") {
        prop_assert!(Email::parse(&raw).is_err());
    }

    #[test]
    fn a_local_part_over_64_bytes_is_refused(local in "[a-z]{65,90}", domain in domain()) {
        let raw = format!("{local}@{domain}");
        prop_assert!(Email::parse(&raw).is_err());
    }

    #[test]
    fn an_address_over_254_characters_is_refused(
        local in "[a-z]{20,64}",
        labels in proptest::collection::vec("[a-z]{50,63}", 4..6),
    ) {
        let raw = format!("{local}@{}.com", labels.join("."));
        prop_assume!(raw.chars().count() > 254);
        prop_assert!(Email::parse(&raw).is_err());
    }

    #[test]
    fn control_and_space_characters_inside_are_refused(
        raw in email(),
        bad in prop_oneof![
            proptest::char::range('\u{0}', '\u{1f}'),
            Just('\u{7f}'),
            Just(' '),
            Just('\u{a0}'),
            Just('\u{2028}'),
        ],
        at in any::<proptest::sample::Index>(),
    ) {
        // Anywhere strictly inside the address (a leading or trailing space is trimmed).
        let chars: Vec<char> = raw.chars().collect();
        let i = 1 + at.index(chars.len() - 1);
        let mut broken: String = chars[..i].iter().collect();
        broken.push(bad);
        broken.extend(&chars[i..]);
        prop_assert!(Email::parse(&broken).is_err(), "{:?}", broken);
    }

    #[test]
    fn malformed_dots_and_labels_are_refused(local in local_part(), domain in domain()) {
        let tld = domain.split('.').next_back().unwrap();
        // A single-label domain is refused, except `localhost` (allowed for development).
        prop_assume!(!tld.eq_ignore_ascii_case("localhost"));
        for bad in [
            format!(".{local}@{domain}"),
            format!("{local}.@{domain}"),
            format!("{local}..x@{domain}"),
            format!("{local}@.{domain}"),
            format!("{local}@{domain}."),
            format!("{local}@-{domain}"),
            format!("{local}@{domain}1"),
            format!("{local}@{}", domain.replace('.', "..")),
            format!("{local}@@{domain}"),
            format!("{local}@{tld}"),
        ] {
            prop_assert!(Email::parse(&bad).is_err(), "{:?}", bad);
        }
    }
}

// --- Username ------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::cases(256)))]

    #[test]
    fn valid_usernames_round_trip(raw in "[A-Za-z0-9_.-]{3,100}", pad in "[ \t\n]{0,2}") {
        let u = Username::parse(&format!("{pad}{raw}{pad}")).unwrap();
        prop_assert_eq!(u.as_str(), raw.as_str());
        prop_assert_eq!(Username::parse(&u.to_string()).unwrap(), u.clone());
        let canonical = u.canonical();
        prop_assert_eq!(canonical.clone(), raw.to_ascii_lowercase());
        prop_assert_eq!(Username::parse(&canonical).unwrap().canonical(), canonical);
    }

    #[test]
    fn usernames_of_the_wrong_length_are_refused(
        raw in prop_oneof!["[A-Za-z0-9_.-]{0,2}", "[A-Za-z0-9_.-]{101,140}"],
    ) {
        prop_assert!(Username::parse(&raw).is_err());
    }

    #[test]
    fn usernames_outside_the_alphabet_are_refused(
        raw in "[A-Za-z0-9_.-]{3,99}",
        bad in any::<char>().prop_filter("outside the alphabet, not trimmed away", |c| {
            !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        }),
        at in any::<proptest::sample::Index>(),
    ) {
        let i = 1 + at.index(raw.len() - 1);
        let broken = format!("{}{bad}{}", &raw[..i], &raw[i..]);
        prop_assert!(Username::parse(&broken).is_err(), "{:?}", broken);
    }

    #[test]
    fn a_username_is_never_an_email(raw in email()) {
        prop_assert!(Username::parse(&raw).is_err());
    }

    #[test]
    fn roles_accept_exactly_their_alphabet(raw in "\\PC{0,60}") {
        let allowed = (1..=50).contains(&raw.len())
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_:-".contains(c));
        prop_assert_eq!(Role::parse(&raw).is_ok(), allowed);
    }
}

// --- Refresh tokens ------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::cases(256)))]

    #[test]
    fn legacy_refresh_tokens_round_trip_and_move_to_the_new_shape(raw in "[A-Za-z0-9_-]{43}") {
        let keys = RefreshKeys::new(&secret_bytes(vec![1; 32]));
        let t = RefreshToken::parse(&raw).unwrap();
        prop_assert_eq!(t.as_str(), raw.as_str());
        prop_assert_eq!(RefreshToken::parse(t.as_str()), Some(t.clone()));
        prop_assert_eq!(t.names(), Names::Legacy);
        let session = uuid::Uuid::now_v7();
        let next = keys.successor(&t, session);
        prop_assert_eq!(RefreshToken::parse(next.as_str()), Some(next.clone()));
        prop_assert_eq!(next.names(), Names::Session(session));
        prop_assert!(keys.authentic(&next));
        let shown = format!("{t:?}");
        prop_assert!(!shown.contains(&raw));
    }

    #[test]
    fn issued_refresh_tokens_parse_back_and_chain(steps in 1..8usize) {
        let keys = RefreshKeys::new(&secret_bytes(vec![1; 32]));
        let session = uuid::Uuid::now_v7();
        let mut t = keys.issue(session);
        for _ in 0..steps {
            prop_assert_eq!(RefreshToken::parse(t.as_str()), Some(t.clone()));
            prop_assert_eq!(t.names(), Names::Session(session));
            prop_assert!(keys.authentic(&t));
            t = keys.successor(&t, session);
        }
    }

    /// Up to 60 characters: of Sesame's shapes only the legacy one (43) fits; the current one
    /// is 87 characters and decodes to a versioned, tagged token (unit tests in `refresh_token`).
    #[test]
    fn anything_else_is_not_a_refresh_token(raw in "\\PC{0,60}") {
        let shape = raw.len() == 43
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        prop_assert_eq!(RefreshToken::parse(&raw).is_some(), shape);
    }

    #[test]
    fn a_token_with_one_foreign_character_is_refused(
        raw in "[A-Za-z0-9_-]{43}",
        bad in any::<char>().prop_filter("outside base64url", |c| {
            !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        }),
        at in 0usize..43,
    ) {
        let mut chars: Vec<char> = raw.chars().collect();
        chars[at] = bad;
        let broken: String = chars.into_iter().collect();
        prop_assert!(RefreshToken::parse(&broken).is_none());
    }
}
