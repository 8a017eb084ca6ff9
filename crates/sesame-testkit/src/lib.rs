//! Test support shared by the workspace's test binaries, so each helper exists once:
//!
//! - [`pg`]: a throwaway PostgreSQL server with a fresh database per test ([`PgCluster`]);
//! - [`net`]: [`free_port`] for servers told their port before they start;
//! - [`names`]: [`unique`] usernames and emails, and the one test [`PASSWORD`];
//! - [`http`]: reading Sesame's answers — [`body`](http::body), the contract's `{detail, code}`
//!   errors ([`assert_error`](http::assert_error)), issued [`Tokens`](http::Tokens);
//! - [`jwt`]: base64url, the JSON of a token's parts, forged tokens;
//! - [`process`]: the `sesame` binary with a clean environment, waiting for it over HTTPS, and
//!   stopping child processes;
//! - [`tools`]: external programs — a command that must succeed, a Python virtualenv, nginx.
//!
//! Failing to set something up is an error or a panic with the reason: tests fail, never skip.

pub mod http;
pub mod jwt;
pub mod names;
pub mod net;
pub mod pg;
pub mod process;
pub mod tools;

pub use names::{PASSWORD, unique};
pub use net::free_port;
pub use pg::PgCluster;
