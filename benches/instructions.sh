#!/usr/bin/env bash
# Per-packet cost counted, not timed: instructions and simulated cache misses of sockscope on
# the first packets of each benchmark shape, next to tcpdump's on the same packets, and next to
# another build when one is given.
#
#   benches/instructions.sh [BASE_BINARY]
#
# Wall time on a shared machine moves by 10-15 % between runs of the same binary (more when
# something else runs), which hides the one-to-five-percent changes most work on the hot path
# makes. valgrind's cachegrind counts every instruction executed and simulates the caches of
# the machine it runs on, so two builds measured this way differ only where their code does:
# the same command gives the same count to within 0.01 %.
#
# For each shape (mix, ws, http: examples/bigcap.rs, 256 flows interleaved, 64 MiB written to
# bench-data/ when missing) and each mode (`read -q`, `read --json`), the script runs the
# command on the first N and the first 2N packets (N = PACKETS, default 50 000) and reports the
# difference divided by N: the cost of one packet in steady state, without start-up or the final
# report. tcpdump (`tcpdump -r FILE -c N -w /dev/null`, reading and writing every packet and
# analyzing nothing) is measured the same way: the floor. With BASE_BINARY, that build is
# measured too, and the last column is this build over it.
#
# Columns: instructions (Ir) and first-level data cache misses (D1, reads and writes) per
# packet, then Ir over tcpdump's and Ir over BASE's. Needs valgrind and tcpdump. The misses are
# a simulation (cachegrind's model of this machine's first-level cache), good for comparing
# builds, not for predicting time.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKETS=${PACKETS:-50000}
CAPTURES=${CAPTURES:-captures}
BASE=${1:-}
for tool in valgrind tcpdump; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

echo "building release binaries..." >&2
cargo build --release --quiet --bin sockscope --example bigcap
TARGET=${CARGO_TARGET_DIR:-target}
SOCKSCOPE=$TARGET/release/sockscope
DATA=bench-data
mkdir -p "$DATA"

# shellcheck source=benches/shapes.sh
. benches/shapes.sh

capture() {
    local file="$DATA/$1-64m.pcap"
    if [ ! -f "$file" ]; then
        # shellcheck disable=SC2046
        "$TARGET/release/examples/bigcap" "$file" 64 256 $(templates "$1") >&2
    fi
    echo "$file"
}

# counts CMD...: "Ir D1" of one run under cachegrind.
counts() {
    valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
        awk '/ I +refs:/ { gsub(",", "", $4); ir = $4 }
             / D1 +misses:/ { gsub(",", "", $4); d1 = $4 }
             END { print ir, d1 }'
}

# per_packet CMD_WITH_{N}...: "Ir D1" per packet, from runs on N and 2N packets.
per_packet() {
    local one two
    one=$(counts "${@//\{N\}/$PACKETS}")
    two=$(counts "${@//\{N\}/$((2 * PACKETS))}")
    awk -v a="$one" -v b="$two" -v n="$PACKETS" 'BEGIN {
        split(a, x, " "); split(b, y, " ");
        printf "%.0f %.1f\n", (y[1] - x[1]) / n, (y[2] - x[2]) / n }'
}

head_extra="" rule_extra="" row_extra=""
if [ -n "$BASE" ]; then
    head_extra=" Ir / base's |" rule_extra="---:|" row_extra=" |"
fi
echo "| shape | command | Ir/packet | D1 misses/packet | Ir / tcpdump's |$head_extra"
echo "|---|---|---:|---:|---:|$rule_extra"
for shape in mix ws http; do
    file=$(capture "$shape")
    read -r floor _ < <(per_packet tcpdump -r "$file" -c '{N}' -w /dev/null)
    echo "| $shape | tcpdump | $floor | | 1 |$row_extra"
    for mode in -q --json; do
        read -r ir d1 < <(per_packet "$SOCKSCOPE" read "$mode" -c '{N}' "$file")
        line="| $shape | read $mode | $ir | $d1 | $(awk -v a="$ir" -v b="$floor" 'BEGIN { printf "%.1f", a / b }') |"
        if [ -n "$BASE" ]; then
            read -r base _ < <(per_packet "$BASE" read "$mode" -c '{N}' "$file")
            line="$line $(awk -v a="$ir" -v b="$base" 'BEGIN { printf "%.3f", a / b }') |"
        fi
        echo "$line"
    done
done
