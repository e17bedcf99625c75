//! The OpenPGP profile: encrypted messages that GnuPG 2.2 decrypts.
//!
//! Writes one SKESK v4 packet (iterated and salted S2K) when there is a passphrase, one PKESK
//! v3 packet for each encryption-capable subkey of each recipient, and a SEIPD v1 packet (with
//! MDC), AES-256, holding one literal data packet. GnuPG 2.2 cannot read SEIPD v2, so this
//! profile must not change without a format version bump: recipients are encrypted to as
//! SEIPD v1 whatever features their certificates announce.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sequoia_openpgp as openpgp;

use openpgp::crypto::SessionKey;
use openpgp::packet::{PKESK, SKESK};
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, MessageLayer, MessageStructure, VerificationHelper,
};
use openpgp::parse::Parse;
use openpgp::serialize::stream::{Encryptor, LiteralWriter, Message, Recipient};
use openpgp::types::{Features, SymmetricAlgorithm};

use crate::error::{Error, Result};
use crate::keys::{encryption_subkeys, policy, Keys};

/// A passphrase. Its `Debug` output never shows the secret.
#[derive(Clone)]
pub struct Passphrase(String);

impl Passphrase {
    /// Wraps a passphrase; an empty one is refused.
    pub fn new(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        if s.is_empty() {
            return Err(Error::Usage("the passphrase is empty".into()));
        }
        Ok(Passphrase(s))
    }

    fn password(&self) -> openpgp::crypto::Password {
        self.0.as_str().into()
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(***)")
    }
}

/// A writer that encrypts everything written to it into `sink`; call [`finish`](Self::finish).
pub struct EncryptWriter<'a> {
    message: Message<'a>,
}

impl<'a> EncryptWriter<'a> {
    /// Starts an encrypted message that writes its bytes to `sink`, for the passphrase and
    /// the recipients of `keys`.
    pub fn new<W: Write + Send + Sync + 'a>(sink: W, keys: &'a Keys) -> Result<Self> {
        let cannot = |e: anyhow::Error| Error::Crypto(format!("cannot start encryption: {e}"));
        let message = Message::new(sink);
        let mut recipients = Vec::new();
        for cert in keys.recipients() {
            let vc = cert.with_policy(policy(), None).map_err(cannot)?;
            for ka in encryption_subkeys(&vc) {
                // SEIPD v1 for every recipient: a key id as handle, and only the v1 feature.
                recipients.push(Recipient::new(
                    Features::empty().set_seipdv1(),
                    openpgp::KeyHandle::from(ka.key().keyid()),
                    ka.key(),
                ));
            }
        }
        let encryptor = match keys.passphrase() {
            Some(p) => {
                Encryptor::with_passwords(message, Some(p.password())).add_recipients(recipients)
            }
            None if !recipients.is_empty() => Encryptor::for_recipients(message, recipients),
            None => {
                return Err(Error::Crypto(
                    "cannot start encryption: no passphrase and no recipient".into(),
                ))
            }
        };
        let message = encryptor
            .symmetric_algo(SymmetricAlgorithm::AES256)
            .build()
            .map_err(cannot)?;
        let message = LiteralWriter::new(message)
            .build()
            .map_err(|e| Error::Crypto(format!("cannot start encryption: {e}")))?;
        Ok(EncryptWriter { message })
    }

    /// Writes the trailing packets (MDC) and flushes them into the sink.
    pub fn finish(self) -> io::Result<()> {
        self.message.finalize().map_err(io::Error::other)
    }
}

impl Write for EncryptWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.message.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.message.flush()
    }
}

/// Marker error: neither the passphrase nor any secret key given opened the message; what the
/// message is encrypted to.
#[derive(Debug)]
struct NoKeyOpens {
    /// Key ids of the message's PKESK packets (upper-case hex).
    to_keys: Vec<String>,
    /// Whether it has a SKESK packet (a passphrase opens it).
    to_passphrase: bool,
}

impl fmt::Display for NoKeyOpens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no key given opens it")
    }
}
impl std::error::Error for NoKeyOpens {}

struct Helper {
    keys: Keys,
}

impl VerificationHelper for Helper {
    fn get_certs(&mut self, _ids: &[openpgp::KeyHandle]) -> openpgp::Result<Vec<openpgp::Cert>> {
        Ok(Vec::new())
    }

    // A message that is not encrypted is refused: a plaintext substitute for an archive must
    // not be accepted as if it came from butcher.
    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        let encrypted = structure
            .into_iter()
            .any(|layer| matches!(layer, MessageLayer::Encryption { .. }));
        if encrypted {
            Ok(())
        } else {
            Err(anyhow::anyhow!("the message is not encrypted"))
        }
    }
}

impl DecryptionHelper for Helper {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<openpgp::Cert>> {
        if let Some(p) = self.keys.passphrase() {
            let password = p.password();
            for skesk in skesks {
                if let Ok((algo, key)) = skesk.decrypt(&password) {
                    if decrypt(algo, &key) {
                        return Ok(None);
                    }
                }
            }
        }
        for pkesk in pkesks {
            let to = pkesk.recipient();
            for id in self.keys.identities() {
                // A packet names its key, or none (a hidden recipient): then every key is tried.
                let named = to
                    .as_ref()
                    .is_none_or(|h| h.aliases(openpgp::KeyHandle::from(id.key.keyid())));
                if !named {
                    continue;
                }
                let Ok(mut pair) = id.key.clone().into_keypair() else {
                    continue;
                };
                if let Some((algo, key)) = pkesk.decrypt(&mut pair, sym_algo) {
                    if decrypt(algo, &key) {
                        return Ok(None);
                    }
                }
            }
        }
        Err(NoKeyOpens {
            to_keys: pkesks
                .iter()
                .filter_map(|p| p.recipient().map(|h| h.to_hex()))
                .collect(),
            to_passphrase: !skesks.is_empty(),
        }
        .into())
    }
}

/// A reader of the plaintext of an encrypted message.
pub struct DecryptReader<'a> {
    inner: openpgp::parse::stream::Decryptor<'a, Helper>,
    path: PathBuf,
}

impl<'a> DecryptReader<'a> {
    /// Opens the encrypted message in `source`; `path` names it in errors.
    ///
    /// Fails with [`Error::WrongKey`] when neither the passphrase nor a secret key of `keys`
    /// opens it.
    pub fn new<R: Read + Send + Sync + 'a>(source: R, keys: &Keys, path: &Path) -> Result<Self> {
        let helper = Helper { keys: keys.clone() };
        // The default holds back 25 MiB (several times over) to check signatures of small
        // messages before releasing data; butcher's messages carry no signature, and every
        // reader reads to the end, where the MDC is checked. 1 MiB keeps restore's memory
        // small when several archives are read at once.
        let inner = DecryptorBuilder::from_reader(source)
            .map(|b| b.buffer_size(1 << 20))
            .and_then(|b| b.with_policy(policy(), None, helper))
            .map_err(|e| classify(e, keys, path))?;
        Ok(DecryptReader {
            inner,
            path: path.to_path_buf(),
        })
    }
}

fn classify(e: anyhow::Error, keys: &Keys, path: &Path) -> Error {
    if let Some(n) = e.chain().find_map(|c| c.downcast_ref::<NoKeyOpens>()) {
        Error::WrongKey(path.to_path_buf(), why_not_opened(n, keys))
    } else {
        Error::Crypto(format!(
            "cannot decrypt {}: {e} (is it a butcher file, whole and undamaged?)",
            path.display()
        ))
    }
}

impl Read for DecryptReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            io::Error::new(e.kind(), format!("decrypting {}: {e}", self.path.display()))
        })
    }
}

/// What a message that `keys` did not open is encrypted to, beside what was given; empty for a
/// message only a passphrase opens when a passphrase (and no key) was given: then the
/// passphrase is simply wrong.
fn why_not_opened(n: &NoKeyOpens, keys: &Keys) -> String {
    if n.to_keys.is_empty() && keys.identities().is_empty() && keys.passphrase().is_some() {
        return String::new();
    }
    let mut to = Vec::new();
    if !n.to_keys.is_empty() {
        let s = if n.to_keys.len() > 1 { "s" } else { "" };
        to.push(format!("the key{s} {}", n.to_keys.join(", ")));
    }
    if n.to_passphrase {
        to.push("a passphrase".to_string());
    }
    let given = match (keys.passphrase().is_some(), keys.identities()) {
        (false, []) => "no passphrase and no secret key were given".to_string(),
        (true, []) => "only a passphrase was given".to_string(),
        (with_pass, ids) => {
            let mut subkeys: Vec<String> = ids.iter().map(|k| k.key.keyid().to_hex()).collect();
            subkeys.dedup();
            format!(
                "{}the secret key{} given {} {} (encryption keys {})",
                if with_pass { "a passphrase and " } else { "" },
                if ids.len() > 1 { "s" } else { "" },
                if keys.identity_fingerprints().len() > 1 {
                    "are"
                } else {
                    "is"
                },
                keys.identity_fingerprints().join(", "),
                subkeys.join(", ")
            )
        }
    };
    let to = if to.is_empty() {
        "nothing it names".to_string()
    } else {
        to.join(" or ")
    };
    format!("it is encrypted to {to}; {given}")
}

/// Encrypts a whole buffer (used for the catalogue copy).
pub fn encrypt_bytes(plain: &[u8], keys: &Keys) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(plain.len() + 256);
    let mut w = EncryptWriter::new(&mut out, keys)?;
    w.write_all(plain)
        .and_then(|_| w.finish())
        .map_err(|e| Error::Crypto(format!("cannot encrypt: {e}")))?;
    Ok(out)
}

/// Decrypts a whole buffer.
pub fn decrypt_bytes(cipher: &[u8], keys: &Keys) -> Result<Vec<u8>> {
    let what = Path::new("the key check");
    let mut r = DecryptReader::new(cipher, keys, what)?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)
        .map_err(|e| Error::Damaged(format!("{}: {e}", what.display())))?;
    Ok(out)
}

/// Decrypts a whole encrypted file into memory.
pub fn decrypt_file(path: &Path, keys: &Keys) -> Result<Vec<u8>> {
    let f = crate::fsutil::open_regular(path).map_err(|e| Error::io("open", path, e))?;
    // The plaintext is never longer than the message: one allocation, no doubling.
    let size = f.metadata().map(|m| m.len() as usize).unwrap_or(0);
    let mut r = DecryptReader::new(io::BufReader::new(f), keys, path)?;
    let mut out = Vec::with_capacity(size);
    r.read_to_end(&mut out)
        .map_err(|e| Error::Damaged(format!("{}: {e}", path.display())))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let p: Keys = Passphrase::new("correct horse").unwrap().into();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let ct = encrypt_bytes(&data, &p).unwrap();
        assert_ne!(&ct[..], &data[..]);
        let mut r = DecryptReader::new(&ct[..], &p, Path::new("x")).unwrap();
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);

        let wrong: Keys = Passphrase::new("battery staple").unwrap().into();
        match DecryptReader::new(&ct[..], &wrong, Path::new("x")) {
            Err(Error::WrongKey(_, why)) => assert_eq!(why, "", "a plain wrong passphrase"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("wrong passphrase accepted"),
        };
    }

    #[test]
    fn plaintext_message_is_refused() {
        let p: Keys = Passphrase::new("pw").unwrap().into();
        let mut out = Vec::new();
        {
            let m = Message::new(&mut out);
            let mut w = LiteralWriter::new(m).build().unwrap();
            w.write_all(b"not encrypted").unwrap();
            w.finalize().unwrap();
        }
        let mut r = match DecryptReader::new(&out[..], &p, Path::new("x")) {
            Err(_) => return,
            Ok(r) => r,
        };
        let mut back = Vec::new();
        assert!(r.read_to_end(&mut back).is_err(), "plaintext accepted");
    }

    #[test]
    fn empty_passphrase_refused() {
        assert!(Passphrase::new("").is_err());
    }
}
