//! The database holds password hashes and the private signing keys: its directory is created
//! owner-only (0700) and the file itself 0600 before SQLite opens it. SQLite creates the `-wal`
//! and `-shm` files with the permissions of the database file, so they are 0600 too.
//!
//! Only what Sesame creates is set; an existing directory or file keeps the mode its operator
//! gave it (a backup group may read it on purpose), but group- or world-readable database files
//! are reported once in the log.

use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents owner-only; an existing directory is left as it is.
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates the database file owner-only when it does not exist yet (SQLite would create it
/// with the process umask, typically 0644), and warns when an existing one is readable by
/// others.
pub(crate) fn create_db_file(path: &Path) -> io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            warn_if_shared(path);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the database file is readable by other users; it holds password hashes and \\
                 signing keys (chmod 600 it, and its -wal and -shm files)"
            );
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_directories_and_database_files_are_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        let db = dir.join("sesame.db");
        create_db_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
    }

    #[test]
    fn an_existing_file_keeps_its_content_and_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("sesame.db");
        std::fs::write(&db, b"data").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
        create_db_file(&db).unwrap();
        assert_eq!(std::fs::read(&db).unwrap(), b"data");
        assert_eq!(mode(&db), 0o640);
    }
}
