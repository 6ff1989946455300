#!/usr/bin/env bash
# Record sockscope's sample captures from real software, inside network namespaces.
#
#   sudo captures/record.sh            # every capture
#   sudo captures/record.sh ws-chat    # just one (several names allowed; bad ones as bad/NAME)
#   sudo captures/record.sh --list     # the names
#
# Needs root on a Debian machine (network namespaces, veth, tcpdump). Installs what is missing:
# apt packages, a Python venv in captures/.venv (peers/requirements.txt) and node_modules in
# captures/peers (peers/package-lock.json). Traffic never leaves the two namespaces it creates:
#
#   netns ssc-cli                          netns ssc-srv
#   scl0 192.0.2.1 / 2001:db8::1  <-veth->  ssv0 192.0.2.80 / 2001:db8::80   (+ lo in each)
#
# Every capture also gets captures/expected/<name>.json, built by peers/expect.py from what the
# peers logged, and is then checked against tshark by peers/check.py. Re-running regenerates
# every file; a failure anywhere tears everything down (trap) and exits non-zero.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS=$HERE/peers
VENV=$HERE/.venv
EXPECTED=$HERE/expected
NS_C=ssc-cli
NS_S=ssc-srv
IF_C=scl0
IF_S=ssv0
CLI4=192.0.2.1
SRV4=192.0.2.80
CLI6=2001:db8::1
SRV6=2001:db8::80
WORK=
PIDS=()

ALL_GOOD=(http-keepalive ws-chat ws-deflate ws-fragmented ws-lengths ws-ipv6 ws-port8080
  chromium-ws sse long-poll polling ws-lossy ws-midstream two-links ws-sll ws-sll2
  http-upgrade-refused ws-small-snaplen http-wild-heads http-slow-pipeline api-errors)
ALL_BAD=(ws-accept-mismatch ws-handshake-invalid ws-unmasked-client-frame ws-masked-server-frame
  ws-reserved-opcode ws-rsv-without-extension ws-control-too-long ws-control-fragmented
  ws-unexpected-continuation ws-interleaved-data ws-invalid-utf8 ws-invalid-close-code
  ws-data-after-close ws-non-minimal-length ws-inflate-error http-parse-error ws-gap
  tcp-overlap-conflict tcp-rst-out-of-window http-request-field-space)
# TLS captures live in tls/ with their key logs (tls/NAME.keys); expected files in expected/tls/.
ALL_TLS=(wss-tls13-aes128 wss-tls13-aes256 wss-tls13-chacha20 wss-tls12-ecdhe-gcm
  wss-tls12-ecdhe-chacha20 wss-tls12-cbc-etm wss-tls12-cbc-noetm https-keepalive https-h2
  chromium-wss tls13-keyupdate tls-missing-session tls-wrong-key wss-dsb tls13-ccm tls13-unknown-ca
  tls12-renegotiation-refused tls11-unsupported-version)
# Sub-protocol captures live in sub/; expected files in expected/sub/ (peers/sub/expect_sub.py).
ALL_SUB=(socketio stomp mqtt graphql-transport-ws jsonrpc)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'record.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup (always runs)

stop_pids() {
  local pid
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    # Peers run in their own process group (setsid), so their children go with them.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 0.2
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

net_down() {
  local ns
  for ns in $NS_C $NS_S; do
    if ip netns list | grep -qw "$ns"; then
      # Anything still running inside our namespaces was started by this script.
      local pid
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}

cleanup() {
  local rc=$?
  stop_pids
  net_down
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ $rc -ne 0 ] && [ -z "${KEEP_WORK:-}" ]; then
      say "failed (exit $rc); peer logs kept in $WORK"
    elif [ -z "${KEEP_WORK:-}" ]; then
      rm -rf "$WORK"
    fi
  fi
  exit $rc
}

# ---------------------------------------------------------------- tools

ensure_tools() { # ensure_tools NAME... : what recording these captures needs
  local missing=() cmd pkg pairs
  pairs=(tcpdump:tcpdump dumpcap:tshark editcap:tshark tshark:tshark iptables:iptables
    ethtool:ethtool ip:iproute2 curl:curl node:nodejs npm:npm python3:python3 openssl:openssl)
  # The browser is big: only the captures that need it install it.
  case " $* " in *" chromium-ws "* | *" tls/chromium-wss "* | *" chromium-wss "*) pairs+=(chromium:chromium) ;; esac
  # RabbitMQ (Web-STOMP, Web-MQTT) only for the captures that need a broker.
  case " $* " in *" sub/stomp "* | *" sub/mqtt "*) pairs+=(rabbitmq-server:rabbitmq-server) ;; esac
  for pair in "${pairs[@]}"; do
    cmd=${pair%%:*}; pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  fi
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import websockets, aiohttp, scapy' 2>/dev/null \
    || ! cmp -s "$PEERS/requirements.txt" "$VENV/.requirements.txt"; then
    say "python venv in $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$PEERS/requirements.txt"
    cp "$PEERS/requirements.txt" "$VENV/.requirements.txt"
  fi
  if [ ! -d "$PEERS/node_modules/ws" ] || ! cmp -s "$PEERS/package-lock.json" "$PEERS/node_modules/.package-lock.json.copy"; then
    say "node modules in $PEERS/node_modules"
    (cd "$PEERS" && npm ci --no-audit --no-fund --silent)
    cp "$PEERS/package-lock.json" "$PEERS/node_modules/.package-lock.json.copy"
  fi
}

write_versions() {
  # A tool this run did not need (chromium) keeps the version of the run that last used it.
  local chromium_version
  if command -v chromium >/dev/null 2>&1; then
    chromium_version=$(chromium --version 2>/dev/null | awk '{print $2}')
  else
    chromium_version=$(sed -n 's/^chromium: //p' "$HERE/VERSIONS.txt" 2>/dev/null)
  fi
  {
    echo "# Tool versions of the last recording run (captures/record.sh), $(date -u +%Y-%m-%d)"
    echo "kernel: $(uname -r)"
    echo "os: $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}")"
    echo "tcpdump: $(tcpdump --version 2>&1 | head -1 | awk '{print $3}')"
    echo "libpcap: $(tcpdump --version 2>&1 | sed -n 2p | awk '{print $3}')"
    echo "dumpcap/tshark/editcap: $(tshark --version 2>/dev/null | head -1 | awk '{print $3}')"
    echo "iptables: $(iptables --version | awk '{print $2, $3}')"
    echo "ethtool: $(ethtool --version | awk '{print $3}')"
    echo "iproute2: $(ip -V | grep -o 'iproute2-[0-9.]*[0-9]')"
    echo "chromium: $chromium_version"
    echo "curl: $(curl --version | head -1 | awk '{print $2}')"
    echo "python: $("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')"
    "$VENV/bin/python" - <<'EOF'
import importlib.metadata as m
for name in ("websockets", "aiohttp", "scapy"):
    print(f"python {name}: {m.version(name)}")
EOF
    echo "node: $(node --version)"
    echo "node ws: $(node -p "require('$PEERS/node_modules/ws/package.json').version")"
    "$VENV/bin/python" - <<'EOF2'
import importlib.metadata as m
for name in ("python-socketio", "python-engineio", "paho-mqtt", "jsonrpcserver", "jsonrpcclient"):
    print(f"python {name}: {m.version(name)}")
EOF2
    local pkg
    for pkg in graphql graphql-ws @stomp/stompjs; do
      echo "node $pkg: $(node -p "require('$PEERS/node_modules/$pkg/package.json').version")"
    done
    echo "rabbitmq-server: $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo none)"
  } >"$HERE/VERSIONS.txt"
}

# ---------------------------------------------------------------- network

net_up() {
  net_down
  ip netns add $NS_C
  ip netns add $NS_S
  ip link add $IF_C netns $NS_C type veth peer name $IF_S netns $NS_S
  local ns ifname
  for ns in $NS_C $NS_S; do
    ip -n $ns link set lo up
    # No duplicate-address-detection delay before the IPv6 addresses work. (Link-local
    # neighbour and router solicitations still happen, as on any host; IPv4 captures filter them.)
    ip netns exec $ns sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
      net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.all.router_solicitations=0
    ip netns exec $ns ethtool -K lo tso off gso off gro off 2>/dev/null || true
  done
  ip -n $NS_C addr add $CLI4/24 dev $IF_C
  ip -n $NS_S addr add $SRV4/24 dev $IF_S
  ip -n $NS_C addr add $CLI6/64 dev $IF_C nodad
  ip -n $NS_S addr add $SRV6/64 dev $IF_S nodad
  for pair in $NS_C:$IF_C $NS_S:$IF_S; do
    ns=${pair%%:*}; ifname=${pair#*:}
    # Wire-sized segments and real checksums in the capture: no segmentation or checksum offload.
    ip netns exec "$ns" ethtool -K "$ifname" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    ip -n "$ns" link set "$ifname" up
  done
  # Let the veth carrier come up on both ends before any traffic.
  local i
  for i in $(seq 50); do
    ip -n $NS_C link show $IF_C | grep -q LOWER_UP && ip -n $NS_S link show $IF_S | grep -q LOWER_UP && break
    sleep 0.1
  done
}

# ---------------------------------------------------------------- processes

# start NAME NETNS CMD... : run CMD in NETNS in its own process group, output in $WORK/NAME.out
start() {
  local name=$1 ns=$2
  shift 2
  setsid ip netns exec "$ns" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  eval "PID_${name//-/_}=$!"
}

pid_of() { eval "echo \$PID_${1//-/_}"; }

# wait_ready NAME : until the peer prints READY (or dies)
wait_ready() {
  local name=$1 i
  for i in $(seq 200); do
    grep -q '^READY' "$WORK/$name.out" 2>/dev/null && return 0
    kill -0 "$(pid_of "$name")" 2>/dev/null || { cat "$WORK/$name.err" >&2; die "$name died before it was ready"; }
    sleep 0.05
  done
  cat "$WORK/$name.err" >&2
  die "$name not ready"
}

# finish NAME [SECONDS [any]] : wait for a peer to exit by itself; fail if it hangs, or if it
# fails unless "any" exit status is fine
finish() {
  local name=$1 limit=${2:-40} any=${3:-} pid i
  pid=$(pid_of "$name")
  for i in $(seq $((limit * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    cat "$WORK/$name.err" >&2
    die "$name still running after ${limit}s"
  fi
  local rc=0
  wait "$pid" || rc=$?
  [ $rc -eq 0 ] || [ -n "$any" ] || { cat "$WORK/$name.err" >&2; die "$name exited with $rc"; }
}

# stop NAME : end a long-running peer (a server) by its process group
stop() {
  local pid
  pid=$(pid_of "$1")
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# wait_log FILE PATTERN [SECONDS]
wait_log() {
  local i
  for i in $(seq $((${3:-30} * 20))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  die "timed out waiting for '$2' in $1"
}

PY() { echo "$VENV/bin/python"; }

# ---------------------------------------------------------------- capture

# cap_start NETNS OUTFILE TOOL-ARGS... : tcpdump (or dumpcap, if the first arg is "dumpcap")
cap_start() {
  local ns=$1 out=$2
  shift 2
  rm -f "$out"
  if [ "$1" = dumpcap ]; then
    shift
    setsid ip netns exec "$ns" dumpcap -q -w "$out" "$@" >"$WORK/capture.out" 2>"$WORK/capture.err" &
  else
    # --immediate-mode: packets still waiting in a ring block when tcpdump is stopped would be lost.
    setsid ip netns exec "$ns" tcpdump --immediate-mode -Z root -U -n -w "$out" "$@" >"$WORK/capture.out" 2>"$WORK/capture.err" &
  fi
  CAP_PID=$!
  PIDS+=($CAP_PID)
  local i
  for i in $(seq 100); do
    grep -qE 'listening on|Capturing on' "$WORK/capture.err" 2>/dev/null && break
    kill -0 $CAP_PID 2>/dev/null || { cat "$WORK/capture.err" >&2; die "capture did not start"; }
    sleep 0.05
  done
  # dumpcap prints its banner before the interfaces are fully open.
  sleep 0.3
}

cap_stop() {
  sleep 1 # the last ACKs and FINs
  kill -INT -- "-$CAP_PID" 2>/dev/null || true
  wait $CAP_PID 2>/dev/null || true
  chmod 644 "$HERE"/*.pcap* "$HERE"/bad/*.pcap "$HERE"/tls/*.pcap* "$HERE"/sub/*.pcap 2>/dev/null || true
}

# write_expected NAME [expect.py args...] : expected/NAME.json from the peer logs in $WORK
write_expected() {
  local name=$1
  shift
  local capture=$name.pcap out=$EXPECTED/$name.json
  [ -f "$HERE/$name.pcapng" ] && capture=$name.pcapng
  "$(PY)" "$PEERS/expect.py" --capture "$capture" --out "$out" --recorded-by "captures/record.sh $name" "$@"
}

check() {
  local name=$1 capture=$HERE/$1.pcap
  if [ "${name#sub/}" != "$name" ]; then
    "$(PY)" "$PEERS/sub/expect_sub.py" check "$capture" "$EXPECTED/$name.json"
    return
  fi
  [ -f "$HERE/$name.pcapng" ] && capture=$HERE/$name.pcapng
  if [ "${name#tls/}" != "$name" ]; then
    local keys=()
    [ -f "$HERE/$name.keys" ] && keys=("$HERE/$name.keys")
    "$(PY)" "$PEERS/check_tls.py" "$capture" "$EXPECTED/$name.json" "${keys[@]}"
    return
  fi
  "$(PY)" "$PEERS/check.py" "$capture" "$EXPECTED/$name.json"
}

logs() { # the --server-log/--client-log arguments for every log present
  local f
  for f in "$WORK"/server*.jsonl; do [ -f "$f" ] && printf -- '--server-log\n%s\n' "$f"; done
  for f in "$WORK"/client*.jsonl; do [ -f "$f" ] && printf -- '--client-log\n%s\n' "$f"; done
}

ws_server() { # ws_server HOST PORT [ws_server.py args]
  local host=$1 port=$2
  shift 2
  start wsd $NS_S "$(PY)" "$PEERS/ws_server.py" --host "$host" --port "$port" --log "$WORK/server.jsonl" "$@"
  wait_ready wsd
}

http_server() { # http_server [--host H]... (default the veth address)
  local hosts=("$@")
  [ ${#hosts[@]} -gt 0 ] || hosts=(--host $SRV4)
  start httpd $NS_S "$(PY)" "$PEERS/http_server.py" "${hosts[@]}" --port 80 --log "$WORK/server.jsonl"
  wait_ready httpd
}

ws_client() { # ws_client SCENARIO URL [go-file]
  start wsc $NS_C node "$PEERS/ws_client.js" "$1" "$2" "$WORK/client.jsonl" "${3:-}"
}

# A plain WebSocket session on the veth pair, captured with the given tcpdump arguments.
ws_session() { # ws_session NAME SCENARIO URL-HOST PORT CAPTURE-ARGS...
  local name=$1 scenario=$2 host=$3 port=$4
  shift 4
  local server_args=(${WS_SERVER_ARGS:-})
  # The chat client asks for subprotocol chat.v1 (and websockets then insists on one).
  [ "$scenario" != chat ] || server_args+=(--subprotocol chat.v1)
  ws_server "$( [ "$host" = "[$SRV6]" ] && echo $SRV6 || echo $SRV4)" "$port" "${server_args[@]}"
  cap_start $NS_S "$HERE/$name.pcap" "$@"
  local url="ws://$host/chat"
  [ "$port" = 80 ] || url="ws://$host:$port/chat"
  ws_client "$scenario" "$url"
  finish wsc
  finish wsd
  cap_stop
}

# ---------------------------------------------------------------- the captures

rec_http-keepalive() {
  http_server
  cap_start $NS_S "$HERE/http-keepalive.pcap" -i $IF_S "tcp port 80 or arp"
  start pipeline $NS_C "$(PY)" "$PEERS/pipeline_client.py" $SRV4 80 "$WORK/client-pipeline.jsonl"
  finish pipeline
  local u=http://$SRV4
  start curl $NS_C curl -sS --http1.1 -o /dev/null "$u/" \
    --next -sS -o /dev/null -I "$u/resource" \
    --next -sS -o /dev/null -H 'If-None-Match: "v1-sockscope"' "$u/resource" \
    --next -sS -o /dev/null -d 'name=sockscope&lang=rust&kind=sample' "$u/echo" \
    --next -sS -o /dev/null "$u/chunked"
  finish curl
  sleep 0.2
  stop httpd
  cap_stop
  write_expected http-keepalive --description "HTTP/1.1 keep-alive: 3 pipelined GETs on one connection (raw client), then curl reusing one connection for GET, HEAD, a 304 conditional GET, a POST with a body and a chunked response" \
    --server $SRV4 --link-type EN10MB $(logs)
}

rec_api-errors() {
  http_server
  cap_start $NS_S "$HERE/api-errors.pcap" -i $IF_S "tcp port 80 or arp"
  local u=http://$SRV4 json='Content-Type: application/json'
  start curl $NS_C curl -sS --http1.1 -o /dev/null -H "$json" -d '{"item":"tea"}' "$u/api/orders" \
    --next -sS -o /dev/null -H "$json" -d '{"item":"unobtainium"}' "$u/api/orders" \
    --next -sS -o /dev/null "$u/api/status" \
    --next -sS -o /dev/null -d 'name=sockscope' "$u/echo"
  finish curl
  start wsc $NS_C "$(PY)" "$PEERS/ws_texts.py" "ws://$SRV4/ws" "status: ok" "error: disk full"
  finish wsc
  sleep 0.2
  stop httpd
  cap_stop
  write_expected api-errors --description "an API as the display filter examples look for it: curl POSTs two JSON orders to /api/orders (201 Created, then 500 with a JSON error), GETs /api/status (503) and POSTs a form to /echo on one connection; a WebSocket client sends \"status: ok\" and \"error: disk full\" to aiohttp's echo endpoint without compression and closes 1000" \
    --server $SRV4 --link-type EN10MB $(logs)
}

rec_ws-chat() {
  ws_session ws-chat chat $SRV4 80 -i $IF_S "tcp port 80 or arp"
  write_expected ws-chat --description "WebSocket chat (subprotocol chat.v1): text, binary, client ping/pong, server pushes and a server ping, client close 1000 \"bye\"" \
    --server $SRV4 --link-type EN10MB $(logs)
}

rec_ws-deflate() {
  WS_SERVER_ARGS="--deflate" ws_session ws-deflate deflate $SRV4 80 -i $IF_S "tcp port 80 or arp"
  write_expected ws-deflate --description "permessage-deflate with context takeover in both directions: similar JSON messages that compress better as the session goes on; the server closes 1000" \
    --server $SRV4 --link-type EN10MB $(logs)
}

rec_ws-fragmented() {
  ws_session ws-fragmented fragmented $SRV4 80 -i $IF_S "tcp port 80 or arp"
  write_expected ws-fragmented --description "fragmented messages both ways (text in 4 frames, binary in 3 or 2), with a ping between two fragments of a text message in each direction" \
    --server $SRV4 --link-type EN10MB $(logs)
}

rec_ws-lengths() {
  WS_SERVER_ARGS="--answer-binary-with-text" ws_session ws-lengths lengths $SRV4 80 -i $IF_S "tcp port 80 or arp"
  write_expected ws-lengths --description "payload lengths 125, 126, 65535, 65536 and 200000 bytes each way (7-, 16- and 64-bit length encodings): client binary, server text" \
    --server $SRV4 --link-type EN10MB $(logs)
}

rec_ws-ipv6() {
  ws_session ws-ipv6 chat "[$SRV6]" 80 -i $IF_S "tcp port 80 or icmp6"
  write_expected ws-ipv6 --description "WebSocket chat over IPv6 between two namespace addresses (2001:db8::1 -> 2001:db8::80)" \
    --server $SRV6 --link-type EN10MB $(logs)
}

rec_ws-port8080() {
  ws_session ws-port8080 chat $SRV4 8080 -i $IF_S "tcp port 8080 or arp"
  write_expected ws-port8080 --description "WebSocket chat on port 8080: analyze with -p 8080 or --any-port" \
    --port 8080 --server $SRV4 --link-type EN10MB $(logs)
}

# chromium_page URL KEYLOG [FLAGS...] : headless Chromium opens URL (writing its TLS secrets to
# KEYLOG unless empty) until the server logs the page's WebSocket closed; then Chromium and the
# HTTP server stop.
chromium_page() {
  local url=$1 keylog=$2 envs=()
  shift 2
  [ -z "$keylog" ] || envs=(SSLKEYLOGFILE="$keylog")
  mkdir -p "$WORK/chrome"
  start chromium $NS_C env "${envs[@]}" chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-default-apps --disable-extensions --no-default-browser-check --disable-dev-shm-usage \
    "$@" --user-data-dir="$WORK/chrome" --remote-debugging-port=9222 "$url"
  wait_log "$WORK/server.jsonl" '"ev": "closed"' 40
  sleep 0.5
  stop chromium
  sleep 0.3
  stop httpd
}
rec_chromium-ws() {
  http_server
  cap_start $NS_S "$HERE/chromium-ws.pcap" -i $IF_S "tcp port 80 or arp"
  chromium_page "http://$SRV4/chat.html" ""
  cap_stop
  write_expected chromium-ws --description "headless Chromium loads a page from aiohttp (HTML, a fetch() of JSON) that opens a WebSocket with permessage-deflate, exchanges text and binary messages and closes 1000 \"page done\"" \
    --server $SRV4 --link-type EN10MB $(logs)
}

rec_sse() {
  http_server
  cap_start $NS_S "$HERE/sse.pcap" -i $IF_S "tcp port 80 or arp"
  start curl $NS_C curl -sS -N --http1.1 -H 'Accept: text/event-stream' "http://$SRV4/events" -o "$WORK/sse.txt"
  finish curl
  stop httpd
  cap_stop
  write_expected sse --description "Server-Sent Events: curl -N reads a text/event-stream response (chunked) with named events, ids, a multi-line data field and a retry hint" \
    --server $SRV4 --link-type EN10MB $(logs)
}

rec_long-poll() {
  http_server
  cap_start $NS_S "$HERE/long-poll.pcap" -i $IF_S "tcp port 80 or arp"
  start poller $NS_C "$(PY)" "$PEERS/poll_client.py" "http://$SRV4/poll/long" 4 0.05 "$WORK/client-poll.jsonl"
  finish poller
  stop httpd
  cap_stop
  write_expected long-poll --description "long polling: 4 requests on one keep-alive connection (aiohttp client), each held 1.5 s by the server before its answer" \
    --server $SRV4 --link-type EN10MB $(logs)
}

rec_polling() {
  http_server
  cap_start $NS_S "$HERE/polling.pcap" -i $IF_S "tcp port 80 or arp"
  start poller $NS_C "$(PY)" "$PEERS/poll_client.py" "http://$SRV4/poll/short" 8 0.3 "$WORK/client-poll.jsonl"
  finish poller
  stop httpd
  cap_stop
  write_expected polling --description "short polling: 8 requests 300 ms apart on one keep-alive connection, each answered at once (compare with long-poll.pcap)" \
    --server $SRV4 --link-type EN10MB $(logs)
}

rec_ws-lossy() {
  local attempt retrans=0
  for attempt in 1 2 3; do
    net_up
    rm -f "$WORK"/server*.jsonl "$WORK"/client*.jsonl
    # Drop ~5% of data segments at each receiver's INPUT: the capture point (the server's veth)
    # sees every original before it is lost, and every retransmission.
    ip netns exec $NS_S iptables -A INPUT -p tcp --dport 80 --tcp-flags SYN NONE \
      -m statistic --mode random --probability 0.05 -j DROP
    ip netns exec $NS_C iptables -A INPUT -p tcp --sport 80 --tcp-flags SYN NONE \
      -m statistic --mode random --probability 0.05 -j DROP
    ws_session ws-lossy lossy $SRV4 80 -i $IF_S "tcp port 80 or arp"
    retrans=$(tshark -r "$HERE/ws-lossy.pcap" -Y tcp.analysis.retransmission 2>/dev/null | wc -l)
    [ "$retrans" -gt 0 ] && break
    say "no retransmission on attempt $attempt, again"
  done
  [ "$retrans" -gt 0 ] || die "ws-lossy: no retransmissions"
  write_expected ws-lossy --description "WebSocket session through a path that drops ~5% of segments (iptables statistic at each receiver): the capture holds originals and real TCP retransmissions" \
    --server $SRV4 --link-type EN10MB --note "iptables -m statistic --probability 0.05 -j DROP on both INPUT chains; capture on the server's veth; $retrans retransmissions" $(logs)
}

rec_ws-midstream() {
  ws_server $SRV4 80
  ws_client midstream "ws://$SRV4/chat" "$WORK/go"
  wait_log "$WORK/client.jsonl" waiting_for_capture 20
  sleep 0.3 # past any delayed ACK of the handshake
  cap_start $NS_S "$HERE/ws-midstream.pcap" -i $IF_S "tcp port 80"
  touch "$WORK/go"
  finish wsc
  finish wsd
  cap_stop
  write_expected ws-midstream --description "capture started after the WebSocket handshake: the file begins in the middle of an established connection (no SYN, no 101)" \
    --server $SRV4 --link-type EN10MB --midstream --anomaly tcp.midstream $(logs)
}

rec_two-links() {
  # HTTP over the server namespace's loopback (curl -> aiohttp on 127.0.0.1) and a WebSocket
  # over the veth (ws -> websockets on 192.0.2.80), captured by one dumpcap on "lo" (Ethernet)
  # and "any" (Linux cooked); each interface's filter keeps every packet on exactly one of them.
  http_server --host 127.0.0.1
  ws_server $SRV4 80 --subprotocol chat.v1
  cap_start $NS_S "$HERE/two-links.pcapng" dumpcap -i lo -f "tcp port 80" -i any -y LINUX_SLL2 -f "tcp port 80 and not host 127.0.0.1"
  start curl $NS_S curl -sS --http1.1 -o /dev/null http://127.0.0.1/ --next -sS -o /dev/null http://127.0.0.1/resource
  finish curl
  ws_client chat "ws://$SRV4/chat"
  finish wsc
  finish wsd
  stop httpd
  cap_stop
  write_expected two-links --description "one pcapng, two interfaces with different link types: HTTP on lo (EN10MB) and a WebSocket seen on 'any' (LINUX_SLL2)" \
    --server 127.0.0.1 --server $SRV4 --link-type EN10MB --link-type LINUX_SLL2 $(logs)
}

rec_ws-sll() {
  ws_session ws-sll chat $SRV4 80 -i any -y LINUX_SLL "tcp port 80"
  write_expected ws-sll --description "WebSocket chat captured with tcpdump -i any: Linux cooked capture v1 (LINUX_SLL) link layer" \
    --server $SRV4 --link-type LINUX_SLL $(logs)
}

rec_ws-sll2() {
  ws_session ws-sll2 chat $SRV4 80 -i any -y LINUX_SLL2 "tcp port 80"
  write_expected ws-sll2 --description "WebSocket chat captured with tcpdump -i any: Linux cooked capture v2 (LINUX_SLL2) link layer" \
    --server $SRV4 --link-type LINUX_SLL2 $(logs)
}

rec_http-upgrade-refused() {
  http_server
  cap_start $NS_S "$HERE/http-upgrade-refused.pcap" -i $IF_S "tcp port 80 or arp"
  local route
  for route in plain legacy; do
    start curl $NS_C curl -sS --http1.1 -o /dev/null -H 'Upgrade: websocket' -H 'Connection: Upgrade' \
      -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Version: 13' "http://$SRV4/$route"
    finish curl
  done
  stop httpd
  cap_stop
  write_expected http-upgrade-refused --description "curl asks for a WebSocket upgrade on plain HTTP routes: one answers 200, the other 426 (Upgrade: TLS/1.0); no 101, so only a warning" \
    --server $SRV4 --link-type EN10MB --anomaly ws.upgrade_refused $(logs)
}

rec_ws-small-snaplen() {
  ws_session ws-small-snaplen chat $SRV4 80 -s 96 -i $IF_S "tcp port 80"
  write_expected ws-small-snaplen --description "WebSocket chat captured with tcpdump -s 96: every packet longer than 96 bytes is truncated; the analyzer must report gaps, never crash" \
    --server $SRV4 --link-type EN10MB --truncated-snaplen 96 --anomaly http.truncated --anomaly tcp.gap --anomaly ws.resync \
    --note "both handshake heads are longer than what the snaplen left of their packets: the analyzer reports each cut head with what it holds (the request line GET /chat, the status line 101 cut inside its reason phrase) as http.truncated, never sees the rest of the 101, and reports with ws.resync that it recognised WebSocket frames after the gap and decodes them without the handshake" $(logs)
}

rec_http-wild-heads() {
  start wild $NS_S "$(PY)" "$PEERS/wild_http.py" server $SRV4 80 "$WORK/server.jsonl"
  wait_ready wild
  cap_start $NS_S "$HERE/http-wild-heads.pcap" -i $IF_S "tcp port 80 or arp"
  start client $NS_C "$(PY)" "$PEERS/wild_http.py" client $SRV4 80 "$WORK/client.jsonl"
  finish client
  # curl reads the spaced field as browsers do; --request-target sends the UTF-8 path as is.
  start curl $NS_C curl -sS --http1.1 -o /dev/null "http://$SRV4/express" \
    --next -sS --http1.1 -o /dev/null --request-target '/wiki/中文?q=ß' "http://$SRV4/"
  finish curl
  sleep 0.2
  stop wild
  cap_stop
  write_expected http-wild-heads --description "heads as the Python standard library writes them when asked to, read by lenient peers: http.client folds a two-valued field (obs-fold) and sends 97 fields, http.server answers with 97 fields and a folded field; curl reads \"Access-Control-Allow-Credentials : true\" (as old Express servers sent it) and sends a raw UTF-8 target" \
    --server $SRV4 --link-type EN10MB --anomaly http.field_space --anomaly http.obs_fold $(logs)
}

rec_http-slow-pipeline() {
  http_server
  cap_start $NS_S "$HERE/http-slow-pipeline.pcap" -i $IF_S "tcp port 80 or arp"
  start pipeline $NS_C "$(PY)" "$PEERS/pipeline_client.py" $SRV4 80 "$WORK/client-pipeline.jsonl" \
    "/slow/image?n=1" "/slow/image?n=2" "/slow/image?n=3" "/slow/image?n=4"
  finish pipeline 30
  sleep 0.2
  stop httpd
  cap_stop
  write_expected http-slow-pipeline --description "a slow pipelined download: four requests for the same image path (different queries) in one segment; the server takes 1.2 s for each, so every response starts 1.2 to 4.8 s after its request, yet nothing is held: this is not long polling" \
    --server $SRV4 --link-type EN10MB $(logs)
}

# --- violations: a raw peer breaks one rule, a real library is on the other side

bad_client() { # bad_client VIOLATION ANOMALY DESCRIPTION [ws_server args]
  local violation=$1 anomaly=$2 description=$3
  shift 3
  ws_server $SRV4 80 "$@"
  cap_start $NS_S "$HERE/bad/ws-$violation.pcap" -i $IF_S "tcp port 80 or arp"
  start raw $NS_C "$(PY)" "$PEERS/raw_ws.py" client "$violation" $SRV4 80 "$WORK/client.jsonl"
  finish raw 30
  finish wsd 30
  cap_stop
  write_expected "bad/ws-$violation" --description "$description" --server $SRV4 --link-type EN10MB --anomaly "$anomaly" $(logs)
}

bad_server() { # bad_server VIOLATION ANOMALY DESCRIPTION
  local violation=$1 anomaly=$2 description=$3
  start raw $NS_S "$(PY)" "$PEERS/raw_ws.py" server "$violation" $SRV4 80 "$WORK/server.jsonl"
  wait_ready raw
  cap_start $NS_S "$HERE/bad/ws-$violation.pcap" -i $IF_S "tcp port 80 or arp"
  ws_client victim "ws://$SRV4/chat"
  finish wsc 30
  finish raw 30
  cap_stop
  write_expected "bad/ws-$violation" --description "$description" --server $SRV4 --link-type EN10MB --anomaly "$anomaly" $(logs)
}

rec_bad/ws-accept-mismatch() { bad_server accept-mismatch ws.accept_mismatch "raw server answers 101 with Sec-WebSocket-Accept computed without the GUID; the ws client refuses the handshake and drops the connection"; }
rec_bad/ws-handshake-invalid() { bad_server handshake-invalid ws.handshake_invalid "raw server answers 101 without an Upgrade: websocket header; the ws client refuses the handshake"; }
rec_bad/ws-masked-server-frame() { bad_server masked-server-frame ws.masked_server_frame "raw server sends a masked text frame; the ws client closes with 1002"; }
rec_bad/ws-unmasked-client-frame() { bad_client unmasked-client-frame ws.unmasked_client_frame "raw client sends an unmasked text frame; the websockets server closes with 1002"; }
rec_bad/ws-reserved-opcode() { bad_client reserved-opcode ws.reserved_opcode "raw client sends a frame with reserved opcode 0x3; the websockets server closes with 1002"; }
rec_bad/ws-rsv-without-extension() { bad_client rsv-without-extension ws.rsv_without_extension "raw client sets RSV1 with no extension negotiated; the websockets server closes with 1002"; }
rec_bad/ws-control-too-long() { bad_client control-too-long ws.control_too_long "raw client sends a ping with a 126-byte payload; the websockets server closes with 1002"; }
rec_bad/ws-control-fragmented() { bad_client control-fragmented ws.control_fragmented "raw client sends a ping with FIN=0; the websockets server closes with 1002"; }
rec_bad/ws-unexpected-continuation() { bad_client unexpected-continuation ws.unexpected_continuation "raw client sends a continuation frame with no message in progress; the websockets server closes with 1002"; }
rec_bad/ws-interleaved-data() { bad_client interleaved-data ws.interleaved_data "raw client starts a fragmented text message, then sends a new text frame; the websockets server closes with 1002"; }
rec_bad/ws-invalid-utf8() { bad_client invalid-utf8 ws.invalid_utf8 "raw client sends a text message that is not UTF-8; the websockets server closes with 1007"; }
rec_bad/ws-invalid-close-code() { bad_client invalid-close-code ws.invalid_close_code "raw client closes with code 1005, which must never be sent; the websockets server closes with 1002"; }
rec_bad/ws-data-after-close() { bad_client data-after-close ws.data_after_close "raw client sends close 1000 and then a text frame; the websockets server completes the close"; }
rec_bad/ws-non-minimal-length() { bad_client non-minimal-length ws.non_minimal_length "raw client sends a 5-byte text frame with a 16-bit length field (a warning: the websockets server accepts and echoes it)"; }
rec_bad/ws-inflate-error() { bad_client inflate-error ws.inflate_error "raw client negotiates permessage-deflate, sends one good compressed message, then an RSV1 frame that does not inflate; the websockets server closes with 1002 (decompression failed)" --deflate; }

rec_bad/http-parse-error() {
  http_server
  cap_start $NS_S "$HERE/bad/http-parse-error.pcap" -i $IF_S "tcp port 80 or arp"
  # A real TLS ClientHello to a plain-HTTP port: curl https:// against port 80.
  start curl $NS_C curl -sS -k --max-time 5 "https://$SRV4:80/"
  finish curl 10 any
  sleep 0.3
  stop httpd
  cap_stop
  write_expected bad/http-parse-error --description "curl speaks TLS (https://) to the plain-HTTP port 80: the ClientHello is not HTTP/1.x; aiohttp answers 400 and closes" \
    --server $SRV4 --link-type EN10MB --anomaly http.parse_error $(logs)
}

rec_bad/ws-gap() {
  ws_server $SRV4 80
  cap_start $NS_S "$WORK/gap-full.pcap" -i $IF_S "tcp port 80 or arp"
  ws_client gap "ws://$SRV4/chat"
  finish wsc
  finish wsd
  cap_stop
  # Cut the packet carrying "update 05" out of the file: bytes lost before the capture point.
  local frame
  frame=$(tshark -r "$WORK/gap-full.pcap" -Y 'tcp.srcport == 80 && frame contains "update 05"' -T fields -e frame.number 2>/dev/null | head -1)
  [ -n "$frame" ] || die "ws-gap: no packet with update 05"
  editcap "$WORK/gap-full.pcap" "$HERE/bad/ws-gap.pcap" "$frame"
  write_expected bad/ws-gap --description "a real session with one server data packet (the frame carrying \"update 05\") removed from the file with editcap" \
    --server $SRV4 --link-type EN10MB --anomaly tcp.gap --removed-s2c-message 4 --removed-frame "$frame" $(logs)
}

rec_bad/http-request-field-space() {
  http_server
  cap_start $NS_S "$HERE/bad/http-request-field-space.pcap" -i $IF_S "tcp port 80 or arp"
  # http.client's name check lets a trailing space through: "X-Api-Key : ...". aiohttp refuses it.
  start spaced $NS_C "$(PY)" "$PEERS/wild_http.py" spaced-client $SRV4 80 "$WORK/client.jsonl"
  finish spaced
  sleep 0.2
  stop httpd
  cap_stop
  write_expected bad/http-request-field-space --description "python http.client sends a request field with whitespace before its colon (a name ending in a space, which its check allows); aiohttp refuses it with 400 and closes, as RFC 9112 section 5.1 requires" \
    --server $SRV4 --link-type EN10MB --anomaly http.request_field_space $(logs)
}

rec_bad/tcp-overlap-conflict() {
  "$(PY)" "$PEERS/craft_overlap.py" "$HERE/bad/tcp-overlap-conflict.pcap" "$WORK/server.jsonl"
  write_expected bad/tcp-overlap-conflict --description "crafted with scapy: the second request segment arrives before the first; while it waits out of order, a retransmission of the same range arrives with different bytes (/index.html first, /evil!.html in the retransmission)" \
    --server $SRV4 --link-type EN10MB --crafted --anomaly tcp.overlap_conflict \
    --note "first-seen bytes win: the request target is /index.html" $(logs)
}

rec_bad/tcp-rst-out-of-window() {
  # The server's kernel never sees port 80: the raw peer owns it.
  ip netns exec $NS_S iptables -t raw -A PREROUTING -i $IF_S -p tcp --dport 80 -j DROP
  start raw $NS_S "$(PY)" "$PEERS/stale_ack_server.py" $IF_S $SRV4 80 "$WORK/server.jsonl"
  wait_ready raw
  cap_start $NS_S "$HERE/bad/tcp-rst-out-of-window.pcap" -i $IF_S "tcp port 80 or arp"
  start curl $NS_C curl -sS --http1.1 -o "$WORK/download.bin" "http://$SRV4/download"
  finish curl 30
  finish raw 30
  cap_stop
  [ "$(stat -c %s "$WORK/download.bin")" -eq 61440 ] || die "tcp-rst-out-of-window: curl did not get the whole body"
  write_expected bad/tcp-rst-out-of-window --description "the server (a raw peer) answers curl's SYN with a bare ACK for a connection it does not have; Linux, in SYN-SENT, answers with a RST whose sequence number is that acknowledgment, far outside the connection's window, and retransmits its SYN with the same ISN; the handshake and a 61440-byte download follow" \
    --server $SRV4 --link-type EN10MB --anomaly tcp.rst_out_of_window \
    --note "the RST resets the server's stale connection, not curl's attempt: one flow, all of it analyzed" $(logs)
}


# --- TLS: real peers over TLS 1.2 / 1.3, each capture with the key log its peers wrote
CERTS=
tls_certs() { # a fresh CA and a server certificate for sockscope.test / 192.0.2.80
  CERTS=$WORK/certs
  mkdir -p "$CERTS"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$CERTS/ca.key" -out "$CERTS/ca.pem" -days 30 \
    -subj "/CN=sockscope test CA" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$CERTS/server.key" -out "$CERTS/server.csr" \
    -subj "/CN=sockscope.test" 2>/dev/null
  printf 'subjectAltName=DNS:sockscope.test,IP:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' $SRV4 >"$CERTS/ext"
  openssl x509 -req -in "$CERTS/server.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" -CAcreateserial \
    -out "$CERTS/server.pem" -days 30 -extfile "$CERTS/ext" 2>/dev/null
}
tls_server_args() { echo --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key"; }
# wss_client CIPHERS TLS-MAX : node ws client (chat scenario) over wss://, key log in $WORK/keys.log
wss_client() {
  start wsc $NS_C env SOCKSCOPE_CA="$CERTS/ca.pem" SOCKSCOPE_CIPHERS="$1" SOCKSCOPE_TLS_MAX="$2" \
    SOCKSCOPE_SNI=sockscope.test SOCKSCOPE_ROLE=client-${3:-1} node --tls-keylog="$WORK/keys.log" "$PEERS/ws_client.js" chat \
    "wss://$SRV4/chat" "$WORK/client-${3:-1}.jsonl"
}
tls_expected() { # tls_expected NAME DESCRIPTION [expect_tls.py args]
  local name=$1 description=$2
  shift 2
  mkdir -p "$EXPECTED/tls"
  write_expected "tls/$name" --description "$description" --port 443 --server $SRV4 --link-type EN10MB $(logs)
  local keylog=()
  [ -f "$HERE/tls/$name.keys" ] && keylog=(--keylog "tls/$name.keys")
  "$(PY)" "$PEERS/expect_tls.py" --expected "$EXPECTED/tls/$name.json" --sni sockscope.test "${keylog[@]}" "$@" $(logs)
}
wss_capture() { # wss_capture NAME CIPHERS TLS-MAX DESCRIPTION [ws_server.py args]
  local name=$1 ciphers=$2 tlsmax=$3 description=$4
  shift 4
  tls_certs
  ws_server $SRV4 443 --subprotocol chat.v1 $(tls_server_args) "$@"
  cap_start $NS_S "$HERE/tls/$name.pcap" -i $IF_S "tcp port 443 or arp"
  wss_client "$ciphers" "$tlsmax"
  finish wsc
  finish wsd
  cap_stop
  cp "$WORK/keys.log" "$HERE/tls/$name.keys"
  chmod 644 "$HERE/tls/$name.keys"
  tls_expected "$name" "$description"
}
rec_tls/wss-tls13-aes128() { wss_capture wss-tls13-aes128 TLS_AES_128_GCM_SHA256 TLSv1.3 "WebSocket chat over TLS 1.3 with TLS_AES_128_GCM_SHA256: node ws client (key log from node --tls-keylog), python websockets server"; }
rec_tls/wss-tls13-aes256() { wss_capture wss-tls13-aes256 TLS_AES_256_GCM_SHA384 TLSv1.3 "WebSocket chat over TLS 1.3 with TLS_AES_256_GCM_SHA384 (SHA-384 key schedule)"; }
rec_tls/wss-tls13-chacha20() { wss_capture wss-tls13-chacha20 TLS_CHACHA20_POLY1305_SHA256 TLSv1.3 "WebSocket chat over TLS 1.3 with TLS_CHACHA20_POLY1305_SHA256"; }
rec_tls/wss-tls12-ecdhe-gcm() { wss_capture wss-tls12-ecdhe-gcm ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 "WebSocket chat over TLS 1.2 with TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (explicit nonce)" --tls-max 1.2; }
rec_tls/wss-tls12-ecdhe-chacha20() { wss_capture wss-tls12-ecdhe-chacha20 ECDHE-RSA-CHACHA20-POLY1305 TLSv1.2 "WebSocket chat over TLS 1.2 with TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 (RFC 7905 nonce)" --tls-max 1.2; }
rec_tls/wss-tls12-cbc-etm() { wss_capture wss-tls12-cbc-etm ECDHE-RSA-AES256-SHA384 TLSv1.2 "WebSocket chat over TLS 1.2 with TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, encrypt-then-MAC negotiated (RFC 7366), SHA-384 PRF" --tls-max 1.2; }
rec_tls/wss-tls12-cbc-noetm() { wss_capture wss-tls12-cbc-noetm ECDHE-RSA-AES128-SHA TLSv1.2 "WebSocket chat over TLS 1.2 with TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, MAC-then-encrypt (the server refuses encrypt-then-MAC)" --tls-max 1.2 --no-etm --ciphers ECDHE-RSA-AES128-SHA; }
rec_tls/https-keepalive() {
  tls_certs
  start httpd $NS_S "$(PY)" "$PEERS/http_server.py" --host $SRV4 --port 443 $(tls_server_args) --log "$WORK/server.jsonl"
  wait_ready httpd
  cap_start $NS_S "$HERE/tls/https-keepalive.pcap" -i $IF_S "tcp port 443 or arp"
  local u=https://sockscope.test
  # --next starts a new set of options: the CA and the name go into each.
  local t=(--cacert "$CERTS/ca.pem" --resolve sockscope.test:443:$SRV4 --http1.1 -sS -o /dev/null)
  start curl $NS_C env SSLKEYLOGFILE="$WORK/keys.log" curl "${t[@]}" "$u/" \
    --next "${t[@]}" -I "$u/resource" \
    --next "${t[@]}" -d 'name=sockscope&lang=rust' "$u/echo" \
    --next "${t[@]}" "$u/chunked"
  finish curl
  sleep 0.2
  stop httpd
  cap_stop
  install -m 644 "$WORK/keys.log" "$HERE/tls/https-keepalive.keys"
  tls_expected https-keepalive "curl over TLS 1.3 (ALPN http/1.1) reusing one connection for GET, HEAD, a POST with a body and a chunked response; key log from SSLKEYLOGFILE"
}
rec_tls/https-h2() {
  tls_certs
  start h2d $NS_S "$(PY)" "$PEERS/h2_server.py" --host $SRV4 --port 443 --cert "$CERTS/server.pem" \
    --key "$CERTS/server.key" --log "$WORK/server.jsonl" --requests 2
  wait_ready h2d
  cap_start $NS_S "$HERE/tls/https-h2.pcap" -i $IF_S "tcp port 443 or arp"
  local t=(--cacert "$CERTS/ca.pem" --resolve sockscope.test:443:$SRV4 --http2 -sS -o /dev/null)
  start curl $NS_C env SSLKEYLOGFILE="$WORK/keys.log" curl "${t[@]}" https://sockscope.test/ \
    --next "${t[@]}" https://sockscope.test/resource
  finish curl
  finish h2d 20
  cap_stop
  install -m 644 "$WORK/keys.log" "$HERE/tls/https-h2.keys"
  tls_expected https-h2 "curl negotiates h2 by ALPN with a hypercorn server: two HTTP/2 requests on one TLS 1.3 connection" --note "the plaintext is HTTP/2, not HTTP/1.x"
}
rec_tls/chromium-wss() {
  tls_certs
  start httpd $NS_S "$(PY)" "$PEERS/http_server.py" --host $SRV4 --port 443 $(tls_server_args) --log "$WORK/server.jsonl"
  wait_ready httpd
  cap_start $NS_S "$HERE/tls/chromium-wss.pcap" -i $IF_S "tcp port 443 or arp"
  chromium_page "https://$SRV4/chat.html" "$WORK/keys.log" --disable-quic --ignore-certificate-errors
  cap_stop
  install -m 644 "$WORK/keys.log" "$HERE/tls/chromium-wss.keys"
  tls_expected chromium-wss "headless Chromium loads an https page from aiohttp (fetch() of JSON), opens a wss:// WebSocket with permessage-deflate, exchanges messages and closes; key log from SSLKEYLOGFILE" --sni ""
}
rec_tls/tls13-keyupdate() {
  tls_certs
  # openssl s_client sends a KeyUpdate for each line "k" (and "K": one that asks the server to
  # update too); the other lines are data.
  start sserver $NS_S bash -c "sleep 12 | openssl s_server -accept 443 -naccept 1 -cert '$CERTS/server.pem' \
    -key '$CERTS/server.key' -tls1_3 -keylogfile '$WORK/keys.log'"
  sleep 1
  cap_start $NS_S "$HERE/tls/tls13-keyupdate.pcap" -i $IF_S "tcp port 443 or arp"
  start sclient $NS_C bash -c "(printf 'hello before the update\n'; sleep 0.5; printf 'k\n'; sleep 0.5; \
    printf 'after one key update\n'; sleep 0.5; printf 'K\n'; sleep 0.5; printf 'after the second\n'; sleep 1) | \
    openssl s_client -connect $SRV4:443 -servername sockscope.test -CAfile '$CERTS/ca.pem' -tls1_3"
  finish sclient 20 any
  finish sserver 20 any
  cap_stop
  install -m 644 "$WORK/keys.log" "$HERE/tls/tls13-keyupdate.keys"
  grep -q 'after the second' "$WORK/sserver.out" || die "s_server did not receive the data"
  mkdir -p "$EXPECTED/tls"
  "$(PY)" "$PEERS/expect_openssl.py" --capture tls/tls13-keyupdate.pcap --keylog tls/tls13-keyupdate.keys \
    --out "$EXPECTED/tls/tls13-keyupdate.json" --client-out "$WORK/sclient.out" --server-out "$WORK/sserver.out" \
    --client $CLI4 --server $SRV4:443 --key-updates 2 --recorded-by "captures/record.sh tls/tls13-keyupdate" \
    --description "openssl s_client and s_server over TLS 1.3: a line of data, a KeyUpdate, more data, a KeyUpdate that asks the server to update too, more data (the server sends no data, so it never sends its own KeyUpdate: 2 in all)"
}
# openssl_session NAME SERVER-ARGS CLIENT-ARGS CLIENT-INPUT : after tls_certs, s_server and
# s_client (one connection), the client writing CLIENT-INPUT (a shell command) to the session; the key log from
# s_server (it logs every secret, the client only those it derived before it gave up).
openssl_session() {
  local name=$1 server_args=$2 client_args=$3 input=$4
  start sserver $NS_S bash -c "sleep 12 | openssl s_server -accept 443 -naccept 1 -cert '$CERTS/server.pem' \
    -key '$CERTS/server.key' -keylogfile '$WORK/keys.log' $server_args"
  sleep 1
  cap_start $NS_S "$HERE/tls/$name.pcap" -i $IF_S "tcp port 443 or arp"
  start sclient $NS_C bash -c "($input) | openssl s_client -connect $SRV4:443 -servername sockscope.test $client_args"
  finish sclient 20 any
  finish sserver 20 any
  cap_stop
  install -m 644 "$WORK/keys.log" "$HERE/tls/$name.keys"
  mkdir -p "$EXPECTED/tls"
}
# openssl_expected NAME DESCRIPTION [expect_openssl.py args] : the expected file from what
# s_client and s_server printed
openssl_expected() {
  local name=$1 description=$2
  shift 2
  "$(PY)" "$PEERS/expect_openssl.py" --capture "tls/$name.pcap" --keylog "tls/$name.keys" \
    --out "$EXPECTED/tls/$name.json" --client-out "$WORK/sclient.out" --server-out "$WORK/sserver.out" \
    --client $CLI4 --server $SRV4:443 --recorded-by "captures/record.sh tls/$name" --description "$description" "$@"
}
rec_tls/tls13-ccm() {
  tls_certs
  openssl_session tls13-ccm "-tls1_3 -ciphersuites TLS_AES_128_CCM_SHA256" \
    "-CAfile '$CERTS/ca.pem' -tls1_3 -ciphersuites TLS_AES_128_CCM_SHA256" \
    "printf 'hello over AES-CCM\n'; sleep 0.5; printf 'tshark reads this, sockscope counts it\n'; sleep 1"
  grep -q 'Cipher is TLS_AES_128_CCM_SHA256' "$WORK/sclient.out" || die "s_client did not negotiate CCM"
  openssl_expected tls13-ccm "openssl s_client and s_server over TLS 1.3 with TLS_AES_128_CCM_SHA256, the only suite either offers (-ciphersuites): two lines of data. sockscope does not decrypt CCM; tshark does, with the same key log" \
    --anomaly tls.unsupported_cipher_suite --not-decrypted-by-sockscope
}
rec_tls/tls13-unknown-ca() {
  tls_certs
  # The client is not given the test CA (-CAfile) and stops on a failed verification.
  openssl_session tls13-unknown-ca "-tls1_3" "-tls1_3 -verify_return_error" "printf 'never sent\n'; sleep 1"
  grep -q 'certificate verify failed' "$WORK/sclient.err" "$WORK/sclient.out" || die "s_client did not refuse the certificate"
  grep -q 'alert unknown ca' "$WORK/sserver.out" "$WORK/sserver.err" || die "s_server did not receive the unknown_ca alert"
  openssl_expected tls13-unknown-ca "openssl s_client (-verify_return_error, without the test CA) refuses s_server's certificate: it answers the server's handshake flight with a fatal unknown_ca alert, in the clear (it had not started to protect its own records: that comes with its Finished), and closes; no application data. The server's flight decrypts with the key log" \
    --kind tls --alert c2s:2:48 --anomaly tls.alert
}
rec_tls/tls11-unsupported-version() {
  tls_certs
  # OpenSSL 3 still speaks TLS 1.1 when both sides lower the security level.
  openssl_session tls11-unsupported-version "-tls1_1 -cipher DEFAULT:@SECLEVEL=0" \
    "-CAfile '$CERTS/ca.pem' -tls1_1 -cipher DEFAULT:@SECLEVEL=0" \
    "printf 'hello over TLS 1.1\n'; sleep 1"
  grep -q 'Protocol  *: TLSv1.1' "$WORK/sclient.out" || die "s_client did not negotiate TLS 1.1"
  openssl_expected tls11-unsupported-version "openssl s_client and s_server over TLS 1.1 (both at -cipher DEFAULT:@SECLEVEL=0): a line of data. sockscope does not decrypt TLS 1.0/1.1 (their PRF is not implemented); tshark does, with the same key log" \
    --anomaly tls.unsupported_version --not-decrypted-by-sockscope
}
rec_tls/tls12-renegotiation-refused() {
  tls_certs
  # "R" asks s_client to renegotiate; OpenSSL servers refuse client-initiated renegotiation
  # with a warning no_renegotiation alert, and s_client gives up with a fatal handshake_failure.
  openssl_session tls12-renegotiation-refused "-tls1_2" "-CAfile '$CERTS/ca.pem' -tls1_2" \
    "printf 'before the renegotiation\n'; sleep 0.5; printf 'R\n'; sleep 0.5; printf 'never read\n'; sleep 1"
  grep -q 'RENEGOTIATING' "$WORK/sclient.err" "$WORK/sclient.out" || die "s_client did not renegotiate"
  grep -q 'no renegotiation' "$WORK/sclient.err" "$WORK/sclient.out" || die "s_server did not refuse the renegotiation"
  grep -q 'SSL alert number 40' "$WORK/sserver.out" "$WORK/sserver.err" || die "s_server did not receive handshake_failure"
  openssl_expected tls12-renegotiation-refused "openssl s_client and s_server over TLS 1.2: a line of data, then the client asks to renegotiate (a ClientHello inside the protected session); the server refuses with a warning no_renegotiation alert, and the client gives up with a fatal handshake_failure alert" \
    --anomaly tls.renegotiation --anomaly tls.alert_warning --anomaly tls.alert \
    --alert s2c:1:100 --alert c2s:2:40
}
rec_tls/tls-missing-session() {
  tls_certs
  ws_server $SRV4 443 --subprotocol chat.v1 $(tls_server_args) --max-connections 2
  cap_start $NS_S "$HERE/tls/tls-missing-session.pcap" -i $IF_S "tcp port 443 or arp"
  wss_client TLS_AES_128_GCM_SHA256 TLSv1.3 1
  finish wsc
  wss_client TLS_AES_128_GCM_SHA256 TLSv1.3 2
  finish wsc
  finish wsd
  cap_stop
  # The key log keeps only the second session: drop every line of the first client random.
  local first
  first=$(awk '/^CLIENT_/ {print $2; exit}' "$WORK/keys.log")
  grep -v "$first" "$WORK/keys.log" >"$HERE/tls/tls-missing-session.keys"
  chmod 644 "$HERE/tls/tls-missing-session.keys"
  local missing
  missing=$("$(PY)" -c 'import json,sys; print([json.loads(l)["local"] for l in open(sys.argv[1]) if "\"tls\"" in l][0])' "$WORK/client-1.jsonl" | tr -d "[]' " | tr , :)
  tls_expected tls-missing-session "two WebSocket sessions over TLS 1.3; the key log lacks every secret of the first one (its lines were removed after the recording)" \
    --undecryptable "$missing" --anomaly tls.missing_secrets
}
rec_tls/tls-wrong-key() {
  wss_capture tls-wrong-key TLS_AES_128_GCM_SHA256 TLSv1.3 "WebSocket chat over TLS 1.3 whose key log has a wrong SERVER_TRAFFIC_SECRET_0 (one hex digit changed after the recording): the server's application records do not authenticate"
  # Change the first hex digit of the server application secret.
  "$(PY)" -c 'import re, sys
p = sys.argv[1]
t = open(p).read()
t = re.sub(r"^(SERVER_TRAFFIC_SECRET_0 \S+ )(\S)", lambda m: m.group(1) + ("1" if m.group(2) == "0" else "0"), t, flags=re.M)
open(p, "w").write(t)' "$HERE/tls/tls-wrong-key.keys"
  "$(PY)" "$PEERS/expect_tls.py" --expected "$EXPECTED/tls/tls-wrong-key.json" --keylog tls/tls-wrong-key.keys \
    --sni sockscope.test --anomaly tls.decrypt_failed --note "server application data cannot be decrypted: tshark and sockscope see only the client's messages" $(logs)
}
rec_tls/wss-dsb() {
  wss_capture wss-dsb ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 "WebSocket chat over TLS 1.2 (ECDHE-RSA-AES128-GCM-SHA256) in a pcapng whose Decryption Secrets Block carries the key log (editcap --inject-secrets): no key log file needed" --tls-max 1.2
  editcap --inject-secrets "tls,$HERE/tls/wss-dsb.keys" "$HERE/tls/wss-dsb.pcap" "$HERE/tls/wss-dsb.pcapng"
  rm -f "$HERE/tls/wss-dsb.pcap" "$HERE/tls/wss-dsb.keys"
  chmod 644 "$HERE/tls/wss-dsb.pcapng"
  "$(PY)" "$PEERS/expect_tls.py" --expected "$EXPECTED/tls/wss-dsb.json" --secrets-in-capture --sni sockscope.test $(logs)
  sed -i 's/"capture": "tls\/wss-dsb.pcap"/"capture": "tls\/wss-dsb.pcapng"/' "$EXPECTED/tls/wss-dsb.json"
}
# --- Sub-protocols inside WebSocket: real libraries on both sides (peers/sub/), expected
# files from what they logged (peers/sub/expect_sub.py), checked against tshark.
sub_expected() { # sub_expected NAME PROTOCOL PORT DESCRIPTION
  "$(PY)" "$PEERS/sub/expect_sub.py" expect --name "$1" --protocol "$2" --port "$3" --server $SRV4 \
    --description "$4" --recorded-by "captures/record.sh sub/$1" --out "$EXPECTED/sub/$1.json" $(logs)
}
# A RabbitMQ broker in the server namespace with one WebSocket plugin (rabbitmq_web_stomp or
# rabbitmq_web_mqtt) listening on its usual port; its files in $WORK/rmq (owned by the
# rabbitmq user, which the server runs as). Its own AMQP listener stays on the loopback.
rabbitmq() { # rabbitmq PLUGIN PORT
  local dir=$WORK/rmq
  mkdir -p "$dir/mnesia" "$dir/log"
  printf '[%s].\n' "$1" >"$dir/enabled_plugins"
  local key=${1#rabbitmq_}
  printf 'listeners.tcp.default = 127.0.0.1:5672\nloopback_users = none\n%s.tcp.port = %s\n%s\n' \
    "$key" "$2" "$( [ "$key" = web_stomp ] && echo 'stomp.listeners.tcp = none' || echo 'mqtt.listeners.tcp = none')" >"$dir/rabbitmq.conf"
  chown -R rabbitmq:rabbitmq "$dir"
  start rabbit $NS_S env HOME="$dir" RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_MNESIA_BASE="$dir/mnesia" \
    RABBITMQ_FEATURE_FLAGS_FILE="$dir/mnesia/feature_flags" RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_CONFIG_FILE="$dir/rabbitmq" \
    RABBITMQ_PID_FILE="$dir/pid" rabbitmq-server
  local i
  for i in $(seq 120); do
    ip netns exec $NS_S ss -ltn "sport = :$2" | grep -q LISTEN && return 0
    kill -0 "$(pid_of rabbit)" 2>/dev/null || { cat "$WORK/rabbit.out" >&2; die "rabbitmq-server died"; }
    sleep 0.25
  done
  cat "$WORK/rabbit.out" >&2
  die "rabbitmq-server did not listen on $2"
}
rec_sub/socketio() {
  start sio $NS_S "$(PY)" "$PEERS/sub/socketio_peers.py" server $SRV4 80 "$WORK/server.jsonl"
  wait_ready sio
  cap_start $NS_S "$HERE/sub/socketio.pcap" -i $IF_S "tcp port 80 or arp"
  start sioc $NS_C "$(PY)" "$PEERS/sub/socketio_peers.py" client "http://$SRV4" "$WORK/client.jsonl"
  finish sioc
  finish sio
  cap_stop
  sub_expected socketio socket.io 80 "python-socketio 5 server (aiohttp) and client, WebSocket transport only (Engine.IO 4): three acknowledged 'chat message' calls, an 'upload' with a 2048-byte binary attachment (acknowledged), the server's 'thumbnail' event with a 64-byte attachment, an event on the /news namespace"
}
rec_sub/stomp() {
  rabbitmq rabbitmq_web_stomp 15674
  cap_start $NS_S "$HERE/sub/stomp.pcap" -i $IF_S "tcp port 15674 or arp"
  start stompc $NS_C node "$PEERS/sub/stomp_client.mjs" "ws://$SRV4:15674/ws" "$WORK/client.jsonl"
  finish stompc
  cap_stop
  stop rabbit
  sub_expected stomp stomp 15674 "@stomp/stompjs 7 (node, ws) against RabbitMQ 3.10 Web-STOMP, subprotocol v12.stomp: CONNECT with 1000 ms heart-beats, SUBSCRIBE with a receipt, three JSON SENDs with receipts and their MESSAGEs, heart-beats while idle, DISCONNECT"
}
rec_sub/mqtt() {
  rabbitmq rabbitmq_web_mqtt 15675
  cap_start $NS_S "$HERE/sub/mqtt.pcap" -i $IF_S "tcp port 15675 or arp"
  start mqttc $NS_C "$(PY)" "$PEERS/sub/mqtt_client.py" $SRV4 15675 /ws "$WORK/client.jsonl"
  finish mqttc
  cap_stop
  stop rabbit
  sub_expected mqtt mqtt 15675 "paho-mqtt 2 (transport=websockets, MQTT 3.1.1) against RabbitMQ 3.10 Web-MQTT, subprotocol mqtt: CONNECT, SUBSCRIBE sensors/# at QoS 1, PUBLISH at QoS 0 and 1 (one of 3092 bytes) with PUBACKs, the broker's PUBLISHes back with the client's PUBACKs, PINGREQ, UNSUBSCRIBE, DISCONNECT"
}
rec_sub/graphql-transport-ws() {
  start gqls $NS_S node "$PEERS/sub/graphql_peers.mjs" server $SRV4 80 "$WORK/server.jsonl"
  wait_ready gqls
  cap_start $NS_S "$HERE/sub/graphql-transport-ws.pcap" -i $IF_S "tcp port 80 or arp"
  start gqlc $NS_C node "$PEERS/sub/graphql_peers.mjs" client "ws://$SRV4/graphql" "$WORK/client.jsonl"
  finish gqlc
  finish gqls
  cap_stop
  sub_expected graphql-transport-ws graphql-transport-ws 80 "graphql-ws 6 server (useServer on ws) and client, subprotocol graphql-transport-ws: a named query, an anonymous query, a subscription streaming three greetings, a query whose resolver throws"
}
rec_sub/jsonrpc() {
  start rpcs $NS_S "$(PY)" "$PEERS/sub/jsonrpc_peers.py" server $SRV4 80 "$WORK/server.jsonl"
  wait_ready rpcs
  cap_start $NS_S "$HERE/sub/jsonrpc.pcap" -i $IF_S "tcp port 80 or arp"
  start rpcc $NS_C "$(PY)" "$PEERS/sub/jsonrpc_peers.py" client "ws://$SRV4/rpc" "$WORK/client.jsonl"
  finish rpcc
  finish rpcs
  cap_stop
  sub_expected jsonrpc json-rpc 80 "JSON-RPC 2.0 over python websockets, subprotocol jsonrpc-2.0: jsonrpcserver dispatches, jsonrpcclient builds the requests: three calls, a missing method (-32601), an application error, a notification, a batch of two calls"
}

# ---------------------------------------------------------------- main

main() {
  if [ "${1:-}" = --list ]; then
    printf '%s\n' "${ALL_GOOD[@]}"
    printf 'bad/%s\n' "${ALL_BAD[@]}"
    printf 'tls/%s\n' "${ALL_TLS[@]}"
    printf 'sub/%s\n' "${ALL_SUB[@]}"
    exit 0
  fi
  [ "$(id -u)" -eq 0 ] || die "run as root (network namespaces, packet capture): sudo $0 $*"
  local names=("$@")
  if [ ${#names[@]} -eq 0 ]; then
    names=("${ALL_GOOD[@]}")
    local b
    for b in "${ALL_BAD[@]}"; do names+=("bad/$b"); done
    for b in "${ALL_TLS[@]}"; do names+=("tls/$b"); done
    for b in "${ALL_SUB[@]}"; do names+=("sub/$b"); done
  fi
  local n
  for n in "${names[@]}"; do
    declare -F "rec_$n" >/dev/null || declare -F "rec_bad/$n" >/dev/null || die "unknown capture '$n' (see --list)"
  done

  trap cleanup EXIT
  trap 'exit 130' INT TERM
  WORK=$(mktemp -d /tmp/sockscope-record.XXXXXX)
  chmod 755 "$WORK"
  ensure_tools "${names[@]}"
  mkdir -p "$HERE/bad" "$EXPECTED/bad" "$HERE/tls" "$EXPECTED/tls" "$HERE/sub" "$EXPECTED/sub"
  for n in "${names[@]}"; do
    declare -F "rec_$n" >/dev/null || n=bad/$n
    say "recording $n"
    rm -rf "${WORK:?}"/*
    mkdir -p "$WORK"
    net_up
    "rec_$n"
    stop_pids
    net_down
    check "$n"
  done
  write_versions
  say "done: ${#names[@]} capture(s)"
}

main "$@"
