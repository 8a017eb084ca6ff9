use std::fmt;

/// 3–100 characters of `[A-Za-z0-9_.-]`. No `@`, so a login name is never ambiguous between a
/// username and an email. Uniqueness is case-insensitive ([`Username::canonical`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim();
        let n = s.chars().count();
        if !(3..=100).contains(&n) {
            return Err("must be 3 to 100 characters");
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err("may contain only letters, digits, '_', '.' and '-'");
        }
        Ok(Username(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn canonical(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        assert_eq!(
            Username::parse("Al_ice.B-2").unwrap().canonical(),
            "al_ice.b-2"
        );
        assert!(Username::parse(&"a".repeat(100)).is_ok());
    }

    #[test]
    fn rejects_length_and_alphabet_violations() {
        for bad in ["ab", "", "a b c", "al@ce", "émile", "a/b/c"] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(Username::parse(&"a".repeat(101)).is_err());
    }
}
