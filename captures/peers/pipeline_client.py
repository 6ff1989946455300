"""HTTP/1.1 pipelining client: writes several requests back to back on one connection, in a
single send, before reading any response (what pipelining clients such as old browsers, apt
and many HTTP libraries do), then reads the responses in order.

    python pipeline_client.py HOST PORT LOG
"""

import re
import socket
import sys

from peerlog import PeerLog

host, port, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
log = PeerLog(log_path, "client")

targets = ["/", "/resource", "/chunked"]
requests = b"".join(
    f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sockscope-pipeline/1.0\r\nAccept: */*\r\n\r\n".encode()
    for target in targets
)

with socket.create_connection((host, port), timeout=10) as sock:
    log("connected", local=list(sock.getsockname()[:2]))
    for target in targets:
        log("request_sent", method="GET", target=target)
    sock.sendall(requests)
    received = b""
    # The last response is chunked: its terminating chunk ends the exchange.
    while not received.endswith(b"0\r\n\r\n"):
        data = sock.recv(65536)
        if not data:
            break
        received += data
    statuses = [m.decode() for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)]
    log("responses_rcvd", statuses=statuses, bytes=len(received))
    if len(statuses) != len(targets):
        sys.exit(f"expected {len(targets)} responses, got {statuses}")
