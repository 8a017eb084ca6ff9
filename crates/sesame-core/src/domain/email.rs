use std::fmt;

/// A normalised email address: trimmed, domain lower-cased, at most 254 characters.
/// Uniqueness is case-insensitive on the whole address ([`Email::canonical`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

const MAX_LEN: usize = 254;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("this field may not be blank");
        }
        if s.chars().count() > MAX_LEN {
            return Err("must be at most 254 characters");
        }
        let (local, domain) = s.rsplit_once('@').ok_or("not a valid email address")?;
        // The rules apply to the form that is stored, after lower-casing: lower case can be
        // longer or of another class than the input (`İ` becomes `i` + U+0307, a combining
        // mark), and an address whose stored form breaks the rules would not parse back.
        let domain = domain.to_lowercase();
        if !valid_local(local) || !valid_domain(&domain) {
            return Err("not a valid email address");
        }
        let email = format!("{local}@{domain}");
        if email.chars().count() > MAX_LEN {
            return Err("must be at most 254 characters");
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and look-ups use: the whole address lower-cased.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }
}

fn valid_local(local: &str) -> bool {
    const FORBIDDEN: &[char] = &['@', '<', '>', '(', ')', ',', ';', ':', '\\', '"', '[', ']'];
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !FORBIDDEN.contains(&c))
}

fn valid_domain(domain: &str) -> bool {
    if domain.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars().count() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_alphabetic() || c == '-'))
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_domain_and_trims() {
        let e = Email::parse("  Alice.Smith@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Alice.Smith@example.com");
        assert_eq!(e.canonical(), "alice.smith@example.com");
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for bad in [
            "",
            "   ",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a b@example.com",
            "a@exa mple.com",
            "a..b@example.com",
            ".a@example.com",
            "a@-example.com",
            "a@example.c0m",
            "a@@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn accepts_common_shapes() {
        for good in [
            "a@example.com",
            "first.last+tag@sub.example.co.uk",
            "x@localhost",
            "ü@bücher.de",
        ] {
            assert!(Email::parse(good).is_ok(), "{good:?} should be accepted");
        }
    }

    #[test]
    fn the_stored_form_parses_back() {
        // Found by tests/properties: `İ` lower-cases to `i` + a combining dot, which is not a
        // letter, so "A@İ.〱A" used to be accepted and stored as an address that did not parse.
        assert!(Email::parse("A@İ.〱A").is_err());
        // Lower case may also be longer: a label of 63 `İ` becomes 126 characters.
        assert!(Email::parse(&format!("a@{}.com", "İ".repeat(63))).is_err());
        for ok in ["a@Bücher.DE", "x@ΑΒΓ.ΕΛ"] {
            let e = Email::parse(ok).unwrap();
            assert_eq!(Email::parse(e.as_str()).unwrap(), e);
        }
    }

    #[test]
    fn enforces_the_length_limit() {
        let long = format!(
            "{}@{}.com",
            "a".repeat(64),
            "b".repeat(63) + "." + &"c".repeat(63) + "." + &"d".repeat(60)
        );
        assert!(long.len() > 254);
        assert!(Email::parse(&long).is_err());
    }
}
