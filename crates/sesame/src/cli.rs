//! The `sesame` command line.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::SecretString;
use serde_json::json;
use sesame_core::SystemClock;
use sesame_core::accounts::Registration;
use sesame_core::admin::Actor;
use sesame_core::domain::Role;

use crate::config::Config;
use crate::startup::{Application, describe, start_core};

#[derive(Debug, Parser)]
#[command(name = "sesame", version, about = "Identity and JWT authentication service", long_about = None)]
pub struct Cli {
    /// TOML configuration file (also SESAME_CONFIG). Environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default). Applies migrations first.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage OAuth clients: services (client credentials) and apps people sign in to.
    #[command(subcommand)]
    Client(ClientCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create a client; prints it as JSON with its `client_secret` (shown once; none for a
    /// public client).
    Create {
        #[arg(long)]
        name: String,
        /// An audience the client may request (repeatable; the first is its default).
        #[arg(long = "audience")]
        audiences: Vec<String>,
        /// A scope the client may request (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A user role a token the client obtains by token exchange may carry (repeatable;
        /// default: none).
        #[arg(long = "delegable-role")]
        delegable_roles: Vec<String>,
        /// A redirect URI for the authorization code flow (repeatable; compared exactly).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may send the browser afterwards (repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A grant type (repeatable): client_credentials, authorization_code, refresh_token,
        /// urn:ietf:params:oauth:grant-type:token-exchange. Default: authorization_code and
        /// refresh_token with a redirect URI or --public, else the two service grants.
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// No secret: a SPA or native app, proven by PKCE.
        #[arg(long)]
        public: bool,
        /// The operator's own app: no consent screen.
        #[arg(long)]
        first_party: bool,
        /// Where OpenID back-channel logout tokens are POSTed.
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: Option<String>,
        /// A role to grant (repeatable); every user also gets `customer`.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Read the password from standard input (required: passwords never go in arguments).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Import users from JSON Lines with the password hashes they already have (bcrypt,
    /// Django, PBKDF2, scrypt, argon2), upgraded to argon2id at each user's first login.
    /// Existing users are skipped; bad lines are reported with their numbers. Exit status 0,
    /// or 3 when some line was rejected. See docs/migrate.md.
    Import {
        /// One JSON object per line: {email, username?, password_hash, roles?, created_at?,
        /// email_verified?, disabled?}. `/dev/stdin` reads a pipe.
        file: PathBuf,
        /// Check every line (and against the database) but write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Users written per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=10_000))]
        batch_size: u16,
    },
    /// Clear every lockout of a user (each source's and the account-wide one), as
    /// POST /admin/users/{id}/unlock does; audited as `account_unlocked`.
    Unlock {
        /// The user's email address.
        email: String,
    },
    /// Grant or take away a role (so an operator can recover without the API).
    #[command(subcommand)]
    Role(RoleCommand),
}

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Grant ROLE to the user with EMAIL; prints the user's roles as JSON.
    Add { email: String, role: String },
    /// Take ROLE from the user with EMAIL; prints the user's roles as JSON. Taking `admin` from
    /// the last active admin is refused.
    Remove { email: String, role: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys (access and ID-token keys) and their states.
    List,
    /// Rotate both key families: each promotes its next key to signing and publishes a new one.
    Rotate,
}

pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            crate::startup::open_store(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::User(UserCommand::Create {
            email,
            username,
            roles,
            password_stdin: _,
        }) => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("cannot read the password from standard input")?;
            let password = SecretString::from(password.trim_end_matches(['\r', '\n']).to_string());
            let mut parsed = vec![Role::customer()];
            for r in &roles {
                parsed
                    .push(Role::parse(r).map_err(|m| anyhow::anyhow!("invalid role '{r}': {m}"))?);
            }
            let sesame = start_core(&config, Arc::new(SystemClock)).await?;
            let user = sesame
                .accounts()
                .create_user(
                    Registration {
                        email,
                        password,
                        username,
                        client: Default::default(),
                    },
                    parsed,
                )
                .await
                .map_err(|e| anyhow::anyhow!("cannot create the user: {}", describe(&e)))?;
            println!(
                "{}",
                json!({"id": user.id, "email": user.email, "username": user.username, "roles": user.roles})
            );
            Ok(())
        }
        Command::User(UserCommand::Import {
            file,
            dry_run,
            json,
            batch_size,
        }) => {
            let args = crate::import::ImportArgs {
                file,
                dry_run,
                json,
                batch_size: usize::from(batch_size),
            };
            crate::import::run(args, config).await
        }
        Command::User(UserCommand::Unlock { email }) => {
            let sesame = start_core(&config, Arc::new(SystemClock)).await?;
            let actor = Actor::command_line();
            let user = sesame
                .admin()
                .find_by_email(&email)
                .await
                .map_err(|e| user_error("cannot unlock", &email, &e))?;
            let user = sesame
                .admin()
                .unlock(user.id, &actor)
                .await
                .map_err(|e| user_error("cannot unlock", &email, &e))?;
            println!(
                "{}",
                json!({"id": user.id, "email": user.email, "locked_until": user.locked_until,
                       "failed_logins": user.failed_logins})
            );
            Ok(())
        }
        Command::User(UserCommand::Role(cmd)) => {
            let sesame = start_core(&config, Arc::new(SystemClock)).await?;
            let actor = Actor::command_line();
            let (email, role, add) = match cmd {
                RoleCommand::Add { email, role } => (email, role, true),
                RoleCommand::Remove { email, role } => (email, role, false),
            };
            let what = if add {
                "cannot add the role"
            } else {
                "cannot remove the role"
            };
            let user = sesame
                .admin()
                .find_by_email(&email)
                .await
                .map_err(|e| user_error(what, &email, &e))?;
            let roles = if add {
                sesame.admin().add_role(user.id, &role, &actor).await
            } else {
                sesame.admin().remove_role(user.id, &role, &actor).await
            }
            .map_err(|e| user_error(what, &email, &e))?;
            println!(
                "{}",
                json!({"id": user.id, "email": user.email, "roles": roles})
            );
            Ok(())
        }
        Command::Client(ClientCommand::Create {
            name,
            audiences,
            scopes,
            delegable_roles,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            public,
            first_party,
            backchannel_logout_uri,
        }) => {
            let sesame = start_core(&config, Arc::new(SystemClock)).await?;
            let created = sesame
                .clients()
                .create(
                    sesame_core::clients::NewClient {
                        name,
                        audiences,
                        scopes,
                        delegable_roles,
                        oauth: sesame_core::client_metadata::OAuthFields {
                            redirect_uris,
                            post_logout_redirect_uris,
                            grant_types: (!grant_types.is_empty()).then_some(grant_types),
                            public,
                            first_party,
                            backchannel_logout_uri,
                        },
                    },
                    None,
                    &Default::default(),
                )
                .await
                .map_err(|e| anyhow::anyhow!("cannot create the client: {}", describe(&e)))?;
            use secrecy::ExposeSecret;
            let c = &created.client;
            let mut out = json!({"client_id": c.client_id,
                       "name": c.name, "audiences": c.audiences, "scopes": c.scopes,
                       "delegable_roles": c.delegable_roles, "redirect_uris": c.redirect_uris,
                       "post_logout_redirect_uris": c.post_logout_redirect_uris,
                       "grant_types": c.grant_types, "public": c.public, "first_party": c.first_party,
                       "backchannel_logout_uri": c.backchannel_logout_uri});
            if let Some(secret) = &created.secret {
                out["client_secret"] = json!(secret.expose_secret());
            }
            println!("{out}");
            Ok(())
        }
        Command::Keys(cmd) => {
            let sesame = start_core(&config, Arc::new(SystemClock)).await?;
            if matches!(cmd, KeysCommand::Rotate) {
                sesame
                    .keys()
                    .rotate(None, &Default::default())
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot rotate keys: {}", describe(&e)))?;
            }
            let ring = sesame.key_ring().current();
            let keys: Vec<_> = ring
                .published
                .iter()
                .map(|k| {
                    json!({"kid": k.jwk.kid, "purpose": k.purpose.as_str(), "alg": k.jwk.alg, "state": k.state.as_str(), "created_at": k.created_at,
                           "activated_at": k.activated_at, "retire_until": k.retire_until})
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "keys": keys }))?
            );
            Ok(())
        }
    }
}

/// A command-line error about the user named by `email`, in words an operator acts on.
fn user_error(what: &str, email: &str, e: &sesame_core::CoreError) -> anyhow::Error {
    use sesame_core::CoreError;
    match e {
        CoreError::NotFound => anyhow::anyhow!("{what}: no user with the email {email}"),
        CoreError::LastAdmin => anyhow::anyhow!(
            "{what}: {email} is the last active admin; give another user the admin role first"
        ),
        other => anyhow::anyhow!("{what}: {}", describe(other)),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    let base = format!("{}://{}", app.scheme(), app.local_addr());
    match app.cert_path() {
        Some(cert) => println!(
            "Sesame listening on {base} (TLS certificate: {})",
            cert.display()
        ),
        None => println!("Sesame listening on {base} (plain HTTP)"),
    }
    tracing::info!(address = %base, "listening");
    app.run_until_stopped(shutdown_signal()).await
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
