//! The keys' life: each family made on first start, then rotated — promoted from next to
//! current, retired, dropped once the tokens it signed have expired — by any replica or the
//! CLI, with every replica reloading what the store holds.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{KeyPurpose, KeyRecord, KeyState, SigningAlg, generate_key_blocking};
use crate::audit::{AuditEvent, Auditor};
use crate::clock::Clock;
use crate::error::CoreError;
use crate::sessions::ClientInfo;
use crate::settings::{Settings, ttl};
use crate::store::{KeyRotation, Store};
use crate::tokens::KeyRing;

/// The algorithm new keys of `purpose` are made with.
fn alg_for(purpose: KeyPurpose, settings: &Settings) -> SigningAlg {
    match purpose {
        KeyPurpose::Access => settings.signing_alg,
        KeyPurpose::IdToken => settings.id_token_alg,
    }
}

/// The stored keys, after giving every purpose that has none a current and a next key. Run at
/// start: a new deployment gets both families, one upgraded from a version without ID-token
/// keys gets that family on its first start. Race-safe between replicas: the store keeps the
/// first pair of each purpose and refuses the rest (`KeyStore::init_keys`).
pub(crate) async fn ensure_keys(
    store: &dyn Store,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Vec<KeyRecord>, CoreError> {
    let mut records = store.list_keys().await?;
    let mut made = false;
    for purpose in KeyPurpose::ALL {
        if records.iter().any(|r| r.purpose == purpose) {
            continue;
        }
        let alg = alg_for(purpose, settings);
        let mut current = generate_key_blocking(purpose, alg, KeyState::Current, now).await?;
        if purpose == KeyPurpose::IdToken {
            // Replicas of versions before migration 0015 know no purposes: they sign access
            // tokens with the `current` key activated last. Left without `activated_at`, the
            // first ID-token key never wins that choice, so during a rolling upgrade the old
            // replicas keep signing with the access key (relying parties that accept only
            // SESAME_SIGNING_ALG would refuse the rest). The first rotation stamps the key it
            // promotes, as for any key.
            current.activated_at = None;
        }
        let next = generate_key_blocking(purpose, alg, KeyState::Next, now).await?;
        store.init_keys(&current, &next).await?;
        made = true;
    }
    if made {
        records = store.list_keys().await?;
    }
    Ok(records)
}

/// Extra time a retired key stays published: covers replicas that have not reloaded keys yet
/// (the feed tells them within a poll; the periodic reload is the fallback).
const RETIRE_MARGIN: chrono::Duration = chrono::Duration::seconds(60);

/// The signing keys as a capability: what is published, reloading, and rotation.
#[derive(Debug, Clone)]
pub struct Keys {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
    ring: Arc<KeyRing>,
    signing_alg: SigningAlg,
    id_token_alg: SigningAlg,
    access_ttl: std::time::Duration,
}

impl Keys {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Auditor,
        ring: Arc<KeyRing>,
        settings: &Settings,
    ) -> Self {
        Keys {
            store,
            clock,
            audit,
            ring,
            signing_alg: settings.signing_alg,
            id_token_alg: settings.id_token_alg,
            access_ttl: settings.access_ttl,
        }
    }

    /// The keys this instance signs with and publishes.
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// Rereads keys from the store (another replica or the CLI may have rotated them).
    pub async fn reload(&self) -> Result<(), CoreError> {
        self.ring
            .reload(self.store.as_ref(), self.clock.now())
            .await
    }

    /// Rotates both key families in one transaction: each promotes its published next key to
    /// signing and publishes a fresh next key (of the algorithm configured now). A retired key
    /// stays published until every token it signed has expired (plus the leeway).
    pub async fn rotate(
        &self,
        by: Option<uuid::Uuid>,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let now = self.clock.now();
        // Retired keys stay published for the tokens they signed: an access-token lifetime plus
        // the leeway, plus RETIRE_MARGIN for replicas that sign with it until they reload the
        // keys (within a feed poll, about 1 s; at worst the 30 s periodic reload). ID tokens
        // are given the access-token lifetime too, so one horizon serves both families.
        let retire_until = now
            + ttl(self.access_ttl)
            + chrono::Duration::seconds(sesame_verify::DEFAULT_LEEWAY_SECS)
            + RETIRE_MARGIN;
        let mut rotations = Vec::with_capacity(KeyPurpose::ALL.len());
        for (purpose, alg) in [
            (KeyPurpose::Access, self.signing_alg),
            (KeyPurpose::IdToken, self.id_token_alg),
        ] {
            rotations.push(KeyRotation {
                new_next: generate_key_blocking(purpose, alg, KeyState::Next, now).await?,
                retire_until,
            });
        }
        let ring = self.ring.current();
        let promoted = |purpose: KeyPurpose| {
            ring.published
                .iter()
                .find(|k| k.purpose == purpose && k.state == KeyState::Next)
                .map(|k| k.jwk.kid.clone())
        };
        let fresh = |purpose: KeyPurpose| {
            rotations
                .iter()
                .find(|r| r.new_next.purpose == purpose)
                .map(|r| r.new_next.kid.clone())
        };
        // One entry for the whole rotation; the access family keeps the field names it has
        // always had, so existing audit queries still read it.
        let audit = self.audit.entry(
            AuditEvent::KeyRotated,
            by,
            client,
            serde_json::json!({
                "signing_kid": promoted(KeyPurpose::Access),
                "next_kid": fresh(KeyPurpose::Access),
                "id_token_signing_kid": promoted(KeyPurpose::IdToken),
                "id_token_next_kid": fresh(KeyPurpose::IdToken),
                "by": by,
            }),
        );
        self.store.rotate_keys(&rotations, now, &[audit]).await?;
        self.reload().await
    }
}
