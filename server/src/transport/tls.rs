//! TLS with rustls, and a certificate that can be replaced while the server runs.
//!
//! The server's rustls configuration asks a resolver for its certificate on every handshake; the
//! resolver hands out whatever was loaded last. Reloading (on SIGHUP, or when the files change on
//! disk) swaps that one value: new handshakes get the new certificate, and connections already
//! established keep theirs, so nothing is dropped. A reload that fails (a half-written file, a key
//! that does not match) keeps the certificate in use and says why in the log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// How often the files are checked for changes.
const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The certificate and key files, as configured.
#[derive(Debug, Clone)]
pub struct Files {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug)]
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        )
    }
}

/// A TLS acceptor whose certificate can be reloaded.
pub struct Reloading {
    files: Files,
    provider: Arc<CryptoProvider>,
    resolver: Arc<Resolver>,
    acceptor: TlsAcceptor,
    /// The files' modification times when last loaded.
    loaded: RwLock<(Option<SystemTime>, Option<SystemTime>)>,
}

impl Reloading {
    /// Loads the files; fails if they cannot be read or do not hold a matching chain and key.
    pub fn load(files: Files) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let loaded = (modified(&files.cert), modified(&files.key));
        let certified = read(&files, &provider)?;
        let resolver = Arc::new(Resolver {
            current: RwLock::new(Arc::new(certified)),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("the TLS provider supports no safe protocol version")?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            files,
            provider,
            resolver,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            loaded: RwLock::new(loaded),
        })
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Reads the files again and, if they hold a good chain and key, serves them from now on.
    pub fn reload(&self) -> Result<()> {
        let loaded = (modified(&self.files.cert), modified(&self.files.key));
        let certified = read(&self.files, &self.provider)?;
        *self
            .resolver
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(certified);
        *self
            .loaded
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = loaded;
        Ok(())
    }

    fn changed_on_disk(&self) -> bool {
        let now = (modified(&self.files.cert), modified(&self.files.key));
        *self
            .loaded
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            != now
    }

    /// Reloads on SIGHUP and when the files change, until the task is dropped.
    pub async fn watch(self: Arc<Self>) {
        #[cfg(unix)]
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(signal) => Some(signal),
            Err(err) => {
                tracing::warn!(
                    "cannot listen for SIGHUP; certificates reload on file change only: {err}"
                );
                None
            }
        };
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let reason = tokio::select! {
                Some(()) = async {
                    match hangup.as_mut() {
                        Some(signal) => signal.recv().await,
                        None => std::future::pending().await,
                    }
                } => "SIGHUP",
                _ = poll.tick() => {
                    if !self.changed_on_disk() {
                        continue;
                    }
                    "a file change"
                }
            };
            #[cfg(not(unix))]
            let reason = {
                poll.tick().await;
                if !self.changed_on_disk() {
                    continue;
                }
                "a file change"
            };
            match self.reload() {
                Ok(()) => tracing::info!(
                    cert = %self.files.cert.display(),
                    "reloaded the TLS certificate after {reason}"
                ),
                Err(err) => tracing::error!(
                    "kept the TLS certificate in use: cannot reload it after {reason}: {err:#}"
                ),
            }
        }
    }
}

/// Without TLS there is nothing to reload: SIGHUP is logged and otherwise ignored, so that a
/// reload hook sent to a plain-HTTP server does not end it.
pub async fn ignore_hangups() {
    #[cfg(unix)]
    if let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        while hangup.recv().await.is_some() {
            tracing::info!(
                "SIGHUP: no TLS certificate is configured, so there is nothing to reload"
            );
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
}

fn read(files: &Files, provider: &CryptoProvider) -> Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("cannot read the certificate {}", files.cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", files.cert.display()))?;
    if chain.is_empty() {
        bail!("{} holds no certificate", files.cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("cannot read a PEM private key from {}", files.key.display()))?;
    CertifiedKey::from_der(chain, key, provider).with_context(|| {
        format!(
            "the key {} does not fit the certificate {}",
            files.key.display(),
            files.cert.display()
        )
    })
}
