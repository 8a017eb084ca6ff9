//! The console's read-only figures: overview counts and audit events per bucket of time.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{ConsoleStore, EventCounts, OverviewCounts, StoreResult};

use crate::types::UnixMs;
use crate::{SqliteStore, map_err};

#[async_trait]
impl ConsoleStore for SqliteStore {
    async fn overview_counts(&self, now: DateTime<Utc>) -> StoreResult<OverviewCounts> {
        let (users, sessions, emails, deliveries): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM users), \
                    (SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > ?1), \
                    (SELECT COUNT(*) FROM email_outbox WHERE sent_at IS NULL), \
                    (SELECT COUNT(*) FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                       WHERE d.status = 'pending' AND e.status = 'active')",
        )
        .bind(UnixMs(now))
        .fetch_one(self.reader())
        .await
        .map_err(map_err)?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(OverviewCounts {
            users: n(users),
            active_sessions: n(sessions),
            email_backlog: n(emails),
            webhook_backlog: n(deliveries),
        })
    }

    async fn audit_counts(
        &self,
        events: &[&str],
        since: DateTime<Utc>,
        bucket_secs: i64,
    ) -> StoreResult<EventCounts> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; events.len()].join(", ");
        let sql = format!(
            "SELECT event, (at - ?) / ? AS bucket, COUNT(*) FROM audit_log \
             WHERE at >= ? AND event IN ({marks}) GROUP BY event, bucket"
        );
        let mut q = sqlx::query_as::<_, (String, i64, i64)>(&sql)
            .bind(UnixMs(since))
            .bind(bucket_secs.max(1) * 1000)
            .bind(UnixMs(since));
        for e in events {
            q = q.bind(*e);
        }
        let rows = q.fetch_all(self.reader()).await.map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(e, b, n)| (e, b, u64::try_from(n).unwrap_or(0)))
            .collect())
    }
}
