"""Raw-socket WebSocket peers that break exactly one rule of RFC 6455 (or RFC 7692).

No real library misbehaves on purpose, so these peers write the exact bytes themselves,
against a real library on the other side (a `websockets` server, or a `ws` client), which then
reacts as it would in the field (usually a close with 1002 or 1007).

    python raw_ws.py client VIOLATION HOST PORT LOG    # against a websockets server
    python raw_ws.py server VIOLATION HOST PORT LOG    # for a ws client to connect to

Each peer logs the valid messages it sends (msg_sent), the rule-breaking bytes (injected, with
their hex and the anomaly code they must raise), its close frames (close_sent) and what it
receives.
"""

import base64
import hashlib
import os
import socket
import struct
import sys
import zlib

from peerlog import PeerLog, ready, sha256

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CLIENT_VIOLATIONS = {
    "unmasked-client-frame", "reserved-opcode", "rsv-without-extension", "control-too-long",
    "control-fragmented", "unexpected-continuation", "interleaved-data", "invalid-utf8",
    "invalid-close-code", "data-after-close", "non-minimal-length", "inflate-error",
}
SERVER_VIOLATIONS = {"accept-mismatch", "handshake-invalid", "masked-server-frame"}

OPCODE_NAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def frame(opcode, payload, *, fin=True, rsv=0, mask=True, length_form=None):
    """Encode one frame. `length_form` forces 7, 16 or 64-bit length encoding."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    form = length_form or (7 if n <= 125 else 16 if n <= 0xFFFF else 64)
    mask_bit = 0x80 if mask else 0
    if form == 7:
        header = struct.pack("!BB", first, mask_bit | n)
    elif form == 16:
        header = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Conn:
    def __init__(self, sock, log, is_client):
        self.sock, self.log, self.is_client = sock, log, is_client
        self.buf = b""
        self.close_sent = False

    def recv_more(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def read_http_head(self):
        while b"\r\n\r\n" not in self.buf:
            self.recv_more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return lines[0], headers

    def read_frame(self):
        while True:
            if len(self.buf) >= 2:
                b0, b1 = self.buf[0], self.buf[1]
                n, pos = b1 & 0x7F, 2
                if n == 126 and len(self.buf) >= 4:
                    n, pos = struct.unpack("!H", self.buf[2:4])[0], 4
                elif n == 127 and len(self.buf) >= 10:
                    n, pos = struct.unpack("!Q", self.buf[2:10])[0], 10
                elif n >= 126:
                    self.recv_more()
                    continue
                key = None
                if b1 & 0x80:
                    key, pos = self.buf[pos:pos + 4], pos + 4
                if len(self.buf) >= pos + n:
                    payload = self.buf[pos:pos + n]
                    self.buf = self.buf[pos + n:]
                    if key:
                        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
                    return b0 & 0x0F, payload, bool(b0 & 0x40)
            self.recv_more()

    def send(self, data):
        self.sock.sendall(data)

    def send_message(self, opcode, payload, **kw):
        self.log.message("msg_sent", OPCODE_NAMES[opcode], payload)
        self.send(frame(opcode, payload, mask=self.is_client, **kw))

    def inject(self, anomaly, raw, note, also_listed=False):
        # also_listed: the frame is also one of the logged messages or close frames (a message
        # the peer accepted, or this side's close), so counting frames must not count it twice.
        self.log("injected", anomaly=anomaly, hex=raw.hex(), note=note, also_listed=also_listed)
        self.send(raw)

    def send_close(self, code, reason=b""):
        self.log("close_sent", code=code, reason=reason.decode(errors="replace"))
        self.send(frame(8, close_payload(code, reason), mask=self.is_client))
        self.close_sent = True

    def finish(self):
        """Read until the peer's close (answering it if we have not closed yet), then EOF."""
        try:
            while True:
                opcode, payload, _ = self.read_frame()
                if opcode == 8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    reason = payload[2:].decode(errors="replace")
                    self.log("close_rcvd", code=code, reason=reason)
                    if not self.close_sent:
                        self.send_close(code if code is not None else 1000, payload[2:])
                    break
                self.log.message("msg_rcvd", OPCODE_NAMES.get(opcode, f"reserved-{opcode}"), payload)
        except EOFError:
            self.log("eof")
            return
        if not self.is_client:
            # The server closes TCP first after the closing handshake (RFC 6455 7.1.1).
            self.sock.shutdown(socket.SHUT_WR)
        try:
            while True:
                self.recv_more()
        except (EOFError, ConnectionResetError):
            pass


def run_client(violation, host, port, log):
    sock = socket.create_connection((host, port), timeout=15)
    conn = Conn(sock, log, is_client=True)
    key = base64.b64encode(os.urandom(16)).decode()
    extensions = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if violation == "inflate-error" else ""
    request = (
        f"GET /chat HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sockscope-raw-client/1.0\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n{extensions}\r\n"
    )
    log("connected", local=list(sock.getsockname()[:2]))
    conn.send(request.encode())
    status, headers = conn.read_http_head()
    log("handshake", method="GET", target="/chat", status=int(status.split()[1]),
        extensions=headers.get("sec-websocket-extensions"), subprotocol=headers.get("sec-websocket-protocol"))
    expected = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    if headers.get("sec-websocket-accept") != expected:
        sys.exit("server sent a wrong accept key")

    deflate = "permessage-deflate" in headers.get("sec-websocket-extensions", "")
    compressor = zlib.compressobj(wbits=-15)
    if deflate:
        data = compressor.compress(b"hello") + compressor.flush(zlib.Z_SYNC_FLUSH)
        log.message("msg_sent", "text", b"hello", compressed=True)
        conn.send(frame(1, data[:-4], rsv=4))
    else:
        conn.send_message(1, b"hello")
    opcode, payload, _ = conn.read_frame()
    log("frame_rcvd", opcode=OPCODE_NAMES.get(opcode), len=len(payload))

    if violation == "unmasked-client-frame":
        conn.inject("ws.unmasked_client_frame", frame(1, b"I forgot my mask", mask=False), "text frame with MASK=0")
    elif violation == "reserved-opcode":
        conn.inject("ws.reserved_opcode", frame(3, b"opcode three"), "frame with opcode 0x3")
    elif violation == "rsv-without-extension":
        conn.inject("ws.rsv_without_extension", frame(1, b"rsv1 set", rsv=4), "text frame with RSV1=1, no extension negotiated")
    elif violation == "control-too-long":
        conn.inject("ws.control_too_long", frame(9, b"p" * 126), "ping with a 126-byte payload")
    elif violation == "control-fragmented":
        conn.inject("ws.control_fragmented", frame(9, b"frag-ping", fin=False), "ping with FIN=0")
    elif violation == "unexpected-continuation":
        conn.inject("ws.unexpected_continuation", frame(0, b"orphan continuation"), "continuation frame with no message in progress")
    elif violation == "interleaved-data":
        conn.inject("ws.interleaved_data", frame(1, b"first part, ", fin=False) + frame(1, b"a new message"),
                    "text FIN=0, then a new text frame instead of a continuation")
    elif violation == "invalid-utf8":
        conn.inject("ws.invalid_utf8", frame(1, b"caf\xc3\x28 is not UTF-8"), "text frame whose payload is not UTF-8")
    elif violation == "invalid-close-code":
        conn.log("close_sent", code=1005, reason="")
        conn.close_sent = True
        conn.inject("ws.invalid_close_code", frame(8, close_payload(1005)), "close frame carrying code 1005 (reserved, never on the wire)", also_listed=True)
    elif violation == "data-after-close":
        conn.send_close(1000, b"bye")
        conn.inject("ws.data_after_close", frame(1, b"one more thing"), "text frame after this side's close")
    elif violation == "non-minimal-length":
        log.message("msg_sent", "text", b"short")
        conn.inject("ws.non_minimal_length", frame(1, b"short", length_form=16), "5-byte text frame with a 16-bit length", also_listed=True)
    elif violation == "inflate-error":
        conn.inject("ws.inflate_error", frame(1, b"\xff\xfe\xfd\xfc not deflate", rsv=4), "RSV1 text frame whose payload does not inflate")
    if violation == "non-minimal-length":
        opcode, payload, _ = conn.read_frame()
        log.message("msg_rcvd", OPCODE_NAMES.get(opcode), payload)
        conn.send_close(1000, b"bye")
    conn.finish()
    sock.close()


def run_server(violation, host, port, log):
    listener = socket.create_server((host, port), reuse_port=False)
    ready(f"raw ws server {host}:{port}")
    sock, peer = listener.accept()
    sock.settimeout(15)
    conn = Conn(sock, log, is_client=False)
    request_line, headers = conn.read_http_head()
    key = headers.get("sec-websocket-key", "")
    target = request_line.split()[1]
    accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    upgrade = "Upgrade: websocket\r\n"
    if violation == "accept-mismatch":
        # A classic server bug: hashing the key without the GUID.
        accept = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
    elif violation == "handshake-invalid":
        upgrade = ""
    response = (
        f"HTTP/1.1 101 Switching Protocols\r\nServer: sockscope-raw-server/1.0\r\n{upgrade}"
        f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    log("handshake", peer=list(peer[:2]), method="GET", target=target, status=101, subprotocol=None, extensions=None)
    if violation == "accept-mismatch":
        conn.inject("ws.accept_mismatch", response.encode(), "Sec-WebSocket-Accept computed without the GUID")
    elif violation == "handshake-invalid":
        conn.inject("ws.handshake_invalid", response.encode(), "101 response without an Upgrade: websocket header")
    else:
        conn.send(response.encode())
        opcode, payload, _ = conn.read_frame()
        log.message("msg_rcvd", OPCODE_NAMES.get(opcode), payload)
        reply = b"echo: " + payload
        conn.inject("ws.masked_server_frame", frame(1, reply, mask=True), "server-to-client text frame with MASK=1")
    conn.finish()
    sock.close()
    listener.close()


def main():
    role, violation, host, port, log_path = sys.argv[1:6]
    log = PeerLog(log_path, role)
    if role == "client" and violation in CLIENT_VIOLATIONS:
        run_client(violation, host, int(port), log)
    elif role == "server" and violation in SERVER_VIOLATIONS:
        run_server(violation, host, int(port), log)
    else:
        sys.exit(f"unknown {role} violation {violation}")


if __name__ == "__main__":
    main()
