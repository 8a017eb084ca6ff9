-- The gallery's metadata. The image bytes are not here: they live on disk under
-- <data dir>/images/, one file per distinct content, named by its SHA-256 (see src/blobs.rs).
-- Times are INTEGER Unix milliseconds (UTC); ids are UUID text.

-- One row per image resource.
CREATE TABLE images (
    id           TEXT PRIMARY KEY,     -- UUIDv7: time-ordered, so paging by id follows creation
    owner        TEXT NOT NULL,        -- the `sub` of the token that created it; only it may change or delete
    title        TEXT NOT NULL,        -- 1-200 characters, trimmed
    description  TEXT,                 -- optional, at most 2000 characters
    sha256       TEXT NOT NULL,        -- lower-case hex of the bytes: names the file; resources with equal bytes share it
    content_type TEXT NOT NULL,        -- sniffed from the bytes (image/png, image/jpeg, image/gif, image/webp), never the client's claim
    size         INTEGER NOT NULL,     -- bytes, at most 500 KiB
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- Whether a file is still referenced (deleting its last resource deletes the file), and
-- serving a file only while some resource references it.
CREATE INDEX images_sha256 ON images (sha256);

-- Listing one owner's images, newest first.
CREATE INDEX images_owner ON images (owner, id);
