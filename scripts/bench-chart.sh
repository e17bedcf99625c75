#!/usr/bin/env bash
# Draws throughputs as an SVG bar chart: one horizontal bar per row, in groups, each bar
# labelled with its MB/s. scripts/bench.sh calls it on the side-by-side figures of its run.
#
#   scripts/bench-chart.sh RESULTS.tsv [SUBTITLE] > chart.svg
#
# RESULTS.tsv has one row per bar, tab-separated: GROUP, LABEL, MB/s (e.g.
# "backup<TAB>butcher-zstd<TAB>108.6"). Groups and bars keep the order of the file; empty lines
# and lines starting with # are skipped. Bars whose label contains "butcher" are drawn in one
# colour, the others in another. All bars share one scale, starting at 0.
set -euo pipefail

if (($# < 1 || $# > 2)); then
    echo "usage: scripts/bench-chart.sh RESULTS.tsv [SUBTITLE] > chart.svg" >&2
    exit 2
fi

awk -F '\t' -v subtitle="${2:-}" -v file="$1" '
function esc(s) {
    gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); gsub(/"/, "\\&quot;", s)
    return s
}
function floor_of(x) { return (x == int(x) || x >= 0) ? int(x) : int(x) - 1 }
# A grid step of 1, 2 or 5 times a power of ten that gives at most about six lines.
function nice_step(max,    raw, mag, norm) {
    raw = max / 5
    mag = exp(floor_of(log(raw) / log(10)) * log(10))
    norm = raw / mag
    if (norm <= 1.0001) return mag
    if (norm <= 2.0001) return 2 * mag
    if (norm <= 5.0001) return 5 * mag
    return 10 * mag
}
/^#/ || /^[ \t]*$/ { next }
{
    if (NF != 3 || $1 == "" || $2 == "" || $3 !~ /^[0-9]+(\.[0-9]+)?$/) {
        printf "bench-chart: %s line %d: want GROUP<TAB>LABEL<TAB>MB/s, got: %s\n", file, FNR, $0 > "/dev/stderr"
        bad = 1
        exit 1
    }
    if (!($1 in seen)) { seen[$1] = 1; groups[++ngroups] = $1 }
    n = ++count[$1]
    label[$1, n] = $2
    value[$1, n] = $3
    if ($3 + 0 > max) max = $3 + 0
    rows++
}
END {
    if (bad) exit 1
    if (rows == 0) {
        printf "bench-chart: %s has no rows\n", file > "/dev/stderr"
        exit 1
    }
    if (max <= 0) max = 1
    step = nice_step(max)
    top = step * int(max / step)
    if (top < max) top += step
    # Layout in pixels: labels right-aligned left of x0, bars from x0 to x1, values after them.
    width = 760; x0 = 200; x1 = 680; bar = 16; pitch = 22; head = 28
    y = 78
    height = y + ngroups * head + rows * pitch + 40
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n", width, height, width, height
    printf "<title>Throughput in MB/s of input</title>\n"
    printf "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width, height
    printf "<text x=\"16\" y=\"24\" font-size=\"15\" font-weight=\"bold\">Throughput, MB/s of input (longer is faster)</text>\n"
    if (subtitle != "") printf "<text x=\"16\" y=\"42\" fill=\"#444444\">%s</text>\n", esc(subtitle)
    printf "<rect x=\"%d\" y=\"52\" width=\"12\" height=\"12\" fill=\"#2b6cb0\"/><text x=\"%d\" y=\"62\">butcher</text>\n", x0, x0 + 16
    printf "<rect x=\"%d\" y=\"52\" width=\"12\" height=\"12\" fill=\"#a0aec0\"/><text x=\"%d\" y=\"62\">other tools</text>\n", x0 + 90, x0 + 106
    bottom = height - 30
    for (v = 0; v <= top + step / 2; v += step) {
        gx = x0 + (x1 - x0) * v / top
        printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e2e8f0\"/>\n", gx, y - 6, gx, bottom
        printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#444444\">%g</text>\n", gx, bottom + 16, v
    }
    for (g = 1; g <= ngroups; g++) {
        name = groups[g]
        y += head
        printf "<text x=\"16\" y=\"%d\" font-size=\"13\" font-weight=\"bold\">%s</text>\n", y - 8, esc(name)
        for (i = 1; i <= count[name]; i++) {
            w = (x1 - x0) * value[name, i] / top
            colour = (label[name, i] ~ /butcher/) ? "#2b6cb0" : "#a0aec0"
            printf "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", x0 - 8, y + 12, esc(label[name, i])
            printf "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s: %s MB/s</title></rect>\n", x0, y, w, bar, colour, esc(label[name, i]), value[name, i]
            printf "<text x=\"%.1f\" y=\"%d\">%s</text>\n", x0 + w + 6, y + 12, value[name, i]
            y += pitch
        }
    }
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444444\"/>\n", x0, 72, x0, bottom
    printf "</svg>\n"
}' "$1"
