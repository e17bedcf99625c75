//! The OpenPGP profile: passphrase-encrypted messages that GnuPG 2.2 decrypts.
//!
//! Writes one SKESK v4 packet (iterated and salted S2K) and a SEIPD v1 packet (with MDC),
//! AES-256, holding one literal data packet. GnuPG 2.2 cannot read SEIPD v2, so this profile
//! must not change without a format version bump.

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
use openpgp::policy::StandardPolicy;
use openpgp::serialize::stream::{Encryptor, LiteralWriter, Message};
use openpgp::types::SymmetricAlgorithm;

use crate::error::{Error, Result};

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
    /// Starts an encrypted message that writes its bytes to `sink`.
    pub fn new<W: Write + Send + Sync + 'a>(sink: W, passphrase: &Passphrase) -> Result<Self> {
        let message = Message::new(sink);
        let message = Encryptor::with_passwords(message, Some(passphrase.password()))
            .symmetric_algo(SymmetricAlgorithm::AES256)
            .build()
            .map_err(|e| Error::Crypto(format!("cannot start encryption: {e}")))?;
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

/// Marker error: no SKESK packet opened the message with the passphrase.
#[derive(Debug)]
struct BadPassphrase;

impl fmt::Display for BadPassphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("wrong passphrase")
    }
}
impl std::error::Error for BadPassphrase {}

struct Helper {
    passphrase: Passphrase,
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
        _pkesks: &[PKESK],
        skesks: &[SKESK],
        _sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<openpgp::Cert>> {
        let password = self.passphrase.password();
        for skesk in skesks {
            if let Ok((algo, key)) = skesk.decrypt(&password) {
                if decrypt(algo, &key) {
                    return Ok(None);
                }
            }
        }
        Err(BadPassphrase.into())
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
    /// Fails with [`Error::WrongPassphrase`] when the passphrase does not open it.
    pub fn new<R: Read + Send + Sync + 'a>(
        source: R,
        passphrase: &Passphrase,
        path: &Path,
    ) -> Result<Self> {
        static POLICY: std::sync::OnceLock<StandardPolicy<'static>> = std::sync::OnceLock::new();
        let policy = POLICY.get_or_init(StandardPolicy::new);
        let helper = Helper {
            passphrase: passphrase.clone(),
        };
        // The default holds back 25 MiB (several times over) to check signatures of small
        // messages before releasing data; butcher's messages carry no signature, and every
        // reader reads to the end, where the MDC is checked. 1 MiB keeps restore's memory
        // small when several archives are read at once.
        let inner = DecryptorBuilder::from_reader(source)
            .map(|b| b.buffer_size(1 << 20))
            .and_then(|b| b.with_policy(policy, None, helper))
            .map_err(|e| classify(e, path))?;
        Ok(DecryptReader {
            inner,
            path: path.to_path_buf(),
        })
    }
}

fn classify(e: anyhow::Error, path: &Path) -> Error {
    if e.chain().any(|c| c.is::<BadPassphrase>()) {
        Error::WrongPassphrase(path.to_path_buf())
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

/// Encrypts a whole buffer (used for the catalogue copy).
pub fn encrypt_bytes(plain: &[u8], passphrase: &Passphrase) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(plain.len() + 256);
    let mut w = EncryptWriter::new(&mut out, passphrase)?;
    w.write_all(plain)
        .and_then(|_| w.finish())
        .map_err(|e| Error::Crypto(format!("cannot encrypt: {e}")))?;
    Ok(out)
}

/// Decrypts a whole buffer.
pub fn decrypt_bytes(cipher: &[u8], passphrase: &Passphrase) -> Result<Vec<u8>> {
    let what = Path::new("the passphrase check");
    let mut r = DecryptReader::new(cipher, passphrase, what)?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)
        .map_err(|e| Error::Damaged(format!("{}: {e}", what.display())))?;
    Ok(out)
}

/// Decrypts a whole encrypted file into memory.
pub fn decrypt_file(path: &Path, passphrase: &Passphrase) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    // The plaintext is never longer than the message: one allocation, no doubling.
    let size = f.metadata().map(|m| m.len() as usize).unwrap_or(0);
    let mut r = DecryptReader::new(io::BufReader::new(f), passphrase, path)?;
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
        let p = Passphrase::new("correct horse").unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let ct = encrypt_bytes(&data, &p).unwrap();
        assert_ne!(&ct[..], &data[..]);
        let mut r = DecryptReader::new(&ct[..], &p, Path::new("x")).unwrap();
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);

        let wrong = Passphrase::new("battery staple").unwrap();
        match DecryptReader::new(&ct[..], &wrong, Path::new("x")) {
            Err(Error::WrongPassphrase(_)) => {}
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("wrong passphrase accepted"),
        };
    }

    #[test]
    fn plaintext_message_is_refused() {
        let p = Passphrase::new("pw").unwrap();
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
