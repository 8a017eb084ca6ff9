//! A user's own passkeys: adding one (a WebAuthn registration ceremony), listing, renaming and
//! removing them. Adding and removing are audited (`passkey_added`, `passkey_removed`, both a
//! `user.mfa_changed` webhook) and counted (`sesame_mfa_events_total`).

use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::error::CoreError;
use crate::mfa::Mfa;
use crate::mfa::passkeys::{self, PasskeyChallenge, PasskeyInfo};
use crate::sessions::ClientInfo;
use crate::store::CeremonyKind;

impl Mfa {
    /// Starts adding a passkey to the signed-in user: the options for
    /// `navigator.credentials.create()` and the id to finish with. `name` (optional, checked
    /// here) is the passkey's once it is added.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn begin_passkey(
        &self,
        user_id: Uuid,
        name: Option<&str>,
    ) -> Result<PasskeyChallenge, CoreError> {
        let name = passkeys::parse_name(name)?;
        let user = self.user(user_id).await?;
        let existing = self.store.list_passkeys(user_id).await?;
        if existing.len() >= passkeys::MAX_PER_USER {
            return Err(CoreError::field(
                "name",
                format!(
                    "at most {} passkeys: remove one first",
                    passkeys::MAX_PER_USER
                ),
            ));
        }
        let display = user
            .display_name
            .as_deref()
            .or(user.username.as_deref())
            .unwrap_or(&user.email);
        let (options, state) = self.factors.relying_party()?.start_registration(
            user.id,
            user.email.as_str(),
            display,
            &existing,
        )?;
        let (ceremony, challenge_id) = passkeys::new_ceremony(
            CeremonyKind::Register,
            Some(user_id),
            None,
            name,
            state,
            self.now(),
        );
        self.store.create_ceremony(&ceremony).await?;
        Ok(PasskeyChallenge {
            challenge_id,
            options,
            conditional: false,
        })
    }

    /// Finishes adding a passkey with the browser's answer. `PasskeyRejected` for an unknown,
    /// expired, used or another user's ceremony, an answer that does not verify, or a
    /// credential registered already (to anyone).
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn finish_passkey(
        &self,
        user_id: Uuid,
        challenge_id: &str,
        credential: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<PasskeyInfo, CoreError> {
        let hash = passkeys::ceremony_hash(challenge_id).ok_or(CoreError::PasskeyRejected)?;
        let now = self.now();
        let ceremony = self
            .store
            .take_ceremony(&hash, now)
            .await?
            .filter(|c| c.kind == CeremonyKind::Register && c.user_id == Some(user_id))
            .ok_or(CoreError::PasskeyRejected)?;
        let passkey = match self
            .factors
            .relying_party()?
            .finish_registration(credential, &ceremony.state)
        {
            Ok(p) => p,
            Err(e) => {
                self.metrics.mfa("passkey_rejected");
                return Err(e);
            }
        };
        let existing = self.store.list_passkeys(user_id).await?;
        let name = ceremony
            .name
            .unwrap_or_else(|| format!("Passkey {}", existing.len() + 1));
        let record = passkeys::new_record(user_id, name, &passkey, now)?;
        let entry = self.audit.entry(
            AuditEvent::PasskeyAdded,
            Some(user_id),
            client,
            serde_json::json!({"passkey_id": record.id, "name": record.name}),
        );
        if !self.store.add_passkey(&record, &[entry]).await? {
            // Registered already, to this user or another: one account per credential.
            self.metrics.mfa("passkey_rejected");
            return Err(CoreError::PasskeyRejected);
        }
        self.metrics.mfa("passkey_added");
        Ok(PasskeyInfo::from(&record))
    }

    /// The user's passkeys, oldest first.
    pub async fn passkeys(&self, user_id: Uuid) -> Result<Vec<PasskeyInfo>, CoreError> {
        let list = self.store.list_passkeys(user_id).await?;
        Ok(list.iter().map(PasskeyInfo::from).collect())
    }

    /// Renames a passkey of the user. `NotFound` for no such passkey of theirs; a blank name
    /// is a validation error.
    pub async fn rename_passkey(
        &self,
        user_id: Uuid,
        id: Uuid,
        name: &str,
    ) -> Result<PasskeyInfo, CoreError> {
        let name = passkeys::parse_name(Some(name))?
            .ok_or_else(|| CoreError::field("name", "a name is required"))?;
        if !self.store.rename_passkey(user_id, id, &name).await? {
            return Err(CoreError::NotFound);
        }
        self.passkeys(user_id)
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(CoreError::NotFound)
    }

    /// Removes a passkey of the user; when it was their last second factor, the recovery codes
    /// go too. `NotFound` for no such passkey of theirs.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn remove_passkey(
        &self,
        user_id: Uuid,
        id: Uuid,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let entry = self.audit.entry(
            AuditEvent::PasskeyRemoved,
            Some(user_id),
            client,
            serde_json::json!({"passkey_id": id}),
        );
        if !self.store.remove_passkey(user_id, id, &[entry]).await? {
            return Err(CoreError::NotFound);
        }
        self.metrics.mfa("passkey_removed");
        Ok(())
    }
}
