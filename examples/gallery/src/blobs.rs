//! Image bytes on disk, addressed by content: `<root>/<first two hex digits>/<sha256>`.
//!
//! Equal bytes are stored once, whoever uploads them, and a file never changes once written
//! (its name is its hash). Writes go to a temporary file in the same directory, are synced, then
//! renamed into place, so a crash never leaves a truncated file under a valid name.
//! Which files are still referenced is the metadata store's business ([`crate::gallery`]).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::image::ContentHash;

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// Creates the root directory if needed.
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(BlobStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, hash: &ContentHash) -> PathBuf {
        let h = hash.as_str();
        self.root.join(&h[..2]).join(h)
    }

    /// Stores `bytes` under `hash` unless a file with that content is already there.
    pub async fn put(&self, hash: &ContentHash, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(hash);
        if tokio::fs::try_exists(&path).await? {
            return Ok(());
        }
        let dir = path
            .parent()
            .ok_or_else(|| std::io::Error::other("blob path has no directory"))?;
        tokio::fs::create_dir_all(dir).await?;
        let tmp = dir.join(format!(".{hash}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let written = async {
            let mut f = tokio::fs::File::create(&tmp).await?;
            f.write_all(bytes).await?;
            f.sync_all().await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        written
    }

    /// The bytes stored under `hash`, if any.
    pub async fn get(&self, hash: &ContentHash) -> std::io::Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.path(hash)).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn exists(&self, hash: &ContentHash) -> std::io::Result<bool> {
        tokio::fs::try_exists(self.path(hash)).await
    }

    /// Removes the file for `hash`; a file already gone is not an error.
    pub async fn remove(&self, hash: &ContentHash) -> std::io::Result<()> {
        match tokio::fs::remove_file(self.path(hash)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn content_is_stored_once_under_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path().join("images")).unwrap();
        let hash = ContentHash::of(b"hello");
        assert_eq!(blobs.get(&hash).await.unwrap(), None);
        blobs.put(&hash, b"hello").await.unwrap();
        blobs.put(&hash, b"hello").await.unwrap();
        assert_eq!(
            blobs.get(&hash).await.unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        let stored = dir
            .path()
            .join("images")
            .join(&hash.as_str()[..2])
            .join(hash.as_str());
        assert!(stored.is_file());
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(stored.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
        blobs.remove(&hash).await.unwrap();
        blobs.remove(&hash).await.unwrap();
        assert!(!blobs.exists(&hash).await.unwrap());
    }
}
