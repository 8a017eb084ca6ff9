//! Not a property but the case the session properties stay clear of (they start the manual
//! clock behind the database's): the revocation feed is stamped by the database clock, tokens
//! by Sesame's. With the database clock behind, a revoked session must still be refused until
//! its last access token expires by Sesame's clock.

use std::sync::Arc;

use chrono::{Duration, Utc};
use secrecy::SecretString;
use sesame_core::accounts::{Login, Registration};
use sesame_core::domain::Role;
use sesame_core::sessions::ClientInfo;
use sesame_core::settings::{Argon2Cost, Settings};
use sesame_core::{ManualClock, Sesame};

#[tokio::test]
async fn a_revoked_session_stays_refused_when_the_database_clock_is_behind() {
    let (store, _dir) = crate::sqlite_store().await;
    // Sesame's clock 10 minutes ahead of the database's (SQLite stamps the feed itself).
    let clock = ManualClock::new(Utc::now() + Duration::minutes(10));
    let settings = Settings {
        access_ttl: std::time::Duration::from_secs(15 * 60),
        argon2: Argon2Cost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        hash_workers: 1,
        ..Settings::default()
    };
    let sesame = Sesame::start(store.clone(), Arc::new(clock.clone()), settings)
        .await
        .unwrap();
    let password = "a long and unusual passphrase";
    sesame
        .create_user(
            Registration {
                email: "skew@example.com".into(),
                password: SecretString::from(password),
                username: None,
                client: ClientInfo::default(),
            },
            vec![Role::customer()],
        )
        .await
        .unwrap();
    let login = || {
        sesame.login(Login {
            login: "skew@example.com".into(),
            password: SecretString::from(password),
            audience: None,
            client: ClientInfo::default(),
        })
    };
    // Logout-all from one session; `pair` is another session's, revoked only through its
    // session (the presenting token itself is deny-listed by its own expiry).
    let other = login().await.unwrap();
    let pair = login().await.unwrap();
    let claims = sesame.authenticate(&other.access).await.unwrap();
    sesame
        .logout_all(&claims, &ClientInfo::default())
        .await
        .unwrap();
    assert!(sesame.check_access_token(&pair.access, None).await.is_err());

    // 14 minutes later by Sesame's clock the token is still unexpired; by the database's
    // stamp plus one access lifetime the revocation would already be forgotten.
    clock.advance(Duration::minutes(14));
    sesame.sync_revocations().await.unwrap();
    assert!(
        sesame.check_access_token(&pair.access, None).await.is_err(),
        "a revoked session's unexpired token verified again"
    );
    assert!(sesame.authenticate(&pair.access).await.is_err());
}
