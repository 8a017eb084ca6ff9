//! Parse, don't validate: holding one of these means the value is valid.

mod email;
mod password;
mod redirect_uri;
mod role;
mod username;

pub use email::Email;
pub use password::{Password, PasswordProblem};
pub use redirect_uri::{RedirectUri, RedirectUriError, identifies_the_app};
pub use role::Role;
pub use username::Username;
