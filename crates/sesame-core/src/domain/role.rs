use std::fmt;

/// A role name: `[a-z0-9_:-]{1,50}`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Role(String);

impl Role {
    pub const CUSTOMER: &'static str = "customer";
    pub const ADMIN: &'static str = "admin";

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let ok = (1..=50).contains(&raw.len())
            && raw.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | ':' | '-')
            });
        if ok {
            Ok(Role(raw.to_string()))
        } else {
            Err("a role is 1 to 50 characters of a-z, 0-9, '_', ':' and '-'")
        }
    }

    pub fn customer() -> Self {
        Role(Self::CUSTOMER.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Role({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_alphabet() {
        assert!(Role::parse("admin").is_ok());
        assert!(Role::parse("billing:read-only_2").is_ok());
        for bad in ["", "Admin", "a b", &"a".repeat(51)] {
            assert!(Role::parse(bad).is_err(), "{bad:?}");
        }
    }
}
