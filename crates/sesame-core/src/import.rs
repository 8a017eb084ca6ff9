//! Moving in: users from another system, with the password hashes they already have, so a
//! migration never forces a password reset (`sesame user import FILE`).
//!
//! The input is JSON Lines, one user per line:
//! `{email, username?, password_hash, roles?, created_at?, email_verified?, disabled?}`.
//! Each line is checked as a registration would be (the same `Email`, `Username` and `Role`
//! types) and its hash by [`hash_format::inspect`] — except against the common-password list,
//! which a hash cannot be checked against. Valid users are written in batches, one transaction
//! per batch, each user with its roles and its `user_imported` audit entry; the database's
//! unique constraints decide which already exist. A line is never half-imported, and a bad line
//! never stops the others: it is reported with its number and why.
//!
//! Idempotent: running the same file again skips every user imported the first time.

use std::collections::{BTreeMap, HashMap};

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::{AuditEvent, Auditor};
use crate::clock::Clock;
use crate::domain::{Email, Role, Username};
use crate::error::CoreError;
use crate::hash_format::{self, CostLimits, Inspected};
use crate::sessions::ClientInfo;
use crate::store::{ImportOutcome, ImportedUser, NewUser, Store};

/// Users written per transaction.
pub const DEFAULT_BATCH_SIZE: usize = 500;
/// Longest line read; a longer one is rejected without being parsed.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Check everything (against the database too) but write nothing.
    pub dry_run: bool,
    /// Users written per transaction (at least 1).
    pub batch_size: usize,
    /// Where the users come from (the file name), recorded in each audit entry.
    pub source: Option<String>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dry_run: false,
            batch_size: DEFAULT_BATCH_SIZE,
            source: None,
        }
    }
}

/// A line whose user already exists (by email): left untouched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub line: u64,
    pub email: String,
}

/// A line that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub line: u64,
    pub reason: String,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub dry_run: bool,
    pub imported: u64,
    /// Imported users per hash scheme (`bcrypt`, `django_pbkdf2_sha256`, …).
    pub schemes: BTreeMap<String, u64>,
    pub skipped: Vec<Skipped>,
    pub rejected: Vec<Rejected>,
}

/// One line of the file. Unknown fields are refused: a misspelt `email_verifed` must not be
/// silently dropped.
// No Debug: it carries the imported password hash.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    email: String,
    #[serde(default)]
    username: Option<String>,
    password_hash: String,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
    #[serde(default)]
    disabled: Option<bool>,
}

struct Pending {
    line: u64,
    user: ImportedUser,
    found: Inspected,
}

/// Feeds the lines of one import; see the module documentation.
#[derive(Debug)]
pub struct Importer {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
    options: ImportOptions,
    limits: CostLimits,
    /// Canonical email / username → the line that first had it (lines that passed the checks).
    emails: HashMap<String, u64>,
    usernames: HashMap<String, u64>,
    pending: Vec<Pending>,
    report: ImportReport,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

impl Importer {
    /// Starts an import; `limits` bound the cost of the hashes taken (see `hash_format`).
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        limits: CostLimits,
        options: ImportOptions,
    ) -> Self {
        Importer {
            audit: Auditor::new(clock.clone()),
            store,
            clock,
            limits,
            report: ImportReport {
                dry_run: options.dry_run,
                ..ImportReport::default()
            },
            options,
            emails: HashMap::new(),
            usernames: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Takes line `number` (counted from 1). Blank lines are ignored. Writes a batch once one is
    /// full; an error is the store's (the batch was rolled back and the import should stop).
    pub async fn line(&mut self, number: u64, text: &str) -> Result<(), CoreError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        match self.parse(number, text) {
            Ok(pending) => self.pending.push(pending),
            Err(reason) => self.reject(number, reason),
        }
        if self.pending.len() >= self.options.batch_size.max(1) {
            self.flush().await?;
        }
        Ok(())
    }

    /// Records a line that could not be read at all (too long, not UTF-8).
    pub fn reject(&mut self, number: u64, reason: impl Into<String>) {
        self.report.rejected.push(Rejected {
            line: number,
            reason: reason.into(),
        });
    }

    /// The report so far (complete for every batch written).
    pub fn report(&self) -> &ImportReport {
        &self.report
    }

    /// Writes the last batch and returns the report, lines in order.
    pub async fn finish(mut self) -> Result<ImportReport, CoreError> {
        self.flush().await?;
        self.report.skipped.sort_by_key(|s| s.line);
        self.report.rejected.sort_by_key(|r| r.line);
        Ok(self.report)
    }

    fn parse(&mut self, number: u64, text: &str) -> Result<Pending, String> {
        let line: Line =
            serde_json::from_str(text).map_err(|e| format!("not a valid user object: {e}"))?;
        let mut problems = Vec::new();
        let email = Email::parse(&line.email)
            .map_err(|m| problems.push(format!("email: {m}")))
            .ok();
        let username = match line.username.as_deref().filter(|u| !u.trim().is_empty()) {
            None => None,
            Some(u) => Username::parse(u)
                .map_err(|m| problems.push(format!("username: {m}")))
                .ok(),
        };
        let hash = line.password_hash.trim();
        let found = hash_format::inspect(hash, &self.limits)
            .map_err(|p| problems.push(format!("password_hash: {p}")))
            .ok();
        let mut roles = vec![Role::CUSTOMER.to_string()];
        for r in line.roles.iter().flatten() {
            match Role::parse(r) {
                Ok(role) => roles.push(role.as_str().to_string()),
                Err(m) => problems.push(format!("roles: '{r}': {m}")),
            }
        }
        roles.sort();
        roles.dedup();
        let now = self.clock.now();
        let created_at = match line.created_at.as_deref().map(parse_time) {
            None => Some(now),
            Some(Ok(t)) if t > now + chrono::Duration::minutes(5) => {
                problems.push("created_at: is in the future".into());
                None
            }
            Some(Ok(t)) => Some(t),
            Some(Err(())) => {
                problems.push("created_at: not an RFC 3339 date-time".into());
                None
            }
        };
        let (Some(email), Some(found), Some(created_at), true) =
            (email, found, created_at, problems.is_empty())
        else {
            return Err(problems.join("; "));
        };
        let email_canonical = email.canonical();
        if let Some(first) = self.emails.get(&email_canonical) {
            return Err(format!("duplicate email: already on line {first}"));
        }
        let username_canonical = username.as_ref().map(Username::canonical);
        if let Some(first) = username_canonical
            .as_ref()
            .and_then(|u| self.usernames.get(u))
        {
            return Err(format!("duplicate username: already on line {first}"));
        }
        self.emails.insert(email_canonical.clone(), number);
        if let Some(u) = &username_canonical {
            self.usernames.insert(u.clone(), number);
        }
        let id = time_ordered_id(created_at).unwrap_or_else(Uuid::now_v7);
        let audit = self.audit.entry(
            AuditEvent::UserImported,
            Some(id),
            &ClientInfo::default(),
            serde_json::json!({
                "scheme": found.scheme.as_str(),
                "line": number,
                "source": self.options.source,
            }),
        );
        let user = ImportedUser {
            user: NewUser {
                id,
                email: email.as_str().to_string(),
                email_canonical,
                username: username.map(|u| u.as_str().to_string()),
                username_canonical,
                password_hash: hash.to_string(),
                roles,
                now,
            },
            created_at,
            email_verified: line.email_verified.unwrap_or(false),
            disabled: line.disabled.unwrap_or(false),
            audit,
        };
        Ok(Pending {
            line: number,
            user,
            found,
        })
    }

    async fn flush(&mut self) -> Result<(), CoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let outcomes = if self.options.dry_run {
            self.dry_outcomes(&batch).await?
        } else {
            let users: Vec<ImportedUser> = batch.iter().map(|p| p.user.clone()).collect();
            self.store.import_users(&users).await?
        };
        if outcomes.len() != batch.len() {
            return Err(CoreError::internal("the store reported a partial import"));
        }
        for (p, outcome) in batch.iter().zip(outcomes) {
            match outcome {
                ImportOutcome::Imported => {
                    self.report.imported += 1;
                    *self
                        .report
                        .schemes
                        .entry(p.found.scheme.as_str().to_string())
                        .or_default() += 1;
                }
                ImportOutcome::EmailExists => self.report.skipped.push(Skipped {
                    line: p.line,
                    email: p.user.user.email.clone(),
                }),
                ImportOutcome::UsernameTaken => self.report.rejected.push(Rejected {
                    line: p.line,
                    reason: "username: taken by an existing account".into(),
                }),
            }
        }
        Ok(())
    }

    /// What a real import would find, read-only.
    async fn dry_outcomes(&self, batch: &[Pending]) -> Result<Vec<ImportOutcome>, CoreError> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for p in batch {
            let store = &self.store;
            let outcome = if store
                .find_user_by_login(&p.user.user.email_canonical)
                .await?
                .is_some()
            {
                ImportOutcome::EmailExists
            } else if let Some(u) = &p.user.user.username_canonical
                && store.find_user_by_login(u).await?.is_some()
            {
                ImportOutcome::UsernameTaken
            } else {
                ImportOutcome::Imported
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}

/// RFC 3339 (`2024-05-01T12:00:00Z`, `…+02:00`), or an ISO date-time without offset read as UTC
/// (what `to_json` of a PostgreSQL `timestamp` column gives).
fn parse_time(s: &str) -> Result<DateTime<Utc>, ()> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|t| t.and_utc())
        .map_err(|_| ())
}

/// A UUIDv7 carrying the account's creation time, so listing by id still follows creation.
fn time_ordered_id(created_at: DateTime<Utc>) -> Option<Uuid> {
    let secs = u64::try_from(created_at.timestamp()).ok()?;
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, created_at.timestamp_subsec_nanos());
    Some(Uuid::new_v7(ts))
}
