# The benchmark shapes: which bundled captures each is made of (examples/bigcap.rs replays
# them, endpoints renumbered per copy). Sourced by benches/run.sh and benches/instructions.sh,
# so that both measure the same traffic; $CAPTURES is the directory of the bundled captures.

# The TLS shape's templates (their key logs beside them).
TLS_TEMPLATES="tls/wss-tls13-aes128 tls/wss-tls13-aes256 tls/wss-tls13-chacha20 tls/wss-tls12-ecdhe-gcm
tls/wss-tls12-ecdhe-chacha20 tls/wss-tls12-cbc-etm tls/wss-tls12-cbc-noetm tls/https-keepalive tls/https-h2
tls/chromium-wss tls/tls13-keyupdate"

# templates SHAPE: the capture files SHAPE is made of.
templates() {
    local names
    case "$1" in
        mix | mix4g | flows) names="ws-chat ws-lengths http-keepalive ws-deflate ws-fragmented sse long-poll polling" ;;
        ws) names="ws-chat ws-deflate ws-fragmented" ;;
        http) names="http-keepalive polling" ;;
        tls) names="$TLS_TEMPLATES" ;;
    esac
    for n in $names; do printf '%s/%s.pcap ' "$CAPTURES" "$n"; done
}
