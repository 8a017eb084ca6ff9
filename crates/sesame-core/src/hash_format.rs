//! The password-hash formats Sesame can verify: its own argon2id, and the formats users bring
//! when they move in from another system (`sesame user import`), so nobody has to reset a
//! password to migrate.
//!
//! Accepted: argon2id/argon2i (PHC), bcrypt (`$2a$`/`$2b$`/`$2y$`), Django's
//! `pbkdf2_sha256$…`, `argon2$…`, `bcrypt$…` and `bcrypt_sha256$…`, PBKDF2 in PHC form
//! (`$pbkdf2-sha256$`/`$pbkdf2-sha512$`, what a Keycloak export converts to) and scrypt (PHC).
//! Every computation and comparison is the RustCrypto / `bcrypt` crates' own: this module only
//! reads the formats and checks them.
//!
//! Import files may be hostile: [`inspect`] refuses malformed strings and cost parameters beyond
//! [`CostLimits`] (a planted hash asking for 2^31 bcrypt rounds or 64 GiB of scrypt memory would
//! otherwise turn every login attempt on that account into a denial of service). Verification
//! inspects again with the same limits, so nothing outside them is ever computed, and nothing
//! here panics on any input.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Longest stored hash considered at all (real ones are under 200 characters).
const MAX_LEN: usize = 512;
/// Longest Django salt accepted (Django makes 22 characters; older versions 12).
const MAX_DJANGO_SALT: usize = 128;

/// Where a stored hash came from, as far as its format tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// PHC `$argon2id$…`: Sesame's own format.
    Argon2id,
    /// PHC `$argon2i$…`.
    Argon2i,
    /// Django's `argon2$argon2id$…` (a PHC string behind Django's prefix).
    DjangoArgon2,
    /// `$2a$`, `$2b$`, `$2y$` (Supabase, Python's and Node's bcrypt, PHP).
    Bcrypt,
    /// Django's `bcrypt$<bcrypt>`.
    DjangoBcrypt,
    /// Django's `bcrypt_sha256$<bcrypt of the hex SHA-256 of the password>`.
    DjangoBcryptSha256,
    /// Django's `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`.
    DjangoPbkdf2Sha256,
    /// PHC `$pbkdf2-sha256$i=…[,l=…]$salt$hash` (e.g. converted from a Keycloak export).
    Pbkdf2Sha256,
    /// PHC `$pbkdf2-sha512$…`.
    Pbkdf2Sha512,
    /// PHC `$scrypt$ln=…,r=…,p=…$salt$hash`.
    Scrypt,
}

impl Scheme {
    /// The name used in audit details and import reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Argon2id => "argon2id",
            Scheme::Argon2i => "argon2i",
            Scheme::DjangoArgon2 => "django_argon2",
            Scheme::Bcrypt => "bcrypt",
            Scheme::DjangoBcrypt => "django_bcrypt",
            Scheme::DjangoBcryptSha256 => "django_bcrypt_sha256",
            Scheme::DjangoPbkdf2Sha256 => "django_pbkdf2_sha256",
            Scheme::Pbkdf2Sha256 => "pbkdf2_sha256",
            Scheme::Pbkdf2Sha512 => "pbkdf2_sha512",
            Scheme::Scrypt => "scrypt",
        }
    }

    /// Whether this is a format Sesame writes itself (everything else is replaced on login).
    pub fn is_native(self) -> bool {
        self == Scheme::Argon2id
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The work a stored hash asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    Argon2 {
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        /// 0x10 or 0x13.
        version: u32,
    },
    Bcrypt {
        cost: u32,
    },
    Pbkdf2 {
        iterations: u32,
        output_len: usize,
    },
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
    },
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cost::Argon2 {
                memory_kib,
                iterations,
                parallelism,
                version,
            } => write!(
                f,
                "v={version},m={memory_kib},t={iterations},p={parallelism}"
            ),
            Cost::Bcrypt { cost } => write!(f, "cost={cost}"),
            Cost::Pbkdf2 {
                iterations,
                output_len,
            } => write!(f, "i={iterations},l={output_len}"),
            Cost::Scrypt { log_n, r, p } => write!(f, "ln={log_n},r={r},p={p}"),
        }
    }
}

/// A stored hash Sesame can verify: its scheme and cost. Holds no part of the hash itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inspected {
    pub scheme: Scheme,
    pub cost: Cost,
}

/// Why a hash is refused. The message names the scheme and the offending parameter, never the
/// salt or the hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HashProblem(String);

impl HashProblem {
    fn new(msg: impl Into<String>) -> Self {
        HashProblem(msg.into())
    }
}

/// The most work a stored hash may ask for. Each bound is a few seconds of one core (or a few
/// hundred MiB) at most; real exports sit far below (bcrypt 10–12, Django PBKDF2 ≤ 1.2 M
/// iterations, Keycloak 27,500–210,000, scrypt ln 14–17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostLimits {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub bcrypt_cost: u32,
    pub pbkdf2_iterations: u32,
    pub scrypt_log_n: u8,
    /// 128 · r · 2^ln bytes.
    pub scrypt_memory_bytes: u64,
    pub scrypt_parallelism: u32,
}

impl CostLimits {
    /// The limits of an import (and of every verification).
    pub const DEFAULT: CostLimits = CostLimits {
        argon2_memory_kib: 256 * 1024,
        argon2_iterations: 16,
        argon2_parallelism: 16,
        bcrypt_cost: 16,
        pbkdf2_iterations: 10_000_000,
        scrypt_log_n: 20,
        scrypt_memory_bytes: 256 * 1024 * 1024,
        scrypt_parallelism: 16,
    };

    /// These limits, raised where needed to admit argon2 hashes at the configured cost (an
    /// operator may configure more than the default limits; Sesame's own hashes always verify).
    pub fn admitting(self, memory_kib: u32, iterations: u32, parallelism: u32) -> CostLimits {
        CostLimits {
            argon2_memory_kib: self.argon2_memory_kib.max(memory_kib),
            argon2_iterations: self.argon2_iterations.max(iterations),
            argon2_parallelism: self.argon2_parallelism.max(parallelism),
            ..self
        }
    }
}

/// Recognises a stored hash and checks that it is well-formed and within `limits`.
pub fn inspect(stored: &str, limits: &CostLimits) -> Result<Inspected, HashProblem> {
    if stored.is_empty() {
        return Err(HashProblem::new("the password hash is empty"));
    }
    if stored.len() > MAX_LEN {
        return Err(HashProblem::new(format!(
            "the password hash is longer than {MAX_LEN} characters"
        )));
    }
    if !stored.is_ascii() || stored.chars().any(|c| c.is_ascii_whitespace()) {
        return Err(HashProblem::new(
            "the password hash has characters no supported format uses",
        ));
    }
    if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        return django_pbkdf2(rest, limits).map(|(cost, _)| Inspected {
            scheme: Scheme::DjangoPbkdf2Sha256,
            cost,
        });
    }
    if let Some(phc) = stored.strip_prefix("argon2$") {
        return argon2_phc(&format!("${phc}"), limits).map(|(_, cost)| Inspected {
            scheme: Scheme::DjangoArgon2,
            cost,
        });
    }
    if let Some(inner) = stored.strip_prefix("bcrypt_sha256$") {
        return bcrypt_cost(inner, limits).map(|cost| Inspected {
            scheme: Scheme::DjangoBcryptSha256,
            cost,
        });
    }
    if let Some(inner) = stored.strip_prefix("bcrypt$") {
        return bcrypt_cost(inner, limits).map(|cost| Inspected {
            scheme: Scheme::DjangoBcrypt,
            cost,
        });
    }
    if stored.starts_with("$2") {
        return bcrypt_cost(stored, limits).map(|cost| Inspected {
            scheme: Scheme::Bcrypt,
            cost,
        });
    }
    if stored.starts_with("$argon2") {
        return argon2_phc(stored, limits).map(|(scheme, cost)| Inspected { scheme, cost });
    }
    if stored.starts_with("$pbkdf2") {
        return pbkdf2_phc(stored, limits);
    }
    if stored.starts_with("$scrypt$") {
        return scrypt_phc(stored, limits);
    }
    Err(HashProblem::new(
        "unsupported password hash format (accepted: argon2id/argon2i PHC, bcrypt $2a$/$2b$/$2y$, \
         Django pbkdf2_sha256$/argon2$/bcrypt$/bcrypt_sha256$, PBKDF2 PHC $pbkdf2-sha256$/$pbkdf2-sha512$, scrypt PHC)",
    ))
}

/// The PHC string inside a Django `argon2$…` hash.
pub fn django_argon2_phc(stored: &str) -> Option<String> {
    stored.strip_prefix("argon2").map(str::to_string)
}

/// Verifies `password` against a stored hash of a non-argon2 scheme (argon2 runs in `hashing`,
/// on the worker's reused memory). Re-inspects within `limits` first: anything outside them, or
/// any format problem, is simply "no". Constant-time comparisons throughout (the crates' own
/// verifiers, or `subtle` for Django's PBKDF2 format which no crate parses).
pub fn verify_legacy(password: &[u8], stored: &str, limits: &CostLimits) -> bool {
    let Ok(found) = inspect(stored, limits) else {
        return false;
    };
    match found.scheme {
        Scheme::Bcrypt => bcrypt::verify(password, stored).unwrap_or(false),
        Scheme::DjangoBcrypt => stored
            .strip_prefix("bcrypt$")
            .is_some_and(|h| bcrypt::verify(password, h).unwrap_or(false)),
        Scheme::DjangoBcryptSha256 => {
            // Django hashes the password first so bcrypt's 72-byte limit does not truncate it.
            let prehashed = hex(&Sha256::digest(password));
            stored
                .strip_prefix("bcrypt_sha256$")
                .is_some_and(|h| bcrypt::verify(prehashed.as_bytes(), h).unwrap_or(false))
        }
        Scheme::DjangoPbkdf2Sha256 => stored
            .strip_prefix("pbkdf2_sha256$")
            .and_then(|rest| django_pbkdf2(rest, limits).ok())
            .is_some_and(|(cost, parts)| {
                let Cost::Pbkdf2 { iterations, .. } = cost else {
                    return false;
                };
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, parts.salt, iterations, &mut out);
                bool::from(parts.hash.ct_eq(&out))
            }),
        Scheme::Pbkdf2Sha256 | Scheme::Pbkdf2Sha512 => PasswordHash::new(stored)
            .is_ok_and(|h| pbkdf2::Pbkdf2.verify_password(password, &h).is_ok()),
        Scheme::Scrypt => PasswordHash::new(stored)
            .is_ok_and(|h| scrypt::Scrypt.verify_password(password, &h).is_ok()),
        // Not legacy: `hashing` verifies these.
        Scheme::Argon2id | Scheme::Argon2i | Scheme::DjangoArgon2 => false,
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

struct DjangoPbkdf2<'a> {
    salt: &'a [u8],
    hash: [u8; 32],
}

/// `<iterations>$<salt>$<base64 of 32 bytes>` (after the `pbkdf2_sha256$` prefix).
fn django_pbkdf2<'a>(
    rest: &'a str,
    limits: &CostLimits,
) -> Result<(Cost, DjangoPbkdf2<'a>), HashProblem> {
    let mut parts = rest.splitn(3, '$');
    let (Some(iterations), Some(salt), Some(hash)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(HashProblem::new(
            "malformed Django pbkdf2_sha256 hash (expected pbkdf2_sha256$<iterations>$<salt>$<hash>)",
        ));
    };
    let iterations: u32 = iterations.parse().map_err(|_| {
        HashProblem::new("Django pbkdf2_sha256: the iteration count is not a number")
    })?;
    check_pbkdf2_iterations(iterations, limits)?;
    if salt.is_empty() || salt.len() > MAX_DJANGO_SALT {
        return Err(HashProblem::new(format!(
            "Django pbkdf2_sha256: the salt must be 1 to {MAX_DJANGO_SALT} characters"
        )));
    }
    let decoded = STANDARD
        .decode(hash)
        .map_err(|_| HashProblem::new("Django pbkdf2_sha256: the hash is not valid base64"))?;
    let hash: [u8; 32] = decoded.try_into().map_err(|d: Vec<u8>| {
        HashProblem::new(format!(
            "Django pbkdf2_sha256: the hash is {} bytes, expected 32",
            d.len()
        ))
    })?;
    Ok((
        Cost::Pbkdf2 {
            iterations,
            output_len: 32,
        },
        DjangoPbkdf2 {
            salt: salt.as_bytes(),
            hash,
        },
    ))
}

fn check_pbkdf2_iterations(iterations: u32, limits: &CostLimits) -> Result<(), HashProblem> {
    if iterations == 0 || iterations > limits.pbkdf2_iterations {
        return Err(HashProblem::new(format!(
            "PBKDF2 iteration count {iterations} is outside 1..={}",
            limits.pbkdf2_iterations
        )));
    }
    Ok(())
}

fn bcrypt_cost(hash: &str, limits: &CostLimits) -> Result<Cost, HashProblem> {
    // `$2x$` marks hashes from a buggy implementation with different results: not accepted.
    if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
        return Err(HashProblem::new(
            "bcrypt: only the $2a$, $2b$ and $2y$ variants are accepted",
        ));
    }
    let parts: bcrypt::HashParts = hash
        .parse()
        .map_err(|e| HashProblem::new(format!("malformed bcrypt hash: {e}")))?;
    let cost = parts.get_cost();
    if !(4..=limits.bcrypt_cost).contains(&cost) {
        return Err(HashProblem::new(format!(
            "bcrypt cost {cost} is outside 4..={}",
            limits.bcrypt_cost
        )));
    }
    Ok(Cost::Bcrypt { cost })
}

fn phc(stored: &str) -> Result<PasswordHash<'_>, HashProblem> {
    let hash = PasswordHash::new(stored)
        .map_err(|e| HashProblem::new(format!("malformed PHC string: {e}")))?;
    // The verifiers decode the salt from B64; one that does not decode would never verify.
    if let Some(salt) = hash.salt {
        let mut buf = [0u8; 64];
        salt.decode_b64(&mut buf)
            .map_err(|_| HashProblem::new("malformed PHC string: the salt is not valid B64"))?;
    }
    Ok(hash)
}

fn argon2_phc(stored: &str, limits: &CostLimits) -> Result<(Scheme, Cost), HashProblem> {
    let hash = phc(stored)?;
    let scheme = match argon2::Algorithm::try_from(hash.algorithm) {
        Ok(argon2::Algorithm::Argon2id) => Scheme::Argon2id,
        Ok(argon2::Algorithm::Argon2i) => Scheme::Argon2i,
        _ => {
            return Err(HashProblem::new(
                "argon2: only argon2id and argon2i are accepted",
            ));
        }
    };
    let version = match hash.version {
        // The reference implementation reads a missing version as 0x10.
        None => 0x10,
        Some(v) if v == 0x10 || v == 0x13 => v,
        Some(v) => return Err(HashProblem::new(format!("argon2: unknown version {v}"))),
    };
    let params = argon2::Params::try_from(&hash)
        .map_err(|e| HashProblem::new(format!("argon2: invalid parameters: {e}")))?;
    let (Some(_), Some(output)) = (hash.salt, hash.hash) else {
        return Err(HashProblem::new("argon2: the salt or the hash is missing"));
    };
    if output.len() < 16 {
        return Err(HashProblem::new(
            "argon2: the hash is shorter than 16 bytes",
        ));
    }
    let (m, t, p) = (params.m_cost(), params.t_cost(), params.p_cost());
    if m > limits.argon2_memory_kib || t > limits.argon2_iterations || p > limits.argon2_parallelism
    {
        return Err(HashProblem::new(format!(
            "argon2 cost m={m},t={t},p={p} is above the limits m={},t={},p={}",
            limits.argon2_memory_kib, limits.argon2_iterations, limits.argon2_parallelism
        )));
    }
    Ok((
        scheme,
        Cost::Argon2 {
            memory_kib: m,
            iterations: t,
            parallelism: p,
            version,
        },
    ))
}

fn pbkdf2_phc(stored: &str, limits: &CostLimits) -> Result<Inspected, HashProblem> {
    let hash = phc(stored)?;
    let scheme = match pbkdf2::Algorithm::try_from(hash.algorithm) {
        Ok(pbkdf2::Algorithm::Pbkdf2Sha256) => Scheme::Pbkdf2Sha256,
        Ok(pbkdf2::Algorithm::Pbkdf2Sha512) => Scheme::Pbkdf2Sha512,
        _ => {
            return Err(HashProblem::new(
                "PBKDF2: only $pbkdf2-sha256$ and $pbkdf2-sha512$ are accepted",
            ));
        }
    };
    // Checks i/l are numbers, that no other parameter is present, and that l matches the hash.
    let params = pbkdf2::Params::try_from(&hash)
        .map_err(|e| HashProblem::new(format!("PBKDF2: invalid parameters: {e}")))?;
    let (Some(_), Some(output)) = (hash.salt, hash.hash) else {
        return Err(HashProblem::new("PBKDF2: the salt or the hash is missing"));
    };
    if output.len() != params.output_length {
        // Without `l=`, PHC PBKDF2 means 32 bytes: a longer hash (Keycloak derives 64) would
        // never verify.
        return Err(HashProblem::new(format!(
            "PBKDF2: the hash is {} bytes but the parameters say {} (add l={})",
            output.len(),
            params.output_length,
            output.len()
        )));
    }
    if params.output_length > 64 {
        return Err(HashProblem::new("PBKDF2: the hash is longer than 64 bytes"));
    }
    check_pbkdf2_iterations(params.rounds, limits)?;
    Ok(Inspected {
        scheme,
        cost: Cost::Pbkdf2 {
            iterations: params.rounds,
            output_len: params.output_length,
        },
    })
}

fn scrypt_phc(stored: &str, limits: &CostLimits) -> Result<Inspected, HashProblem> {
    let hash = phc(stored)?;
    let params = scrypt::Params::try_from(&hash)
        .map_err(|e| HashProblem::new(format!("scrypt: invalid parameters: {e}")))?;
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(HashProblem::new("scrypt: the salt or the hash is missing"));
    }
    let (log_n, r, p) = (params.log_n(), params.r(), params.p());
    let memory = 128u64
        .saturating_mul(u64::from(r))
        .saturating_mul(1u64.checked_shl(u32::from(log_n)).unwrap_or(u64::MAX));
    if log_n > limits.scrypt_log_n
        || memory > limits.scrypt_memory_bytes
        || p > limits.scrypt_parallelism
    {
        return Err(HashProblem::new(format!(
            "scrypt cost ln={log_n},r={r},p={p} is above the limits (ln ≤ {}, 128·r·2^ln ≤ {} MiB, p ≤ {})",
            limits.scrypt_log_n,
            limits.scrypt_memory_bytes / (1024 * 1024),
            limits.scrypt_parallelism
        )));
    }
    Ok(Inspected {
        scheme: Scheme::Scrypt,
        cost: Cost::Scrypt { log_n, r, p },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    use rand::rngs::OsRng;

    const PW: &[u8] = b"correct horse battery staple";
    const LIMITS: CostLimits = CostLimits::DEFAULT;

    fn scheme(stored: &str) -> Scheme {
        inspect(stored, &LIMITS)
            .unwrap_or_else(|e| panic!("{stored}: {e}"))
            .scheme
    }

    fn refused(stored: &str) -> String {
        inspect(stored, &LIMITS)
            .map(|i| panic!("{stored} should be refused, got {i:?}"))
            .unwrap_err()
            .to_string()
    }

    fn django_pbkdf2_hash(pw: &[u8], salt: &str, iterations: u32) -> String {
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(pw, salt.as_bytes(), iterations, &mut out);
        format!("pbkdf2_sha256${iterations}${salt}${}", STANDARD.encode(out))
    }

    #[test]
    fn bcrypt_variants_verify_and_report_their_cost() {
        let h = bcrypt::hash(PW, 4).unwrap();
        assert_eq!(scheme(&h), Scheme::Bcrypt);
        assert_eq!(inspect(&h, &LIMITS).unwrap().cost, Cost::Bcrypt { cost: 4 });
        for v in ["$2a$", "$2b$", "$2y$"] {
            let variant = format!("{v}{}", &h[4..]);
            assert!(verify_legacy(PW, &variant, &LIMITS), "{variant}");
            assert!(!verify_legacy(b"wrong horse", &variant, &LIMITS));
        }
        let django = format!("bcrypt${h}");
        assert_eq!(scheme(&django), Scheme::DjangoBcrypt);
        assert!(verify_legacy(PW, &django, &LIMITS));
        assert!(!verify_legacy(b"nope", &django, &LIMITS));

        let prehashed = hex(&Sha256::digest(PW));
        let sha = format!("bcrypt_sha256${}", bcrypt::hash(prehashed, 4).unwrap());
        assert_eq!(scheme(&sha), Scheme::DjangoBcryptSha256);
        assert!(verify_legacy(PW, &sha, &LIMITS));
        assert!(!verify_legacy(b"nope", &sha, &LIMITS));
    }

    #[test]
    fn bcrypt_cost_beyond_the_limit_and_2x_are_refused() {
        let h = bcrypt::hash(PW, 4).unwrap();
        let expensive = format!("$2b$17${}", &h[7..]);
        assert!(refused(&expensive).contains("cost 17"));
        assert!(!verify_legacy(PW, &expensive, &LIMITS));
        let cheap = format!("$2b$03${}", &h[7..]);
        assert!(refused(&cheap).contains("cost 3"));
        assert!(refused(&format!("$2x${}", &h[4..])).contains("$2a$"));
        assert!(refused(&h[..59]).contains("bcrypt"));
    }

    #[test]
    fn django_pbkdf2_verifies_and_checks_its_parts() {
        let h = django_pbkdf2_hash(PW, "seasalt22characters000", 1000);
        assert_eq!(scheme(&h), Scheme::DjangoPbkdf2Sha256);
        assert!(verify_legacy(PW, &h, &LIMITS));
        assert!(!verify_legacy(b"wrong horse", &h, &LIMITS));
        assert!(refused("pbkdf2_sha256$1000$salt").contains("malformed"));
        assert!(refused("pbkdf2_sha256$many$salt$AAAA").contains("not a number"));
        assert!(refused("pbkdf2_sha256$0$salt$AAAA").contains("outside"));
        assert!(refused("pbkdf2_sha256$10000001$salt$AAAA").contains("10000001"));
        assert!(refused("pbkdf2_sha256$1000$salt$AAAA").contains("3 bytes, expected 32"));
        assert!(refused("pbkdf2_sha256$1000$salt$***").contains("base64"));
        assert!(refused("pbkdf2_sha256$1000$$AAAA").contains("salt"));
    }

    #[test]
    fn phc_pbkdf2_verifies_with_and_without_l() {
        use pbkdf2::{Params, Pbkdf2};
        let salt = SaltString::generate(&mut OsRng);
        for (alg, len) in [
            ("pbkdf2-sha256", 32),
            ("pbkdf2-sha512", 64),
            ("pbkdf2-sha256", 64),
        ] {
            let h = Pbkdf2
                .hash_password_customized(
                    PW,
                    Some(argon2::password_hash::Ident::new(alg).unwrap()),
                    None,
                    Params {
                        rounds: 1000,
                        output_length: len,
                    },
                    &salt,
                )
                .unwrap()
                .to_string();
            assert!(inspect(&h, &LIMITS).is_ok(), "{h}");
            assert!(verify_legacy(PW, &h, &LIMITS), "{h}");
            assert!(!verify_legacy(b"wrong horse", &h, &LIMITS), "{h}");
        }
        // Without l= the hash must be 32 bytes (the PHC default), or it could never verify.
        let h = Pbkdf2
            .hash_password_customized(
                PW,
                None,
                None,
                Params {
                    rounds: 1000,
                    output_length: 64,
                },
                &salt,
            )
            .unwrap()
            .to_string()
            .replace(",l=64", "");
        assert!(refused(&h).contains("l=64"), "{h}");
        let h32 = Pbkdf2
            .hash_password_customized(
                PW,
                None,
                None,
                Params {
                    rounds: 1000,
                    output_length: 32,
                },
                &salt,
            )
            .unwrap()
            .to_string();
        assert!(refused(&h32.replace("i=1000", "i=10000001")).contains("outside"));
        assert!(refused(&h32.replace("i=1000", "i=0")).contains("outside"));
        assert!(refused(&h32.replace("pbkdf2-sha256", "pbkdf2")).contains("PBKDF2"));
    }

    #[test]
    fn scrypt_verifies_and_its_cost_is_bounded() {
        use scrypt::{Params, Scrypt};
        let salt = SaltString::generate(&mut OsRng);
        let h = Scrypt
            .hash_password_customized(PW, None, None, Params::new(10, 8, 1, 32).unwrap(), &salt)
            .unwrap()
            .to_string();
        assert_eq!(scheme(&h), Scheme::Scrypt);
        assert!(verify_legacy(PW, &h, &LIMITS));
        assert!(!verify_legacy(b"wrong horse", &h, &LIMITS));
        // 2^21 > the log_n limit; 2^20 at r=8 is 1 GiB > the memory limit; p beyond 16.
        assert!(refused(&h.replace("ln=10", "ln=21")).contains("ln=21"));
        assert!(refused(&h.replace("ln=10", "ln=20")).contains("MiB"));
        assert!(refused(&h.replace("p=1", "p=17")).contains("p=17"));
        // Parameters left out mean scrypt's defaults (ln=17, r=8: 128 MiB), which are allowed.
        let bare = h.replace("ln=10,r=8,p=1", "");
        assert!(inspect(&bare, &LIMITS).is_err() || scheme(&bare) == Scheme::Scrypt);
    }

    #[test]
    fn argon2_phc_is_recognised_and_bounded() {
        let a = argon2::Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            argon2::Params::new(64, 1, 1, None).unwrap(),
        );
        let h = a
            .hash_password(PW, &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert_eq!(scheme(&h), Scheme::Argon2i);
        assert_eq!(scheme(&format!("argon2{h}")), Scheme::DjangoArgon2);
        assert_eq!(django_argon2_phc(&format!("argon2{h}")).unwrap(), h);
        assert!(refused(&h.replace("m=64", "m=262145")).contains("above the limits"));
        assert!(refused(&h.replace("t=1", "t=17")).contains("above the limits"));
        assert!(refused(&h.replace("argon2i", "argon2d")).contains("argon2id and argon2i"));
        // Raised limits admit the configured cost.
        let raised = LIMITS.admitting(300_000, 1, 1);
        assert!(inspect(&h.replace("m=64", "m=262145"), &raised).is_ok());
    }

    #[test]
    fn unsupported_and_malformed_strings_are_refused() {
        for bad in [
            "",
            "plaintext-password",
            "md5$salt$hash",
            "sha1$salt$hash",
            "!unusable",
            "$1$salt$hash",
            "$pbkdf2-sha256$29000$salt$hash",
            "$argon2id$",
            "$scrypt$ln=10",
            "pbkdf2_sha256$ 1000$salt$hash",
            "$2b$12$ünicode",
        ] {
            assert!(inspect(bad, &LIMITS).is_err(), "{bad:?}");
            assert!(!verify_legacy(PW, bad, &LIMITS), "{bad:?}");
        }
        assert!(inspect(&"x".repeat(513), &LIMITS).is_err());
    }

    #[test]
    fn mangled_hashes_never_panic() {
        let salt = SaltString::generate(&mut OsRng);
        let valid = [
            bcrypt::hash(PW, 4).unwrap(),
            django_pbkdf2_hash(PW, "salt", 10),
            pbkdf2::Pbkdf2
                .hash_password_customized(
                    PW,
                    None,
                    None,
                    pbkdf2::Params {
                        rounds: 10,
                        output_length: 32,
                    },
                    &salt,
                )
                .unwrap()
                .to_string(),
            scrypt::Scrypt
                .hash_password_customized(
                    PW,
                    None,
                    None,
                    scrypt::Params::new(4, 8, 1, 32).unwrap(),
                    &salt,
                )
                .unwrap()
                .to_string(),
        ];
        let swaps = ['$', '0', '9', ',', '=', 'a', '.', '/', 'é', '\0'];
        for h in &valid {
            let chars: Vec<char> = h.chars().collect();
            for i in 0..chars.len() {
                let truncated: String = chars[..i].iter().collect();
                let _ = verify_legacy(PW, &truncated, &LIMITS);
                for c in swaps {
                    let mut m = chars.clone();
                    m[i] = c;
                    let mangled: String = m.into_iter().collect();
                    let _ = inspect(&mangled, &LIMITS);
                    let _ = verify_legacy(PW, &mangled, &LIMITS);
                }
            }
        }
    }
}
