#!/usr/bin/env bash
# How butcher scales with the number of files (outside the test suite; see docs/benchmarks.md).
#
#   scripts/bench-scale.sh [FILES] [RUNS] [CHURN_PERCENT]
#
# Makes a tree of FILES small files (default 1,000,000; 50 to 2,000 random bytes each, 1,000
# to a directory; about 1 KiB each on disk plus the file system's own), backs it up with
# butcher (--compression zstd) and restic, then:
#   * a no-change run of each, alternating (the ratio restic / butcher);
#   * RUNS - 1 more butcher runs (default RUNS 3), each after rewriting CHURN_PERCENT % of the
#     files (default 1), the catalogue's size after each;
#   * butcher snapshots, ls of the newest snapshot, diff of the first and the newest, where of
#     one file, restore --path of one file, and a full restore beside restic's restore.
# Every command's wall time and peak RSS (GNU time), and the working catalogue's size after
# each run. The report goes to stdout and to the work directory (BENCH_WORK, default a new
# one under TMPDIR, removed at the end unless BENCH_KEEP=1). BENCH_BUTCHER names a prebuilt
# binary; otherwise it is built in release mode.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FILES=${1:-1000000}
RUNS=${2:-3}
CHURN=${3:-1}

say() { printf 'bench-scale: %s\n' "$*" >&2; }

if [[ -n "${BENCH_WORK:-}" ]]; then
    W=$BENCH_WORK KEEP=1
    mkdir -p "$W"
else
    W=$(mktemp -d "${TMPDIR:-/tmp}/butcher-scale.XXXXXX") KEEP=${BENCH_KEEP:-0}
fi
cleanup() { [[ "$KEEP" == 1 ]] || rm -rf "$W"; }
trap cleanup EXIT

if [[ -n "${BENCH_BUTCHER:-}" ]]; then
    BUTCHER=$BENCH_BUTCHER
else
    say "building in release mode"
    (cd "$ROOT" && cargo build --release --quiet --bin butcher)
    BUTCHER=$ROOT/target/release/butcher
fi
command -v restic >/dev/null || say "restic is not installed: its rows are left out"

export BUTCHER_PASSPHRASE="scale passphrase" RESTIC_PASSWORD="scale passphrase"
export RESTIC_CACHE_DIR="$W/restic-cache"
RESULTS="$W/results.txt"
: >"$RESULTS"
SRC="$W/tree" DEST="$W/dest" REPO="$W/restic"

# measure LABEL COMMAND...: wall seconds and peak RSS into $RESULTS.
measure() {
    local label=$1
    shift
    sync
    if ! /usr/bin/time -f '%e %M' -o "$W/time" "$@" >"$W/log" 2>&1; then
        say "$label failed:"
        cat "$W/log" >&2
        exit 1
    fi
    echo "$label $(cat "$W/time")" >>"$RESULTS"
}

catalogue_bytes() { stat -c %s "$DEST/catalogue.db"; }
SIZES=()
record_catalogue() { SIZES+=("$1 $(catalogue_bytes)"); }

say "making $FILES files"
python3 - "$SRC" "$FILES" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
r = random.Random(1)
for i in range(n):
    d = os.path.join(root, "d%04d" % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%07d.txt" % i), "wb") as f:
        f.write(r.randbytes(r.randint(50, 2000)))
PY

backup() { measure "$1" "$BUTCHER" backup "$SRC" "$DEST" --compression zstd --quiet; }
say "first runs"
backup "butcher backup (first run)"
record_catalogue "after the first run"
if command -v restic >/dev/null; then
    restic init -q -r "$REPO" >/dev/null
    measure "restic backup (first run)" restic -q -r "$REPO" backup "$SRC"
fi
say "no-change runs"
backup "butcher backup (no change)"
record_catalogue "after a no-change run"
if command -v restic >/dev/null; then
    measure "restic backup (no change)" restic -q -r "$REPO" backup "$SRC"
fi
for ((run = 2; run <= RUNS; run++)); do
    say "run $run of $RUNS: rewriting $CHURN % of the files"
    python3 - "$SRC" "$FILES" "$CHURN" "$run" <<'PY'
import os, random, sys
root, n, churn, run = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
r = random.Random(1000 + run)
for i in r.sample(range(n), int(n * churn / 100)):
    p = os.path.join(root, "d%04d" % (i // 1000), "f%07d.txt" % i)
    with open(p, "wb") as f:
        f.write(r.randbytes(r.randint(50, 2000)))
PY
    backup "butcher backup (run $run, $CHURN % changed)"
    record_catalogue "after run $run ($CHURN % changed)"
done

say "queries and restores"
# Snapshots: the first run, the no-change run, then one a churn run.
newest=$((RUNS + 1))
one="d0000/f0000007.txt"
measure "butcher snapshots" "$BUTCHER" snapshots "$DEST"
measure "butcher ls (newest)" "$BUTCHER" ls "$DEST"
measure "butcher diff (first, newest)" "$BUTCHER" diff "$DEST" 1 "$newest"
measure "butcher where (one file)" "$BUTCHER" where "$DEST" "$one"
measure "butcher restore --path (one file)" "$BUTCHER" restore "$DEST" "$W/one" --path "$one" --quiet
cmp "$SRC/$one" "$W/one/$one"
measure "butcher restore (all)" "$BUTCHER" restore "$DEST" "$W/all" --quiet
diff -r "$SRC" "$W/all" >/dev/null || { say "the restored tree differs"; exit 1; }
rm -rf "$W/all"
if command -v restic >/dev/null; then
    measure "restic restore (all)" restic -q -r "$REPO" restore latest --target "$W/restic-all"
    rm -rf "$W/restic-all"
fi

{
    echo "Tree: $FILES files of 50 to 2,000 bytes; $RUNS runs ($CHURN % of the files rewritten before each after the first) and a no-change run; \`--compression zstd\`. Command: \`scripts/bench-scale.sh $FILES $RUNS $CHURN\`"
    echo
    echo "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); butcher: $("$BUTCHER" --version | head -n 1) (commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)); $(restic version 2>/dev/null | head -n 1 || echo "restic not installed")"
    echo
    echo "| Command | wall s | peak RSS MiB |"
    echo "|---|---:|---:|"
    awk '{ rss = $NF; wall = $(NF - 1); $NF = ""; $(NF - 1) = ""; sub(/ +$/, ""); printf "| %s | %.2f | %.0f |\n", $0, wall, rss / 1024 }' "$RESULTS"
    echo
    echo "| Working catalogue | bytes | bytes per file | added by the run |"
    echo "|---|---:|---:|---:|"
    prev=0
    for s in "${SIZES[@]}"; do
        bytes=${s##* }
        awk -v what="${s% *}" -v b="$bytes" -v n="$FILES" -v p="$prev" \
            'BEGIN { printf "| %s | %d | %.0f | %s |\n", what, b, b / n, p ? b - p : "-" }'
        prev=$bytes
    done
} | tee "$W/report.md"
