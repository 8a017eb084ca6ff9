//! How this schema stores what SQLite has no type for (see migration 0001): times as INTEGER
//! Unix milliseconds, UUIDs as their hyphenated text. Row structs declare these column types and
//! queries bind them, so no query converts by hand.

use chrono::{DateTime, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Sqlite, Type};

/// A UUID in a TEXT column. sqlx's own encoding of `Uuid` on SQLite is a 16-byte BLOB, which
/// would neither match the ids already stored nor sort the same; its `Hyphenated` is the text
/// form, with the Type/Encode/Decode this needs.
pub(crate) type TextUuid = uuid::fmt::Hyphenated;

/// A time in an INTEGER column of Unix milliseconds (UTC): compact, and ordered as the times are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct UnixMs(pub DateTime<Utc>);

impl From<UnixMs> for DateTime<Utc> {
    fn from(t: UnixMs) -> Self {
        t.0
    }
}

impl Type<Sqlite> for UnixMs {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for UnixMs {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.0.timestamp_millis(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for UnixMs {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let ms = <i64 as Decode<Sqlite>>::decode(value)?;
        // Outside chrono's range (about ±262,000 years) only by corruption: the earliest time
        // makes such a lock or expiry one that has long passed.
        Ok(UnixMs(
            DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use chrono::{DateTime, TimeZone, Utc};
    use sqlx::{Connection, SqliteConnection};
    use uuid::Uuid;

    use super::{TextUuid, UnixMs};

    #[tokio::test]
    async fn times_are_stored_as_milliseconds_and_read_back() {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let t = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        let (stored, back): (i64, UnixMs) = sqlx::query_as("SELECT ?1, ?1")
            .bind(UnixMs(t))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(stored, 1_700_000_000_123);
        assert_eq!(back, UnixMs(t));
        let (far,): (UnixMs,) = sqlx::query_as("SELECT 9223372036854775807")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            far.0,
            DateTime::<Utc>::MIN_UTC,
            "out of range reads as the earliest time"
        );
    }

    #[tokio::test]
    async fn uuids_are_stored_as_hyphenated_text_and_read_back() {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let id = Uuid::now_v7();
        let (stored, back): (String, TextUuid) = sqlx::query_as("SELECT ?1, ?1")
            .bind(TextUuid::from(id))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(stored, id.to_string());
        assert_eq!(Uuid::from(back), id);
        let bad: Result<(TextUuid,), _> = sqlx::query_as("SELECT 'not-a-uuid'")
            .fetch_one(&mut conn)
            .await;
        assert!(bad.is_err(), "a malformed id is an error, not a made-up id");
    }
}
