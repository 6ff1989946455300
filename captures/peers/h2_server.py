"""HTTP/2 server for the TLS sample captures: hypercorn (h2 over TLS, ALPN) with a tiny ASGI
app. Every request is logged through peerlog (method, target, status, body lengths, HTTP
version, peer); the server exits after --requests requests.

    python h2_server.py --host 192.0.2.80 --port 443 --cert server.pem --key server.key \
        --log server.jsonl --requests 3
"""

import argparse
import asyncio
import sys

from hypercorn.asyncio import serve, tcp_server
from hypercorn.config import Config

from peerlog import PeerLog, ready

parser = argparse.ArgumentParser()
parser.add_argument("--host", required=True)
parser.add_argument("--port", type=int, default=443)
parser.add_argument("--cert", required=True)
parser.add_argument("--key", required=True)
parser.add_argument("--log", required=True)
parser.add_argument("--requests", type=int, default=1)
args = parser.parse_args()
log = PeerLog(args.log, "server")
done = asyncio.Event()
served = 0
BODIES = {"/": b"<!doctype html><title>h2</title><p>hello over HTTP/2</p>\n", "/resource": b"resource v1\n" * 40}


async def app(scope, receive, send):
    global served
    if scope["type"] != "http":
        return
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            break
    payload = BODIES.get(scope["path"], b"not found\n")
    status = 200 if scope["path"] in BODIES else 404
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/html"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
    client = scope.get("client") or ("", 0)
    log("http", peer=list(client), method=scope["method"], target=scope["path"],
        version=f"HTTP/{scope['http_version']}", status=status, req_body=len(body),
        resp_body=len(payload), chunked=False, upgrade=None)
    served += 1
    if served >= args.requests:
        done.set()


# hypercorn does not hand the TLS session to the app: log it when a connection starts (after
# its handshake), as the other peers do.
_run = tcp_server.TCPServer.run


async def _run_logging_tls(self):
    tls = self.writer.get_extra_info("ssl_object")
    peer = self.writer.get_extra_info("peername")
    if tls is not None and peer:
        log("tls", peer=list(peer[:2]), version=tls.version(), cipher=tls.cipher()[0],
            alpn=tls.selected_alpn_protocol())
    await _run(self)


tcp_server.TCPServer.run = _run_logging_tls


async def main():
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.certfile = args.cert
    config.keyfile = args.key
    config.alpn_protocols = ["h2", "http/1.1"]
    ready(f"h2 {args.host}:{args.port}")

    async def shutdown():
        await done.wait()
        await asyncio.sleep(0.5)

    await serve(app, config, shutdown_trigger=shutdown)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
