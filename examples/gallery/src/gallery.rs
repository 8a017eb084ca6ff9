//! The gallery's use-cases: create, list, read, change and delete image resources, and open the
//! public files. Handlers call these; these call the metadata store and the blob store.
//!
//! Files are shared between resources with equal bytes, so a file may be removed only when no
//! resource references it any more. Writes (create, update, delete) are serialised by one lock:
//! otherwise a delete could see "no other reference" just before a create of the same bytes
//! commits, and remove the file under it. SQLite has one writer at a time anyway, and the
//! expensive parts (base64, hashing) happen before the lock. This assumes one gallery process
//! per data directory.
#![allow(
    clippy::disallowed_methods,
    reason = "the example service has no injected clock: images are stamped with the real time"
)]

use chrono::{DateTime, Utc};
use thiserror::Error;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::blobs::BlobStore;
use crate::image::{ContentHash, Description, ImageData, ImageKind, Title};
use crate::store::{ImageRecord, ImageStore, StoreError};

/// Page sizes for listing.
pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;

#[derive(Debug, Error)]
pub enum GalleryError {
    #[error("no such image")]
    NotFound,
    #[error("only the owner may change or delete an image")]
    Forbidden,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("image file storage failed: {0}")]
    Files(#[from] std::io::Error),
}

#[derive(Debug)]
pub struct NewImage {
    pub owner: String,
    pub title: Title,
    pub description: Option<Description>,
    pub data: ImageData,
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ImageChanges {
    pub title: Option<Title>,
    /// `Some(None)` removes the description.
    pub description: Option<Option<Description>>,
    pub data: Option<ImageData>,
}

#[derive(Debug)]
pub struct Page {
    pub images: Vec<ImageRecord>,
    /// Pass as `before` to get the next page; `None` on the last page.
    pub next: Option<Uuid>,
}

#[derive(Debug)]
pub struct Gallery {
    store: ImageStore,
    blobs: BlobStore,
    writes: Mutex<()>,
}

impl Gallery {
    pub fn new(store: ImageStore, blobs: BlobStore) -> Self {
        Gallery {
            store,
            blobs,
            writes: Mutex::new(()),
        }
    }

    pub fn store(&self) -> &ImageStore {
        &self.store
    }

    #[tracing::instrument(skip_all, fields(owner = %input.owner, size = input.data.size()))]
    pub async fn create(
        &self,
        input: NewImage,
        now: DateTime<Utc>,
    ) -> Result<ImageRecord, GalleryError> {
        let record = ImageRecord {
            id: Uuid::now_v7(),
            owner: input.owner,
            title: input.title.as_str().to_string(),
            description: input.description.map(|d| d.as_str().to_string()),
            hash: input.data.hash().clone(),
            kind: input.data.kind(),
            size: input.data.size() as u64,
            created_at: now,
            updated_at: now,
        };
        let _write = self.writes.lock().await;
        self.blobs.put(&record.hash, input.data.bytes()).await?;
        if let Err(e) = self.store.insert(&record).await {
            self.remove_if_unreferenced(&record.hash).await;
            return Err(e.into());
        }
        Ok(record)
    }

    pub async fn get(&self, id: Uuid) -> Result<ImageRecord, GalleryError> {
        self.store.get(id).await?.ok_or(GalleryError::NotFound)
    }

    pub async fn list(
        &self,
        limit: u32,
        before: Option<Uuid>,
        owner: Option<&str>,
    ) -> Result<Page, GalleryError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut images = self.store.list(limit + 1, before, owner).await?;
        let next = if images.len() > limit as usize {
            images.truncate(limit as usize);
            images.last().map(|r| r.id)
        } else {
            None
        };
        Ok(Page { images, next })
    }

    #[tracing::instrument(skip(self, changes, now))]
    pub async fn update(
        &self,
        id: Uuid,
        caller: &str,
        changes: ImageChanges,
        now: DateTime<Utc>,
    ) -> Result<ImageRecord, GalleryError> {
        let _write = self.writes.lock().await;
        let mut record = self.owned(id, caller).await?;
        let old_hash = record.hash.clone();
        if let Some(t) = changes.title {
            record.title = t.as_str().to_string();
        }
        if let Some(d) = changes.description {
            record.description = d.map(|d| d.as_str().to_string());
        }
        if let Some(data) = &changes.data {
            self.blobs.put(data.hash(), data.bytes()).await?;
            record.hash = data.hash().clone();
            record.kind = data.kind();
            record.size = data.size() as u64;
        }
        record.updated_at = now;
        let updated = match self.store.update(&record).await {
            Ok(u) => u,
            Err(e) => {
                self.remove_if_unreferenced(&record.hash).await;
                return Err(e.into());
            }
        };
        if !updated {
            return Err(GalleryError::NotFound);
        }
        if old_hash != record.hash {
            self.remove_if_unreferenced(&old_hash).await;
        }
        Ok(record)
    }

    #[tracing::instrument(skip(self))]
    pub async fn delete(&self, id: Uuid, caller: &str) -> Result<(), GalleryError> {
        let _write = self.writes.lock().await;
        let record = self.owned(id, caller).await?;
        if !self.store.delete(id).await? {
            return Err(GalleryError::NotFound);
        }
        self.remove_if_unreferenced(&record.hash).await;
        Ok(())
    }

    /// The bytes and type of a public file, while some resource references it under that type.
    pub async fn open_file(
        &self,
        hash: &ContentHash,
        kind: ImageKind,
    ) -> Result<Vec<u8>, GalleryError> {
        if self.store.referenced_kind(hash).await? != Some(kind) {
            return Err(GalleryError::NotFound);
        }
        self.blobs.get(hash).await?.ok_or(GalleryError::NotFound)
    }

    /// 404 when missing, 403 when someone else's. The caller holds the write lock.
    async fn owned(&self, id: Uuid, caller: &str) -> Result<ImageRecord, GalleryError> {
        let record = self.get(id).await?;
        if record.owner != caller {
            return Err(GalleryError::Forbidden);
        }
        Ok(record)
    }

    /// Removes a file nobody references. A failure leaves an orphan file, which is never
    /// served (serving checks the metadata) and costs only disk space: logged, not an error.
    /// The caller holds the write lock.
    async fn remove_if_unreferenced(&self, hash: &ContentHash) {
        match self.store.is_referenced(hash).await {
            Ok(true) => {}
            Ok(false) => {
                if let Err(e) = self.blobs.remove(hash).await {
                    tracing::warn!(%hash, error = %e, "cannot remove an unreferenced image file");
                }
            }
            Err(e) => {
                tracing::warn!(%hash, error = %e, "cannot tell whether an image file is still used")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-one";
    const PNG2: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-two";

    async fn gallery(dir: &std::path::Path) -> Gallery {
        let store = ImageStore::open(&dir.join("gallery.db")).await.unwrap();
        let blobs = BlobStore::open(dir.join("images")).unwrap();
        Gallery::new(store, blobs)
    }

    fn new(owner: &str, bytes: &[u8]) -> NewImage {
        NewImage {
            owner: owner.into(),
            title: Title::parse("t").unwrap(),
            description: None,
            data: ImageData::from_bytes(bytes.to_vec()).unwrap(),
        }
    }

    #[tokio::test]
    async fn shared_files_live_until_their_last_resource_goes() {
        let dir = tempfile::tempdir().unwrap();
        let g = gallery(dir.path()).await;
        let now = Utc::now();
        let a = g.create(new("alice", PNG), now).await.unwrap();
        let b = g.create(new("bob", PNG), now).await.unwrap();
        assert_eq!(a.hash, b.hash);
        g.delete(a.id, "alice").await.unwrap();
        assert_eq!(g.open_file(&b.hash, ImageKind::Png).await.unwrap(), PNG);
        // Bob replaces his bytes: the old file has no resource left and goes.
        let changes = ImageChanges {
            data: Some(ImageData::from_bytes(PNG2.to_vec()).unwrap()),
            ..Default::default()
        };
        let b2 = g.update(b.id, "bob", changes, now).await.unwrap();
        assert!(matches!(
            g.open_file(&a.hash, ImageKind::Png).await,
            Err(GalleryError::NotFound)
        ));
        assert_eq!(g.open_file(&b2.hash, ImageKind::Png).await.unwrap(), PNG2);
        // The right bytes under the wrong type are not served.
        assert!(matches!(
            g.open_file(&b2.hash, ImageKind::Gif).await,
            Err(GalleryError::NotFound)
        ));
        g.delete(b.id, "bob").await.unwrap();
        let left: Vec<_> = walk(&dir.path().join("images"));
        assert!(left.is_empty(), "{left:?}");
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[tokio::test]
    async fn only_the_owner_changes_or_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let g = gallery(dir.path()).await;
        let a = g.create(new("alice", PNG), Utc::now()).await.unwrap();
        assert!(matches!(
            g.delete(a.id, "mallory").await,
            Err(GalleryError::Forbidden)
        ));
        assert!(matches!(
            g.update(a.id, "mallory", ImageChanges::default(), Utc::now())
                .await,
            Err(GalleryError::Forbidden)
        ));
        assert!(matches!(
            g.delete(Uuid::now_v7(), "alice").await,
            Err(GalleryError::NotFound)
        ));
        assert_eq!(g.get(a.id).await.unwrap().owner, "alice");
    }

    #[tokio::test]
    async fn pages_walk_every_image_once_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let g = gallery(dir.path()).await;
        let mut ids = Vec::new();
        for i in 0..7 {
            let owner = if i % 2 == 0 { "alice" } else { "bob" };
            ids.push(g.create(new(owner, PNG), Utc::now()).await.unwrap().id);
        }
        ids.reverse();
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = g.list(3, before, None).await.unwrap();
            seen.extend(page.images.iter().map(|r| r.id));
            match page.next {
                Some(n) => before = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, ids);
        let alice = g.list(100, None, Some("alice")).await.unwrap();
        assert_eq!(alice.images.len(), 4);
        assert!(alice.next.is_none());
    }
}
