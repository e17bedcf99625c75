#!/usr/bin/env bash
# Demo: build butcher, back up a small sample tree into encrypted disc directories, check the
# discs, restore, and compare the restored tree with the original (contents, modes, mtimes,
# symlinks). If gpg, sqlite3 and bzip2 are installed, also restore by hand without butcher.
# Prints "demo OK" at the end; exits non-zero on any mismatch.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

say() { printf '\n==> %s\n' "$*"; }
fail() { echo "demo FAILED: $*" >&2; exit 1; }

say "cargo build --release"
(cd "$repo" && cargo build --release)
butcher=${CARGO_TARGET_DIR:-$repo/target}/release/butcher
[[ -x $butcher ]] || fail "no binary at $butcher"

say "making a sample tree"
src=$work/src
mkdir -p "$src/docs/old" "$src/photos 2024" "$src/empty dir"
printf 'Buy milk.\nCall Bob.\n' > "$src/notes.txt"
printf '# Project\n\nA short readme.\n' > "$src/docs/readme.md"
printf 'draft one\n' > "$src/docs/old/draft.txt"
cp "$src/notes.txt" "$src/docs/notes copy.txt"        # same content: stored once
printf 'Grüße aus Köln — café ☕\n' > "$src/photos 2024/Überraschung café.txt"
printf '#!/bin/sh\necho hi\n' > "$src/docs/hello.sh"
chmod 755 "$src/docs/hello.sh"
printf 'secret\n' > "$src/docs/private.txt"
chmod 600 "$src/docs/private.txt"
: > "$src/docs/empty file"
head -c $((3 << 20)) /dev/urandom > "$src/photos 2024/random 3MiB.bin"
head -c $((2 << 20)) /dev/urandom > "$src/photos 2024/random 2MiB.bin"
ln -s notes.txt "$src/latest notes"
ln -s ../notes.txt "$src/docs/link up"
touch -d '2021-03-04 05:06:07.123456789' "$src/docs/old/draft.txt"
touch -d '2023-12-24 18:00:00' "$src/docs/old" "$src/empty dir"
(cd "$src" && find . -mindepth 1 | sort)

say "butcher backup (encrypted, 1 MiB archives, 4 MiB discs)"
export BUTCHER_PASSPHRASE='correct horse battery staple'
dest=$work/dest
"$butcher" backup "$src" "$dest" --archive-size 1M --disc-size 4M

say "disc directories"
discs=("$dest"/disc-*)
((${#discs[@]} >= 2)) || fail "expected at least two discs, got ${#discs[@]}"
for d in "${discs[@]}"; do
    echo "${d##*/}:"
    ls -l "$d" | sed 1d
done
archives=("$dest"/disc-*/a*.tar*)
((${#archives[@]} >= 3)) || fail "expected several archives, got ${#archives[@]}"

say "sha256sum -c SHA256SUMS on every disc"
for d in "${discs[@]}"; do
    echo "${d##*/}:"
    (cd "$d" && sha256sum -c SHA256SUMS) || fail "checksums do not match in ${d##*/}"
done

# Everything about a tree that a restore must reproduce: type, mode and mtime (ns) of files
# and directories, target of symlinks (a restore cannot set a symlink's own mtime).
listing() {
    (cd "$1" && find . -mindepth 1 \( -type l -printf '%P link -> %l\n' \) \
        -o -printf '%P %y %m %T@\n' | LC_ALL=C sort)
}

compare() {   # compare WHAT DIR
    diff -r --no-dereference "$src" "$2" || fail "$1: contents differ"
    diff <(listing "$src") <(listing "$2") || fail "$1: modes, mtimes or symlinks differ"
    echo "$1: identical to the source (contents, modes, mtimes, symlinks)"
}

say "butcher restore"
restored=$work/restored
"$butcher" restore "$dest" "$restored"
compare "butcher restore" "$restored"

if command -v gpg >/dev/null && command -v sqlite3 >/dev/null && command -v bzip2 >/dev/null; then
    say "restore by hand (no butcher: bash, gpg, bzip2, tar, sqlite3)"
    export GNUPGHOME=$work/gnupg
    mkdir -m 700 "$GNUPGHOME"
    printf '%s\n' "$BUTCHER_PASSPHRASE" > "$work/pass"
    by_hand=$work/by-hand
    PASSFILE=$work/pass bash "$repo/scripts/restore-by-hand.sh" "$dest" "$by_hand"
    compare "restore by hand" "$by_hand"
else
    say "restore by hand skipped (needs gpg, sqlite3 and bzip2)"
fi

echo
echo "demo OK: ${#archives[@]} archives on ${#discs[@]} discs, restored exactly"
