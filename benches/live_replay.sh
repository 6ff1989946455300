#!/usr/bin/env bash
# Live-capture throughput: sockscope versus tcpdump and tshark on the same replayed traffic.
#
# Usage (as root):  benches/live_replay.sh CAPTURE.pcap [SECONDS] [PORT...]
#
# Creates a private network namespace with a veth pair, then, once per tool, replays CAPTURE
# onto one end at full speed (tcpreplay --topspeed, looped for SECONDS, default 10) while the
# tool captures on the other end with the same filter (TCP on PORTs, default 80):
#   sockscope live <veth> -q -p PORT... --threads N     (once per N in THREADS)
#   tcpdump -i <veth> -w /dev/null 'tcp port PORT or ...'
#   tshark -i <veth> -q -w /dev/null -f 'tcp port PORT or ...'
# and reports, for each, packets/s captured, kernel drops, and the ratio to tcpdump / tshark.
# The capture should contain traffic on PORT, or nothing passes the filters.
#
# With RATES set (packets per second, e.g. RATES="100000 150000 200000"), every tool is run once
# per rate (tcpreplay --pps) before the full-speed run, and the summary gives, per tool, the
# highest replay rate it sustained with zero kernel drops.
#
# With REPLAYERS=K (default 1), K tcpreplay processes send at once, each RATE/K packets/s (or
# each at full speed), for when one cannot send fast enough to make the tools drop. Replayer k
# (from 2) sends a copy of CAPTURE with every PORT p renumbered to p + 1000 (k - 1)
# (tcprewrite --portmap), so that the copies are distinct flows; the filters and `-p` include
# those ports.
#
# Environment: SOCKSCOPE=path/to/binary (default: target/release/sockscope, built if missing),
# RATES (see above), THREADS (the `--threads` values sockscope is run with, default "1"; each is
# a tool of its own in the tables, `sockscope-tN`), REPLAYERS (see above), TSHARK=0 to leave
# tshark out.
set -euo pipefail

die() { echo "live_replay: $*" >&2; exit 2; }

[[ $# -ge 1 ]] || die "usage: $0 CAPTURE.pcap [SECONDS] [PORT...]"
CAPTURE=$(realpath "$1")
SECONDS_TO_RUN=${2:-10}
shift $(( $# >= 2 ? 2 : 1 ))
PORTS=("$@")
[[ ${#PORTS[@]} -gt 0 ]] || PORTS=(80)

[[ $EUID -eq 0 ]] || die "needs root (network namespaces, raw sockets)"
[[ -r $CAPTURE ]] || die "$CAPTURE: not readable"
command -v tcpreplay >/dev/null || die "tcpreplay not installed"
REPLAYERS=${REPLAYERS:-1}
THREADS=${THREADS:-1}
[[ $REPLAYERS =~ ^[1-9][0-9]*$ ]] || die "REPLAYERS=$REPLAYERS: a whole number of at least 1"
(( REPLAYERS == 1 )) || command -v tcprewrite >/dev/null || die "tcprewrite not installed"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SOCKSCOPE=${SOCKSCOPE:-$ROOT/target/release/sockscope}
if [[ ! -x $SOCKSCOPE ]]; then
    (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
fi

NS=sockscope-bench-$$
TX=sbench-tx
RX=sbench-rx
WORK=$(mktemp -d)
cleanup() {
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add "$TX" type veth peer name "$RX"
# Large MTU so that captures taken on loopback or with offloads replay without EMSGSIZE.
ip -n "$NS" link set "$TX" mtu 65000 up
ip -n "$NS" link set "$RX" mtu 65000 up
in_ns() { ip netns exec "$NS" "$@"; }

# The capture each replayer sends: the first the original, the others copies with the ports
# moved by 1000 per replayer.
CAPTURES=("$CAPTURE")
ALL_PORTS=("${PORTS[@]}")
for (( k = 2; k <= REPLAYERS; k++ )); do
    map=""
    for p in "${PORTS[@]}"; do
        q=$(( p + 1000 * (k - 1) ))
        (( q < 65536 )) || die "port $p moved to $q for replayer $k: too large"
        map+="${map:+,}$p:$q"
        ALL_PORTS+=("$q")
    done
    copy=$WORK/replayer-$k.pcap
    tcprewrite --portmap="$map" --infile="$CAPTURE" --outfile="$copy" \
        || die "tcprewrite --portmap=$map failed"
    CAPTURES+=("$copy")
done

BPF=""
SOCKSCOPE_PORTS=()
for p in "${ALL_PORTS[@]}"; do
    BPF+="${BPF:+ or }tcp port $p"
    SOCKSCOPE_PORTS+=(-p "$p")
done

# wait_for FILE PATTERN: until the capturing tool says it is ready (or 20 s).
wait_for() {
    for _ in $(seq 200); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "live_replay: tool did not start; its output:" >&2
    cat "$1" >&2
    return 1
}

# replay: every replayer sends its capture on TX for SECONDS_TO_RUN, RATE/REPLAYERS packets/s
# each (or full speed); prints "packets seconds": the packets all sent, in the longest time.
replay() {
    local speed=--topspeed k
    [[ $RATE == top ]] || speed=--pps=$(( RATE / REPLAYERS ))
    local pids=()
    for (( k = 1; k <= REPLAYERS; k++ )); do
        in_ns tcpreplay "$speed" --preload-pcap --loop=0 --duration="$SECONDS_TO_RUN" \
            --intf1="$TX" "${CAPTURES[k - 1]}" >"$WORK/tcpreplay-$k.out" 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || true; done
    local total=0 longest=0 sent secs
    for (( k = 1; k <= REPLAYERS; k++ )); do
        local out=$WORK/tcpreplay-$k.out
        sent=$(sed -n 's/^[[:space:]]*Actual: \([0-9]*\) packets.*/\1/p' "$out" | head -1)
        secs=$(sed -n 's/.*packets ([0-9]* bytes) sent in \([0-9.]*\) seconds.*/\1/p' "$out" | head -1)
        [[ -n $sent && -n $secs ]] || { cat "$out" >&2; die "could not read tcpreplay's result"; }
        total=$(( total + sent ))
        longest=$(awk -v a="$longest" -v b="$secs" 'BEGIN { print (b > a ? b : a) }')
    done
    echo "$total $longest"
}

# run_tool NAME READY_PATTERN COMMAND...: captures during one replay, then stops the tool with
# SIGTERM (background jobs of a script ignore SIGINT) and leaves "sent seconds" in
# $WORK/NAME.result.
run_tool() {
    local name=$1 ready=$2
    shift 2
    local err=$WORK/$name.err
    # exec: $! is the tool itself (ip netns exec execs in place), not a subshell.
    (exec ip netns exec "$NS" "$@" >/dev/null 2>"$err") &
    local pid=$!
    wait_for "$err" "$ready" || { kill "$pid" 2>/dev/null; return 1; }
    sleep 0.5
    local result
    result=$(replay)
    sleep 0.5
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "$result" >"$WORK/$name.result"
}

# Per tool: captured and dropped packet counts from its final statistics.
stats_sockscope() {
    sed -n 's/.*: \([0-9]*\) packets captured, [0-9]* received by filter, \([0-9]*\) dropped by kernel.*/\1 \2/p' "$WORK/$1.err" | tail -1
}
stats_tcpdump() {
    local cap drop
    cap=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$WORK/tcpdump.err" | tail -1)
    drop=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$WORK/tcpdump.err" | tail -1)
    echo "${cap:-0} ${drop:-0}"
}
stats_tshark() {
    # dumpcap: "Packets received/dropped on interface 'x': 1234/5 (...)"; tshark: "N packets captured".
    local line cap drop
    line=$(grep -o "received/dropped on interface[^:]*: [0-9]*/[0-9]*" "$WORK/tshark.err" | tail -1 || true)
    if [[ -n $line ]]; then
        cap=${line##*: }
        drop=${cap#*/}
        cap=${cap%/*}
    else
        cap=$(sed -n 's/^\([0-9]*\) packets\{0,1\} captured.*/\1/p' "$WORK/tshark.err" | tail -1)
        drop=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped.*/\1/p' "$WORK/tshark.err" | tail -1)
    fi
    echo "${cap:-0} ${drop:-0}"
}

# run_all: every tool once at $RATE; leaves "tool sent secs captured dropped" lines in
# $WORK/rate-$RATE.
run_all() {
    TOOLS=()
    for n in $THREADS; do
        run_tool "sockscope-t$n" "capturing on" "$SOCKSCOPE" live "$RX" -q --color never \
            --threads "$n" "${SOCKSCOPE_PORTS[@]}" && TOOLS+=("sockscope-t$n")
    done
    if command -v tcpdump >/dev/null; then
        run_tool tcpdump "listening on" tcpdump -i "$RX" -n -w /dev/null "$BPF" && TOOLS+=(tcpdump)
    fi
    if [[ ${TSHARK:-1} != 0 ]] && command -v tshark >/dev/null; then
        run_tool tshark "Capturing on" tshark -i "$RX" -n -q -w /dev/null -f "$BPF" && TOOLS+=(tshark)
    fi
    : >"$WORK/rate-$RATE"
    for t in "${TOOLS[@]}"; do
        local sent secs cap drop
        read -r sent secs <"$WORK/$t.result"
        read -r cap drop < <("stats_${t%%-*}" "$t")
        echo "$t $sent $secs ${cap:-0} ${drop:-0}" >>"$WORK/rate-$RATE"
    done
}

# table RATE: the results of one rate.
table() {
    printf '\n%-13s %10s %12s %10s %12s %10s %10s %14s %8s\n' tool "rate" sent seconds captured \
        "of sent" dropped "captured pkt/s" "drop %"
    while read -r t sent secs cap drop; do
        local pps cpct dpct
        pps=$(awk -v c="$cap" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? c / s : 0) }')
        cpct=$(awk -v c="$cap" -v n="$sent" 'BEGIN { printf "%.1f%%", (n > 0 ? 100 * c / n : 0) }')
        dpct=$(awk -v c="$cap" -v d="$drop" 'BEGIN { printf "%.2f", (c + d > 0 ? 100 * d / (c + d) : 0) }')
        printf '%-13s %10s %12s %10s %12s %10s %10s %14s %8s\n' "$t" "$1" "$sent" "$secs" "$cap" \
            "$cpct" "$drop" "$pps" "$dpct"
    done <"$WORK/rate-$1"
}

command -v tcpdump >/dev/null || echo "tcpdump not installed: skipped"
command -v tshark >/dev/null || echo "tshark not installed: skipped"
ALL_RATES=()
for r in ${RATES:-}; do ALL_RATES+=("$r"); done
ALL_RATES+=(top)
for RATE in "${ALL_RATES[@]}"; do
    echo "replaying $(basename "$CAPTURE") with $REPLAYERS replayer(s) for ${SECONDS_TO_RUN}s per tool at ${RATE} pkt/s, filter: $BPF"
    run_all
    table "$RATE"
done

echo
echo "highest replay rate sustained with zero kernel drops (packets sent per second):"
declare -A BEST
for RATE in "${ALL_RATES[@]}"; do
    while read -r t sent secs cap drop; do
        if [[ $drop == 0 ]]; then
            rate=$(awk -v n="$sent" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
            if [[ -z ${BEST[$t]:-} || $rate -gt ${BEST[$t]} ]]; then BEST[$t]=$rate; fi
        fi
    done <"$WORK/rate-$RATE"
done
for t in $(for n in $THREADS; do echo "sockscope-t$n"; done) tcpdump tshark; do
    printf '  %-13s %s\n' "$t" "${BEST[$t]:-none (drops at every rate tried)}"
done
