//! Keystore files: a party's private key on the station's disk, mode 0600.

use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::domain::party::Slug;
use crate::formats::sign::{self, SignError};

/// The JSON a keystore file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeystoreFile {
    /// Owning party.
    pub party: Slug,
    /// Short key id.
    pub key_id: String,
    /// base64url public key.
    pub public_key: String,
    /// base64url 32-byte seed.
    pub secret_key: String,
}

/// A loaded keystore.
#[derive(Clone)]
pub struct Keystore {
    /// Owning party.
    pub party: Slug,
    /// Short key id.
    pub key_id: String,
    /// The signing key.
    pub key: SigningKey,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Keystore")
            .field("party", &self.party)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Why a keystore could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// File I/O.
    #[error("keystore {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not the expected JSON.
    #[error("keystore {path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The file exists already.
    #[error("keystore {0} exists already; refusing to overwrite a private key")]
    Exists(String),
}

impl Keystore {
    /// A new random key for a party.
    pub fn generate(party: Slug) -> Self {
        Self::from_key(party, SigningKey::generate(&mut OsRng))
    }

    /// Wraps a known key.
    pub fn from_key(party: Slug, key: SigningKey) -> Self {
        Keystore {
            key_id: sign::key_id(&key.verifying_key()),
            party,
            key,
        }
    }

    /// base64url public key.
    pub fn public_key(&self) -> String {
        sign::b64(self.key.verifying_key().as_bytes())
    }

    /// The file form.
    pub fn to_file(&self) -> KeystoreFile {
        KeystoreFile {
            party: self.party.clone(),
            key_id: self.key_id.clone(),
            public_key: self.public_key(),
            secret_key: sign::b64(self.key.as_bytes()),
        }
    }

    /// Reads and checks a keystore file (the public key must match the secret).
    pub fn load(path: &Path) -> Result<Self, KeystoreError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeystoreError::Io {
            path: p.clone(),
            source,
        })?;
        let file: KeystoreFile =
            serde_json::from_str(&text).map_err(|e| KeystoreError::Format {
                path: p.clone(),
                message: e.to_string(),
            })?;
        let key = sign::parse_secret_key(&file.secret_key).map_err(|e: SignError| {
            KeystoreError::Format {
                path: p.clone(),
                message: e.to_string(),
            }
        })?;
        let ks = Keystore::from_key(file.party, key);
        if ks.public_key() != file.public_key || ks.key_id != file.key_id {
            return Err(KeystoreError::Format {
                path: p,
                message: "public_key or key_id does not match secret_key".into(),
            });
        }
        Ok(ks)
    }

    /// Writes the keystore with mode 0600, refusing to overwrite.
    pub fn save(&self, path: &Path) -> Result<(), KeystoreError> {
        use std::io::Write;
        let p = path.display().to_string();
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeystoreError::Exists(p.clone())
            } else {
                KeystoreError::Io {
                    path: p.clone(),
                    source,
                }
            }
        })?;
        let text = serde_json::to_string_pretty(&self.to_file()).unwrap_or_default();
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|source| KeystoreError::Io { path: p, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let ks = Keystore::generate(Slug::parse("acme").unwrap());
        ks.save(&path).unwrap();
        let back = Keystore::load(&path).unwrap();
        assert_eq!(back.public_key(), ks.public_key());
        assert!(matches!(ks.save(&path), Err(KeystoreError::Exists(_))));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{ks:?}").contains(&sign::b64(ks.key.as_bytes())));
    }
}
