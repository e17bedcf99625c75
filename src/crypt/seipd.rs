//! The SEIPD v1 packet (RFC 4880 section 5.13) and the literal data packet inside it, written
//! and read here with the `aes` and `sha1` crates rather than by sequoia's streaming writer and
//! reader.
//!
//! Why: sequoia hashes the modification detection code with collision-detecting SHA-1, which
//! costs several times what AES does, on every byte of every archive, written and read. The
//! MDC sits inside the encryption: nobody without the session key can choose what it hashes,
//! so the collision detection guards against nothing here, and plain SHA-1 (with the CPU's
//! SHA instructions where it has them) computes the same digest. The session key packets
//! (SKESK, PKESK) are still made and opened by sequoia. The bytes are those docs/format.md
//! section 4.4 describes; GnuPG 2.2, rnp, PGPy and sequoia read them (tests/cli/compat.rs).

use std::io::{self, Read, Write};

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::{Aes128, Aes192, Aes256};
use sha1::{Digest, Sha1};

/// Partial body chunks written: 1 MiB (`2^20`), for the SEIPD packet and the literal packet.
const CHUNK_LOG: u32 = 20;
const CHUNK: usize = 1 << CHUNK_LOG;
/// AES's block size.
const BS: usize = 16;
/// The MDC packet: tag 19 (new format), length 20, SHA-1.
const MDC_HEADER: [u8; 2] = [0xD3, 0x14];
const MDC_LEN: usize = 22;

type Block = GenericArray<u8, aes::cipher::consts::U16>;

/// AES with any of its three key sizes.
#[derive(Clone)]
pub(crate) enum AnyAes {
    Aes128(Box<Aes128>),
    Aes192(Box<Aes192>),
    Aes256(Box<Aes256>),
}

impl AnyAes {
    /// AES for a key of 16, 24 or 32 bytes.
    pub(crate) fn new(key: &[u8]) -> Option<Self> {
        Some(match key.len() {
            16 => AnyAes::Aes128(Box::new(Aes128::new_from_slice(key).ok()?)),
            24 => AnyAes::Aes192(Box::new(Aes192::new_from_slice(key).ok()?)),
            32 => AnyAes::Aes256(Box::new(Aes256::new_from_slice(key).ok()?)),
            _ => return None,
        })
    }

    fn encrypt_block(&self, b: &mut Block) {
        match self {
            AnyAes::Aes128(c) => c.encrypt_block(b),
            AnyAes::Aes192(c) => c.encrypt_block(b),
            AnyAes::Aes256(c) => c.encrypt_block(b),
        }
    }

    /// Encrypts many blocks at once: the CPU's AES instructions pipeline them.
    fn encrypt_blocks(&self, b: &mut [Block]) {
        match self {
            AnyAes::Aes128(c) => c.encrypt_blocks(b),
            AnyAes::Aes192(c) => c.encrypt_blocks(b),
            AnyAes::Aes256(c) => c.encrypt_blocks(b),
        }
    }
}

/// CFB mode with a zero IV and no resynchronisation, as SEIPD uses it, over a byte stream.
struct Cfb {
    cipher: AnyAes,
    /// At a block boundary (`pos == 0`): the last ciphertext block (the IV at first). Within a
    /// block: the ciphertext bytes of the block so far.
    reg: Block,
    /// The key stream of the current block (valid when `pos > 0`).
    ks: Block,
    /// Bytes of the current block done (0 to 15).
    pos: usize,
}

impl Cfb {
    fn new(cipher: AnyAes) -> Self {
        Cfb {
            cipher,
            reg: Block::default(),
            ks: Block::default(),
            pos: 0,
        }
    }

    /// Starts a block if at a boundary: its key stream is the cipher of the last block.
    fn begin_block(&mut self) {
        if self.pos == 0 {
            self.ks = self.reg;
            self.cipher.encrypt_block(&mut self.ks);
        }
    }

    /// Encrypts `data` in place. Each block depends on the one before: serial.
    fn encrypt(&mut self, data: &mut [u8]) {
        let mut data = data;
        while !data.is_empty() && (self.pos != 0 || data.len() < BS) {
            self.begin_block();
            data[0] ^= self.ks[self.pos];
            self.reg[self.pos] = data[0];
            self.pos = (self.pos + 1) % BS;
            data = &mut data[1..];
        }
        let mut chunks = data.chunks_exact_mut(BS);
        for chunk in &mut chunks {
            let mut ks = self.reg;
            self.cipher.encrypt_block(&mut ks);
            for (c, k) in chunk.iter_mut().zip(ks.iter()) {
                *c ^= k;
            }
            self.reg.copy_from_slice(chunk);
        }
        for b in chunks.into_remainder() {
            self.begin_block();
            *b ^= self.ks[self.pos];
            self.reg[self.pos] = *b;
            self.pos += 1;
        }
    }

    /// Decrypts `data` in place. Every key stream block is the cipher of a ciphertext block
    /// already at hand, so whole blocks are done many at a time.
    fn decrypt(&mut self, data: &mut [u8]) {
        let mut data = data;
        while !data.is_empty() && (self.pos != 0 || data.len() < BS) {
            self.begin_block();
            let c = data[0];
            data[0] ^= self.ks[self.pos];
            self.reg[self.pos] = c;
            self.pos = (self.pos + 1) % BS;
            data = &mut data[1..];
        }
        const BATCH: usize = 64;
        let mut ks = [Block::default(); BATCH];
        let mut chunks = data.chunks_exact_mut(BS * BATCH);
        for chunk in &mut chunks {
            self.decrypt_blocks(chunk, &mut ks);
        }
        let rest = chunks.into_remainder();
        let whole = rest.len() / BS * BS;
        let (blocks, tail) = rest.split_at_mut(whole);
        let n = blocks.len() / BS;
        self.decrypt_blocks(blocks, &mut ks[..n]);
        for b in tail {
            self.begin_block();
            let c = *b;
            *b ^= self.ks[self.pos];
            self.reg[self.pos] = c;
            self.pos += 1;
        }
    }

    /// Decrypts whole blocks at a block boundary, `ks.len()` of them.
    fn decrypt_blocks(&mut self, data: &mut [u8], ks: &mut [Block]) {
        if ks.is_empty() {
            return;
        }
        ks[0] = self.reg;
        for (k, c) in ks[1..].iter_mut().zip(data.chunks_exact(BS)) {
            k.copy_from_slice(c);
        }
        self.reg.copy_from_slice(&data[data.len() - BS..]);
        self.cipher.encrypt_blocks(ks);
        for (chunk, k) in data.chunks_exact_mut(BS).zip(ks.iter()) {
            for (c, k) in chunk.iter_mut().zip(k.iter()) {
                *c ^= k;
            }
        }
    }
}

/// A new-format packet length: one, two or five octets.
fn definite_length(len: usize, out: &mut Vec<u8>) {
    match len {
        0..=191 => out.push(len as u8),
        192..=8383 => {
            let l = len - 192;
            out.push((l >> 8) as u8 + 192);
            out.push(l as u8);
        }
        _ => {
            out.push(0xFF);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

/// Writes a SEIPD v1 packet holding one literal data packet (format `b`, no file name, date 0)
/// of everything written to it, into `sink`, after the session key packets the caller wrote.
pub(crate) struct SeipdWriter<W: Write> {
    sink: W,
    cfb: Cfb,
    mdc: Sha1,
    /// The literal packet's body not yet sealed (less than a chunk).
    body: Vec<u8>,
    /// The SEIPD packet's body not yet written (less than a chunk).
    out: Vec<u8>,
}

impl<W: Write> SeipdWriter<W> {
    /// Starts the packet in `sink`, encrypted with `session_key` (16, 24 or 32 bytes: AES-128,
    /// -192 or -256, as the session key packets say).
    pub(crate) fn new(mut sink: W, session_key: &[u8]) -> io::Result<Self> {
        let cipher = AnyAes::new(session_key)
            .ok_or_else(|| io::Error::other("the session key is not an AES key"))?;
        let mut prefix = [0u8; BS + 2];
        sequoia_openpgp::crypto::random(&mut prefix[..BS]).map_err(io::Error::other)?;
        prefix[BS] = prefix[BS - 2];
        prefix[BS + 1] = prefix[BS - 1];
        let mut out = Vec::with_capacity(CHUNK + 2 * BS);
        out.push(1); // SEIPD version 1
        let mut body = Vec::with_capacity(CHUNK);
        // The literal packet's body: format b, no file name, date 0.
        body.extend_from_slice(&[b'b', 0, 0, 0, 0, 0]);
        // Tag 18, new format.
        sink.write_all(&[0xC0 | 18])?;
        let mut w = SeipdWriter {
            sink,
            cfb: Cfb::new(cipher),
            mdc: Sha1::new(),
            body,
            out,
        };
        w.seal(&prefix)?;
        // Tag 11, new format: the literal packet's header; its length comes with each chunk.
        w.seal(&[0xC0 | 11])?;
        Ok(w)
    }

    /// Hashes and encrypts plaintext of the SEIPD packet's body, writing whole chunks.
    fn seal(&mut self, plain: &[u8]) -> io::Result<()> {
        self.mdc.update(plain);
        self.encrypt(plain)
    }

    fn encrypt(&mut self, plain: &[u8]) -> io::Result<()> {
        let start = self.out.len();
        self.out.extend_from_slice(plain);
        self.cfb.encrypt(&mut self.out[start..]);
        if self.out.len() >= CHUNK {
            let whole = self.out.len() / CHUNK * CHUNK;
            for chunk in self.out[..whole].chunks_exact(CHUNK) {
                self.sink.write_all(&[0xE0 | CHUNK_LOG as u8])?;
                self.sink.write_all(chunk)?;
            }
            self.out.drain(..whole);
        }
        Ok(())
    }

    /// Seals a whole chunk of the literal packet's body.
    fn seal_body_chunk(&mut self) -> io::Result<()> {
        let mut body = std::mem::take(&mut self.body);
        self.seal(&[0xE0 | CHUNK_LOG as u8])?;
        self.seal(&body)?;
        body.clear();
        self.body = body;
        Ok(())
    }

    /// Ends the literal packet, writes the MDC packet and ends the SEIPD packet; returns the sink.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        let mut len = Vec::with_capacity(5);
        definite_length(self.body.len(), &mut len);
        self.seal(&len)?;
        let body = std::mem::take(&mut self.body);
        self.seal(&body)?;
        self.seal(&MDC_HEADER)?;
        let digest = self.mdc.clone().finalize();
        self.encrypt(&digest)?;
        let mut len = Vec::with_capacity(5);
        definite_length(self.out.len(), &mut len);
        self.sink.write_all(&len)?;
        self.sink.write_all(&self.out)?;
        self.sink.flush()?;
        Ok(self.sink)
    }
}

impl<W: Write> Write for SeipdWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.body.is_empty() && buf.len() >= CHUNK {
            // A whole chunk straight from the caller's buffer.
            self.seal(&[0xE0 | CHUNK_LOG as u8])?;
            self.seal(&buf[..CHUNK])?;
            return Ok(CHUNK);
        }
        // The body holds less than a chunk: it is sealed as soon as it holds one.
        let take = buf.len().min(CHUNK - self.body.len());
        self.body.extend_from_slice(&buf[..take]);
        if self.body.len() == CHUNK {
            self.seal_body_chunk()?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()
    }
}

/// How long a packet (or the chunk of one) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Len {
    /// The last (or only) chunk: this many bytes.
    Last(u64),
    /// A partial chunk: this many bytes, then another length.
    Partial(u64),
    /// Old-format indeterminate length: to the end of the input.
    ToEnd,
}

fn read_u8<R: Read>(r: &mut R) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

/// A new-format length (RFC 4880 4.2.2), whose first octet is `o`.
fn new_length<R: Read>(o: u8, r: &mut R) -> io::Result<Len> {
    Ok(match o {
        0..=191 => Len::Last(o as u64),
        192..=223 => Len::Last((((o as u64) - 192) << 8) + read_u8(r)? as u64 + 192),
        224..=254 => Len::Partial(1 << (o & 0x1F)),
        255 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b)?;
            Len::Last(u32::from_be_bytes(b) as u64)
        }
    })
}

/// A packet header: its tag, the header's bytes, and its (first) length. `None` at the end of
/// the input.
pub(crate) fn read_header<R: Read>(r: &mut R) -> io::Result<Option<(u8, Vec<u8>, Len)>> {
    let mut first = [0u8; 1];
    if r.read(&mut first)? == 0 {
        return Ok(None);
    }
    let ctb = first[0];
    if ctb & 0x80 == 0 {
        return Err(bad("not an OpenPGP packet header"));
    }
    let mut raw = vec![ctb];
    if ctb & 0x40 != 0 {
        let o = read_u8(r)?;
        raw.push(o);
        let len = new_length(o, &mut TeeRead { r, raw: &mut raw })?;
        Ok(Some((ctb & 0x3F, raw, len)))
    } else {
        let tag = (ctb >> 2) & 0x0F;
        let n = match ctb & 3 {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => return Ok(Some((tag, raw, Len::ToEnd))),
        };
        let mut b = [0u8; 4];
        r.read_exact(&mut b[4 - n..])?;
        raw.extend_from_slice(&b[4 - n..]);
        Ok(Some((tag, raw, Len::Last(u32::from_be_bytes(b) as u64))))
    }
}

/// Copies what it reads into `raw`.
struct TeeRead<'a, R> {
    r: &'a mut R,
    raw: &'a mut Vec<u8>,
}
impl<R: Read> Read for TeeRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        self.raw.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// The body of one packet, across its partial chunks.
pub(crate) struct PacketBody<R> {
    src: R,
    /// Bytes left in the current chunk (unused for [`Len::ToEnd`]).
    left: u64,
    len: Len,
}

impl<R: Read> PacketBody<R> {
    pub(crate) fn new(src: R, len: Len) -> Self {
        let left = match len {
            Len::Last(n) | Len::Partial(n) => n,
            Len::ToEnd => 0,
        };
        PacketBody { src, left, len }
    }

    /// The reader below: what follows the body once it is read.
    pub(crate) fn rest(&mut self) -> &mut R {
        &mut self.src
    }
}

impl<R: Read> Read for PacketBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.len == Len::ToEnd {
            return self.src.read(buf);
        }
        while self.left == 0 {
            match self.len {
                Len::Partial(_) => {
                    let o = read_u8(&mut self.src).map_err(|e| truncated(e, "a packet"))?;
                    self.len = new_length(o, &mut self.src)?;
                    self.left = match self.len {
                        Len::Last(n) | Len::Partial(n) => n,
                        Len::ToEnd => 0,
                    };
                }
                _ => return Ok(0),
            }
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.src.read(&mut buf[..want])?;
        if n == 0 {
            return Err(bad("the message ends inside a packet (truncated)"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn truncated(e: io::Error, what: &str) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        bad(&format!("the message ends inside {what} (truncated)"))
    } else {
        e
    }
}

/// The first bytes of a SEIPD packet's ciphertext: the random prefix and its repeated last two
/// bytes, by which a session key is checked before use.
pub(crate) type Prefix = [u8; BS + 2];

/// Whether `session_key` decrypts `prefix` to a random block whose last two bytes repeat.
pub(crate) fn quick_check(session_key: &[u8], prefix: &Prefix) -> bool {
    let Some(cipher) = AnyAes::new(session_key) else {
        return false;
    };
    let mut p = *prefix;
    Cfb::new(cipher).decrypt(&mut p);
    p[BS - 2..BS] == p[BS..]
}

/// The plaintext of a SEIPD v1 packet's encrypted body (the packets inside it). The last 22
/// bytes, the MDC packet, are held back and checked at the end: reading the end fails unless
/// the digest matches, so a reader that reads to the end has every byte checked.
pub(crate) struct SeipdReader<R: Read> {
    body: PacketBody<R>,
    cfb: Cfb,
    mdc: Sha1,
    buf: Vec<u8>,
    /// `buf[pos..ready]` is plaintext not yet read; `buf[ready..filled]` is held back, as it
    /// may be (part of) the MDC packet.
    pos: usize,
    ready: usize,
    filled: usize,
    done: bool,
}

impl<R: Read> SeipdReader<R> {
    /// Reads the packet whose body after the version octet is `body`; `prefix`, its first 18
    /// bytes, is read already, and `session_key` passed [`quick_check`] on it.
    pub(crate) fn new(
        body: PacketBody<R>,
        prefix: &Prefix,
        session_key: &[u8],
    ) -> io::Result<Self> {
        let cipher = AnyAes::new(session_key)
            .ok_or_else(|| io::Error::other("the session key is not an AES key"))?;
        let mut cfb = Cfb::new(cipher);
        let mut p = *prefix;
        cfb.decrypt(&mut p);
        let mut mdc = Sha1::new();
        mdc.update(p);
        Ok(SeipdReader {
            body,
            cfb,
            mdc,
            buf: vec![0; CHUNK + MDC_LEN],
            pos: 0,
            ready: 0,
            filled: 0,
            done: false,
        })
    }

    /// Reads and decrypts more; at the end of the packet, checks the MDC.
    fn fill(&mut self) -> io::Result<()> {
        let held = self.filled - self.ready;
        self.buf.copy_within(self.ready..self.filled, 0);
        let mut end = held;
        while end <= MDC_LEN {
            let n = self.body.read(&mut self.buf[end..])?;
            if n == 0 {
                break;
            }
            self.cfb.decrypt(&mut self.buf[end..end + n]);
            end += n;
        }
        self.pos = 0;
        if end <= MDC_LEN {
            self.check_mdc(end)?;
            self.done = true;
            self.ready = 0;
            self.filled = 0;
            return Ok(());
        }
        self.ready = end - MDC_LEN;
        self.filled = end;
        self.mdc.update(&self.buf[..self.ready]);
        Ok(())
    }

    fn check_mdc(&mut self, end: usize) -> io::Result<()> {
        let tail = &self.buf[..end];
        if end < MDC_LEN || tail[..2] != MDC_HEADER {
            return Err(bad(
                "the encrypted data ends without its modification detection code \
                 (truncated or damaged)",
            ));
        }
        self.mdc.update(MDC_HEADER);
        let digest = self.mdc.clone().finalize();
        if digest[..] != tail[2..] {
            return Err(bad(
                "the modification detection code does not match: the data is damaged",
            ));
        }
        Ok(())
    }
}

impl<R: Read> Read for SeipdReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.ready && !self.done && !out.is_empty() {
            self.fill()?;
        }
        let n = out.len().min(self.ready - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The data of a literal packet read from `inner`, after which the rest of `inner` is read to
/// its end (so that a [`SeipdReader`] below checks its MDC).
pub(crate) struct LiteralReader<R: Read> {
    body: PacketBody<R>,
    done: bool,
}

impl<R: Read> LiteralReader<R> {
    /// Reads the literal packet's header fields, given its packet header's length.
    pub(crate) fn new(inner: R, len: Len) -> io::Result<Self> {
        let mut body = PacketBody::new(inner, len);
        let mut head = [0u8; 2];
        body.read_exact(&mut head)
            .map_err(|e| truncated(e, "the literal data packet"))?;
        let mut skip = vec![0u8; head[1] as usize + 4];
        body.read_exact(&mut skip)
            .map_err(|e| truncated(e, "the literal data packet"))?;
        Ok(LiteralReader { body, done: false })
    }
}

impl<R: Read> Read for LiteralReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        let n = self.body.read(out)?;
        if n == 0 {
            // Whatever follows the literal packet is read to the end, unused.
            io::copy(self.body.rest(), &mut io::sink())?;
            self.done = true;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encrypt(plain: &[u8], key: &[u8]) -> Vec<u8> {
        let mut w = SeipdWriter::new(Vec::new(), key).unwrap();
        // Odd write sizes, so chunk edges fall everywhere.
        for part in plain.chunks(777_777) {
            w.write_all(part).unwrap();
        }
        w.finish().unwrap()
    }

    fn decrypt(msg: &[u8], key: &[u8]) -> io::Result<Vec<u8>> {
        let mut r = msg;
        let (tag, _, len) = read_header(&mut r)?.unwrap();
        assert_eq!(tag, 18);
        let mut body = PacketBody::new(r, len);
        assert_eq!(read_u8(&mut body)?, 1);
        let mut prefix = [0u8; BS + 2];
        body.read_exact(&mut prefix)?;
        if !quick_check(key, &prefix) {
            return Err(bad("wrong key"));
        }
        let mut plain = SeipdReader::new(body, &prefix, key)?;
        let (tag, _, len) = read_header(&mut plain)?.unwrap();
        assert_eq!(tag, 11);
        let mut out = Vec::new();
        LiteralReader::new(plain, len)?.read_to_end(&mut out)?;
        Ok(out)
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 253) as u8).collect()
    }

    #[test]
    fn round_trips_at_every_size_near_the_chunk_edges() {
        let key = [7u8; 32];
        for n in [
            0,
            1,
            15,
            16,
            17,
            500,
            CHUNK - 7,
            CHUNK - 6,
            CHUNK,
            CHUNK + 1,
            3 * CHUNK + 5,
        ] {
            let data = sample(n);
            assert_eq!(
                decrypt(&encrypt(&data, &key), &key).unwrap(),
                data,
                "{n} bytes"
            );
        }
    }

    #[test]
    fn cfb_matches_the_block_by_block_definition() {
        let key = [3u8; 16];
        let data = sample(5000);
        let cipher = AnyAes::new(&key).unwrap();
        // C_i = P_i xor E(C_{i-1}), C_0 = zero IV, the last block short.
        let mut want = data.clone();
        let mut reg = Block::default();
        for chunk in want.chunks_mut(BS) {
            let mut ks = reg;
            cipher.encrypt_block(&mut ks);
            for (c, k) in chunk.iter_mut().zip(ks.iter()) {
                *c ^= k;
            }
            reg[..chunk.len()].copy_from_slice(chunk);
        }
        for split in [0, 1, 5, 16, 33, 1024, 4999] {
            let mut got = data.clone();
            let mut e = Cfb::new(cipher.clone());
            let (a, b) = got.split_at_mut(split);
            e.encrypt(a);
            e.encrypt(b);
            assert_eq!(got, want, "encrypted in two parts at {split}");
            let mut d = Cfb::new(cipher.clone());
            let (a, b) = got.split_at_mut(split);
            d.decrypt(a);
            d.decrypt(b);
            assert_eq!(got, data, "decrypted in two parts at {split}");
        }
    }

    #[test]
    fn a_flipped_byte_or_a_cut_fails_the_check() {
        let key = [9u8; 32];
        let msg = encrypt(&sample(100_000), &key);
        let mut flipped = msg.clone();
        flipped[50_000] ^= 0x10;
        assert!(decrypt(&flipped, &key).is_err());
        let cut = &msg[..msg.len() - 30];
        assert!(decrypt(cut, &key).is_err());
        assert!(decrypt(&msg, &[8u8; 32]).is_err(), "another key");
    }
}
