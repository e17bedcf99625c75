#!/usr/bin/env bash
# Two butcher binaries side by side on one corpus, alternating, to check that a change made
# nothing slower: a bzip2-mode and a zstd-mode backup (or the modes AB_MODES names), then a
# restore of the first mode's set, each round running the old binary first in odd rounds and
# the new one first in even rounds.
#
#   scripts/bench-ab.sh OLD_BINARY NEW_BINARY CORPUS WORK [ROUNDS]
#
# CORPUS is a tree to back up (for example from
# `cargo run --release --example make_corpus -- --out DIR --size-mb 512 --seed 1`); WORK is an
# empty folder with room for four backups of it. Prints one line per command:
# `roundN old|new COMMAND wall-seconds user-seconds peak-RSS-KiB` (GNU time), and checks that
# every restore equals the corpus. ROUNDS defaults to 3; take the medians. AB_MODES names the
# backups' compression modes (default "bzip2 zstd"; the restore is of the first mode's set).
set -euo pipefail
OLD=$1 NEW=$2 CORPUS=$3 WORK=$4 ROUNDS=${5:-3}
read -r -a MODES <<<"${AB_MODES:-bzip2 zstd}"
export BUTCHER_PASSPHRASE="bench passphrase"
mkdir -p "$WORK"
timed() { # LABEL COMMAND...
    local label=$1
    shift
    /usr/bin/time -f "$label %e %U %M" -o "$WORK/time" "$@" >/dev/null 2>&1
    cat "$WORK/time"
}
binary() { if [[ $1 == new ]]; then echo "$NEW"; else echo "$OLD"; fi; }
for r in $(seq 1 "$ROUNDS"); do
    if ((r % 2)); then order="old new"; else order="new old"; fi
    for mode in "${MODES[@]}"; do
        for which in $order; do
            rm -rf "$WORK/dest-$which-$mode"
            timed "round$r $which backup-$mode" "$(binary "$which")" backup "$CORPUS" \
                "$WORK/dest-$which-$mode" --compression "$mode" -q
        done
    done
    for which in $order; do
        rm -rf "$WORK/target-$which"
        timed "round$r $which restore-${MODES[0]}" "$(binary "$which")" restore \
            "$WORK/dest-$which-${MODES[0]}" "$WORK/target-$which" -q
        diff -r -q "$CORPUS" "$WORK/target-$which" >/dev/null ||
            { echo "round$r: the $which restore differs from the corpus" >&2; exit 1; }
    done
done
