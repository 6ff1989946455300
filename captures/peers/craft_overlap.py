"""Craft tcp-overlap-conflict.pcap: an HTTP exchange in which one retransmitted segment carries
bytes that differ from the original (no real TCP stack does this; IDS evasion tools and broken
middleboxes do). Written with scapy's wrpcap; checksums are computed by scapy.

    python craft_overlap.py OUT.pcap LOG

The request is sent as "GET " + "/index.html HTTP/1.1...". The second segment arrives first
(the first is reordered behind it), then a retransmission of the same range saying
"/evil!.html HTTP/1.1..." while the original still waits out of order, then the first segment.
A reassembler that keeps the first-seen bytes (as the contract asks) reports /index.html and a
tcp.overlap_conflict warning.
"""

import sys
import time

from scapy.all import IP, TCP, Ether, wrpcap

from peerlog import PeerLog

out, log_path = sys.argv[1], sys.argv[2]
log = PeerLog(log_path, "crafted")

CLIENT, SERVER = ("192.0.2.1", 41000), ("192.0.2.80", 80)
CMAC, SMAC = "02:00:00:00:00:01", "02:00:00:00:00:50"
ISN_C, ISN_S = 1_000_000, 5_000_000

request = (
    b"GET /index.html HTTP/1.1\r\nHost: 192.0.2.80\r\nUser-Agent: sockscope-crafted/1.0\r\n"
    b"Accept: */*\r\n\r\n"
)
conflict = request.replace(b"/index.html", b"/evil!.html")
assert len(conflict) == len(request)
body = b"<html><body>index</body></html>\n"
response = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
    + str(len(body)).encode()
    + b"\r\nServer: sockscope-crafted/1.0\r\n\r\n"
    + body
)

t = time.time()
packets = []


def c2s(flags, seq, ack, payload=b"", dt=0.0001):
    global t
    t += dt
    p = Ether(src=CMAC, dst=SMAC) / IP(src=CLIENT[0], dst=SERVER[0], ttl=64) / TCP(
        sport=CLIENT[1], dport=SERVER[1], flags=flags, seq=seq, ack=ack, window=64240) / payload
    p.time = t
    packets.append(p)


def s2c(flags, seq, ack, payload=b"", dt=0.0001):
    global t
    t += dt
    p = Ether(src=SMAC, dst=CMAC) / IP(src=SERVER[0], dst=CLIENT[0], ttl=64) / TCP(
        sport=SERVER[1], dport=CLIENT[1], flags=flags, seq=seq, ack=ack, window=65160) / payload
    p.time = t
    packets.append(p)


c2s("S", ISN_C, 0)
s2c("SA", ISN_S, ISN_C + 1)
c2s("A", ISN_C + 1, ISN_S + 1)
# The first segment ("GET ") is held up on the way (reordering), so the rest of the request
# arrives first and waits, out of order, in the receiver's reassembly queue. While it waits, a
# "retransmission" of that rest arrives carrying different bytes. Then the first segment.
split = 4
c2s("PA", ISN_C + 1 + split, ISN_S + 1, request[split:])
c2s("PA", ISN_C + 1 + split, ISN_S + 1, conflict[split:], dt=0.2)
log("conflict", dir="c2s", seq_offset=split, len=len(request) - split,
    original=request[split:].decode(), retransmitted=conflict[split:].decode())
c2s("PA", ISN_C + 1, ISN_S + 1, request[:split], dt=0.0002)
s2c("A", ISN_S + 1, ISN_C + 1 + len(request))
s2c("PA", ISN_S + 1, ISN_C + 1 + len(request), response, dt=0.002)
c2s("A", ISN_C + 1 + len(request), ISN_S + 1 + len(response))
c2s("FA", ISN_C + 1 + len(request), ISN_S + 1 + len(response), dt=0.01)
s2c("FA", ISN_S + 1 + len(response), ISN_C + 2 + len(request))
c2s("A", ISN_C + 2 + len(request), ISN_S + 2 + len(response))

log("connected", local=[CLIENT[0], CLIENT[1]])
log("http", peer=[CLIENT[0], CLIENT[1]], method="GET", target="/index.html", version="HTTP/1.1", status=200,
    req_body=0, resp_body=len(body), chunked=False, upgrade=None)
wrpcap(out, packets)
