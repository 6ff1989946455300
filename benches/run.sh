#!/usr/bin/env bash
# Throughput and memory benchmark of sockscope against tshark and tcpflow.
#
#   benches/run.sh [--quick] [--no-tshark] [--no-tcpflow] [--no-4g] [--no-hostile] [--hostile-only]
#
# Builds the release binary, generates the benchmark captures into bench-data/ (gitignored) with
# examples/bigcap.rs when they are missing, then measures every tool on every shape with
# /usr/bin/time (wall, user+system CPU, peak RSS) and prints a Markdown table: the median of
# RUNS runs (default 5 for sockscope, 3 for tcpflow, 1 for tshark, which is slow), throughput in
# GB/s (10^9 bytes per second of wall time) and the ratios against sockscope. The table is also
# saved to bench-data/results-<time>.md. docs/performance.md explains the numbers.
#
# Shapes (each built from the sample captures, endpoints renumbered per copy, 256 flows
# interleaved packet by packet):
#   mix    all eight samples (WebSocket with and without deflate, fragmented, big frames, HTTP
#          keep-alive, SSE, long-poll, polling): the realistic mix, 1 GiB
#   ws     WebSocket with small messages (chat, deflate, fragmented), 1 GiB
#   http   HTTP keep-alive and polling, 1 GiB
#   tls    the recorded TLS captures (captures/tls/: WebSocket over TLS 1.3 with each suite and
#          over TLS 1.2 with GCM, ChaCha20 and CBC, HTTPS keep-alive, h2, Chromium, KeyUpdate),
#          1 GiB, read with --keylog (their key logs concatenated: the copies keep their client
#          randoms, so every copy decrypts) and without (the record layer alone)
#   tls-bulk  downloads over TLS (examples/tlsbulk.rs: a GET answered by 1 MiB of body in full
#          16 KiB records; TLS 1.3 AES-128-GCM and ChaCha20-Poly1305, TLS 1.2 AES-128-GCM), 1 GiB,
#          64 at once: what decryption costs per byte when records are full
#   mix4g  the mix at 4 GiB: memory must not grow with the file (sockscope only)
#   flows  the mix with 65 536 flows open at once instead of 256, 1 GiB: memory must stay
#          bounded however many connections are open (sockscope only; beyond --max-flows new
#          flows are counted and reported as tcp.flow_cap)
#   hostile the triggers of the memory budget (examples/hostile.rs, docs/memory-budget.md), at
#          the hostile-input issue's sizes: 8 000 flows each holding an incomplete 60 KB request
#          head (heads), request and response heads (heads-both), 60 KB held after an upgrade
#          request never answered (upgrade-hold), 1 100 unanswered pipelined requests
#          (pipelined), an unfinished 60 KB fragmented message per side with -x and with
#          --follow 1 (fragmented), an unfinished compressed message per side with -x (deflate),
#          where "with -x" runs `read -q -Y flow.id --snap-preview 16384`, which keeps the same
#          64 KiB per message for display without printing it (-x itself would print
#          gigabytes, and -q alone reads no records and keeps nothing for display; a filter
#          every record matches makes it read them),
#          compressed messages and out-of-order data (deflate-ooo; also with -x, in one thread
#          and in seven), 64 flows each sending one 64 000-byte segment of compressed messages
#          with -x in seven threads (deflate-burst-7t: one packet's thousands of records), and
#          60 000 flows of incomplete heads with --max-flows 65536 (heads-60k). sockscope only; the peak RSS
#          column is what the budget bounds (64 MB by default). --quick uses an eighth of the
#          flows; --hostile-only runs these alone (about 7.5 GB of captures in bench-data/).
#
# tshark dissects far slower (~10-30 MB/s), so it runs on the first 100 MiB of each shape (the
# generator is deterministic: the 100 MiB file is a prefix of the 1 GiB one) and its throughput
# is computed on that size. The command makes it dissect every HTTP and WebSocket PDU (TCP
# reassembly on, which is tshark's default, and a display filter on the protocols, which makes
# it build their trees): tshark -r FILE -Y 'http || websocket' -T fields -e frame.number.
# tcpflow only reassembles TCP and writes each direction to a file (into a tmpfs when
# /dev/shm exists, removed after each run).
#
# Every sockscope run on the mix, ws and http shapes is measured with --threads 1 and with
# --threads $THREADS (default: the cores, nproc), for -q and for --json, next to the floor of no
# analysis at all: tcpdump -r FILE -w /dev/null, which reads and writes every packet. The five
# run in turn, each once a round, so that a shared machine's drift touches them alike. A second
# table gives the ratios taken in the same run, each the median of those taken within a round:
# N threads over one, --json over -q, and the tcpdump floor over sockscope.
#
# Environment: CAPTURES (directory of the sample captures; default captures/), RUNS_SOCKSCOPE,
# RUNS_TCPFLOW, RUNS_TSHARK, THREADS.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0 tshark=1 tcpflow=1 big=1 hostile=1 only_hostile=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --no-tshark) tshark=0 ;;
        --no-tcpflow) tcpflow=0 ;;
        --no-4g) big=0 ;;
        --no-hostile) hostile=0 ;;
        --hostile-only) only_hostile=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "unknown option: $arg" >&2
            exit 2
            ;;
    esac
done

RUNS_SOCKSCOPE=${RUNS_SOCKSCOPE:-5}
# Threads of the multi-threaded runs (every sockscope run is measured with 1 and with these).
THREADS=${THREADS:-$(nproc)}
RUNS_TCPFLOW=${RUNS_TCPFLOW:-3}
RUNS_TSHARK=${RUNS_TSHARK:-1}
size_big=1024 size_4g=4096 size_slice=100
if [ "$quick" = 1 ]; then
    RUNS_SOCKSCOPE=3 RUNS_TCPFLOW=1 size_big=256 size_4g=1024 size_slice=32
fi

CAPTURES=${CAPTURES:-captures}
for t in ws-chat ws-lengths http-keepalive ws-deflate ws-fragmented sse long-poll polling; do
    [ -f "$CAPTURES/$t.pcap" ] || { echo "missing $CAPTURES/$t.pcap (set CAPTURES)" >&2; exit 2; }
done
[ "$only_hostile" = 1 ] && tshark=0 tcpflow=0
tools="/usr/bin/time tcpdump"
[ "$tshark" = 1 ] && tools="$tools tshark"
[ "$tcpflow" = 1 ] && tools="$tools tcpflow"
for tool in $tools; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

echo "building release binaries..." >&2
cargo build --release --quiet --bin sockscope --example bigcap --example hostile --example tlsbulk
TARGET=${CARGO_TARGET_DIR:-target}
SOCKSCOPE=$TARGET/release/sockscope
BIGCAP=$TARGET/release/examples/bigcap
HOSTILE=$TARGET/release/examples/hostile
TLSBULK=$TARGET/release/examples/tlsbulk
DATA=bench-data
mkdir -p "$DATA"

# shellcheck source=benches/shapes.sh
. benches/shapes.sh

# capture SHAPE SIZE_MIB: the path of the capture, generated if missing.
capture() {
    local shape=$1 mib=$2 file="$DATA/$1-$2m.pcap" concurrent=256
    [ "$shape" = flows ] && concurrent=65536
    if [ ! -f "$file" ]; then
        # shellcheck disable=SC2046
        "$BIGCAP" "$file" "$mib" "$concurrent" $(templates "$shape") >&2
    fi
    echo "$file"
}

# once FILE CMD...: one run of CMD (with {} replaced by FILE); prints "wall cpu rss_kib".
once() {
    local file=$1 out args=() a w u s m dir=""
    shift
    out=$(mktemp)
    for a in "$@"; do args+=("${a//\{\}/$file}"); done
    if [ "${args[0]}" = tcpflow ]; then
        dir=$(mktemp -d -p "$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)")
        args+=(-o "$dir")
    fi
    /usr/bin/time -o "$out" -f '%e %U %S %M' "${args[@]}" >/dev/null 2>/dev/null || true
    [ -n "$dir" ] && rm -rf "$dir"
    read -r w u s m < <(tail -1 "$out")
    rm -f "$out"
    printf '%s %s %s\n' "$w" "$(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}')" "$m"
}

# measure RUNS FILE CMD...: runs CMD (with {} replaced by FILE) RUNS times after reading FILE
# once (the page cache may have dropped it); prints "wall cpu rss_kib" medians.
measure() {
    local runs=$1 file=$2 walls=() cpus=() rsss=() i w c m
    shift 2
    cat "$file" >/dev/null
    for ((i = 0; i < runs; i++)); do
        read -r w c m <<<"$(once "$file" "$@")"
        walls+=("$w") cpus+=("$c") rsss+=("$m")
    done
    printf '%s %s %s\n' "$(median "${walls[@]}")" "$(median "${cpus[@]}")" "$(median "${rsss[@]}")"
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# tls_shape: sockscope on the TLS shape with and without its key log (median of RUNS runs).
tls_shape() {
    local f keys=$DATA/tls.keys w c m n
    f=$(capture tls "$size_big")
    : >"$keys"
    for n in $TLS_TEMPLATES; do cat "$CAPTURES/$n.keys" >>"$keys"; done
    echo "== tls: $f" >&2
    read -r w c m <<<"$(measure "$RUNS_SOCKSCOPE" "$f" "$SOCKSCOPE" read -q --keylog "$keys" {})"
    row tls sockscope "read -q --keylog" "$f" "$w" "$c" "$m"
    read -r w c m <<<"$(measure "$RUNS_SOCKSCOPE" "$f" "$SOCKSCOPE" read -q {})"
    row tls sockscope "read -q" "$f" "$w" "$c" "$m"
    read -r w c m <<<"$(measure 3 "$f" "$SOCKSCOPE" read --json --keylog "$keys" {})"
    row tls sockscope "read --json --keylog" "$f" "$w" "$c" "$m"
    # Downloads: full records, the decryption's own cost per byte.
    local suite templates=()
    f=$DATA/tls-bulk-${size_big}m.pcap keys=$DATA/tls-bulk.keys
    : >"$keys"
    for suite in 1301 1303 c02f; do
        "$TLSBULK" "$DATA/tls-bulk-$suite.pcap" "$DATA/tls-bulk-$suite.keys" "$suite" 1024
        cat "$DATA/tls-bulk-$suite.keys" >>"$keys"
        templates+=("$DATA/tls-bulk-$suite.pcap")
    done
    [ -f "$f" ] || "$BIGCAP" "$f" "$size_big" 64 "${templates[@]}" >&2
    echo "== tls-bulk: $f" >&2
    read -r w c m <<<"$(measure "$RUNS_SOCKSCOPE" "$f" "$SOCKSCOPE" read -q --keylog "$keys" {})"
    row tls-bulk sockscope "read -q --keylog" "$f" "$w" "$c" "$m"
    read -r w c m <<<"$(measure "$RUNS_SOCKSCOPE" "$f" "$SOCKSCOPE" read -q {})"
    row tls-bulk sockscope "read -q" "$f" "$w" "$c" "$m"
}

results=$(mktemp) rounds=$(mktemp)
# row SHAPE TOOL CMD_LABEL FILE WALL CPU RSS_KIB
row() {
    local bytes gbs
    bytes=$(stat -c %s "$4")
    gbs=$(awk -v b="$bytes" -v w="$5" 'BEGIN {print (w > 0) ? b / w / 1e9 : 0}')
    printf '%s\t%s\t%s\t%d\t%.3f\t%.3f\t%.3f\t%.1f\n' "$1" "$2" "$3" "$((bytes >> 20))" "$5" "$6" "$gbs" \
        "$(awk -v k="$7" 'BEGIN {print k / 1024}')" >>"$results"
}

run_shape() {
    local shape=$1 big slice i k w c m round
    big=$(capture "$shape" "$size_big")
    echo "== $shape: $big" >&2
    # The five commands the ratios are taken of run in turn, each once a round, RUNS_SOCKSCOPE
    # rounds: on a shared machine its speed drifts from one second to the next, and commands
    # run back to back see the same machine, where blocks of runs one after the other do not.
    # The first table gives each command's medians; the second, each ratio's median over the
    # rounds ($rounds keeps a line of walls per round).
    local labels=("read -q --threads 1" "read -q --threads $THREADS" "read --json --threads 1"
        "read --json --threads $THREADS" "-r FILE -w /dev/null")
    local walls=("" "" "" "" "") cpus=("" "" "" "" "") rsss=("" "" "" "" "")
    cat "$big" >/dev/null
    for ((i = 0; i < RUNS_SOCKSCOPE; i++)); do
        round=()
        for k in 0 1 2 3 4; do
            if [ "$k" = 4 ]; then
                # The floor: reading and writing every packet, no analysis at all.
                read -r w c m <<<"$(once "$big" tcpdump -r {} -w /dev/null)"
            else
                # shellcheck disable=SC2086
                read -r w c m <<<"$(once "$big" "$SOCKSCOPE" ${labels[k]} {})"
            fi
            walls[k]+="$w " cpus[k]+="$c " rsss[k]+="$m "
            round+=("$w")
        done
        printf '%s\t%s\n' "$shape" "${round[*]}" >>"$rounds"
    done
    local tools=(sockscope sockscope sockscope sockscope tcpdump)
    for k in 0 1 2 3 4; do
        # shellcheck disable=SC2086
        read -r w c m <<<"$(median ${walls[k]}) $(median ${cpus[k]}) $(median ${rsss[k]})"
        row "$shape" "${tools[k]}" "${labels[k]}" "$big" "$w" "$c" "$m"
    done
    if [ "$tcpflow" = 1 ]; then
        read -r w c m <<<"$(measure "$RUNS_TCPFLOW" "$big" tcpflow -r {})"
        row "$shape" tcpflow "-r FILE -o DIR" "$big" "$w" "$c" "$m"
    fi
    if [ "$tshark" = 1 ]; then
        slice=$(capture "$shape" "$size_slice")
        read -r w c m <<<"$(measure "$RUNS_SOCKSCOPE" "$slice" "$SOCKSCOPE" read -q --threads 1 {})"
        row "$shape" sockscope "read -q --threads 1 (slice)" "$slice" "$w" "$c" "$m"
        read -r w c m <<<"$(measure "$RUNS_TSHARK" "$slice" tshark -r {} -Y 'http || websocket' -T fields -e frame.number)"
        row "$shape" tshark "-Y 'http || websocket' (slice)" "$slice" "$w" "$c" "$m"
    fi
}

machine() {
    echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; RAM $(free -g | awk '/Mem:/ {print $2}') GiB"
    echo "- Kernel $(uname -r); $(tshark --version 2>/dev/null | head -1); $(command -v tcpflow >/dev/null && tcpflow -V 2>&1 | head -1)"
    echo "- sockscope $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(rustc --version)"
    echo "- Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# sockscope_only SHAPE SIZE_MIB: sockscope alone (3 runs each of -q and --json).
sockscope_only() {
    local f w c m
    f=$(capture "$1" "$2")
    echo "== $1: $f" >&2
    for cmd in -q --json; do
        for t in 1 "$THREADS"; do
            read -r w c m <<<"$(measure 3 "$f" "$SOCKSCOPE" read "$cmd" --threads "$t" {})"
            row "$1" sockscope "read $cmd --threads $t" "$f" "$w" "$c" "$m"
        done
    done
}

# The hostile shapes: name, examples/hostile.rs shape, flows, options of sockscope read.
# "As much as -x": -x keeps 64 KiB of every message for display, as --snap-preview 16384 does
# in a view that reads the records (-q alone reads none: -Y flow.id, which every record matches).
HOSTILE_SHAPES="heads heads 8000 -q
heads-both heads-both 8000 -q
upgrade-hold upgrade-hold 8000 -q
pipelined pipelined 8000 -q
fragmented fragmented 8000 -q -Y flow.id --snap-preview 16384
fragmented fragmented 8000 --follow 1
deflate deflate 8000 -q -Y flow.id --snap-preview 16384
deflate-ooo deflate-ooo 8000 -q
deflate-ooo-x deflate-ooo 8000 -q -Y flow.id --snap-preview 16384
deflate-ooo-x-7t deflate-ooo 8000 -q -Y flow.id --snap-preview 16384 --threads 7
deflate-burst-7t deflate-burst 64 -q -Y flow.id --snap-preview 16384 --threads 7
heads-60k heads 60000 -q --max-flows 65536"

# hostile_shapes: each trigger of the memory budget (median of 3 runs).
hostile_shapes() {
    local div=1 name shape flows args f w c m
    [ "$quick" = 1 ] && div=8
    while read -r name shape flows args; do
        flows=$((flows / div))
        f="$DATA/hostile-$shape-$flows.pcap"
        [ -f "$f" ] || "$HOSTILE" "$f" "$shape" "$flows" >&2
        echo "== hostile $name $args: $f" >&2
        # shellcheck disable=SC2086
        read -r w c m <<<"$(measure 3 "$f" "$SOCKSCOPE" read $args {})"
        row "hostile-$name" sockscope "read $args" "$f" "$w" "$c" "$m"
    done <<<"$HOSTILE_SHAPES"
}

header=$(machine)
if [ "$only_hostile" = 0 ]; then
    for shape in mix ws http; do run_shape "$shape"; done
    tls_shape
    [ "$big" = 1 ] && sockscope_only mix4g "$size_4g"
    sockscope_only flows "$size_big"
fi
[ "$hostile" = 1 ] && hostile_shapes

table=$(
    echo "$header"
    echo "- Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| shape | tool | command | MiB | wall s | CPU s | GB/s | peak RSS MB | sockscope read -q (1 thread) is faster by |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '
        { shape[NR] = $1; tool[NR] = $2; cmd[NR] = $3; line[NR] = $0; gbs[NR] = $7 }
        $2 == "sockscope" && $3 == "read -q --threads 1" { ref[$1] = $7 }
        $2 == "sockscope" && $3 == "read -q --threads 1 (slice)" { refslice[$1] = $7 }
        END {
            for (i = 1; i <= NR; i++) {
                split(line[i], f, "\t")
                r = (cmd[i] ~ /slice/) ? refslice[shape[i]] : ref[shape[i]]
                ratio = (tool[i] == "sockscope" || gbs[i] == 0) ? "" : sprintf("%.1f×", r / gbs[i])
                printf "| %s | %s | `%s` | %d | %.2f | %.2f | %.2f | %.1f | %s |\n", f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], ratio
            }
        }' "$results"
)
ratios=$(
    [ "$only_hostile" = 1 ] && exit 0
    echo
    echo "Ratios in this run (wall time; N = $THREADS threads; the five commands of a shape run in turn, $RUNS_SOCKSCOPE rounds, and each ratio is the median of those taken within a round): the speed-up of N threads over one, --json against -q, and sockscope against the tcpdump floor (tcpdump's wall time / sockscope's: 1 would be as fast as reading and writing the packets):"
    echo
    echo "| shape | -q N/1 | --json N/1 | --json / -q (1) | --json / -q (N) | tcpdump / -q (1) | tcpdump / -q (N) | tcpdump / --json (N) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for s in $(cut -f1 "$rounds" | uniq); do
        line="| $s |"
        # Each ratio a / b by the places of a and b in a round's walls (q1 qN j1 jN tcpdump).
        for pair in "1 2 ×" "3 4 ×" "3 1" "4 2" "5 1" "5 2" "5 4"; do
            read -r a b unit <<<"$pair"
            v=$(awk -F'\t' -v s="$s" -v a="$a" -v b="$b" \
                '$1 == s { split($2, x, " "); if (x[b] > 0) print x[a] / x[b] }' "$rounds")
            # shellcheck disable=SC2086
            v=$(awk -v m="$(median $v)" 'BEGIN { printf "%.2f", m }')
            line="$line $v${unit:-} |"
        done
        echo "$line"
    done
)
rm -f "$results" "$rounds"
stages=$(
    [ "$only_hostile" = 1 ] && exit 0
    echo
    echo "Analysis alone, no printer (cargo bench --bench stages, best of 3 runs):"
    echo
    for shape in mix ws http; do
        f="$DATA/$shape-${size_big}m.pcap"
        line=$(cargo bench --quiet --bench stages -- "$f" 3 "no printer" 2>/dev/null | grep 'no printer' || true)
        echo "- $shape: ${line#full analysis (no printer)}"
    done
)
table="$table
$ratios
$stages"
echo "$table"
echo "$table" >"$DATA/results-$(date +%Y%m%d-%H%M%S).md"
