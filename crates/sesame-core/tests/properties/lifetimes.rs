//! Revocations are kept as long as the tokens they cover can live — by the access lifetime in
//! force when each token was issued, not the one configured now (security review finding 11).
//! A process restarted with a shorter `access_ttl`, and its purge, must not forget the
//! revocation of a token issued under the longer one.

use std::sync::Arc;

use chrono::{Duration, Utc};
use secrecy::SecretString;
use sesame_core::accounts::Registration;
use sesame_core::clients::NewClient;
use sesame_core::domain::Role;
use sesame_core::sessions::Login;
use sesame_core::sessions::{ClientInfo, Logout, TokenPair};
use sesame_core::settings::Settings;
use sesame_core::{CoreError, ManualClock, Sesame};

const PASSWORD: &str = "a long and unusual passphrase";

fn lifetimes(access_secs: u64, refresh_secs: u64) -> Settings {
    Settings {
        access_ttl: std::time::Duration::from_secs(access_secs),
        refresh_ttl: std::time::Duration::from_secs(refresh_secs),
        ..crate::cheap_settings()
    }
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
async fn revocations_outlive_a_restart_with_a_shorter_access_lifetime() {
    let (store, _dir) = crate::sqlite_store().await;
    let clock = ManualClock::new(Utc::now());
    // One hour access tokens at first.
    let long = Sesame::start(
        store.clone(),
        Arc::new(clock.clone()),
        lifetimes(3600, 86400),
    )
    .await
    .unwrap();
    long.accounts()
        .create_user(
            Registration {
                email: "long@example.com".into(),
                password: SecretString::from(PASSWORD),
                username: None,
                client: ClientInfo::default(),
            },
            vec![Role::customer()],
        )
        .await
        .unwrap();
    let logged_out = login(&long, "long@example.com").await;
    let kept = login(&long, "long@example.com").await;
    // The session ends; its access token is not sent along (so only the session's entry
    // refuses it).
    long.sessions()
        .logout(Logout {
            client: ClientInfo::default(),
            refresh: logged_out.refresh.as_str().to_string(),
            access: None,
        })
        .await
        .unwrap();
    // A service client gets an hour-long token, then is deleted.
    let created = long
        .clients()
        .create(
            NewClient {
                name: "billing".into(),
                audiences: vec!["api".into()],
                scopes: vec![],
                delegable_roles: vec![],
                oauth: Default::default(),
            },
            None,
            &ClientInfo::default(),
        )
        .await
        .unwrap();
    let client = long
        .oauth()
        .authenticate_client(
            &created.client.client_id,
            created.secret.as_ref().expect("a confidential client"),
        )
        .await
        .unwrap();
    let service = long
        .oauth()
        .client_token(&client, vec![], None)
        .await
        .unwrap()
        .access_token;
    long.clients()
        .delete(&created.client.client_id, None, &ClientInfo::default())
        .await
        .unwrap();
    drop(long);

    // Restarted with one-minute access tokens (and a refresh lifetime shorter still); its
    // housekeeping runs as time passes.
    let short = || lifetimes(60, 30);
    let restarted = Sesame::start(store.clone(), Arc::new(clock.clone()), short())
        .await
        .unwrap();
    for _ in 0..6 {
        clock.advance(Duration::minutes(5));
        restarted.maintenance().purge().await.unwrap();
        restarted.sync_revocations().await.unwrap();
    }
    // 30 minutes on, the hour-long tokens are alive: the revoked ones stay refused, here and
    // on a process started only now (from what the purges left in the feed).
    let fresh = Sesame::start(store.clone(), Arc::new(clock.clone()), short())
        .await
        .unwrap();
    for sesame in [&restarted, &fresh] {
        for revoked in [&logged_out.access, &service] {
            assert!(
                matches!(
                    sesame.oauth().check_access_token(revoked, None).await,
                    Err(CoreError::TokenRevoked)
                ),
                "a revoked token issued under the longer lifetime verified again"
            );
        }
        assert!(
            sesame
                .oauth()
                .check_access_token(&kept.access, None)
                .await
                .is_ok(),
            "a token nobody revoked is still accepted"
        );
    }
    // Past the tokens' real expiry (plus leeway; a client's is recorded up to 90 s ahead)
    // the entries go: the tokens are dead.
    clock.advance(Duration::minutes(33));
    fresh.maintenance().purge().await.unwrap();
    fresh.sync_revocations().await.unwrap();
    assert!(fresh.revocation_cache().is_empty());
    assert!(matches!(
        fresh
            .oauth()
            .check_access_token(&logged_out.access, None)
            .await,
        Err(CoreError::TokenExpired)
    ));
}
