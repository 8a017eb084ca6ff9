//! TLS for the listener: a self-signed certificate made once in the data dir (`auto`), the
//! operator's PEM files (`files`), or none (`off`, behind a TLS-terminating proxy).

use std::path::{Path, PathBuf};

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;

use crate::config::{Config, TlsMode};

/// Where `auto` keeps its certificate and key.
pub fn auto_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// The rustls configuration for `config`, or `None` for plain HTTP.
pub async fn server_config(config: &Config) -> anyhow::Result<Option<(RustlsConfig, PathBuf)>> {
    // More than one rustls provider may be compiled in (dependencies pick their own); choose.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (cert, key) = match &config.tls {
        TlsMode::Off => return Ok(None),
        TlsMode::Files { cert, key } => (cert.clone(), key.clone()),
        TlsMode::Auto => {
            let (cert, key) = auto_paths(&config.data_dir);
            if !cert.is_file() || !key.is_file() {
                make_self_signed(config, &cert, &key)?;
            }
            (cert, key)
        }
    };
    let rustls = RustlsConfig::from_pem_file(&cert, &key)
        .await
        .with_context(|| {
            format!(
                "cannot load TLS certificate {} and key {}",
                cert.display(),
                key.display()
            )
        })?;
    Ok(Some((rustls, cert)))
}

fn make_self_signed(config: &Config, cert_path: &Path, key_path: &Path) -> anyhow::Result<()> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let ip = config.listen.ip();
    if !ip.is_unspecified() && !names.contains(&ip.to_string()) {
        names.push(ip.to_string());
    }
    if let Ok(url) = url::Url::parse(&config.settings.issuer)
        && let Some(host) = url.host_str()
    {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if !names.contains(&host) {
            names.push(host);
        }
    }
    let certified = rcgen::generate_simple_self_signed(names)
        .context("cannot generate a self-signed certificate")?;
    let dir = cert_path
        .parent()
        .context("certificate path has no directory")?;
    create_private_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_private(key_path, certified.signing_key.serialize_pem().as_bytes())?;
    // Written beside and renamed into place: whoever reads the certificate (a client that is to
    // trust it, a second replica) sees the whole file or none, never a half-written one.
    let partial = cert_path.with_extension("pem.partial");
    std::fs::write(&partial, certified.cert.pem())
        .and_then(|()| std::fs::rename(&partial, cert_path))
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    tracing::info!(cert = %cert_path.display(), "made a self-signed TLS certificate");
    Ok(())
}

/// Creates a directory (and missing parents: the data dir itself, on a first start) only its
/// owner can enter; the private key lives there.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
