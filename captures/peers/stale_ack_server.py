"""A raw-socket HTTP server that answers the first SYN it gets with a bare ACK for a connection it
does not have (as a stale half-open connection or a middlebox answers), then behaves: it answers
the retransmitted SYN with a SYN-ACK, reads one request and sends a 61440-byte response.

    python stale_ack_server.py IFACE ADDR PORT LOG

The client is a real Linux stack. In SYN-SENT it cannot accept the bare ACK (it does not
acknowledge its SYN), so it answers with a RST whose sequence number is that acknowledgment
(RFC 9293 §3.10.7.3) — a RST for the server's stale connection, far outside the new connection's
sequence space — and retransmits its SYN with the same ISN. A passive analyzer must not end the
flow on that RST.

The server's kernel must not see the port (record.sh drops it in the raw table's PREROUTING);
this peer reads and writes whole Ethernet frames on IFACE with a packet socket, and builds them
with scapy. It implements just enough TCP for one download on a loss-free veth: go-back-N
retransmission after 300 ms without progress, the client's scaled window respected.
"""

import socket
import sys
import time

from scapy.all import IP, TCP, Ether, Raw

from peerlog import PeerLog, ready

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
MSS = 1460
WSCALE = 7
ISN = 0x5EED_0000
BODY = bytes((i * 7 + 13) % 251 for i in range(61440))
STALE_ACK_DISTANCE = 0x6000_0000  # far from the SYN's ISN + 1: no receive window holds it

iface, addr, port, log_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
log = PeerLog(log_path, "server")
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
sock.bind((iface, 0))
sock.settimeout(0.05)
with open(f"/sys/class/net/{iface}/address") as f:
    my_mac = f.read().strip()


class Peer:
    mac = ip = None
    port = isn = None
    window_scale = 0
    window = 65535


peer = Peer()


def send(flags, seq, ack, payload=b"", options=None):
    tcp = TCP(sport=port, dport=peer.port, flags=flags, seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF, window=502)
    if options:
        tcp.options = options
    frame = Ether(src=my_mac, dst=peer.mac) / IP(src=addr, dst=peer.ip, ttl=64) / tcp
    if payload:
        frame = frame / Raw(payload)
    sock.send(bytes(frame))


def segments(deadline):
    """The client's TCP segments to us, until `deadline` (wall clock)."""
    while time.time() < deadline:
        try:
            data, meta = sock.recvfrom(65535)
        except socket.timeout:
            yield None
            continue
        if meta[2] == PACKET_OUTGOING:
            continue
        frame = Ether(data)
        if IP not in frame or TCP not in frame:
            continue
        if frame[IP].dst != addr or frame[TCP].dport != port:
            continue
        yield frame


def syn_options(tcp):
    return {name: value for name, value in tcp.options if isinstance(name, str)}


ready(f"{addr}:{port}")
state = "listen"
request = b""
rcv_nxt = 0
snd_una = snd_nxt = ISN + 1
response = b""
fin_sent = fin_acked = client_fin = False
last_progress = time.time()

for frame in segments(time.time() + 60):
    if frame is not None:
        tcp = frame[TCP]
        flags = str(tcp.flags)
        if state == "listen" and flags == "S":
            peer.mac, peer.ip, peer.port, peer.isn = frame[Ether].src, frame[IP].src, tcp.sport, tcp.seq
            log("connection", peer=[peer.ip, peer.port], local=[addr, port])
            bogus = (peer.isn + 1 + STALE_ACK_DISTANCE) & 0xFFFFFFFF
            # A bare ACK for some other connection: not an acknowledgment of this SYN.
            send("A", ISN + 1, bogus)
            log("stale_ack", peer=[peer.ip, peer.port], ack=bogus, syn_isn=peer.isn)
            state = "stale"
            continue
        if tcp.sport != peer.port or frame[IP].src != peer.ip:
            continue
        if "R" in flags:
            log("rst_received", peer=[peer.ip, peer.port], seq=tcp.seq)
            continue
        if flags == "S":
            if tcp.seq != peer.isn:
                log("script_error", message=f"SYN with a new ISN {tcp.seq}, expected {peer.isn}")
                break
            opts = syn_options(tcp)
            peer.window_scale = opts.get("WScale", 0) if "WScale" in opts else 0
            send("SA", ISN, peer.isn + 1, options=[("MSS", MSS), ("NOP", None), ("WScale", WSCALE)])
            log("syn_ack_sent", peer=[peer.ip, peer.port], isn=ISN)
            rcv_nxt = peer.isn + 1
            state = "established"
            continue
        if state != "established":
            continue
        if "A" in flags:
            ack = tcp.ack
            if 0 < (ack - snd_una) & 0xFFFFFFFF <= len(response) + 1:
                snd_una = ack
                last_progress = time.time()
            if fin_sent and ack == (ISN + 1 + len(response) + 1) & 0xFFFFFFFF:
                fin_acked = True
            peer.window = tcp.window << peer.window_scale
        data = bytes(tcp.payload) if tcp.payload else b""
        if data and tcp.seq == rcv_nxt:
            request += data
            rcv_nxt = (rcv_nxt + len(data)) & 0xFFFFFFFF
            send("A", snd_nxt, rcv_nxt)
            if b"\r\n\r\n" in request and not response:
                head = request.split(b"\r\n\r\n", 1)[0].decode()
                method, target, _version = head.split("\r\n", 1)[0].split(" ")
                response = (
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                    + b"Content-Length: " + str(len(BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + BODY
                )
                log("http", peer=[peer.ip, peer.port], method=method, target=target, version="HTTP/1.1", status=200,
                    req_body=0, resp_body=len(BODY), chunked=False, upgrade=None)
                last_progress = time.time()
        if "F" in flags and not client_fin:
            client_fin = True
            rcv_nxt = (tcp.seq + len(data) + 1) & 0xFFFFFFFF
            send("A", snd_nxt, rcv_nxt)
    if not response:
        continue
    # Send what the window allows; go back to the first unacknowledged byte after a stall.
    end = ISN + 1 + len(response)
    if time.time() - last_progress > 0.3 and snd_una != snd_nxt:
        snd_nxt = snd_una
        fin_sent = fin_sent and snd_una == end + 1
        last_progress = time.time()
    while (snd_nxt - ISN - 1) < len(response) and (snd_nxt - snd_una) < min(peer.window, 65535):
        offset = snd_nxt - ISN - 1
        piece = response[offset:offset + MSS]
        send("PA", snd_nxt, rcv_nxt, piece)
        snd_nxt += len(piece)
    if snd_una == end and not fin_sent:
        send("FA", end, rcv_nxt)
        snd_nxt = end + 1
        fin_sent = True
    if fin_acked and client_fin:
        log("closed", peer=[peer.ip, peer.port])
        break
else:
    log("timeout", message="the download did not finish within 60 s")
    sys.exit(1)
