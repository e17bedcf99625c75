//! What encrypts a backup set and what opens it: a passphrase, OpenPGP certificates to encrypt
//! to (recipients), secret keys to decrypt with (identities), in any combination. Certificates
//! and secret keys are read from files as GnuPG exports them (`gpg --export`,
//! `gpg --export-secret-keys`), armored or binary.
//!
//! A recipient is checked when it is loaded: a certificate that is revoked, expired, or has
//! no encryption-capable subkey is refused with the reason. A secret key is used without such
//! checks: a key that expired years after the backup must still restore it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::crypto::Password;
use openpgp::packet::key::{SecretParts, UnspecifiedRole};
use openpgp::packet::Key;
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::types::RevocationStatus;

use crate::crypt::Passphrase;
use crate::error::{Error, Result};

/// A secret key that can decrypt (its secret unlocked), with the certificate it belongs to.
#[derive(Clone)]
pub struct SecretKey {
    pub(crate) key: Key<SecretParts, UnspecifiedRole>,
    /// The certificate's primary fingerprint.
    pub(crate) cert: String,
}

/// The passphrase, recipients and identities of a run. Its `Debug` never shows secrets.
#[derive(Clone, Default)]
pub struct Keys {
    passphrase: Option<Passphrase>,
    recipients: Arc<Vec<Cert>>,
    identities: Arc<Vec<SecretKey>>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("passphrase", &self.passphrase.as_ref().map(|_| "***"))
            .field("recipients", &self.recipient_fingerprints())
            .field("identities", &self.identities.len())
            .finish()
    }
}

impl From<Passphrase> for Keys {
    fn from(p: Passphrase) -> Self {
        Keys {
            passphrase: Some(p),
            ..Keys::default()
        }
    }
}

/// The policy recipients are checked under.
pub(crate) fn policy() -> &'static StandardPolicy<'static> {
    static POLICY: std::sync::OnceLock<StandardPolicy<'static>> = std::sync::OnceLock::new();
    POLICY.get_or_init(StandardPolicy::new)
}

/// The subkeys of a valid certificate that a message is encrypted to: supported, alive, not
/// revoked, flagged for storage or transport encryption. Loading a recipient and writing a
/// message ask the same question.
pub(crate) fn encryption_subkeys<'a, 'c>(
    vc: &'a ValidCert<'c>,
) -> impl Iterator<Item = ValidErasedKeyAmalgamation<'c, openpgp::packet::key::PublicParts>> + 'a {
    vc.keys()
        .supported()
        .alive()
        .revoked(false)
        .for_storage_encryption()
        .for_transport_encryption()
}

impl Keys {
    /// Keys with this passphrase (if any), these recipients and these identities.
    pub fn new(
        passphrase: Option<Passphrase>,
        recipients: Vec<Cert>,
        identities: Vec<SecretKey>,
    ) -> Self {
        Keys {
            passphrase,
            recipients: Arc::new(recipients),
            identities: Arc::new(identities),
        }
    }

    /// The passphrase, if one was given.
    pub fn passphrase(&self) -> Option<&Passphrase> {
        self.passphrase.as_ref()
    }

    /// The recipients' certificates.
    pub fn recipients(&self) -> &[Cert] {
        &self.recipients
    }

    /// The secret keys given to decrypt with.
    pub fn identities(&self) -> &[SecretKey] {
        &self.identities
    }

    /// Whether these keys can encrypt (a passphrase or a recipient).
    pub fn can_encrypt(&self) -> bool {
        self.passphrase.is_some() || !self.recipients.is_empty()
    }

    /// Whether these keys can decrypt anything (a passphrase or a secret key).
    pub fn can_decrypt(&self) -> bool {
        self.passphrase.is_some() || !self.identities.is_empty()
    }

    /// The recipients' primary fingerprints, upper-case hex as gpg prints them, sorted.
    pub fn recipient_fingerprints(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .recipients
            .iter()
            .map(|c| c.fingerprint().to_hex())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The identities' certificates' primary fingerprints, sorted.
    pub fn identity_fingerprints(&self) -> Vec<String> {
        let mut v: Vec<String> = self.identities.iter().map(|k| k.cert.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Reads the certificates in `path` (one or more, armored or binary) and checks that each can
/// be encrypted to now: not revoked, not expired, with an encryption-capable subkey that is
/// alive and not revoked. Secret key material in the file is dropped.
pub fn load_recipients(path: &Path) -> Result<Vec<Cert>> {
    let certs = read_certs(path)?;
    let p = policy();
    let mut out = Vec::new();
    for cert in certs {
        let fpr = cert.fingerprint().to_hex();
        let bad = |why: String| {
            Error::Usage(format!(
                "the certificate {fpr} in {} cannot be encrypted to: {why}",
                path.display()
            ))
        };
        if let RevocationStatus::Revoked(_) = cert.revocation_status(p, None) {
            return Err(bad("it is revoked".into()));
        }
        let vc = cert
            .with_policy(p, None)
            .map_err(|e| bad(format!("it is not valid ({e})")))?;
        if let Err(e) = vc.alive() {
            return Err(bad(format!("it has expired or is not yet valid ({e})")));
        }
        if encryption_subkeys(&vc).next().is_none() {
            return Err(bad(
                "it has no encryption-capable subkey that is valid now (expired, revoked, or \
                 made for signing only)"
                    .into(),
            ));
        }
        out.push(cert.strip_secret_key_material());
    }
    Ok(out)
}

/// Reads the secret keys in `path` (as `gpg --export-secret-keys` writes them) that can
/// decrypt. A protected key is unlocked with the password `ask` gives for its certificate's
/// fingerprint (asked once per certificate).
pub fn load_identity(
    path: &Path,
    ask: &mut dyn FnMut(&str) -> Result<String>,
) -> Result<Vec<SecretKey>> {
    let certs = read_certs(path)?;
    let mut out = Vec::new();
    for cert in certs {
        let fpr = cert.fingerprint().to_hex();
        let mut password: Option<Password> = None;
        for ka in cert.keys().secret() {
            let key = ka.key().clone().role_into_unspecified();
            if !key.pk_algo().for_encryption() {
                continue;
            }
            let key = if key.has_unencrypted_secret() {
                key
            } else {
                let pw = match &password {
                    Some(pw) => pw.clone(),
                    None => {
                        let pw = Password::from(ask(&fpr)?);
                        password = Some(pw.clone());
                        pw
                    }
                };
                key.decrypt_secret(&pw).map_err(|_| {
                    Error::Usage(format!(
                        "the passphrase of the secret key {fpr} in {} is wrong",
                        path.display()
                    ))
                })?
            };
            out.push(SecretKey {
                key,
                cert: fpr.clone(),
            });
        }
    }
    if out.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no secret key that can decrypt (export one with \
             `gpg --export-secret-keys KEYID > FILE`)",
            path.display()
        )));
    }
    Ok(out)
}

fn read_certs(path: &Path) -> Result<Vec<Cert>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let parser = CertParser::from_bytes(&bytes).map_err(|e| not_keys(path, e))?;
    let certs = parser
        .collect::<openpgp::Result<Vec<Cert>>>()
        .map_err(|e| not_keys(path, e))?;
    if certs.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no OpenPGP certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn not_keys(path: &Path, e: anyhow::Error) -> Error {
    Error::Usage(format!(
        "{} is not an OpenPGP key file as gpg exports it: {e}",
        path.display()
    ))
}
