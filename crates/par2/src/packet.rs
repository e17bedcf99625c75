//! PAR2 2.0 packets: the 64-byte header, the five packet types butcher writes, and a scanner
//! that finds every intact packet in a file however damaged the bytes around it are.

use md5::{Digest, Md5};

/// The first 8 bytes of every packet.
pub const MAGIC: &[u8; 8] = b"PAR2\0PKT";
/// Length of the packet header.
pub const HEADER_LEN: usize = 64;

pub const MAIN: &[u8; 16] = b"PAR 2.0\0Main\0\0\0\0";
pub const FILE_DESC: &[u8; 16] = b"PAR 2.0\0FileDesc";
pub const IFSC: &[u8; 16] = b"PAR 2.0\0IFSC\0\0\0\0";
pub const RECOVERY: &[u8; 16] = b"PAR 2.0\0RecvSlic";
pub const CREATOR: &[u8; 16] = b"PAR 2.0\0Creator\0";

/// An MD5 digest.
pub type Md5Hash = [u8; 16];

/// MD5 of `data`.
pub fn md5(data: &[u8]) -> Md5Hash {
    Md5::digest(data).into()
}

/// The length of a packet with a body of `body_len` bytes (bodies are whole 4-byte words).
pub fn packet_len(body_len: usize) -> usize {
    HEADER_LEN + body_len.next_multiple_of(4)
}

/// A whole packet: header (magic, length, MD5 of what follows the MD5, set ID, type) and body,
/// zero-padded to a multiple of 4 bytes.
pub fn packet(set_id: &Md5Hash, kind: &[u8; 16], body: &[u8]) -> Vec<u8> {
    let len = packet_len(body.len());
    let mut p = Vec::with_capacity(len);
    p.extend_from_slice(MAGIC);
    p.extend_from_slice(&(len as u64).to_le_bytes());
    p.extend_from_slice(&[0; 16]);
    p.extend_from_slice(set_id);
    p.extend_from_slice(kind);
    p.extend_from_slice(body);
    p.resize(len, 0);
    let sum = md5(&p[32..]);
    p[16..32].copy_from_slice(&sum);
    p
}

/// The header of a recovery slice packet whose data is `data_len` bytes; the packet's MD5
/// covers the data, so it is computed with it.
pub fn recovery_packet_header(set_id: &Md5Hash, exponent: u32, data: &[u8]) -> Vec<u8> {
    let len = HEADER_LEN + 4 + data.len();
    let mut h = Vec::with_capacity(HEADER_LEN + 4);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&(len as u64).to_le_bytes());
    h.extend_from_slice(&[0; 16]);
    h.extend_from_slice(set_id);
    h.extend_from_slice(RECOVERY);
    h.extend_from_slice(&exponent.to_le_bytes());
    let mut m = Md5::new();
    m.update(&h[32..]);
    m.update(data);
    let sum: Md5Hash = m.finalize().into();
    h[16..32].copy_from_slice(&sum);
    h
}

/// The main packet's body: slice size, the files of the recovery set (their IDs in the order
/// that numbers their slices), no non-recovery files.
pub fn main_body(slice_size: u64, file_ids: &[Md5Hash]) -> Vec<u8> {
    let mut b = Vec::with_capacity(12 + 16 * file_ids.len());
    b.extend_from_slice(&slice_size.to_le_bytes());
    b.extend_from_slice(&(file_ids.len() as u32).to_le_bytes());
    for id in file_ids {
        b.extend_from_slice(id);
    }
    b
}

/// A file's ID: MD5 of the MD5 of its first 16 KiB, its length and its name.
pub fn file_id(md5_16k: &Md5Hash, len: u64, name: &str) -> Md5Hash {
    let mut m = Md5::new();
    m.update(md5_16k);
    m.update(len.to_le_bytes());
    m.update(name.as_bytes());
    m.finalize().into()
}

/// A file description packet's body.
pub fn file_desc_body(
    id: &Md5Hash,
    md5: &Md5Hash,
    md5_16k: &Md5Hash,
    len: u64,
    name: &str,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(56 + name.len() + 3);
    b.extend_from_slice(id);
    b.extend_from_slice(md5);
    b.extend_from_slice(md5_16k);
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(name.as_bytes());
    b
}

/// An input file slice checksum packet's body: per slice its MD5 and CRC32 (of the slice
/// zero-padded to the slice size).
pub fn ifsc_body(id: &Md5Hash, slices: &[(Md5Hash, u32)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + 20 * slices.len());
    b.extend_from_slice(id);
    for (m, c) in slices {
        b.extend_from_slice(m);
        b.extend_from_slice(&c.to_le_bytes());
    }
    b
}

/// One intact packet found in a file.
#[derive(Debug, Clone)]
pub struct Found {
    pub set_id: Md5Hash,
    pub kind: [u8; 16],
    /// Offset of the body in the file.
    pub body_at: u64,
    /// Length of the body (the packet's length less its header).
    pub body_len: u64,
}

/// Finds every packet of `data` whose MD5 checks, skipping over damage: after a bad packet
/// the search goes on at the next magic.
pub fn scan(data: &[u8]) -> Vec<Found> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + HEADER_LEN <= data.len() {
        let Some(pos) = find_magic(&data[at..]) else {
            break;
        };
        let start = at + pos;
        if let Some(len) = intact_len(&data[start..]) {
            let mut set_id = [0u8; 16];
            set_id.copy_from_slice(&data[start + 32..start + 48]);
            let mut kind = [0u8; 16];
            kind.copy_from_slice(&data[start + 48..start + 64]);
            out.push(Found {
                set_id,
                kind,
                body_at: (start + HEADER_LEN) as u64,
                body_len: (len - HEADER_LEN) as u64,
            });
            at = start + len;
        } else {
            at = start + 1;
        }
    }
    out
}

fn find_magic(data: &[u8]) -> Option<usize> {
    data.windows(MAGIC.len()).position(|w| w == MAGIC)
}

/// The length of the packet at the start of `data` if it is whole and its MD5 checks.
fn intact_len(data: &[u8]) -> Option<usize> {
    if data.len() < HEADER_LEN {
        return None;
    }
    let len = u64::from_le_bytes(data[8..16].try_into().ok()?);
    if len < HEADER_LEN as u64 || len % 4 != 0 || len > data.len() as u64 {
        return None;
    }
    let len = len as usize;
    (md5(&data[32..len]) == data[16..32]).then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_intact_packets_around_damage() {
        let id = [7u8; 16];
        let a = packet(&id, CREATOR, b"one");
        let b = packet(&id, CREATOR, b"two two");
        let c = packet(&id, MAIN, &main_body(4096, &[[1; 16]]));
        let mut file = [a.clone(), b.clone(), c.clone()].concat();
        assert_eq!(scan(&file).len(), 3);
        assert_eq!(a.len() % 4, 0);
        // A flipped byte in the second packet loses it alone.
        file[a.len() + 70] ^= 1;
        let found = scan(&file);
        assert_eq!(found.len(), 2);
        assert_eq!(&found[1].kind, MAIN);
        assert_eq!(found[1].body_at as usize, a.len() + b.len() + HEADER_LEN);
        // Garbage before and a cut packet after are skipped.
        let mut f2 = vec![0xAAu8; 13];
        f2.extend_from_slice(&c);
        f2.extend_from_slice(&a[..40]);
        let found = scan(&f2);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].body_len as usize, c.len() - HEADER_LEN);
    }

    #[test]
    fn recovery_header_md5_covers_the_data() {
        let id = [3u8; 16];
        let data = vec![9u8; 64];
        let mut body = 5u32.to_le_bytes().to_vec();
        body.extend_from_slice(&data);
        let whole = packet(&id, RECOVERY, &body);
        let mut split = recovery_packet_header(&id, 5, &data);
        split.extend_from_slice(&data);
        assert_eq!(whole, split);
    }
}
