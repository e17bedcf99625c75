#!/usr/bin/env bash
# Restore one snapshot of a butcher backup exactly, without butcher.
# Needs: bash, coreutils, sed, gpg, tar, bzip2 and/or zstd, sqlite3; setfattr (package attr)
# for extended attributes and ACLs, which are skipped, with a note, without it.
#
#   PASSFILE=FILE bash restore-by-hand.sh DISCS TARGET [SNAPSHOT]
#
# DISCS holds the disc directories disc-0001, disc-0002, ... (copied from the discs).
# TARGET must be empty or not exist. PASSFILE names a file whose first line is the
# passphrase (a Windows line end is fine). A backup encrypted to OpenPGP keys restores
# without PASSFILE when the secret key of one of its recipients is in gpg's keyring
# (gpg --import KEYFILE). SNAPSHOT is a snapshot id (default: the newest complete one).
# Any OpenPGP program that reads SKESK v4 / PKESK v3 + SEIPD v1 messages can stand in for
# gpg in decrypt() below.
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
if [ -n "${PASSFILE:-}" ]; then
  if [ ! -r "$PASSFILE" ]; then echo "cannot read PASSFILE $PASSFILE" >&2; exit 1; fi
  IFS= read -r PASS < "$PASSFILE" || true
  PASS=${PASS%$'\r'}   # a passphrase file written on Windows ends its line with CR LF
fi
decrypt() {   # decrypt FILE: plaintext of FILE on stdout (a passphrase goes through a pipe)
  case "$1" in
    *.gpg) if [ -n "${PASSFILE:-}" ]; then
             gpg --batch --quiet --pinentry-mode loopback --passphrase-fd 3 -d "$1" \
               3< <(printf '%s\n' "$PASS")
           else   # the secret key of a recipient, from gpg's keyring
             gpg --batch --quiet -d "$1"
           fi || { echo "gpg cannot decrypt $1: set PASSFILE to a file whose first line is" \
                        "the passphrase, or import a recipient's secret key" \
                        "(gpg --import KEYFILE)" >&2; return 1; } ;;
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
# Format 6 and later record owners, hard links, extended attributes and the root's own
# metadata; the view `entries` lists each snapshot's paths as older formats' table did.
FORMAT=$(q "PRAGMA user_version")
ROOT=0; [ "$(id -u)" -eq 0 ] && ROOT=1
# A time as touch takes it: seconds since 1970 with nanoseconds, negative before 1970.
ts() { echo "(CASE WHEN $1 < 0 THEN '-' ELSE '' END || abs($1 / 1000000000) || '.' ||
       printf('%09d', abs($1 % 1000000000)))"; }
# The owner to give: a recorded name where this system knows it, else the recorded id.
declare -A KNOWN=()
known() {     # known passwd|group NAME: whether this system has NAME (asked once each)
  [ -n "${KNOWN[$1:$2]:-}" ] || { getent "$1" "$2" >/dev/null && KNOWN[$1:$2]=1 || KNOWN[$1:$2]=0; }
  [ "${KNOWN[$1:$2]}" = 1 ]
}
owner() {     # owner UID GID USER GROUP ('-' for a name not recorded): sets OWNER
  OWNER="$1:$2"
  if [ "$3" != - ] && known passwd "$3"; then OWNER="$3:${OWNER#*:}"; fi
  if [ "$4" != - ] && known group "$4"; then OWNER="${OWNER%%:*}:$4"; fi
}
NAMES="coalesce((SELECT name FROM users WHERE uid = e.uid), '-'),
       coalesce((SELECT name FROM groups WHERE gid = e.gid), '-')"
# A content's sha256 as sha256sum prints it (32 bytes from format 6 on, hex text before).
SUM="CASE typeof(sha256) WHEN 'blob' THEN lower(hex(sha256)) ELSE sha256 END"

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
q "SELECT hex(e.path), printf('%o', e.mode), $(ts e.mtime_ns), p.archive_id, hex(p.member),
          p.piece, c.pieces
   FROM entries e JOIN contents c ON c.sha256 = e.sha256 JOIN pieces p ON p.sha256 = e.sha256
   WHERE e.snapshot_id = $SNAP AND e.kind = 'file' ORDER BY e.path, p.piece" |
while read -r hp mode t id hm piece pieces; do
  unhex_path p "$hp"; unhex_path m "$hm"
  part="$STAGE/joining"
  [ "$piece" -gt 1 ] || : > "$part"
  cat -- "$STAGE/$id/$m" >> "$part"
  if [ "$piece" -eq "$pieces" ]; then
    mv -- "$part" "$TARGET/$p"
    touch -m -d "@$t" -- "$TARGET/$p"
    chmod "$mode" -- "$TARGET/$p"
  fi
done

# 5. Check every file's sha256 against the catalogue.
q "SELECT $SUM, hex(path) FROM entries WHERE snapshot_id = $SNAP AND kind = 'file'" |
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

if [ "$FORMAT" -ge 6 ]; then
  # 6a. Hard links: every path of one inode becomes a link to the first of them.
  q "SELECT hex(e.path), hex(f.path) FROM entries e
     JOIN (SELECT dev, inode, min(path) AS path FROM entries
           WHERE snapshot_id = $SNAP AND kind = 'file' AND links > 1 GROUP BY dev, inode) f
       ON f.dev = e.dev AND f.inode = e.inode
     WHERE e.snapshot_id = $SNAP AND e.kind = 'file' AND e.links > 1 AND e.path <> f.path" |
  while read -r hp hf; do
    unhex_path p "$hp"; unhex_path f "$hf"; ln -f -- "$TARGET/$f" "$TARGET/$p"
  done
  # 6b. Extended attributes (POSIX ACLs are the system.posix_acl_* ones), with setfattr.
  if [ "$(q "SELECT count(*) FROM xattrs x JOIN entries e ON e.version_id = x.version_id
             WHERE e.snapshot_id = $SNAP")" -gt 0 ]; then
    if command -v setfattr >/dev/null; then
      q "SELECT hex(e.path), hex(x.name), hex(x.value) FROM xattrs x
         JOIN entries e ON e.version_id = x.version_id WHERE e.snapshot_id = $SNAP" |
      while read -r hp hn hv; do
        unhex_path p "$hp"; unhex n "$hn"
        setfattr -h -n "$n" -v "0x$hv" -- "$TARGET/$p" ||
          echo "could not set extended attribute $n of $p" >&2
      done
    else
      echo "note: setfattr (package attr) is not installed: extended attributes and ACLs skipped" >&2
    fi
  fi
  # 6c. Owners, as root only: by name where this system knows the name, else by id. Then
  #     the modes again (chown clears set-user-id bits) and the symlinks' own times.
  if [ "$ROOT" -eq 1 ]; then
    q "SELECT hex(e.path), e.kind, e.uid, e.gid, $NAMES, printf('%o', e.mode) FROM entries e
       WHERE e.snapshot_id = $SNAP AND e.kind <> 'dir' AND e.uid IS NOT NULL" |
    while read -r hp kind uid gid user group mode; do
      unhex_path p "$hp"
      owner "$uid" "$gid" "$user" "$group"; chown -h -- "$OWNER" "$TARGET/$p"
      [ "$kind" = symlink ] || chmod "$mode" -- "$TARGET/$p"
    done
  else
    echo "note: not running as root: files keep the owner of the user restoring them" >&2
  fi
  q "SELECT hex(path), $(ts mtime_ns) FROM entries WHERE snapshot_id = $SNAP AND kind = 'symlink'" |
  while read -r hp t; do
    unhex_path p "$hp"; touch -h -m -d "@$t" -- "$TARGET/$p"
  done
fi

# 7. Directory owners, modes and times, children before parents (descending byte order).
OWNER="'-', '-', '-', '-'"
[ "$FORMAT" -ge 6 ] && OWNER="coalesce(e.uid, '-'), coalesce(e.gid, '-'), $NAMES"
q "SELECT hex(e.path), printf('%o', e.mode), $(ts e.mtime_ns), $OWNER
   FROM entries e WHERE e.snapshot_id = $SNAP AND e.kind = 'dir' ORDER BY e.path DESC" |
while read -r hp mode t uid gid user group; do
  unhex_path p "$hp"
  if [ "$ROOT" -eq 1 ] && [ "$uid" != - ]; then
    owner "$uid" "$gid" "$user" "$group"; chown -- "$OWNER" "$TARGET/$p"
  fi
  chmod "$mode" -- "$TARGET/$p"
  touch -m -d "@$t" -- "$TARGET/$p"
done
# 8. The source root's own owner, mode and time (format 6 on) go to TARGET itself, once
#    the staging directory inside it is gone.
ROOTMETA=
if [ "$FORMAT" -ge 6 ]; then
  ROOTMETA=$(q "SELECT printf('%o', root_mode), $(ts root_mtime_ns), coalesce(root_uid, '-'),
                       coalesce(root_gid, '-')
                FROM snapshots WHERE id = $SNAP AND root_mode IS NOT NULL")
fi
rm -rf -- "$STAGE"
if [ -n "$ROOTMETA" ]; then
  read -r mode t uid gid <<< "$ROOTMETA"
  if [ "$ROOT" -eq 1 ] && [ "$uid" != - ]; then chown -- "$uid:$gid" "$TARGET"; fi
  chmod "$mode" -- "$TARGET"
  touch -m -d "@$t" -- "$TARGET"
fi
echo "restored snapshot $SNAP into $TARGET; every file's sha256 checked"
