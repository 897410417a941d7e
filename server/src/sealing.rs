//! Secrets the server must use again, not only check (webhook signing secrets), are sealed at rest
//! with the deployment's secret key: AES-256-GCM, a random nonce per value, and the owning row's id
//! as associated data, so that a sealed value copied onto another row does not open. A database
//! dump without the key reveals none of them. (API keys need no such thing: they are only checked,
//! and stored as hashes.) The same secret also gives, through HKDF, the keys of other purposes,
//! such as signing transcript links, so that an operator keeps one secret and no two uses share a
//! key.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};

/// Bytes of a deployment secret key.
pub const KEY_BYTES: usize = 32;
/// The format tag of sealed values, so that the format can change without guessing.
const VERSION: &str = "v1.";

/// Seals and opens values with the deployment's secret key.
pub struct Sealer {
    key: LessSafeKey,
    /// The secret, extracted for deriving the keys of other purposes.
    derivation: hkdf::Prk,
    random: SystemRandom,
}

#[derive(Debug, thiserror::Error)]
#[error("a sealed value does not open with this deployment's secret key")]
pub struct Unopenable;

impl Sealer {
    pub fn new(key: &[u8; KEY_BYTES]) -> Self {
        let derivation = hkdf::Salt::new(hkdf::HKDF_SHA256, b"hoverbot").extract(key);
        let key = UnboundKey::new(&AES_256_GCM, key).expect("AES-256 takes a 32-byte key");
        Self {
            key: LessSafeKey::new(key),
            derivation,
            random: SystemRandom::new(),
        }
    }

    /// The deployment's HMAC-SHA256 key for `purpose` (HKDF-SHA256 with `purpose` as its info):
    /// the same on every replica that has the same secret, and unrelated to any other purpose's.
    pub fn derive_hmac_key(&self, purpose: &'static str) -> hmac::Key {
        let info = [purpose.as_bytes()];
        self.derivation
            .expand(&info, hmac::HMAC_SHA256)
            .expect("HKDF-SHA256 expands to one HMAC-SHA256 key")
            .into()
    }

    /// Reads a key given as configuration: the base64 (standard or URL-safe) of 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .context("secret_key is not base64")?;
        let Ok(key) = <[u8; KEY_BYTES]>::try_from(bytes.as_slice()) else {
            bail!("secret_key must be the base64 of {KEY_BYTES} bytes (openssl rand -base64 32)");
        };
        Ok(Self::new(&key))
    }

    /// The key in the file, created with a new random key (readable by its owner only) when the
    /// file does not exist yet.
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.exists() {
            let mut key = [0u8; KEY_BYTES];
            SystemRandom::new()
                .fill(&mut key)
                .expect("the operating system's random source failed");
            write_private(path, &format!("{}\n", STANDARD.encode(key)))
                .with_context(|| format!("cannot create the secret key file {}", path.display()))?;
            tracing::info!(path = %path.display(), "created a new secret key file");
        }
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read the secret key file {}", path.display()))?;
        Self::from_base64(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Seals `value` for the row `owner`.
    pub fn seal(&self, owner: &str, value: &str) -> String {
        format!(
            "{VERSION}{}",
            STANDARD.encode(self.seal_raw(owner, value.as_bytes()))
        )
    }

    /// Opens a value sealed for the row `owner`.
    pub fn open(&self, owner: &str, sealed: &str) -> Result<String, Unopenable> {
        let bytes = sealed
            .strip_prefix(VERSION)
            .and_then(|rest| STANDARD.decode(rest).ok())
            .ok_or(Unopenable)?;
        String::from_utf8(self.open_raw(owner, &bytes)?).map_err(|_| Unopenable)
    }

    /// Seals bytes for the row `owner`, as bytes (for binary columns): the version, then what
    /// `seal` encodes.
    pub fn seal_bytes(&self, owner: &str, value: &[u8]) -> Vec<u8> {
        let mut out = VERSION.as_bytes().to_vec();
        out.extend(self.seal_raw(owner, value));
        out
    }

    /// Opens bytes sealed by `seal_bytes` for `owner`.
    pub fn open_bytes(&self, owner: &str, sealed: &[u8]) -> Result<Vec<u8>, Unopenable> {
        let raw = sealed.strip_prefix(VERSION.as_bytes()).ok_or(Unopenable)?;
        self.open_raw(owner, raw)
    }

    /// The nonce, then the ciphertext and its tag.
    fn seal_raw(&self, owner: &str, value: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .expect("the operating system's random source failed");
        let mut sealed = value.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut sealed,
            )
            .expect("AES-GCM seals any value shorter than 64 GiB");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    fn open_raw(&self, owner: &str, bytes: &[u8]) -> Result<Vec<u8>, Unopenable> {
        if bytes.len() <= NONCE_LEN {
            return Err(Unopenable);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unopenable)?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut buffer)
            .map_err(|_| Unopenable)?;
        Ok(plain.to_vec())
    }
}

/// Creates `path` (never overwriting it), readable and writable by its owner only where the
/// platform has such modes.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::new(&[7; KEY_BYTES])
    }

    #[test]
    fn opens_what_it_sealed_and_hides_it() {
        let sealed = sealer().seal("whep_1", "whsec_abc");
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(sealer().open("whep_1", &sealed).unwrap(), "whsec_abc");
        // A fresh nonce every time: equal values do not look equal at rest.
        assert_ne!(sealer().seal("whep_1", "whsec_abc"), sealed);
    }

    #[test]
    fn a_value_opens_only_for_its_row_and_key() {
        let sealed = sealer().seal("whep_1", "whsec_abc");
        assert!(sealer().open("whep_2", &sealed).is_err());
        assert!(
            Sealer::new(&[8; KEY_BYTES])
                .open("whep_1", &sealed)
                .is_err()
        );
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            sealer()
                .open("whep_1", &String::from_utf8(tampered).unwrap())
                .is_err()
        );
        for garbage in ["", "v1.", "v1.AAAA", "v2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
            assert!(sealer().open("whep_1", garbage).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn reads_keys_in_base64_and_refuses_short_ones() {
        let key = STANDARD.encode([9u8; KEY_BYTES]);
        let sealed = Sealer::from_base64(&key).unwrap().seal("x", "y");
        let url_safe = URL_SAFE_NO_PAD.encode([9u8; KEY_BYTES]);
        assert_eq!(
            Sealer::from_base64(&url_safe)
                .unwrap()
                .open("x", &sealed)
                .unwrap(),
            "y"
        );
        assert!(Sealer::from_base64(&STANDARD.encode([9u8; 16])).is_err());
        assert!(Sealer::from_base64("not base64!").is_err());
    }

    #[test]
    fn creates_a_private_key_file_once_and_reuses_it() {
        let dir = std::env::temp_dir().join(format!("hoverbot-sealing-{}", ulid::Ulid::new()));
        let path = dir.join("secret.key");
        let sealed = Sealer::from_file(&path).unwrap().seal("x", "y");
        assert_eq!(
            Sealer::from_file(&path)
                .unwrap()
                .open("x", &sealed)
                .unwrap(),
            "y"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_dir_all(dir).unwrap();
    }
}
