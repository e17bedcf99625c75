#!/usr/bin/env bash
# Restore one snapshot of a butcher backup exactly, without butcher.
# Needs: bash, coreutils, sed, gpg, tar, bzip2 and/or zstd, sqlite3.
#
#   PASSFILE=FILE bash restore-by-hand.sh DISCS TARGET [SNAPSHOT]
#
# DISCS holds the disc directories disc-0001, disc-0002, ... (copied from the discs).
# TARGET must be empty or not exist. PASSFILE names a file whose first line is the
# passphrase (not needed for an unencrypted backup; a Windows line end is fine). SNAPSHOT
# is a snapshot id (default: the newest complete one). Any OpenPGP program that reads
# SKESK v4 + SEIPD v1 messages can stand in for gpg in decrypt() below.
set -euo pipefail
DISCS=$1 TARGET=$2 SNAP=${3:-}
STAGE="$TARGET/.by-hand-stage"
if [ -d "$TARGET" ] && [ -n "$(ls -A -- "$TARGET" | grep -vxF '.by-hand-stage')" ]; then
  echo "$TARGET is not empty: restore into an empty or new directory" >&2; exit 1
fi
mkdir -p "$TARGET"
rm -rf -- "$STAGE"   # what a run that was stopped hard left behind
mkdir "$STAGE"
# On any failure (a wrong passphrase, a missing disc) nothing but what was restored stays,
# and the same command can simply be run again into an emptied TARGET.
trap 'rm -rf -- "$STAGE"' EXIT

PASS=
if ls "$DISCS"/disc-*/*.gpg >/dev/null 2>&1; then
  if [ -z "${PASSFILE:-}" ] || [ ! -r "$PASSFILE" ]; then
    echo "the backup is encrypted: set PASSFILE to a file whose first line is the passphrase" >&2
    exit 1
  fi
  IFS= read -r PASS < "$PASSFILE" || true
  PASS=${PASS%$'\r'}   # a passphrase file written on Windows ends its line with CR LF
fi
decrypt() {   # decrypt FILE: plaintext of FILE on stdout (the passphrase goes through a pipe)
  case "$1" in
    *.gpg) gpg --batch --quiet --pinentry-mode loopback --passphrase-fd 3 -d "$1" \
             3< <(printf '%s\n' "$PASS") ;;
    *) cat "$1" ;;
  esac
}
unhex() {     # unhex VAR HEX: set VAR to the bytes HEX spells (any bytes but NUL)
  local esc
  esc=$(printf '%s' "$2" | sed 's/../\\x&/g')
  printf -v "$1" '%b' "$esc"
}
unhex_path() { # like unhex, refusing absolute paths and '.', '..' or empty components
  unhex "$1" "$2"
  case "/${!1}/" in
    //*|*/./*|*/../*|*//*) echo "refusing unsafe path in the catalogue: ${!1}" >&2; exit 1 ;;
  esac
}

# 1. The catalogue: the copy on the highest-numbered disc describes everything.
CAT=$(ls -d "$DISCS"/disc-*/catalogue.db* | sort | tail -n 1)
DB="$STAGE/catalogue.sqlite"
decrypt "$CAT" > "$DB"
q() { sqlite3 -batch -noheader -separator ' ' "$DB" "$1"; }
# Every disc in DISCS must belong to this backup set (line 2 of its README.txt names it).
SET=$(q "SELECT value FROM meta WHERE key = 'backup_set_id'")
OTHERS=
for readme in "$DISCS"/disc-*/README.txt; do
  sed -n 2p "$readme" | grep -q "^backup set $SET," || OTHERS="$OTHERS ${readme%/README.txt}"
done
if [ -n "$OTHERS" ]; then
  echo "these discs belong to another backup set than $CAT (set $SET):$OTHERS" >&2
  echo "move them out of $DISCS and run again" >&2
  exit 1
fi
[ -n "$SNAP" ] || SNAP=$(q "SELECT max(id) FROM snapshots WHERE status = 'complete'")
echo "restoring snapshot $SNAP from $CAT"

# 2. Unpack every archive the snapshot needs, each into a directory of its own.
q "SELECT DISTINCT a.id, a.disc, a.name, a.compression
   FROM entries e JOIN pieces p ON p.sha256 = e.sha256 JOIN archives a ON a.id = p.archive_id
   WHERE e.snapshot_id = $SNAP AND e.kind = 'file' ORDER BY a.id" |
while read -r id disc name comp; do
  file="$DISCS/$(printf 'disc-%04d' "$disc")/$name"
  mkdir "$STAGE/$id"
  case "$comp" in
    bzip2) decrypt "$file" | bzip2 -dc | tar -x -C "$STAGE/$id" ;;
    zstd)  decrypt "$file" | zstd -dcq | tar -x -C "$STAGE/$id" ;;
    none)  decrypt "$file" | tar -x -C "$STAGE/$id" ;;
  esac
done

# 3. Directories (modes and times are set at the end).
q "SELECT hex(path) FROM entries WHERE snapshot_id = $SNAP AND kind = 'dir'" |
while read -r hp; do
  unhex_path p "$hp"; mkdir -p -- "$TARGET/$p"
done

# 4. Files: join the pieces of each content in order, then mode and mtime.
q "SELECT hex(e.path), printf('%o', e.mode), e.mtime_ns / 1000000000,
          printf('%09d', e.mtime_ns % 1000000000), p.archive_id, hex(p.member), p.piece,
          c.pieces
   FROM entries e JOIN contents c ON c.sha256 = e.sha256 JOIN pieces p ON p.sha256 = e.sha256
   WHERE e.snapshot_id = $SNAP AND e.kind = 'file' ORDER BY e.path, p.piece" |
while read -r hp mode sec nsec id hm piece pieces; do
  unhex_path p "$hp"; unhex_path m "$hm"
  part="$STAGE/joining"
  [ "$piece" -gt 1 ] || : > "$part"
  cat -- "$STAGE/$id/$m" >> "$part"
  if [ "$piece" -eq "$pieces" ]; then
    mv -- "$part" "$TARGET/$p"
    touch -m -d "@$sec.$nsec" -- "$TARGET/$p"
    chmod "$mode" -- "$TARGET/$p"
  fi
done

# 5. Check every file's sha256 against the catalogue.
q "SELECT sha256, hex(path) FROM entries WHERE snapshot_id = $SNAP AND kind = 'file'" |
while read -r sum hp; do
  unhex_path p "$hp"
  got=$(sha256sum < "$TARGET/$p"); got=${got%% *}
  [ "$got" = "$sum" ] || { echo "MISMATCH: $p" >&2; exit 1; }
done

# 6. Symlinks after everything else is in place, children first: a symlink never stands
#    where a directory or file was written, so nothing is ever written through one.
q "SELECT hex(path), hex(link_target) FROM entries WHERE snapshot_id = $SNAP AND kind = 'symlink'
   ORDER BY path DESC" |
while read -r hp ht; do
  unhex_path p "$hp"; unhex t "$ht"; ln -s -- "$t" "$TARGET/$p"
done

# 7. Directory modes and times, children before parents (descending byte order).
q "SELECT hex(path), printf('%o', mode), mtime_ns / 1000000000, printf('%09d', mtime_ns % 1000000000)
   FROM entries WHERE snapshot_id = $SNAP AND kind = 'dir' ORDER BY path DESC" |
while read -r hp mode sec nsec; do
  unhex_path p "$hp"
  touch -m -d "@$sec.$nsec" -- "$TARGET/$p"
  chmod "$mode" -- "$TARGET/$p"
done
echo "restored snapshot $SNAP into $TARGET; every file's sha256 checked"
