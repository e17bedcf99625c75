#!/usr/bin/env python3
# Rebuilds the files of one lost data disc of a butcher backup from its parity disc and the
# other data discs of its group, without butcher (docs/format.md section 3.5).
#
#   python3 rebuild-disc-by-hand.py PARITY_DISC DISCS N OUT_DIR
#
# PARITY_DISC is the parity disc (the one whose PARITY.txt names disc N); DISCS is a folder
# holding the group's other data discs as disc-NNNN; N is the lost disc's number. Every file
# of disc N but its recovery files (disc-NNNN*.par2) is written into OUT_DIR and checked
# against the sha256 PARITY.txt gives for it. Needs only python3.
import hashlib
import os
import sys

CHUNK = 8 << 20


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__ or "usage: rebuild-disc-by-hand.py PARITY_DISC DISCS N OUT_DIR")
    parity_dir, discs, lost, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    members, files, piece_size, length = [], {}, 0, 0
    with open(os.path.join(parity_dir, "PARITY.txt")) as f:
        for line in f:
            w = line.split()
            if w[0] == "piece-size":
                piece_size = int(w[1])
            elif w[0] == "length":
                length = int(w[1])
            elif w[0] == "member":
                members.append(int(w[1]))
            elif w[0] == "file":
                # file DISC OFFSET SIZE SHA256 NAME
                files.setdefault(int(w[1]), []).append(
                    (int(w[2]), int(w[3]), w[4], line.split(None, 5)[5].rstrip("\n")))
    for m in files:
        for _, _, _, name in files[m]:
            if name in ("", ".", "..") or "/" in name or "\0" in name:
                sys.exit("PARITY.txt names %r, not a file name: it is damaged" % name)
    if lost not in members:
        sys.exit("disc %04d is not protected by this parity disc (it protects %s)"
                 % (lost, " ".join("%04d" % m for m in members)))

    def xor_range(dst, src_files, folder, at):
        """XORs bytes at..at+len(dst) of the stream of src_files (in folder) into dst."""
        end = at + len(dst)
        acc = int.from_bytes(dst, "little")
        for offset, size, _, name in src_files:
            lo, hi = max(offset, at), min(offset + size, end)
            if lo >= hi:
                continue
            with open(os.path.join(folder, name), "rb") as f:
                f.seek(lo - offset)
                data = f.read(hi - lo)
            if len(data) != hi - lo:
                sys.exit("%s is shorter than PARITY.txt says" % os.path.join(folder, name))
            acc ^= int.from_bytes(data, "little") << (8 * (lo - at))
        return bytearray(acc.to_bytes(len(dst), "little"))

    pieces = [(k * piece_size, min(piece_size, length - k * piece_size),
               "parity-%04d.bin" % (k + 1)) for k in range((length + piece_size - 1) // piece_size)]
    os.makedirs(out, exist_ok=True)
    bad = 0
    for offset, size, sha, name in files[lost]:
        h = hashlib.sha256()
        with open(os.path.join(out, name), "wb") as o:
            done = 0
            while done < size:
                n = min(CHUNK, size - done)
                buf = bytearray(n)
                at = offset + done
                for m in members:
                    if m != lost:
                        buf = xor_range(buf, files[m], os.path.join(discs, "disc-%04d" % m), at)
                buf = xor_range(buf, [(o_, s_, "", n_) for o_, s_, n_ in pieces], parity_dir, at)
                h.update(buf)
                o.write(buf)
                done += n
        ok = h.hexdigest() == sha
        bad += not ok
        print("%s %s" % ("OK      " if ok else "DAMAGED ", name))
    sys.exit(1 if bad else 0)


main()
