//! One context per page: the variables its template gets (besides the [`crate::Layout`] ones).
//! docs/pages.md lists them; a test checks that it names every field here.
//!
//! Conventions: `values` holds what the person typed, to put back into the form (never a
//! password); `errors` maps a field to its message, `form_error` is a message for the whole form —
//! both already in the page's language.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{Page, TemplateError, Templates};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An upstream identity provider offered on the sign-in page.
#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    pub id: String,
    pub name: String,
}

/// `pages/signin.html`
#[derive(Debug, Clone, Serialize, Default)]
pub struct SignIn {
    /// What was typed as username or email.
    pub identifier: String,
    /// A same-origin path to continue to after signing in.
    pub return_to: Option<String>,
    pub form_error: Option<String>,
    /// Seconds until a lockout ends, when the sign-in was refused for it.
    pub locked_seconds: Option<u64>,
    /// Upstream providers' buttons (none until that issue lands).
    pub providers: Vec<Provider>,
    /// Passkeys work on this server: the page offers "Sign in with a passkey" (shown by
    /// `/static/passkeys.js` where the browser has WebAuthn) and the username field's autofill.
    pub passkeys: bool,
}

impl Page for SignIn {
    const TEMPLATE: &'static str = "pages/signin.html";
    fn cache_key(&self) -> Option<String> {
        let blank = self.identifier.is_empty()
            && self.form_error.is_none()
            && self.locked_seconds.is_none()
            && self.providers.is_empty();
        blank.then(|| self.return_to.clone().unwrap_or_default())
    }
    fn samples() -> Vec<Self> {
        vec![
            SignIn::default(),
            SignIn {
                identifier: "ada".into(),
                return_to: Some("/account/sessions".into()),
                form_error: Some("Wrong.".into()),
                locked_seconds: Some(600),
                providers: vec![Provider {
                    id: "github".into(),
                    name: "GitHub".into(),
                }],
                passkeys: true,
            },
        ]
    }
}

/// `pages/signin_mfa.html`: the second step of a sign-in with a second factor.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SignInMfa {
    /// A same-origin path to continue to after signing in.
    pub return_to: Option<String>,
    pub form_error: Option<String>,
    /// Seconds until a lockout ends, when the code was refused for it.
    pub locked_seconds: Option<u64>,
    /// The person has an authenticator app: the code form.
    pub totp: bool,
    /// The person has a passkey: "Use a passkey" (by `/static/passkeys.js`).
    pub passkey: bool,
}

impl Page for SignInMfa {
    const TEMPLATE: &'static str = "pages/signin_mfa.html";
    fn samples() -> Vec<Self> {
        vec![
            SignInMfa::default(),
            SignInMfa {
                return_to: Some("/account/security".into()),
                form_error: Some("Wrong.".into()),
                locked_seconds: Some(600),
                totp: true,
                passkey: true,
            },
        ]
    }
}

/// `pages/signup.html`
#[derive(Debug, Clone, Serialize, Default)]
pub struct SignUp {
    pub values: BTreeMap<String, String>,
    pub errors: BTreeMap<String, String>,
    pub form_error: Option<String>,
}

impl Page for SignUp {
    const TEMPLATE: &'static str = "pages/signup.html";
    fn cache_key(&self) -> Option<String> {
        (self.values.is_empty() && self.errors.is_empty() && self.form_error.is_none())
            .then(String::new)
    }
    fn samples() -> Vec<Self> {
        vec![
            SignUp::default(),
            SignUp {
                values: map(&[("email", "ada@example.com"), ("username", "ada")]),
                errors: map(&[
                    ("email", "taken"),
                    ("username", "bad"),
                    ("password", "short"),
                ]),
                form_error: Some("No.".into()),
            },
        ]
    }
}

/// `pages/check_email.html`
#[derive(Debug, Clone, Serialize)]
pub struct CheckEmail {
    /// `verify` (after sign-up) or `reset` (after forgot-password).
    pub reason: String,
}

impl Page for CheckEmail {
    const TEMPLATE: &'static str = "pages/check_email.html";
    fn samples() -> Vec<Self> {
        vec![
            CheckEmail {
                reason: "verify".into(),
            },
            CheckEmail {
                reason: "reset".into(),
            },
        ]
    }
}

/// `pages/forgot_password.html`
#[derive(Debug, Clone, Serialize, Default)]
pub struct ForgotPassword {
    pub values: BTreeMap<String, String>,
    pub errors: BTreeMap<String, String>,
}

impl Page for ForgotPassword {
    const TEMPLATE: &'static str = "pages/forgot_password.html";
    fn cache_key(&self) -> Option<String> {
        (self.values.is_empty() && self.errors.is_empty()).then(String::new)
    }
    fn samples() -> Vec<Self> {
        vec![
            ForgotPassword::default(),
            ForgotPassword {
                values: map(&[("email", "x")]),
                errors: map(&[("email", "not an address")]),
            },
        ]
    }
}

/// `pages/reset_password.html`
#[derive(Clone, Serialize, Default)]
pub struct ResetPassword {
    /// The link's token, posted back with the form.
    pub token: String,
    /// The link is bad, used or expired: no form, a way to ask for a new one.
    pub token_invalid: bool,
    pub errors: BTreeMap<String, String>,
}

/// The link's token lets its holder into the account: never in a `Debug` print.
impl std::fmt::Debug for ResetPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetPassword")
            .field("token", &"[REDACTED]")
            .field("token_invalid", &self.token_invalid)
            .field("errors", &self.errors)
            .finish()
    }
}

impl Page for ResetPassword {
    const TEMPLATE: &'static str = "pages/reset_password.html";
    fn samples() -> Vec<Self> {
        vec![
            ResetPassword {
                token: "t".into(),
                token_invalid: false,
                errors: map(&[("new_password", "short")]),
            },
            ResetPassword {
                token: String::new(),
                token_invalid: true,
                errors: BTreeMap::new(),
            },
        ]
    }
}

/// `pages/verify_email.html`
#[derive(Clone, Serialize)]
pub struct VerifyEmail {
    pub token: String,
    /// `confirm` (the button), `verified`, or `invalid`.
    pub state: String,
}

impl std::fmt::Debug for VerifyEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyEmail")
            .field("token", &"[REDACTED]")
            .field("state", &self.state)
            .finish()
    }
}

impl Page for VerifyEmail {
    const TEMPLATE: &'static str = "pages/verify_email.html";
    fn samples() -> Vec<Self> {
        ["confirm", "verified", "invalid"]
            .into_iter()
            .map(|s| VerifyEmail {
                token: "t".into(),
                state: s.into(),
            })
            .collect()
    }
}

/// `pages/signout.html`
#[derive(Debug, Clone, Serialize)]
pub struct SignOut {}

impl Page for SignOut {
    const TEMPLATE: &'static str = "pages/signout.html";
    fn samples() -> Vec<Self> {
        vec![SignOut {}]
    }
}

/// One scope on the consent page: OpenID's own are described by the catalogue
/// (`scope-<name>`), an API's are shown by name.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeLine {
    pub name: String,
    pub known: bool,
}

/// A request parameter the consent form carries back.
#[derive(Debug, Clone, Serialize)]
pub struct HiddenField {
    pub name: String,
    pub value: String,
}

/// `pages/consent.html`: an app asks for the person's permission.
#[derive(Debug, Clone, Serialize)]
pub struct Consent {
    pub client_name: String,
    /// Where the app's redirect URI points (its host, or a native app's scheme): the name alone
    /// is the app's own choice, the address is what the registration vouches for.
    pub redirect_host: String,
    pub scopes: Vec<ScopeLine>,
    /// The authorization request, posted back with the decision.
    pub params: Vec<HiddenField>,
}

impl Page for Consent {
    const TEMPLATE: &'static str = "pages/consent.html";
    fn samples() -> Vec<Self> {
        vec![Consent {
            client_name: "Photo Book".into(),
            redirect_host: "photos.example.com".into(),
            scopes: vec![
                ScopeLine {
                    name: "openid".into(),
                    known: true,
                },
                ScopeLine {
                    name: "profile".into(),
                    known: true,
                },
                ScopeLine {
                    name: "email".into(),
                    known: true,
                },
                ScopeLine {
                    name: "offline_access".into(),
                    known: true,
                },
                ScopeLine {
                    name: "images:read".into(),
                    known: false,
                },
            ],
            params: vec![HiddenField {
                name: "client_id".into(),
                value: "photo-book".into(),
            }],
        }]
    }
}

/// `pages/signed_out.html`: after RP-initiated logout without a way back to the app.
#[derive(Debug, Clone, Serialize)]
pub struct SignedOut {}

impl Page for SignedOut {
    const TEMPLATE: &'static str = "pages/signed_out.html";
    fn samples() -> Vec<Self> {
        vec![SignedOut {}]
    }
}

/// One app on `/account/apps`.
#[derive(Debug, Clone, Serialize)]
pub struct AppGrant {
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
}

/// `pages/account/apps.html`: the apps the person allowed.
#[derive(Debug, Clone, Serialize)]
pub struct AccountApps {
    pub apps: Vec<AppGrant>,
}

impl Page for AccountApps {
    const TEMPLATE: &'static str = "pages/account/apps.html";
    fn samples() -> Vec<Self> {
        vec![
            AccountApps { apps: vec![] },
            AccountApps {
                apps: vec![AppGrant {
                    client_id: "photo-book".into(),
                    client_name: "Photo Book".into(),
                    scopes: vec!["email".into(), "openid".into()],
                }],
            },
        ]
    }
}

/// `pages/error.html`
#[derive(Debug, Clone, Serialize)]
pub struct ErrorPage {
    pub status: u16,
    /// Catalogue ids of the title and the explanation.
    pub title_id: String,
    pub message_id: String,
}

impl Page for ErrorPage {
    const TEMPLATE: &'static str = "pages/error.html";
    fn samples() -> Vec<Self> {
        vec![ErrorPage {
            status: 403,
            title_id: "error-csrf-title".into(),
            message_id: "error-csrf".into(),
        }]
    }
}

/// `pages/account/profile.html`
#[derive(Debug, Clone, Serialize, Default)]
pub struct AccountProfile {
    pub email: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub email_verified: bool,
    /// A new address waiting for its verification link to be used.
    pub pending_email: Option<String>,
    pub values: BTreeMap<String, String>,
    pub errors: BTreeMap<String, String>,
    pub form_error: Option<String>,
    /// Signed in with a password alone and no passkey yet: offer one.
    pub offer_passkey: bool,
}

impl Page for AccountProfile {
    const TEMPLATE: &'static str = "pages/account/profile.html";
    fn samples() -> Vec<Self> {
        vec![
            AccountProfile {
                email: "ada@example.com".into(),
                offer_passkey: true,
                ..Default::default()
            },
            AccountProfile {
                email: "ada@example.com".into(),
                username: Some("ada".into()),
                display_name: Some("Ada".into()),
                email_verified: true,
                pending_email: Some("new@example.com".into()),
                values: map(&[("display_name", "A"), ("username", "a b"), ("email", "x")]),
                errors: map(&[("username", "bad"), ("current_password", "wrong")]),
                form_error: Some("Locked.".into()),
                offer_passkey: false,
            },
        ]
    }
}

/// `pages/account/security.html`
#[derive(Debug, Clone, Serialize, Default)]
pub struct AccountSecurity {
    pub errors: BTreeMap<String, String>,
    pub form_error: Option<String>,
    /// The second-factor section.
    pub mfa: MfaSection,
}

/// The second-factor part of `pages/account/security.html`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct MfaSection {
    /// A confirmed authenticator app.
    pub totp: bool,
    pub recovery_codes_left: u32,
    /// A role of the person's requires a second factor (`SESAME_MFA_REQUIRED_ROLES`) and they
    /// have none yet.
    pub required: bool,
    /// An authenticator app being set up, waiting for its first code.
    pub enrolling: Option<TotpSetup>,
    /// Recovery codes made by this very request: shown this once.
    pub recovery_codes: Vec<String>,
    /// A confirmed authenticator app or a passkey: recovery codes stand in for them.
    pub has_second_factor: bool,
    /// Passkeys work on this server (not on an IP-address issuer without an RP id).
    pub passkeys_available: bool,
    /// The person's passkeys, oldest first.
    pub passkeys: Vec<PasskeyRow>,
    /// Why adding, renaming or removing a passkey was refused, shown in its section.
    pub passkey_error: Option<String>,
    /// Upstream identities linked to the account.
    pub identities: Vec<IdentityRow>,
    /// Providers not linked yet: a "Link" button each.
    pub linkable: Vec<Provider>,
    /// Why unlinking was refused (the last way in), shown in its section.
    pub identity_error: Option<String>,
}

/// A linked upstream identity as `/account/security` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityRow {
    pub id: String,
    /// The provider's name, as its button says.
    pub provider: String,
    pub email: Option<String>,
    /// When it was linked, as shown.
    pub linked_at: String,
}

/// A passkey as `/account/security` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct PasskeyRow {
    pub id: String,
    pub name: String,
    /// When it was added, as shown (`2026-12-05 04:30 UTC`).
    pub created_at: String,
    /// The last sign-in with it, as shown; `None` when never used.
    pub last_used_at: Option<String>,
}

/// What a person needs to add Sesame to an authenticator app.
#[derive(Debug, Clone, Serialize)]
pub struct TotpSetup {
    /// The `otpauth://` URI as a QR code: an inline `<svg>` Sesame drew (trusted markup).
    pub qr_svg: String,
    /// The secret in base32, in groups of four, for typing instead of scanning.
    pub secret: String,
}

impl Page for AccountSecurity {
    const TEMPLATE: &'static str = "pages/account/security.html";
    fn samples() -> Vec<Self> {
        vec![
            AccountSecurity::default(),
            AccountSecurity {
                errors: map(&[("current_password", "wrong"), ("new_password", "weak")]),
                form_error: Some("Locked.".into()),
                mfa: MfaSection {
                    required: true,
                    ..MfaSection::default()
                },
            },
            AccountSecurity {
                errors: map(&[("totp_code", "wrong")]),
                mfa: MfaSection {
                    enrolling: Some(TotpSetup {
                        qr_svg: "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>".into(),
                        secret: "JBSW Y3DP EHPK 3PXP".into(),
                    }),
                    ..MfaSection::default()
                },
                ..AccountSecurity::default()
            },
            AccountSecurity {
                mfa: MfaSection {
                    totp: true,
                    recovery_codes_left: 10,
                    recovery_codes: vec!["abcd-efgh-ijkl".into(); 10],
                    ..MfaSection::default()
                },
                ..AccountSecurity::default()
            },
            AccountSecurity {
                mfa: MfaSection {
                    totp: true,
                    recovery_codes_left: 2,
                    has_second_factor: true,
                    passkeys_available: true,
                    passkeys: vec![PasskeyRow {
                        id: "0190a3f0-0000-7000-8000-000000000000".into(),
                        name: "Laptop".into(),
                        created_at: "2026-12-05 04:30 UTC".into(),
                        last_used_at: Some("2026-12-05 05:00 UTC".into()),
                    }],
                    passkey_error: Some("Refused.".into()),
                    identities: vec![IdentityRow {
                        id: "0190a3f0-0000-7000-8000-000000000001".into(),
                        provider: "Corp".into(),
                        email: Some("ada@corp.example".into()),
                        linked_at: "2026-12-05 04:30 UTC".into(),
                    }],
                    linkable: vec![Provider {
                        id: "github".into(),
                        name: "GitHub".into(),
                    }],
                    identity_error: Some("Last.".into()),
                    ..MfaSection::default()
                },
                ..AccountSecurity::default()
            },
        ]
    }
}

/// One row of `pages/account/sessions.html`.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRow {
    pub id: String,
    /// `browser` or `api`.
    pub kind: String,
    /// A short name of the user agent ("Firefox · Linux").
    pub device: String,
    pub ip: Option<String>,
    /// RFC 3339, UTC (the `datetime` filter shows it readably).
    pub created_at: String,
    pub last_used_at: String,
    /// This browser's own session.
    pub current: bool,
}

/// `pages/account/sessions.html`
#[derive(Debug, Clone, Serialize, Default)]
pub struct AccountSessions {
    pub sessions: Vec<SessionRow>,
}

impl Page for AccountSessions {
    const TEMPLATE: &'static str = "pages/account/sessions.html";
    fn samples() -> Vec<Self> {
        let row = |current: bool, kind: &str, ip: Option<&str>| SessionRow {
            id: "0190c0de-0000-7000-8000-000000000001".into(),
            kind: kind.into(),
            device: "Firefox · Linux".into(),
            ip: ip.map(str::to_string),
            created_at: "2026-12-04T13:05:09.123+00:00".into(),
            last_used_at: "2026-12-04T14:05:09.123+00:00".into(),
            current,
        };
        vec![
            AccountSessions::default(),
            AccountSessions {
                sessions: vec![
                    row(true, "browser", Some("192.0.2.1")),
                    row(false, "api", None),
                ],
            },
        ]
    }
}

/// Every page type, checked by [`Templates::load`]: a new page must be added here (the tests
/// check that every page template is covered).
pub(crate) fn check_all(t: &Templates) -> Result<(), TemplateError> {
    t.check::<SignIn>()?;
    t.check::<SignInMfa>()?;
    t.check::<SignUp>()?;
    t.check::<CheckEmail>()?;
    t.check::<ForgotPassword>()?;
    t.check::<ResetPassword>()?;
    t.check::<VerifyEmail>()?;
    t.check::<SignOut>()?;
    t.check::<ErrorPage>()?;
    t.check::<AccountProfile>()?;
    t.check::<AccountSecurity>()?;
    t.check::<AccountSessions>()?;
    t.check::<Consent>()?;
    t.check::<SignedOut>()?;
    t.check::<AccountApps>()?;
    t.check::<ConsoleHome>()?;
    t.check::<ConsoleUsers>()?;
    t.check::<ConsoleUser>()?;
    t.check::<ConsoleClients>()?;
    t.check::<ConsoleKeys>()?;
    t.check::<ConsoleAudit>()?;
    t.check::<ConsoleWebhooks>()?;
    t.check::<ConsoleWebhook>()?;
    Ok(())
}

/// One user in the console's lists and on their page.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConsoleUserRow {
    pub id: String,
    pub email: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    pub email_verified: bool,
    pub disabled: bool,
    /// An account-wide lock is in force (`locked_until` in the future).
    pub locked: bool,
    /// RFC 3339, UTC; `locked_until` only while locked.
    pub locked_until: Option<String>,
    pub failed_logins: u32,
    pub created_at: String,
    pub last_login_at: Option<String>,
}

/// `pages/console/home.html`: the overview an operator takes in at a glance.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConsoleHome {
    pub users: u64,
    pub active_sessions: u64,
    pub email_backlog: u64,
    pub webhook_backlog: u64,
    /// The published signing keys, with their ages.
    pub keys: Vec<ConsoleKeyRow>,
    /// The last hour, then the last day.
    pub charts: Vec<ConsoleChart>,
}

/// Sign-ins, failures, lockouts and refresh-token reuse over a window.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConsoleChart {
    /// `hour` or `day`.
    pub window: String,
    /// An inline `<svg>` Sesame drew (trusted markup), titled for screen readers.
    pub svg: String,
    /// The series (audit event names), in legend order; `colors` is each one's stroke.
    pub series: Vec<String>,
    pub colors: Vec<String>,
    /// The window's total per series.
    pub totals: Vec<u64>,
    /// One row per bucket: its start and a count per series — the chart as numbers.
    pub rows: Vec<ConsoleChartRow>,
}

/// One bucket of a [`ConsoleChart`].
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleChartRow {
    pub start: String,
    pub counts: Vec<u64>,
}

impl Page for ConsoleHome {
    const TEMPLATE: &'static str = "pages/console/home.html";
    fn samples() -> Vec<Self> {
        vec![
            ConsoleHome::default(),
            ConsoleHome {
                users: 1_000_000,
                active_sessions: 12,
                email_backlog: 1,
                webhook_backlog: 3,
                keys: vec![ConsoleKeyRow {
                    kid: "k1".into(),
                    purpose: "access".into(),
                    alg: "EdDSA".into(),
                    state: "active".into(),
                    created_at: "2026-12-04T13:05:09.123+00:00".into(),
                    age_days: 0,
                }],
                charts: vec![ConsoleChart {
                    window: "hour".into(),
                    svg: "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>".into(),
                    series: vec!["login_failed".into()],
                    colors: vec!["#b91c1c".into()],
                    totals: vec![7],
                    rows: vec![ConsoleChartRow {
                        start: "2026-12-04T13:05:09.123+00:00".into(),
                        counts: vec![7],
                    }],
                }],
            },
        ]
    }
}

/// `pages/console/users.html`: search and a page of users.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConsoleUsers {
    /// What was searched for (email or username, as typed).
    pub query: String,
    pub users: Vec<ConsoleUserRow>,
    /// The address of the next page (search and cursor), when there is one.
    pub next_page: Option<String>,
}

impl Page for ConsoleUsers {
    const TEMPLATE: &'static str = "pages/console/users.html";
    fn samples() -> Vec<Self> {
        vec![
            ConsoleUsers::default(),
            ConsoleUsers {
                query: "ada".into(),
                users: vec![ConsoleUserRow {
                    id: "0190c0de-0000-7000-8000-000000000001".into(),
                    email: "ada@example.com".into(),
                    username: Some("ada".into()),
                    roles: vec!["customer".into(), "admin".into()],
                    locked: true,
                    created_at: "2026-12-04T13:05:09.123+00:00".into(),
                    ..ConsoleUserRow::default()
                }],
                next_page: Some("/console/users?q=ada&cursor=0190c0de".into()),
            },
        ]
    }
}

/// One audit event on a user's console page.
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleEvent {
    pub at: String,
    pub event: String,
    pub ip: Option<String>,
}

/// `pages/console/user.html`: one user, and what an operator may do to them.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConsoleUser {
    pub user: ConsoleUserRow,
    pub sessions: Vec<SessionRow>,
    /// The newest audit events about the user.
    pub events: Vec<ConsoleEvent>,
    /// A confirmed authenticator app, and recovery codes left.
    pub totp: bool,
    pub recovery_codes_left: u32,
    /// Passkeys registered.
    pub passkeys: u32,
    /// Upstream identities linked to the account: "Provider (email)".
    pub identities: Vec<String>,
    /// A destructive action waiting to be confirmed: `disable`, `end-sessions`,
    /// `remove-factors` or `delete` (which asks for the email to be typed).
    pub confirm: Option<String>,
    pub form_error: Option<String>,
    /// Field errors of the roles form (`roles`) and of the deletion (`confirm_email`).
    pub errors: BTreeMap<String, String>,
}

impl Page for ConsoleUser {
    const TEMPLATE: &'static str = "pages/console/user.html";
    fn samples() -> Vec<Self> {
        let user = ConsoleUserRow {
            id: "0190c0de-0000-7000-8000-000000000001".into(),
            email: "ada@example.com".into(),
            username: Some("ada".into()),
            display_name: Some("Ada".into()),
            roles: vec!["customer".into()],
            email_verified: true,
            locked: true,
            locked_until: Some("2026-12-04T13:20:09.123+00:00".into()),
            failed_logins: 5,
            created_at: "2026-12-04T13:05:09.123+00:00".into(),
            last_login_at: Some("2026-12-04T13:05:09.123+00:00".into()),
            ..ConsoleUserRow::default()
        };
        vec![
            ConsoleUser::default(),
            ConsoleUser {
                user: user.clone(),
                sessions: vec![SessionRow {
                    id: "0190c0de-0000-7000-8000-000000000002".into(),
                    kind: "browser".into(),
                    device: "Firefox · Linux".into(),
                    ip: Some("192.0.2.1".into()),
                    created_at: "2026-12-04T13:05:09.123+00:00".into(),
                    last_used_at: "2026-12-04T14:05:09.123+00:00".into(),
                    current: false,
                }],
                events: vec![ConsoleEvent {
                    at: "2026-12-04T13:05:09.123+00:00".into(),
                    event: "login_failed".into(),
                    ip: Some("192.0.2.1".into()),
                }],
                totp: true,
                recovery_codes_left: 9,
                passkeys: 2,
                identities: vec!["Corp ID (ada@corp.example)".into()],
                confirm: Some("disable".into()),
                form_error: Some("Refused.".into()),
                errors: map(&[("roles", "bad")]),
            },
            ConsoleUser {
                user: user.clone(),
                confirm: Some("delete".into()),
                errors: map(&[("confirm_email", "does not match")]),
                ..ConsoleUser::default()
            },
            ConsoleUser {
                user: ConsoleUserRow {
                    disabled: true,
                    locked: false,
                    ..user
                },
                confirm: Some("end-sessions".into()),
                ..ConsoleUser::default()
            },
        ]
    }
}

/// One client in the console's list.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConsoleClientRow {
    pub client_id: String,
    pub name: String,
    pub audiences: Vec<String>,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub created_at: String,
}

/// A client just created: the only page that ever shows its secret.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConsoleCreatedClient {
    pub client_id: String,
    /// `none` for a public client.
    pub secret: Option<String>,
}

/// `pages/console/clients.html`: the clients, the form that creates one, and a deletion waiting
/// for its confirmation.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConsoleClients {
    pub clients: Vec<ConsoleClientRow>,
    /// What was typed into the creation form, to put back after an error.
    pub values: BTreeMap<String, String>,
    /// The grant types ticked in the form.
    pub grant_types: Vec<String>,
    pub errors: BTreeMap<String, String>,
    pub created: Option<ConsoleCreatedClient>,
    /// The client id whose deletion waits for a confirmation.
    pub confirm_delete: Option<String>,
}

impl Page for ConsoleClients {
    const TEMPLATE: &'static str = "pages/console/clients.html";
    fn samples() -> Vec<Self> {
        let row = ConsoleClientRow {
            client_id: "svc_abc".into(),
            name: "Photos".into(),
            audiences: vec!["api".into()],
            grant_types: vec!["authorization_code".into()],
            redirect_uris: vec!["https://app.example/cb".into()],
            public: true,
            first_party: false,
            created_at: "2026-12-04T13:05:09.123+00:00".into(),
        };
        vec![
            ConsoleClients::default(),
            ConsoleClients {
                clients: vec![row],
                values: map(&[("name", "x"), ("redirect_uris", "https://a.example/cb")]),
                grant_types: vec!["authorization_code".into()],
                errors: map(&[("name", "required"), ("redirect_uris", "bad")]),
                created: Some(ConsoleCreatedClient {
                    client_id: "svc_abc".into(),
                    secret: Some("s3cret".into()),
                }),
                confirm_delete: Some("svc_abc".into()),
            },
        ]
    }
}

/// One published signing key.
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleKeyRow {
    pub kid: String,
    /// `access` or `id_token`.
    pub purpose: String,
    pub alg: String,
    /// `next`, `active` or `retired`.
    pub state: String,
    pub created_at: String,
    /// Whole days since it was made.
    pub age_days: i64,
}

/// `pages/console/keys.html`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConsoleKeys {
    pub keys: Vec<ConsoleKeyRow>,
    /// The rotation waits for its confirmation.
    pub confirm: bool,
}

impl Page for ConsoleKeys {
    const TEMPLATE: &'static str = "pages/console/keys.html";
    fn samples() -> Vec<Self> {
        vec![
            ConsoleKeys::default(),
            ConsoleKeys {
                keys: vec![ConsoleKeyRow {
                    kid: "k1".into(),
                    purpose: "access".into(),
                    alg: "EdDSA".into(),
                    state: "active".into(),
                    created_at: "2026-12-04T13:05:09.123+00:00".into(),
                    age_days: 3,
                }],
                confirm: true,
            },
        ]
    }
}

/// One entry of the audit trail in the console.
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleAuditRow {
    pub at: String,
    pub event: String,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    /// The entry's detail as compact JSON (ids and reasons; never a secret).
    pub detail: String,
}

/// `pages/console/audit.html`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConsoleAudit {
    /// The filters, as typed.
    pub user_id: String,
    pub event: String,
    pub events: Vec<ConsoleAuditRow>,
    pub next_page: Option<String>,
    pub errors: BTreeMap<String, String>,
}

impl Page for ConsoleAudit {
    const TEMPLATE: &'static str = "pages/console/audit.html";
    fn samples() -> Vec<Self> {
        vec![
            ConsoleAudit::default(),
            ConsoleAudit {
                user_id: "0190c0de".into(),
                event: "login_failed".into(),
                events: vec![ConsoleAuditRow {
                    at: "2026-12-04T13:05:09.123+00:00".into(),
                    event: "login_failed".into(),
                    user_id: Some("0190c0de-0000-7000-8000-000000000001".into()),
                    ip: Some("192.0.2.1".into()),
                    detail: "{\"reason\":\"wrong_password\"}".into(),
                }],
                next_page: Some("/console/audit?cursor=x".into()),
                errors: map(&[("user_id", "not a user id")]),
            },
        ]
    }
}

/// One webhook endpoint in the console.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConsoleWebhookRow {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    /// `active` or `disabled`.
    pub status: String,
    pub created_at: String,
}

/// `pages/console/webhooks.html`: the endpoints, the form that adds one, a removal waiting for
/// its confirmation.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConsoleWebhooks {
    pub webhooks: Vec<ConsoleWebhookRow>,
    /// Every event type, for the form's checkboxes.
    pub event_types: Vec<String>,
    /// The URL typed and the events ticked, after a refused addition.
    pub url: String,
    pub events: Vec<String>,
    pub errors: BTreeMap<String, String>,
    /// An endpoint just added, with its signing secret: shown this once.
    pub created: Option<ConsoleCreatedWebhook>,
    /// The endpoint id whose removal waits for a confirmation.
    pub confirm_delete: Option<String>,
}

/// A webhook endpoint just added.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConsoleCreatedWebhook {
    pub id: String,
    pub secret: String,
}

impl Page for ConsoleWebhooks {
    const TEMPLATE: &'static str = "pages/console/webhooks.html";
    fn samples() -> Vec<Self> {
        vec![
            ConsoleWebhooks::default(),
            ConsoleWebhooks {
                webhooks: vec![ConsoleWebhookRow {
                    id: "0190c0de-0000-7000-8000-000000000001".into(),
                    url: "https://hooks.example/sesame".into(),
                    events: vec!["user.created".into()],
                    status: "active".into(),
                    created_at: "2026-12-04T13:05:09.123+00:00".into(),
                }],
                event_types: vec!["user.created".into(), "session.revoked".into()],
                url: "http://10.0.0.1/x".into(),
                events: vec!["user.created".into()],
                errors: map(&[("url", "private")]),
                created: Some(ConsoleCreatedWebhook {
                    id: "0190c0de-0000-7000-8000-000000000001".into(),
                    secret: "whsec_abc".into(),
                }),
                confirm_delete: Some("0190c0de-0000-7000-8000-000000000001".into()),
            },
        ]
    }
}

/// One delivery of a webhook endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleDeliveryRow {
    pub id: String,
    pub event: String,
    pub attempts: u32,
    /// `pending`, `delivered`, `failed` or `disabled`.
    pub status: String,
    pub last_attempt_at: Option<String>,
    pub response_status: Option<u16>,
}

/// `pages/console/webhook.html`: one endpoint's deliveries, newest first.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConsoleWebhook {
    pub webhook: ConsoleWebhookRow,
    pub deliveries: Vec<ConsoleDeliveryRow>,
    pub next_page: Option<String>,
}

impl Page for ConsoleWebhook {
    const TEMPLATE: &'static str = "pages/console/webhook.html";
    fn samples() -> Vec<Self> {
        vec![
            ConsoleWebhook::default(),
            ConsoleWebhook {
                webhook: ConsoleWebhookRow {
                    id: "0190c0de-0000-7000-8000-000000000001".into(),
                    url: "https://hooks.example/sesame".into(),
                    events: vec!["user.created".into()],
                    status: "active".into(),
                    created_at: "2026-12-04T13:05:09.123+00:00".into(),
                },
                deliveries: vec![ConsoleDeliveryRow {
                    id: "0190c0de-0000-7000-8000-000000000002".into(),
                    event: "user.created".into(),
                    attempts: 2,
                    status: "delivered".into(),
                    last_attempt_at: Some("2026-12-04T13:05:09.123+00:00".into()),
                    response_status: Some(204),
                }],
                next_page: Some("/console/webhooks/x?cursor=y".into()),
            },
        ]
    }
}
