#!/usr/bin/env bash
# Turn one butcher disc directory into an ISO image or burn it onto a disc.
set -euo pipefail

prog=${0##*/}

usage() {
    cat <<EOF
Usage: $prog DISC_DIR --iso FILE [--disc-size SIZE] [--dry-run]
       $prog DISC_DIR /dev/DEVICE [--disc-size SIZE] [--dry-run]

Verify DISC_DIR against its SHA256SUMS, then either write an ISO 9660 image
(Rock Ridge + Joliet, no padding) to FILE, or burn DISC_DIR onto the disc in
DEVICE (growisofs if installed, xorriso otherwise). Any data on a rewritable
disc in DEVICE is overwritten. An image larger than the disc is refused. After
burning, when DISC_DIR lies in a backup's DEST and the disc can be mounted
read-only, it runs  butcher verify MOUNT --record DEST  so that
butcher status DEST  shows the disc as read back from its medium (BUTCHER
names the butcher program, default butcher on PATH).

  --iso FILE        write an image file instead of burning
  --disc-size SIZE  the disc's capacity: bd25, bd50, bd100, dvd, dvd-dl, or
                    bytes with K/M/G/T suffixes (default: the disc size that
                    line 2 of the disc's README.txt names, which butcher
                    wrote it for; no check for a disc that names none)
  --dry-run         verify and print the imaging/burning command, do not run it
  -h, --help        show this help

Needs xorriso and sha256sum; growisofs is optional.
EOF
}

die() { echo "$prog: $*" >&2; exit 1; }
bad_usage() { echo "$prog: $*" >&2; echo "Try '$prog --help'." >&2; exit 2; }

dir="" iso="" dev="" dry_run=0 disc_size=""
while (($#)); do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --dry-run) dry_run=1 ;;
        --disc-size)
            (($# >= 2)) || bad_usage "--disc-size needs a SIZE argument"
            disc_size=$2
            shift
            ;;
        --iso)
            (($# >= 2)) || bad_usage "--iso needs a FILE argument"
            iso=$2
            shift
            ;;
        -*) bad_usage "unknown option: $1" ;;
        *)
            if [[ -z $dir ]]; then dir=$1
            elif [[ -z $dev ]]; then dev=$1
            else bad_usage "too many arguments"
            fi
            ;;
    esac
    shift
done

[[ -n $dir ]] || bad_usage "missing DISC_DIR"
[[ -n $iso || -n $dev ]] || bad_usage "give either --iso FILE or a /dev/DEVICE"
[[ -n $iso && -n $dev ]] && bad_usage "give either --iso FILE or a /dev/DEVICE, not both"
# Guard against "burn.sh DIR out.iso" silently treating a file as a drive.
[[ -z $dev || $dev == /dev/* ]] || bad_usage "DEVICE must be a /dev/ path (use --iso FILE for an image): $dev"
[[ -d $dir ]] || bad_usage "not a directory: $dir"
dir=$(realpath -- "$dir")
if [[ -n $iso ]]; then
    case $(realpath -m -- "$iso") in
        "$dir"/*) bad_usage "the image must not be written inside DISC_DIR" ;;
    esac
fi

command -v xorriso >/dev/null || die "xorriso is not installed"

# A size as butcher reads it: a named disc, or bytes with a K/M/G/T suffix (powers of 1024).
size_bytes() {
    local s=${1,,} n unit
    case $s in
        bd25) echo 25025314816; return ;;
        bd50) echo 50050629632; return ;;
        bd100) echo 100103356416; return ;;
        dvd) echo 4700372992; return ;;
        dvd-dl) echo 8543666176; return ;;
    esac
    s=${s%ib}; s=${s%b}
    [[ $s =~ ^([0-9]+)([kmgt]?)$ ]] || bad_usage "cannot read '$1' as a disc size"
    n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]}
    case $unit in
        k) n=$((n << 10)) ;; m) n=$((n << 20)) ;; g) n=$((n << 30)) ;; t) n=$((n << 40)) ;;
    esac
    echo "$n"
}
if [[ -n $disc_size ]]; then
    capacity=$(size_bytes "$disc_size")
else
    # Format 3 on: "backup set ID, format version V, disc size N bytes".
    capacity=$(sed -n '2s/.*, disc size \([0-9]*\) bytes$/\1/p' "$dir/README.txt" 2>/dev/null || true)
fi

# Refuse to put a disc together whose contents do not match its checksums.
# A disc left open by `butcher backup --keep-open` has archives but no SHA256SUMS yet.
[[ -f $dir/SHA256SUMS ]] ||
    die "$dir/SHA256SUMS is missing: the disc is not finished (an open disc: run  butcher close DEST  first)"
(cd "$dir" && sha256sum --check --quiet --strict SHA256SUMS) >&2 ||
    die "checksum verification failed in $dir; not imaging it"

# Volume id: BUTCHER_ + directory name, ISO 9660 d-characters only, max 32.
name=$(basename "$dir" | tr '[:lower:]' '[:upper:]' | tr -c 'A-Z0-9_\n' '_')
volid=BUTCHER_${name#BUTCHER_}
volid=${volid:0:32}

# UDF would be the natural format for files >= 4 GiB, but nothing here can
# write it without root: xorriso cannot write UDF at all, and mkudffs only
# formats an empty file system that must then be loop-mounted to be filled.
# ISO level 3 instead stores big files as several extents (up to 400 GiB in
# xorriso); Linux reads them, some other systems may not. For files below
# 4 GiB the image is the same as with level 2, so level 3 is always used.
# -r is Rock Ridge with files made readable by everyone and owned by root,
# so the disc reads back on any machine; -joliet-long allows 103 chars
# instead of 64 in Joliet (Windows) names, only longer names are truncated
# there (the Rock Ridge names stay complete).
# -no-pad: xorriso would add 300 KiB of zeros at the end, which butcher does not count in a
# disc's capacity (docs/format.md, section 3.3); disc drives read a disc without them.
opts=(-r -J -joliet-long -iso-level 3 -input-charset utf-8 -no-pad -V "$volid")

if [[ -n $(find "$dir" -type f -size +4294967294c -print -quit) ]]; then
    echo "$prog: note: files >= 4 GiB are stored as multi-extent ISO 9660 files" >&2
fi
if [[ -n $(find "$dir" -name "$(printf '?%.0s' {1..104})*" -print -quit) ]]; then
    echo "$prog: note: names over 103 characters are truncated in the Joliet tree" >&2
fi

if [[ -n $iso ]]; then
    cmd=(xorriso -as mkisofs "${opts[@]}" -o "$iso" "$dir")
elif command -v growisofs >/dev/null; then
    # Debian's growisofs runs $GENISOIMAGE, upstream's $MKISOFS; point both
    # at xorrisofs so the options above (e.g. -iso-level 3) mean the same.
    # -dvd-compat closes the disc.
    cmd=(env GENISOIMAGE=xorrisofs MKISOFS=xorrisofs
        growisofs -dvd-compat -Z "$dev" "${opts[@]}" "$dir")
else
    # Like growisofs -Z: blank/format a rewritable disc if needed, write a
    # single session and close the disc.
    cmd=(xorriso -outdev "$dev" -blank as_needed -close on
        -as mkisofs "${opts[@]}" "$dir" -- -commit)
fi

# -print-size reports 2048-byte blocks.
blocks=$(xorriso -as mkisofs "${opts[@]}" -print-size "$dir" 2>/dev/null | tail -n 1)
size=$((blocks * 2048))
if [[ -n $capacity ]] && ((size > capacity)); then
    die "the image would take $size bytes, more than the disc's $capacity bytes; not imaging $dir"
fi
[[ -n $capacity ]] || echo "$prog: note: no disc size known (give --disc-size to check the image fits)" >&2

if ((dry_run)); then
    printf '%q ' "${cmd[@]}"
    echo
    exit 0
fi

"${cmd[@]}"
[[ -n $iso ]] && size=$(stat -c %s -- "$iso")
echo "image size: $size bytes ($(numfmt --to=iec-i --suffix=B "$size"))"

# Read the burned disc back and record it in DEST, when that can be done here.
if [[ -n $dev ]]; then
    dest=$(dirname -- "$dir")
    butcher=${BUTCHER:-butcher}
    if [[ -f $dest/catalogue.db ]] && command -v "$butcher" >/dev/null; then
        mnt=$(mktemp -d)
        if mount -o ro -- "$dev" "$mnt" 2>/dev/null; then
            rc=0
            "$butcher" verify "$mnt" --record "$dest" || rc=$?
            umount -- "$mnt" || true
            rmdir -- "$mnt"
            exit "$rc"
        fi
        rmdir -- "$mnt"
    fi
    echo "$prog: to record that the disc reads back intact, mount it and run:" \
        "butcher verify MOUNT_POINT --record DEST" >&2
fi
