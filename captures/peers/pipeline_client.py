"""HTTP/1.1 pipelining client: writes several requests back to back on one connection, in a
single send, before reading any response (what pipelining clients such as old browsers, apt
and many HTTP libraries do), then reads the responses in order.

    python pipeline_client.py HOST PORT LOG [TARGET ...]

Targets default to "/", "/resource" and "/chunked". Responses are read by their framing
(Content-Length or chunked), so any number of them, of any size, can follow each other.
"""

import re
import socket
import sys

from peerlog import PeerLog

host, port, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
targets = sys.argv[4:] or ["/", "/resource", "/chunked"]
log = PeerLog(log_path, "client")

requests = b"".join(
    f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sockscope-pipeline/1.0\r\nAccept: */*\r\n\r\n".encode()
    for target in targets
)


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed before the responses ended")
        self.buf += data

    def until(self, marker):
        while marker not in self.buf:
            self.fill()
        at = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:at], self.buf[at:]
        return out

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self):
        """One response: (status, body length)."""
        head = self.until(b"\r\n\r\n")
        status = int(re.match(rb"HTTP/1\.[01] (\d{3}) ", head).group(1))
        length = re.search(rb"(?im)^content-length:\s*(\d+)\r$", head)
        if length:
            return status, len(self.exactly(int(length.group(1))))
        body = 0
        while True:  # chunked
            size = int(self.until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                self.until(b"\r\n")  # no trailers here
                return status, body
            body += len(self.exactly(size + 2)) - 2


with socket.create_connection((host, port), timeout=10) as sock:
    log("connected", local=list(sock.getsockname()[:2]))
    for target in targets:
        log("request_sent", method="GET", target=target)
    sock.sendall(requests)
    reader = Reader(sock)
    statuses = []
    for target in targets:
        status, length = reader.response()
        statuses.append(str(status))
        log("response_rcvd", target=target, status=status, len=length)
    log("responses_rcvd", statuses=statuses)
