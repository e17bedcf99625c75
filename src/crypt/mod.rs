//! The OpenPGP profile: encrypted messages that GnuPG 2.2 decrypts.
//!
//! Writes one SKESK v4 packet (iterated and salted S2K) when there is a passphrase, one PKESK
//! v3 packet for each encryption-capable subkey of each recipient, and a SEIPD v1 packet (with
//! MDC), AES-256, holding one literal data packet. GnuPG 2.2 cannot read SEIPD v2, so this
//! profile must not change without a format version bump: recipients are encrypted to as
//! SEIPD v1 whatever features their certificates announce.

mod seipd;

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sequoia_openpgp as openpgp;

use openpgp::crypto::{SessionKey, S2K};
use openpgp::packet::{pkesk::PKESK3, skesk::SKESK4, PKESK, SKESK};
use openpgp::parse::{PacketParser, PacketParserResult, Parse};
use openpgp::serialize::Serialize;
use openpgp::types::SymmetricAlgorithm;
use openpgp::Packet;

use crate::error::{Error, Result};
use crate::keys::{encryption_subkeys, policy, Keys};
use seipd::{read_header, Len, LiteralReader, PacketBody, SeipdReader, SeipdWriter};

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

/// The session key's cipher: AES-256 (docs/format.md 4.4).
const CIPHER: SymmetricAlgorithm = SymmetricAlgorithm::AES256;

/// A writer that encrypts everything written to it into its sink; call
/// [`finish`](Self::finish).
pub struct EncryptWriter<W: Write = Box<dyn Write + Send + Sync>> {
    inner: SeipdWriter<W>,
}

impl<W: Write> EncryptWriter<W> {
    /// Starts an encrypted message that writes its bytes to `sink`, for the passphrase and
    /// the recipients of `keys`: the session key packets (PKESK v3 for every encryption
    /// subkey of every recipient, then SKESK v4 for the passphrase), then the SEIPD v1 packet.
    pub fn new(mut sink: W, keys: &Keys) -> Result<Self> {
        let cannot = |e: anyhow::Error| Error::Crypto(format!("cannot start encryption: {e}"));
        let session_key = SessionKey::new(CIPHER.key_size().map_err(cannot)?).map_err(cannot)?;
        let mut packets = 0;
        for cert in keys.recipients() {
            let vc = cert.with_policy(policy(), None).map_err(cannot)?;
            for ka in encryption_subkeys(&vc) {
                let pkesk =
                    PKESK3::for_recipient(CIPHER, &session_key, ka.key()).map_err(cannot)?;
                Packet::PKESK(pkesk.into())
                    .serialize(&mut sink)
                    .map_err(cannot)?;
                packets += 1;
            }
        }
        if let Some(p) = keys.passphrase() {
            let skesk =
                SKESK4::with_password(CIPHER, CIPHER, S2K::default(), &session_key, &p.password())
                    .map_err(cannot)?;
            Packet::SKESK(skesk.into())
                .serialize(&mut sink)
                .map_err(cannot)?;
            packets += 1;
        }
        if packets == 0 {
            return Err(Error::Crypto(
                "cannot start encryption: no passphrase and no recipient".into(),
            ));
        }
        let inner = SeipdWriter::new(sink, &session_key)
            .map_err(|e| Error::Crypto(format!("cannot start encryption: {e}")))?;
        Ok(EncryptWriter { inner })
    }

    /// Writes the trailing packets (MDC) and flushes them into the sink.
    pub fn finish(self) -> io::Result<()> {
        self.inner.finish().map(drop)
    }

    /// Like [`finish`](Self::finish), and gives the sink back (to finish it in turn).
    pub fn finish_into_sink(self) -> io::Result<W> {
        self.inner.finish()
    }
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
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

/// The session key of a message: the passphrase is tried on each SKESK packet, then each
/// secret key given on each PKESK packet naming it (or naming no key). `opens` says whether a
/// candidate key decrypts the message's first block as it should.
fn session_key(
    keys: &Keys,
    pkesks: &[PKESK],
    skesks: &[SKESK],
    opens: &dyn Fn(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
) -> std::result::Result<SessionKey, NoKeyOpens> {
    if let Some(p) = keys.passphrase() {
        let password = p.password();
        for skesk in skesks {
            if let Ok((algo, key)) = skesk.decrypt(&password) {
                if opens(algo, &key) {
                    return Ok(key);
                }
            }
        }
    }
    for pkesk in pkesks {
        let to = pkesk.recipient();
        for id in keys.identities() {
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
            if let Some((algo, key)) = pkesk.decrypt(&mut pair, None) {
                if opens(algo, &key) {
                    return Ok(key);
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
    })
}

/// Whether `algo` (when the packet names one) is AES with a key of `key`'s length.
fn aes_of(algo: Option<SymmetricAlgorithm>, key: &SessionKey) -> bool {
    let want = match algo {
        None => return matches!(key.len(), 16 | 24 | 32),
        Some(SymmetricAlgorithm::AES128) => 16,
        Some(SymmetricAlgorithm::AES192) => 24,
        Some(SymmetricAlgorithm::AES256) => 32,
        Some(_) => return false,
    };
    key.len() == want
}

/// Session key packets longer than this are not butcher's (an RSA-4096 PKESK is about 520
/// bytes): refused rather than read into memory.
const MAX_ESK_BYTES: u64 = 1 << 16;

type Source<'a> = Box<dyn Read + Send + Sync + 'a>;

/// What a decrypted message's plaintext is read through.
enum Plain<'a> {
    /// The literal data packet, read here (every message butcher writes).
    Literal(Box<LiteralReader<SeipdReader<Source<'a>>>>),
    /// Anything else inside the encryption (a compressed packet, as GnuPG writes by default),
    /// read by sequoia's parser; `None` once it is read to the end.
    Parsed(Box<Option<PacketParser<'a>>>),
}

/// A reader of the plaintext of an encrypted message.
pub struct DecryptReader<'a> {
    plain: Plain<'a>,
    path: PathBuf,
}

impl<'a> DecryptReader<'a> {
    /// Opens the encrypted message in `source`; `path` names it in errors.
    ///
    /// Fails with [`Error::WrongKey`] when neither the passphrase nor a secret key of `keys`
    /// opens it. The plaintext is released as it is decrypted: a reader must read to the end,
    /// where the modification detection code is checked, before trusting what it read (every
    /// reader in butcher does, and checks each file's sha256 besides).
    pub fn new<R: Read + Send + Sync + 'a>(source: R, keys: &Keys, path: &Path) -> Result<Self> {
        let damaged = |e: &dyn fmt::Display| {
            Error::Crypto(format!(
                "cannot decrypt {}: {e} (is it a butcher file, whole and undamaged?)",
                path.display()
            ))
        };
        let mut src: Source<'a> = Box::new(source);
        let mut pkesks = Vec::new();
        let mut skesks = Vec::new();
        let len = loop {
            let (tag, mut raw, len) = match read_header(&mut src) {
                Ok(Some(h)) => h,
                Ok(None) => return Err(damaged(&"the message holds no encrypted data")),
                Err(e) => return Err(damaged(&e)),
            };
            match tag {
                // PKESK, SKESK, and the marker packet (ignored).
                1 | 3 | 10 => {
                    let n = match len {
                        Len::Last(n) if n <= MAX_ESK_BYTES => n,
                        _ => return Err(damaged(&"a session key packet of an unusual length")),
                    };
                    let before = raw.len();
                    raw.resize(before + n as usize, 0);
                    src.read_exact(&mut raw[before..])
                        .map_err(|e| damaged(&e))?;
                    match Packet::from_bytes(&raw) {
                        Ok(Packet::PKESK(p)) => pkesks.push(p),
                        Ok(Packet::SKESK(s)) => skesks.push(s),
                        Ok(_) => {}
                        Err(e) => return Err(damaged(&e)),
                    }
                }
                18 => break len,
                // A message that is not encrypted is refused: a plaintext substitute for an
                // archive must not be accepted as if it came from butcher.
                _ => return Err(damaged(&"the message is not encrypted")),
            }
        };
        let mut body = PacketBody::new(src, len);
        let mut version = [0u8; 1];
        body.read_exact(&mut version).map_err(|e| damaged(&e))?;
        if version[0] != 1 {
            return Err(damaged(&format!(
                "its encrypted data packet is version {} (butcher writes version 1)",
                version[0]
            )));
        }
        let mut prefix: seipd::Prefix = Default::default();
        body.read_exact(&mut prefix).map_err(|e| damaged(&e))?;
        let opens = |algo: Option<SymmetricAlgorithm>, key: &SessionKey| {
            aes_of(algo, key) && seipd::quick_check(key, &prefix)
        };
        let key = session_key(keys, &pkesks, &skesks, &opens)
            .map_err(|n| Error::WrongKey(path.to_path_buf(), why_not_opened(&n, keys)))?;
        let mut inner = SeipdReader::new(body, &prefix, &key).map_err(|e| damaged(&e))?;
        let plain = match read_header(&mut inner).map_err(|e| damaged(&e))? {
            Some((11, _, len)) => Plain::Literal(Box::new(
                LiteralReader::new(inner, len).map_err(|e| damaged(&e))?,
            )),
            Some((_, raw, _)) => {
                let rest = io::Cursor::new(raw).chain(inner);
                let pp = PacketParser::from_reader(rest).map_err(|e| damaged(&e))?;
                Plain::Parsed(Box::new(literal_of(pp).map_err(|e| damaged(&e))?))
            }
            None => return Err(damaged(&"the encrypted data is empty")),
        };
        Ok(DecryptReader {
            plain,
            path: path.to_path_buf(),
        })
    }
}

/// Descends into the message until its literal data packet.
fn literal_of(mut ppr: PacketParserResult<'_>) -> anyhow::Result<Option<PacketParser<'_>>> {
    while let PacketParserResult::Some(pp) = ppr {
        if let Packet::Literal(_) = pp.packet {
            return Ok(Some(pp));
        }
        ppr = pp.recurse()?.1;
    }
    Err(anyhow::anyhow!(
        "the encrypted data holds no literal data packet"
    ))
}

impl Read for DecryptReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = match &mut self.plain {
            Plain::Literal(r) => r.read(buf),
            Plain::Parsed(slot) => read_parsed(slot, buf),
        };
        got.map_err(|e| {
            io::Error::new(e.kind(), format!("decrypting {}: {e}", self.path.display()))
        })
    }
}

/// Reads the literal data of a parsed message; at its end, parses the rest of the message to
/// its end, where the MDC is checked.
fn read_parsed(slot: &mut Option<PacketParser<'_>>, buf: &mut [u8]) -> io::Result<usize> {
    let Some(pp) = slot.as_mut() else {
        return Ok(0);
    };
    let n = pp.read(buf)?;
    if n == 0 && !buf.is_empty() {
        if let Some(pp) = slot.take() {
            let mut ppr = pp.recurse().map_err(io::Error::other)?.1;
            while let PacketParserResult::Some(pp) = ppr {
                ppr = pp.recurse().map_err(io::Error::other)?.1;
            }
        }
    }
    Ok(n)
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
    use openpgp::serialize::stream::{LiteralWriter, Message};

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

    /// As GnuPG writes by default: a compressed packet inside the encryption, read through
    /// sequoia's parser; damage still fails it.
    #[test]
    fn a_message_with_a_compressed_packet_inside_is_read() {
        use openpgp::serialize::stream::{Compressor, Encryptor};
        let p: Keys = Passphrase::new("pw").unwrap().into();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 97) as u8).collect();
        let mut out = Vec::new();
        {
            let m = Message::new(&mut out);
            let m = Encryptor::with_passwords(m, Some("pw"))
                .symmetric_algo(SymmetricAlgorithm::AES256)
                .build()
                .unwrap();
            let m = Compressor::new(m).build().unwrap();
            let mut w = LiteralWriter::new(m).build().unwrap();
            w.write_all(&data).unwrap();
            w.finalize().unwrap();
        }
        let mut r = DecryptReader::new(&out[..], &p, Path::new("x")).unwrap();
        assert!(
            matches!(r.plain, Plain::Parsed(_)),
            "not read through the parser"
        );
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);

        // A flipped byte near the end (in the compressed data or the MDC) fails the reading.
        let mut bad = out.clone();
        let at = bad.len() - 30;
        bad[at] ^= 0x04;
        let failed = match DecryptReader::new(&bad[..], &p, Path::new("x")) {
            Err(_) => true,
            Ok(mut r) => r.read_to_end(&mut Vec::new()).is_err(),
        };
        assert!(failed, "a damaged message was read whole");
    }

    #[test]
    fn empty_passphrase_refused() {
        assert!(Passphrase::new("").is_err());
    }
}
