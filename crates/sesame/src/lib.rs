//! The Sesame service: configuration, the command line, start-up and the HTTP API.

pub mod backchannel;
pub mod cli;
pub mod config;
pub mod http;
pub mod import;
pub mod mail;
pub mod pages;
pub mod startup;
pub mod telemetry;
pub mod tls;
pub mod upstream_http;
pub mod webhooks;

pub use config::Config;
pub use startup::Application;
