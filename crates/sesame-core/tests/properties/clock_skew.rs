//! Not properties but the cases the session properties stay clear of (they start the manual
//! clock behind the database's): the revocation feed is stamped by the database clock, tokens
//! by Sesame's. With the database clock behind, a revoked session must still be refused until
//! its last access token expires by Sesame's clock; with the database clock having jumped
//! ahead and back, revocations stamped after the jump must still be read.

use std::sync::Arc;

use chrono::{Duration, Utc};
use secrecy::SecretString;
use sesame_core::accounts::Registration;
use sesame_core::domain::Role;
use sesame_core::sessions::Login;
use sesame_core::sessions::{ClientInfo, Logout, TokenPair};
use sesame_core::settings::Settings;
use sesame_core::{ManualClock, Sesame};

const PASSWORD: &str = "a long and unusual passphrase";

async fn register(sesame: &Sesame, email: &str) {
    sesame
        .accounts()
        .create_user(
            Registration {
                email: email.into(),
                password: SecretString::from(PASSWORD),
                username: None,
                client: ClientInfo::default(),
            },
            vec![Role::customer()],
        )
        .await
        .unwrap();
}

async fn login(sesame: &Sesame, email: &str) -> TokenPair {
    sesame
        .sessions()
        .login(Login {
            login: email.into(),
            password: SecretString::from(PASSWORD),
            audience: None,
            client: ClientInfo::default(),
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_revoked_session_stays_refused_when_the_database_clock_is_behind() {
    let (store, _dir) = crate::sqlite_store().await;
    // Sesame's clock 10 minutes ahead of the database's (SQLite stamps the feed itself).
    let clock = ManualClock::new(Utc::now() + Duration::minutes(10));
    let settings = Settings {
        access_ttl: std::time::Duration::from_secs(15 * 60),
        ..crate::cheap_settings()
    };
    let sesame = Sesame::start(store.clone(), Arc::new(clock.clone()), settings)
        .await
        .unwrap();
    register(&sesame, "skew@example.com").await;
    // Logout-all from one session; `pair` is another session's, revoked only through its
    // session (the presenting token itself is deny-listed by its own expiry).
    let other = login(&sesame, "skew@example.com").await;
    let pair = login(&sesame, "skew@example.com").await;
    let claims = sesame.sessions().authenticate(&other.access).await.unwrap();
    sesame
        .sessions()
        .logout_all(&claims, &ClientInfo::default())
        .await
        .unwrap();
    assert!(
        sesame
            .oauth()
            .check_access_token(&pair.access, None)
            .await
            .is_err()
    );

    // 14 minutes later by Sesame's clock the token is still unexpired; by the database's
    // stamp plus one access lifetime the revocation would already be forgotten.
    clock.advance(Duration::minutes(14));
    sesame.sync_revocations().await.unwrap();
    assert!(
        sesame
            .oauth()
            .check_access_token(&pair.access, None)
            .await
            .is_err(),
        "a revoked session's unexpired token verified again"
    );
    assert!(sesame.sessions().authenticate(&pair.access).await.is_err());
}

// An entry stamped while the database clock had jumped an hour ahead must not move the feed's
// cursor past the revocations stamped once the clock is back: another replica would never read
// them (until real time caught up with the jump), and a logged-out session's token would keep
// working there.
#[tokio::test]
async fn a_feed_entry_from_a_database_clock_jump_does_not_hide_later_revocations() {
    let (store, dir) = crate::sqlite_store().await;
    let clock = ManualClock::new(Utc::now());
    let settings = || Settings {
        ..crate::cheap_settings()
    };
    let a = Sesame::start(store.clone(), Arc::new(clock.clone()), settings())
        .await
        .unwrap();
    let b = Sesame::start(store.clone(), Arc::new(clock.clone()), settings())
        .await
        .unwrap();
    register(&a, "jump@example.com").await;
    let pair = login(&a, "jump@example.com").await;

    // The row a database whose clock stood an hour ahead would have written; replica b reads it.
    let raw = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("sesame.db").display()
    ))
    .await
    .unwrap();
    let ahead = (Utc::now() + Duration::hours(1)).timestamp_millis();
    sqlx::query("INSERT INTO revocations (kind, subject, until, at) VALUES ('token', 'jti-from-the-jump', ?, ?)")
        .bind(ahead + 60_000)
        .bind(ahead)
        .execute(&raw)
        .await
        .unwrap();
    b.sync_revocations().await.unwrap();

    // The clock is back: a logout on replica a is stamped now, an hour "before" that row.
    assert!(
        b.oauth()
            .check_access_token(&pair.access, None)
            .await
            .is_ok()
    );
    a.sessions()
        .logout(Logout {
            client: ClientInfo::default(),
            refresh: pair.refresh.as_str().to_string(),
            access: None,
        })
        .await
        .unwrap();
    b.sync_revocations().await.unwrap();
    assert!(
        b.oauth()
            .check_access_token(&pair.access, None)
            .await
            .is_err(),
        "replica b never read the logout stamped after the clock came back"
    );
}
