//! The gallery: seed 003's resource service. Images are resources (`/images`), owned by the
//! `sub` of the token that created them; their bytes are stored once per content on disk and
//! served publicly; their metadata lives in SQLite. Tokens are Sesame's access tokens, verified
//! locally with `sesame-verify` (keys discovered from `GALLERY_ISSUER`), for the gallery's own
//! audience.
//!
//! - `config`: `GALLERY_*` settings
//! - `image`: the domain (image bytes, title, description), parsed once
//! - `blobs`, `store`: image files on disk, metadata in SQLite
//! - `gallery`: the use-cases
//! - `http`: routes, errors, extractors
//! - `startup`: the `Application` that wires it all

pub mod blobs;
pub mod config;
pub mod gallery;
pub mod http;
pub mod image;
pub mod startup;
pub mod store;

pub use config::Config;
pub use startup::Application;
