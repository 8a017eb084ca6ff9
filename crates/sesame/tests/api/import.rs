//! Moving in without a password reset: users imported with the hashes they already had log in
//! with their original passwords. Django's hashes come from Django's own hashers and bcrypt's
//! from Python's `bcrypt` (both from PyPI, in a virtualenv made once under
//! `CARGO_TARGET_TMPDIR`); PBKDF2 and scrypt PHC strings from the RustCrypto crates; a Keycloak
//! realm export is converted by the very jq program of docs/migrate.md. The import goes through
//! the core use-case the `sesame user import` command drives (its own tests are in `cli`).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use argon2::password_hash::{Ident, PasswordHasher as _, SaltString};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sesame_core::import::{ImportOptions, ImportReport};

use crate::helpers::*;

// ---- tools -------------------------------------------------------------------------------

fn run_ok(cmd: &mut Command) -> Vec<u8> {
    sesame_testkit::tools::run_checked(cmd).unwrap()
}

/// A Python virtualenv with Django, argon2-cffi (Django's argon2 hasher needs it) and bcrypt,
/// installed once; returns its python.
fn python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        sesame_testkit::tools::python_venv(
            &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("import-venv"),
            &["Django>=5,<6", "argon2-cffi>=23,<26", "bcrypt>=4,<6"],
        )
        .unwrap()
    })
    .clone()
}

/// Makes hashes of the password in argv[1] with Django's own hashers (`make_password`) and
/// Python's bcrypt, checks the Django ones with Django's `check_password`, and derives a
/// Keycloak-style PBKDF2 credential with hashlib (Keycloak's shape: 64-byte pbkdf2-sha256 at
/// 27,500 iterations, value and salt in padded base64, both as JSON strings). The hashers'
/// costs are lowered by subclassing, as Django documents, so debug-build tests stay quick: the
/// formats are the same at any cost.
const HASH_SCRIPT: &str = r#"
import base64, hashlib, json, os, sys
import django
from django.conf import settings
settings.configure(PASSWORD_HASHERS=[
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
])
django.setup()
from django.contrib.auth import hashers
import bcrypt

class PBKDF2(hashers.PBKDF2PasswordHasher):
    iterations = 20000
class Argon2(hashers.Argon2PasswordHasher):
    memory_cost = 1024
    time_cost = 1
    parallelism = 2
class BCryptSHA256(hashers.BCryptSHA256PasswordHasher):
    rounds = 5

pw = sys.argv[1]
out = {
    "django_pbkdf2_sha256": hashers.make_password(pw, hasher=PBKDF2()),
    "django_argon2": hashers.make_password(pw, hasher=Argon2()),
    "django_bcrypt_sha256": hashers.make_password(pw, hasher=BCryptSHA256()),
    "bcrypt_2b": bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5)).decode(),
    "bcrypt_2a": bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5, prefix=b"2a")).decode(),
}
for k, v in out.items():
    if k.startswith("django"):
        assert hashers.check_password(pw, v), k
salt = os.urandom(16)
dk = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt, 27500, dklen=64)
out["keycloak"] = {
    "secretData": json.dumps({"value": base64.b64encode(dk).decode(),
                              "salt": base64.b64encode(salt).decode(), "additionalParameters": {}}),
    "credentialData": json.dumps({"hashIterations": 27500, "algorithm": "pbkdf2-sha256",
                                  "additionalParameters": {}}),
}
print(json.dumps(out))
"#;

/// The hashes of [`PASSWORD`] made by the Python tools (once per test process).
async fn python_hashes() -> Value {
    static HASHES: OnceLock<Value> = OnceLock::new();
    tokio::task::spawn_blocking(|| {
        HASHES
            .get_or_init(|| {
                let out = run_ok(Command::new(python()).args(["-c", HASH_SCRIPT, PASSWORD]));
                serde_json::from_slice(&out).expect("the script prints JSON")
            })
            .clone()
    })
    .await
    .unwrap()
}

fn docs_migrate() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/migrate.md");
    std::fs::read_to_string(path).expect("docs/migrate.md")
}

/// The first fenced block of docs/migrate.md in `lang`.
fn doc_block(lang: &str) -> String {
    let doc = docs_migrate();
    let fence = format!("```{lang}\n");
    let start = doc
        .find(&fence)
        .unwrap_or_else(|| panic!("a {fence:?} block"))
        + fence.len();
    let len = doc[start..].find("```").expect("the block ends");
    doc[start..start + len].to_string()
}

/// Runs the documented Keycloak conversion (`jq -c -f keycloak-to-sesame.jq`) on `export`.
fn keycloak_to_jsonl(export: &Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("keycloak-to-sesame.jq");
    std::fs::write(&program, doc_block("jq")).unwrap();
    let realm = dir.path().join("realm-export.json");
    std::fs::write(&realm, export.to_string()).unwrap();
    let jq = ["/usr/bin/jq", "/usr/local/bin/jq"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect(
            "jq is installed (apt-get install jq): the documented conversion is tested with it",
        );
    let out = run_ok(
        Command::new(jq)
            .arg("-c")
            .arg("-f")
            .arg(&program)
            .arg(&realm)
            .stdin(Stdio::null()),
    );
    String::from_utf8(out).unwrap()
}

// ---- helpers -----------------------------------------------------------------------------

async fn import_with(app: &TestApp, jsonl: &str, options: ImportOptions) -> ImportReport {
    let mut importer = app.sesame.importer(options);
    for (i, text) in jsonl.lines().enumerate() {
        importer
            .line(i as u64 + 1, text)
            .await
            .expect("the store answers");
    }
    importer.finish().await.expect("the store answers")
}

async fn import(app: &TestApp, jsonl: &str) -> ImportReport {
    import_with(app, jsonl, ImportOptions::default()).await
}

fn user_line(email: &str, hash: &str) -> String {
    json!({"email": email, "password_hash": hash}).to_string()
}

fn email(prefix: &str) -> String {
    format!("{}@example.com", unique(prefix))
}

/// The stored user (by email).
async fn stored(app: &TestApp, email: &str) -> Option<sesame_core::store::UserRecord> {
    app.sesame
        .store()
        .find_user_by_login(&email.to_lowercase())
        .await
        .unwrap()
}

async fn stored_hash(app: &TestApp, email: &str) -> String {
    stored(app, email).await.expect("imported").password_hash
}

/// The user's audit events of one kind, via the admin API, newest first.
async fn audit_events(app: &TestApp, admin: &str, user_id: &str, event: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/admin/audit?user_id={user_id}&event={event}"),
            Some(admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    body(res).await["events"].as_array().unwrap().clone()
}

fn pbkdf2_phc(alg: &str, output_length: usize) -> String {
    pbkdf2::Pbkdf2
        .hash_password_customized(
            PASSWORD.as_bytes(),
            Some(Ident::new(alg).unwrap()),
            None,
            pbkdf2::Params {
                rounds: 5_000,
                output_length,
            },
            &SaltString::generate(&mut rand::rngs::OsRng),
        )
        .unwrap()
        .to_string()
}

fn scrypt_phc() -> String {
    scrypt::Scrypt
        .hash_password_customized(
            PASSWORD.as_bytes(),
            None,
            None,
            scrypt::Params::new(10, 8, 1, 32).unwrap(),
            &SaltString::generate(&mut rand::rngs::OsRng),
        )
        .unwrap()
        .to_string()
}

fn argon2id(m: u32, t: u32) -> String {
    argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(m, t, 1, None).unwrap(),
    )
    .hash_password(
        PASSWORD.as_bytes(),
        &SaltString::generate(&mut rand::rngs::OsRng),
    )
    .unwrap()
    .to_string()
}

/// (hash, scheme Sesame reports) for every legacy format: the Python-made ones and the
/// RustCrypto-made ones.
async fn legacy_hashes() -> Vec<(String, &'static str)> {
    let py = python_hashes().await;
    let s = |k: &str| py[k].as_str().unwrap().to_string();
    vec![
        (s("django_pbkdf2_sha256"), "django_pbkdf2_sha256"),
        (s("django_argon2"), "django_argon2"),
        (s("django_bcrypt_sha256"), "django_bcrypt_sha256"),
        (s("bcrypt_2b"), "bcrypt"),
        (s("bcrypt_2a"), "bcrypt"),
        (pbkdf2_phc("pbkdf2-sha256", 32), "pbkdf2_sha256"),
        (pbkdf2_phc("pbkdf2-sha512", 64), "pbkdf2_sha512"),
        (scrypt_phc(), "scrypt"),
    ]
}

// ---- logging in with what users had ------------------------------------------------------

#[tokio::test]
async fn every_legacy_format_logs_in_and_becomes_argon2id_at_the_first_login() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let cases: Vec<(String, String, &str)> = legacy_hashes()
        .await
        .into_iter()
        .map(|(hash, scheme)| (email(scheme), hash, scheme))
        .collect();
    let jsonl: Vec<String> = cases.iter().map(|(e, h, _)| user_line(e, h)).collect();
    let report = import(&app, &jsonl.join("\n")).await;
    assert_eq!(report.imported, cases.len() as u64, "{report:?}");
    assert!(
        report.rejected.is_empty() && report.skipped.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.schemes["bcrypt"], 2, "{report:?}");

    for (email, hash, scheme) in &cases {
        let user = stored(&app, email).await.expect("imported");
        assert_eq!(
            &user.password_hash, hash,
            "stored as given until the first login"
        );
        let id = user.id.to_string();

        // The first login verifies the original hash and upgrades it.
        app.login(email, PASSWORD).await;
        let upgraded = stored_hash(&app, email).await;
        assert!(
            upgraded.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{scheme}: {upgraded}"
        );
        // The second login verifies the new argon2id hash.
        app.login(email, PASSWORD).await;
        assert_eq!(stored_hash(&app, email).await, upgraded, "upgraded once");

        let events = audit_events(&app, &admin.tokens.access, &id, "password_rehashed").await;
        assert_eq!(events.len(), 1, "{scheme}: {events:?}");
        let detail = &events[0]["detail"];
        assert_eq!(detail["from"], *scheme, "{detail}");
        assert_eq!(detail["to"], "argon2id");
        assert_eq!(detail["to_cost"], "m=64,t=1,p=1");
        assert_eq!(detail["reason"], "legacy_scheme");
        let shown = detail.to_string();
        assert!(
            !shown.contains(hash.as_str()) && !shown.contains(&upgraded) && !shown.contains('$'),
            "no hash in the audit trail: {shown}"
        );
        let imported = audit_events(&app, &admin.tokens.access, &id, "user_imported").await;
        assert_eq!(imported.len(), 1);
        assert_eq!(imported[0]["detail"]["scheme"], *scheme);
    }
}

#[tokio::test]
async fn a_wrong_password_is_the_usual_401_for_every_format_and_counts_toward_lockout() {
    let app = spawn_app_with(&[("SESAME_LOCKOUT_MAX_FAILURES", "3")]).await;
    let admin = app.new_admin().await;
    // What a wrong password answers for a user Sesame hashed itself.
    let native = app.new_user().await;
    let reference = body(app.login_raw(&native.username, "wrong password here").await).await;
    assert_eq!(reference["code"], "invalid_credentials");

    for (hash, scheme) in legacy_hashes().await {
        // The clock moves past each lock: a fresh admin token for each round.
        let admin = app.login(&admin.username, &admin.password).await.access;
        let email = email(scheme);
        let report = import(&app, &user_line(&email, &hash)).await;
        assert_eq!(report.imported, 1, "{report:?}");
        let id = stored(&app, &email).await.unwrap().id.to_string();
        for attempt in 1..=3 {
            let res = app.login_raw(&email, "wrong password here").await;
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{scheme} #{attempt}"
            );
            assert_eq!(
                body(res).await,
                reference,
                "{scheme}: like any wrong password"
            );
        }
        // Three failures locked it: now even the right password is refused...
        let res = app.login_raw(&email, PASSWORD).await;
        assert_error(res, StatusCode::FORBIDDEN, "account_locked").await;
        // ...and nothing was upgraded by the failures.
        assert_eq!(stored_hash(&app, &email).await, hash, "{scheme}");
        assert!(
            audit_events(&app, &admin, &id, "password_rehashed")
                .await
                .is_empty()
        );
        assert_eq!(
            audit_events(&app, &admin, &id, "account_locked")
                .await
                .len(),
            1,
            "{scheme}"
        );
        // After the lock, the original password works and upgrades the hash.
        app.advance(15 * 60 + 1);
        app.login(&email, PASSWORD).await;
        assert!(stored_hash(&app, &email).await.starts_with("$argon2id$"));
    }
}

#[tokio::test]
async fn a_keycloak_export_converted_as_documented_logs_in() {
    let app = spawn_app().await;
    let py = python_hashes().await;
    let credential = py["keycloak"].clone();
    let with_username = email("kc");
    let username = unique("kc.user");
    let email_as_username = email("kcmail");
    let export = json!({
        "realm": "acme",
        "users": [
            {
                "username": username.to_lowercase(),
                "email": with_username,
                "emailVerified": true,
                "enabled": true,
                "createdTimestamp": 1_700_000_000_123_i64,
                "realmRoles": ["default-roles-acme", "offline_access", "uma_authorization", "staff"],
                "credentials": [{
                    "type": "password",
                    "userLabel": "My password",
                    "createdDate": 1_700_000_000_123_i64,
                    "secretData": credential["secretData"],
                    "credentialData": credential["credentialData"],
                }]
            },
            {
                // Keycloak lets the email be the username; Sesame's usernames have no '@'.
                "username": email_as_username.to_lowercase(),
                "email": email_as_username,
                "emailVerified": false,
                "enabled": false,
                "createdTimestamp": 1_600_000_000_000_i64,
                "credentials": [{
                    "type": "password",
                    "secretData": credential["secretData"],
                    "credentialData": credential["credentialData"],
                }]
            },
            {
                // No password (e.g. a social login only): nothing to import.
                "username": "nopassword",
                "email": "nopassword@example.com",
                "enabled": true,
                "credentials": []
            }
        ]
    });
    let jsonl = tokio::task::spawn_blocking(move || keycloak_to_jsonl(&export))
        .await
        .unwrap();
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{jsonl}");
    let hash = lines[0]["password_hash"].as_str().unwrap();
    assert!(hash.starts_with("$pbkdf2-sha256$i=27500,l=64$"), "{hash}");
    assert!(
        !hash
            .trim_start_matches("$pbkdf2-sha256$i=27500,l=64")
            .contains('='),
        "PHC B64 has no padding: {hash}"
    );

    let report = import(&app, &jsonl).await;
    assert_eq!(report.imported, 2, "{report:?}");
    assert_eq!(report.schemes["pbkdf2_sha256"], 2);

    // The first user: username, roles and verification came along.
    let tokens = app.login(&username, PASSWORD).await;
    let claims = jwt::part(&tokens.access, 1);
    assert_eq!(claims["roles"], json!(["customer", "staff"]), "{claims}");
    assert_eq!(claims["email_verified"], true);
    let user = stored(&app, &with_username).await.unwrap();
    assert_eq!(user.created_at.timestamp(), 1_700_000_000);
    assert!(user.password_hash.starts_with("$argon2id$"));

    // The second was disabled in Keycloak: the right password gets the disabled answer.
    let res = app.login_raw(&email_as_username, PASSWORD).await;
    assert_error(res, StatusCode::FORBIDDEN, "account_disabled").await;
    let user = stored(&app, &email_as_username).await.unwrap();
    assert_eq!(user.username, None);
}

#[tokio::test]
async fn argon2_below_the_configured_cost_is_upgraded_and_at_the_configured_cost_kept() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let (weak, same) = (email("weak"), email("same"));
    let (weak_hash, same_hash) = (argon2id(32, 1), argon2id(64, 1));
    let jsonl = [user_line(&weak, &weak_hash), user_line(&same, &same_hash)].join("\n");
    assert_eq!(import(&app, &jsonl).await.imported, 2);

    app.login(&weak, PASSWORD).await;
    let id = stored(&app, &weak).await.unwrap().id.to_string();
    let events = audit_events(&app, &admin.tokens.access, &id, "password_rehashed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail"]["from"], "argon2id");
    assert_eq!(events[0]["detail"]["from_cost"], "v=19,m=32,t=1,p=1");
    assert_eq!(events[0]["detail"]["reason"], "cost_below_configured");
    assert!(stored_hash(&app, &weak).await.contains("$m=64,t=1,p=1$"));

    app.login(&same, PASSWORD).await;
    assert_eq!(
        stored_hash(&app, &same).await,
        same_hash,
        "nothing to upgrade"
    );
    let id = stored(&app, &same).await.unwrap().id.to_string();
    assert!(
        audit_events(&app, &admin.tokens.access, &id, "password_rehashed")
            .await
            .is_empty()
    );
}

// ---- the import itself -------------------------------------------------------------------

#[tokio::test]
async fn bad_lines_are_reported_with_their_numbers_and_the_good_ones_imported() {
    let app = spawn_app().await;
    let py = python_hashes().await;
    let bcrypt = py["bcrypt_2b"].as_str().unwrap();
    let django = py["django_pbkdf2_sha256"].as_str().unwrap();
    let (alice, bob, carol) = (email("alice"), email("bob"), email("carol"));
    let bob_name = unique("Bob");
    let lines = [
        /* 1 */ user_line(&alice, bcrypt),
        /* 2 */ user_line(&email("md5"), "md5$abc$0123456789abcdef"),
        /* 3 */ user_line(&email("costly"), &format!("$2b$17${}", &bcrypt[7..])),
        /* 4 */ "this is not json".to_string(),
        /* 5 */ String::new(),
        /* 6 */ json!({"email": bob, "username": bob_name, "password_hash": django}).to_string(),
        /* 7 */ user_line(&alice.to_uppercase(), django),
        /* 8 */
        json!({"email": "not an email", "password_hash": bcrypt, "roles": ["Not A Role"]})
            .to_string(),
        /* 9 */
        json!({"email": email("typo"), "password_hash": bcrypt, "email_verifed": true})
            .to_string(),
        /* 10 */
        user_line(
            &email("iter"),
            &django.replacen("$20000$", "$20000001$", 1),
        ),
        /* 11 */ user_line(&email("scrypt"), &scrypt_phc().replace("ln=10", "ln=21")),
        /* 12 */ user_line(&carol, &scrypt_phc()),
        /* 13 */
        json!({"email": email("bob2"), "username": bob_name.to_uppercase(), "password_hash": bcrypt})
            .to_string(),
        /* 14 */ user_line(&email("empty"), ""),
    ];
    // Batches of two: good and bad lines share batches, and a batch boundary falls mid-file.
    let report = import_with(
        &app,
        &lines.join("\n"),
        ImportOptions {
            batch_size: 2,
            ..ImportOptions::default()
        },
    )
    .await;
    assert_eq!(report.imported, 3, "{report:#?}");
    assert!(report.skipped.is_empty());
    let rejected: Vec<(u64, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    let expect = [
        (2, "unsupported password hash format"),
        (3, "bcrypt cost 17"),
        (4, "not a valid user object"),
        (7, "duplicate email: already on line 1"),
        (8, "email: not a valid email address"),
        (9, "unknown field `email_verifed`"),
        (10, "iteration count 20000001"),
        (11, "ln=21"),
        (13, "duplicate username: already on line 6"),
        (14, "password_hash: the password hash is empty"),
    ];
    assert_eq!(
        rejected.iter().map(|r| r.0).collect::<Vec<_>>(),
        expect.iter().map(|e| e.0).collect::<Vec<_>>(),
        "{rejected:#?}"
    );
    for ((line, reason), (_, want)) in rejected.iter().zip(expect) {
        assert!(
            reason.contains(want),
            "line {line}: {reason:?} should say {want:?}"
        );
    }
    // Every problem of a line is listed at once.
    assert!(
        rejected[4].1.contains("roles: 'Not A Role'"),
        "{}",
        rejected[4].1
    );

    // The good lines log in; the rejected ones were not half-imported.
    app.login(&alice, PASSWORD).await;
    app.login(&bob_name, PASSWORD).await;
    app.login(&carol, PASSWORD).await;
    for (line, _) in &rejected {
        if let Ok(v) = serde_json::from_str::<Value>(&lines[*line as usize - 1])
            && let Some(e) = v["email"].as_str()
            && *line != 7
        {
            assert!(
                stored(&app, e).await.is_none(),
                "line {line} was not imported"
            );
        }
    }
    assert!(
        stored(&app, &alice)
            .await
            .unwrap()
            .password_hash
            .starts_with("$argon2id$"),
        "line 7 did not replace line 1's user (whose login upgraded it)"
    );
}

#[tokio::test]
async fn importing_again_skips_everyone_and_leaves_them_as_they_are() {
    let app = spawn_app().await;
    let py = python_hashes().await;
    let existing = app.new_user().await;
    let (a, b) = (email("again-a"), email("again-b"));
    let jsonl = [
        user_line(&a, py["bcrypt_2b"].as_str().unwrap()),
        user_line(&b, py["django_argon2"].as_str().unwrap()),
        // Someone who registered already, with another password in the file.
        user_line(&existing.email, py["bcrypt_2a"].as_str().unwrap()),
    ]
    .join("\n");
    let first = import(&app, &jsonl).await;
    assert_eq!(first.imported, 2, "{first:?}");
    assert_eq!(first.skipped.len(), 1);
    assert_eq!(first.skipped[0].line, 3);
    assert_eq!(first.skipped[0].email, existing.email);

    // `a` logs in (its hash is upgraded); then the same file again.
    app.login(&a, PASSWORD).await;
    let upgraded = stored_hash(&app, &a).await;
    let b_hash = stored_hash(&app, &b).await;
    let second = import(&app, &jsonl).await;
    assert_eq!(second.imported, 0, "{second:?}");
    assert!(second.rejected.is_empty());
    assert_eq!(
        second.skipped.iter().map(|s| s.line).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        stored_hash(&app, &a).await,
        upgraded,
        "not reset to the file's hash"
    );
    assert_eq!(stored_hash(&app, &b).await, b_hash);
    app.login(&a, PASSWORD).await;
    app.login(&b, PASSWORD).await;
    // The registered user keeps their own password.
    app.login(&existing.username, &existing.password).await;
}

#[tokio::test]
async fn imported_fields_are_kept() {
    let app = spawn_app().await;
    let py = python_hashes().await;
    let bcrypt = py["bcrypt_2b"].as_str().unwrap();
    let (kept, off) = (email("kept"), email("off"));
    let username = unique("Kept.User");
    let jsonl = [
        json!({"email": kept, "username": username, "password_hash": bcrypt,
               "roles": ["staff", "admin"], "created_at": "2019-03-04T05:06:07.123456+02:00",
               "email_verified": true, "disabled": false})
        .to_string(),
        json!({"email": off, "username": null, "password_hash": bcrypt, "roles": null,
               "created_at": "2020-01-01T00:00:00", "email_verified": null, "disabled": true})
        .to_string(),
    ]
    .join("\n");
    assert_eq!(import(&app, &jsonl).await.imported, 2);

    let user = stored(&app, &kept).await.unwrap();
    assert_eq!(user.username.as_deref(), Some(username.as_str()));
    assert_eq!(user.roles, ["admin", "customer", "staff"]);
    assert!(user.email_verified && !user.disabled);
    let joined = chrono::DateTime::parse_from_rfc3339("2019-03-04T03:06:07.123Z").unwrap();
    assert_eq!(
        user.created_at.timestamp_millis(),
        joined.timestamp_millis()
    );
    // The id is time-ordered by the account's creation, as for users made here.
    let ts = user.id.get_timestamp().expect("a v7 id").to_unix();
    assert_eq!(ts.0, user.created_at.timestamp() as u64);
    // Username login, roles in the token (admin included: the admin API answers).
    let tokens = app.login(&username.to_uppercase(), PASSWORD).await;
    let claims = jwt::part(&tokens.access, 1);
    assert_eq!(claims["roles"], json!(["admin", "customer", "staff"]));
    assert_eq!(claims["email_verified"], true);
    let res = app.get("/admin/users", Some(&tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);

    let user = stored(&app, &off).await.unwrap();
    assert_eq!(user.roles, ["customer"]);
    assert!(!user.email_verified && user.disabled);
    assert_eq!(user.created_at.to_rfc3339(), "2020-01-01T00:00:00+00:00");
    let res = app.login_raw(&off, PASSWORD).await;
    assert_error(res, StatusCode::FORBIDDEN, "account_disabled").await;
    let res = app.login_raw(&off, "wrong password here").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(
        stored_hash(&app, &off).await,
        bcrypt,
        "no upgrade without a login"
    );
}

#[tokio::test]
async fn a_dry_run_reports_the_same_and_writes_nothing() {
    let app = spawn_app().await;
    let py = python_hashes().await;
    let existing = app.new_user().await;
    let fresh = email("dry");
    let jsonl = [
        user_line(&fresh, py["bcrypt_2b"].as_str().unwrap()),
        user_line(&existing.email, py["bcrypt_2b"].as_str().unwrap()),
        user_line(&email("dry-bad"), "$2b$99$nope"),
    ]
    .join("\n");
    let report = import_with(
        &app,
        &jsonl,
        ImportOptions {
            dry_run: true,
            ..ImportOptions::default()
        },
    )
    .await;
    assert!(report.dry_run);
    assert_eq!(report.imported, 1, "{report:?}");
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.rejected.len(), 1);
    assert!(stored(&app, &fresh).await.is_none(), "nothing written");
    let res = app.login_raw(&fresh, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// Sets up a throwaway Django project (SQLite, a cheap PBKDF2 hasher subclass as the default),
/// creates users of every kind the documented export must handle, then runs the python block of
/// docs/migrate.md as `manage.py shell` would and prints the `users.jsonl` it wrote.
const DJANGO_PROJECT: &str = r#"
import os, sys
import django
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

class FastPBKDF2(PBKDF2PasswordHasher):
    iterations = 20000

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}},
    PASSWORD_HASHERS=["__main__.FastPBKDF2"],
    USE_TZ=True,
)
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
pw, domain = sys.argv[1], sys.argv[2]
User.objects.create_superuser("alice", f"alice@{domain}", pw)
User.objects.create_user("bob+x@corp", f"bob@{domain}", pw)
carol = User.objects.create_user("carol", f"carol@{domain}", pw)
carol.is_active = False
carol.save()
unusable = User.objects.create_user("dave", f"dave@{domain}")
unusable.set_unusable_password()
unusable.save()
User.objects.create_user("noemail", "", pw)
exec(sys.argv[3])
sys.stdout.write(open("users.jsonl").read())
"#;

#[tokio::test]
async fn the_documented_django_export_imports_and_logs_in() {
    let app = spawn_app().await;
    let domain = format!("{}.example.com", unique("dj"));
    let export = doc_block("python");
    let d = domain.clone();
    let jsonl = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let out = run_ok(
            Command::new(python())
                .args(["-c", DJANGO_PROJECT, PASSWORD, &d, &export])
                .current_dir(dir.path()),
        );
        String::from_utf8(out).unwrap()
    })
    .await
    .unwrap();
    let report = import(&app, &jsonl).await;
    assert_eq!(report.imported, 3, "{report:?}\n{jsonl}");
    assert!(report.rejected.is_empty(), "{report:?}");
    assert_eq!(report.schemes["django_pbkdf2_sha256"], 3);

    // The superuser is an admin, and logs in with the username Django had.
    let tokens = app.login("alice", PASSWORD).await;
    assert_eq!(
        jwt::part(&tokens.access, 1)["roles"],
        json!(["admin", "customer"])
    );
    // A username Sesame cannot take is left out: that user logs in with the email.
    app.login(&format!("bob@{domain}"), PASSWORD).await;
    assert_eq!(
        stored(&app, &format!("bob@{domain}"))
            .await
            .unwrap()
            .username,
        None
    );
    // Inactive in Django: disabled here.
    let res = app.login_raw(&format!("carol@{domain}"), PASSWORD).await;
    assert_error(res, StatusCode::FORBIDDEN, "account_disabled").await;
    // No usable password, or no email: not exported.
    assert!(stored(&app, &format!("dave@{domain}")).await.is_none());
}

/// Runs the documented `psql … -At` exports of Django's `auth_user` and Supabase's `auth.users`
/// (the `sh` blocks of docs/migrate.md, as written) against tables of those shapes on a
/// throwaway PostgreSQL database, imports what they print, and logs in.
#[tokio::test]
async fn the_documented_sql_exports_import_and_log_in() {
    let app = spawn_app().await;
    let py = python_hashes().await;
    let domain = format!("{}.example.com", unique("sql"));
    let url = sesame_testkit::PgCluster::fresh_shared_database()
        .await
        .expect("a fresh database on the test PostgreSQL server");
    let setup = format!(
        r#"
CREATE TABLE auth_user (
  id serial PRIMARY KEY, password varchar(128) NOT NULL, last_login timestamptz,
  is_superuser boolean NOT NULL, username varchar(150) NOT NULL UNIQUE,
  first_name varchar(150) NOT NULL DEFAULT '', last_name varchar(150) NOT NULL DEFAULT '',
  email varchar(254) NOT NULL, is_staff boolean NOT NULL, is_active boolean NOT NULL,
  date_joined timestamptz NOT NULL);
INSERT INTO auth_user (password, is_superuser, username, email, is_staff, is_active, date_joined) VALUES
  ('{django}', true, 'djadmin', 'djadmin@{domain}', true, true, '2018-05-06 07:08:09+00'),
  ('{django}', false, 'dj+odd@name', 'djodd@{domain}', false, false, now()),
  ('!unusable', false, 'djnopass', 'djnopass@{domain}', false, true, now()),
  ('{django}', false, 'djnoemail', '', false, true, now());
CREATE SCHEMA auth;
CREATE TABLE auth.users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email varchar(255), encrypted_password varchar(255),
  email_confirmed_at timestamptz, created_at timestamptz, banned_until timestamptz, deleted_at timestamptz);
INSERT INTO auth.users (email, encrypted_password, email_confirmed_at, created_at, banned_until, deleted_at) VALUES
  ('sb@{domain}', '{bcrypt}', now(), '2021-02-03 04:05:06+00', NULL, NULL),
  ('sbbanned@{domain}', '{bcrypt}', NULL, now(), now() + interval '1 day', NULL),
  ('sbmagic@{domain}', '', now(), now(), NULL, NULL),
  ('sbdeleted@{domain}', '{bcrypt}', now(), now(), NULL, now());
"#,
        django = py["django_pbkdf2_sha256"].as_str().unwrap(),
        bcrypt = py["bcrypt_2a"].as_str().unwrap(),
    );
    let outputs = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        run_ok(
            Command::new("psql")
                .args(["-v", "ON_ERROR_STOP=1", "-q", &url, "-c", &setup])
                .stdin(Stdio::null()),
        );
        let doc = docs_migrate();
        let blocks: Vec<&str> = doc
            .split("```sh\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .filter(|b| b.trim_start().starts_with("psql"))
            .collect();
        assert_eq!(blocks.len(), 2, "the Django and the Supabase export");
        blocks
            .iter()
            .map(|block| {
                let _ = std::fs::remove_file(dir.path().join("users.jsonl"));
                run_ok(
                    Command::new("bash")
                        .args(["-euo", "pipefail", "-c", block])
                        .env("DJANGO_DATABASE_URL", &url)
                        .env("SUPABASE_DB_URL", &url)
                        .current_dir(dir.path())
                        .stdin(Stdio::null()),
                );
                std::fs::read_to_string(dir.path().join("users.jsonl")).unwrap()
            })
            .collect::<Vec<String>>()
    })
    .await
    .unwrap();

    let django = import(&app, &outputs[0]).await;
    assert_eq!(django.imported, 2, "{django:?}\n{}", outputs[0]);
    assert!(django.rejected.is_empty(), "{django:?}");
    let tokens = app.login("djadmin", PASSWORD).await;
    assert_eq!(
        jwt::part(&tokens.access, 1)["roles"],
        json!(["admin", "customer"])
    );
    let admin = stored(&app, &format!("djadmin@{domain}")).await.unwrap();
    assert_eq!(admin.created_at.timestamp(), 1_525_590_489);
    let odd = stored(&app, &format!("djodd@{domain}")).await.unwrap();
    assert!(odd.username.is_none() && odd.disabled);

    let supabase = import(&app, &outputs[1]).await;
    assert_eq!(supabase.imported, 2, "{supabase:?}\n{}", outputs[1]);
    assert!(supabase.rejected.is_empty(), "{supabase:?}");
    let tokens = app.login(&format!("sb@{domain}"), PASSWORD).await;
    assert_eq!(jwt::part(&tokens.access, 1)["email_verified"], true);
    let res = app.login_raw(&format!("sbbanned@{domain}"), PASSWORD).await;
    assert_error(res, StatusCode::FORBIDDEN, "account_disabled").await;
    assert!(stored(&app, &format!("sbmagic@{domain}")).await.is_none());
    assert!(stored(&app, &format!("sbdeleted@{domain}")).await.is_none());
}
