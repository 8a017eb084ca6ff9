//! Image metadata in SQLite (WAL, migrations applied on open). The only file with SQL in it.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use crate::image::{ContentHash, ImageKind};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// One image resource as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    pub id: Uuid,
    pub owner: String,
    pub title: String,
    pub description: Option<String>,
    pub hash: ContentHash,
    pub kind: ImageKind,
    pub size: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone)]
pub struct ImageStore {
    pool: SqlitePool,
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("bad time {ms}")))
}

fn record(row: &SqliteRow) -> Result<ImageRecord, StoreError> {
    let id: String = row.try_get("id")?;
    let hash: String = row.try_get("sha256")?;
    let content_type: String = row.try_get("content_type")?;
    let size: i64 = row.try_get("size")?;
    Ok(ImageRecord {
        id: Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        owner: row.try_get("owner")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        hash: ContentHash::parse(&hash)
            .ok_or_else(|| StoreError::Corrupt(format!("bad hash {hash}")))?,
        kind: ImageKind::from_content_type(&content_type)
            .ok_or_else(|| StoreError::Corrupt(format!("bad content type {content_type}")))?,
        size: u64::try_from(size).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: from_millis(row.try_get("created_at")?)?,
        updated_at: from_millis(row.try_get("updated_at")?)?,
    })
}

const COLUMNS: &str =
    "id, owner, title, description, sha256, content_type, size, created_at, updated_at";

impl ImageStore {
    /// Opens (creating if needed) the database file and applies the migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(ImageStore { pool })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn insert(&self, r: &ImageRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO images (id, owner, title, description, sha256, content_type, size, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(r.id.to_string())
        .bind(&r.owner)
        .bind(&r.title)
        .bind(&r.description)
        .bind(r.hash.as_str())
        .bind(r.kind.content_type())
        .bind(i64::try_from(r.size).unwrap_or(i64::MAX))
        .bind(millis(r.created_at))
        .bind(millis(r.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get(&self, id: Uuid) -> Result<Option<ImageRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM images WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record).transpose()
    }

    /// Newest first; `before` is the id of the last image of the previous page.
    pub async fn list(
        &self,
        limit: u32,
        before: Option<Uuid>,
        owner: Option<&str>,
    ) -> Result<Vec<ImageRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM images
             WHERE (?1 IS NULL OR id < ?1) AND (?2 IS NULL OR owner = ?2)
             ORDER BY id DESC LIMIT ?3"
        ))
        .bind(before.map(|id| id.to_string()))
        .bind(owner)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// Writes every mutable column of `r`; false when the row is gone.
    pub async fn update(&self, r: &ImageRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE images SET title = ?, description = ?, sha256 = ?, content_type = ?, size = ?, updated_at = ?
             WHERE id = ?",
        )
        .bind(&r.title)
        .bind(&r.description)
        .bind(r.hash.as_str())
        .bind(r.kind.content_type())
        .bind(i64::try_from(r.size).unwrap_or(i64::MAX))
        .bind(millis(r.updated_at))
        .bind(r.id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM images WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The type of the file named `hash` while some resource references it.
    pub async fn referenced_kind(
        &self,
        hash: &ContentHash,
    ) -> Result<Option<ImageKind>, StoreError> {
        let ct: Option<String> =
            sqlx::query_scalar("SELECT content_type FROM images WHERE sha256 = ? LIMIT 1")
                .bind(hash.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(ct.as_deref().and_then(ImageKind::from_content_type))
    }

    pub async fn is_referenced(&self, hash: &ContentHash) -> Result<bool, StoreError> {
        Ok(self.referenced_kind(hash).await?.is_some())
    }
}
