//! The console's read-only figures: overview counts and audit events per bucket of time.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{ConsoleStore, EventCounts, OverviewCounts, StoreResult};

use crate::{PostgresStore, map_err};

#[async_trait]
impl ConsoleStore for PostgresStore {
    async fn overview_counts(&self, now: DateTime<Utc>) -> StoreResult<OverviewCounts> {
        let (users, sessions, emails, deliveries): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM users), \
                    (SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > $1), \
                    (SELECT COUNT(*) FROM email_outbox WHERE sent_at IS NULL), \
                    (SELECT COUNT(*) FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                       WHERE d.status = 'pending' AND e.status = 'active')",
        )
        .bind(now)
        .fetch_one(&self.pool)
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
        let events: Vec<String> = events.iter().map(|e| e.to_string()).collect();
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT event, floor(extract(epoch FROM (at - $1)) / $2)::bigint AS bucket, COUNT(*) \
             FROM audit_log WHERE at >= $1 AND event = ANY($3) GROUP BY 1, 2",
        )
        .bind(since)
        .bind(bucket_secs.max(1) as f64)
        .bind(&events)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(e, b, n)| (e, b, u64::try_from(n).unwrap_or(0)))
            .collect())
    }
}
