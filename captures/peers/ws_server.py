"""WebSocket server for the sample captures: the `websockets` library, scripted by its client.

It echoes what it gets (text as "echo: <text>", binary byte for byte) and obeys a few text
commands so that the client script alone decides what a session contains:

    push N          N server-initiated JSON notifications, then a ping, then "pushed"
    frag            a fragmented text message with a ping between two fragments, a
                    fragmented binary message, then "fragged"
    stream N MS     N text updates MS milliseconds apart, then "end"
    close CODE WHY  the server closes the connection with that code and reason

Everything sent and received is logged through peerlog (lengths and SHA-256 of payloads).
"""

import argparse
import asyncio
import json
import ssl
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from peerlog import PeerLog, ready

parser = argparse.ArgumentParser()
parser.add_argument("--host", required=True)
parser.add_argument("--port", type=int, default=80)
parser.add_argument("--log", required=True)
parser.add_argument("--deflate", action="store_true", help="accept permessage-deflate")
parser.add_argument("--subprotocol", action="append", default=[], help="subprotocol to accept")
parser.add_argument(
    "--answer-binary-with-text",
    action="store_true",
    help="answer each binary message with a text message of the same length instead of an echo",
)
parser.add_argument("--max-connections", type=int, default=1, help="exit after this many sessions")
parser.add_argument("--tls-cert", help="serve wss:// with this certificate chain (PEM)")
parser.add_argument("--tls-key", help="private key of --tls-cert")
parser.add_argument("--tls-max", choices=["1.2", "1.3"], default="1.3", help="highest TLS version")
parser.add_argument("--ciphers", help="OpenSSL cipher list for TLS <= 1.2")
parser.add_argument("--no-etm", action="store_true", help="refuse encrypt-then-MAC (RFC 7366) for CBC suites")
args = parser.parse_args()
log = PeerLog(args.log, "server")


def text_of_length(n: int) -> str:
    pattern = "sockscope sample text of an exact length. "
    return (pattern * (n // len(pattern) + 1))[:n]


class Session:
    def __init__(self, ws):
        self.ws = ws
        self.peer = ws.remote_address

    async def send(self, message, frames=1):
        opcode = "text" if isinstance(message, str) else "binary"
        log.message("msg_sent", opcode, message, frames=frames)
        await self.ws.send(message)

    async def send_fragments(self, fragments, ping_after=None):
        """Send one message as several frames; optionally a ping between two fragments."""
        opcode = "text" if isinstance(fragments[0], str) else "binary"
        whole = "".join(fragments) if opcode == "text" else b"".join(fragments)
        # websockets ends a fragmented message with an empty FIN continuation frame.
        log.message("msg_sent", opcode, whole, frames=len(fragments) + 1)

        async def produce():
            for index, fragment in enumerate(fragments):
                yield fragment
                if ping_after is not None and index == ping_after:
                    await self.ping(b"ping-between-fragments", wait=False)

        await self.ws.send(produce())

    async def ping(self, payload: bytes, wait=True):
        log("ping_sent", opcode="ping", len=len(payload), sha256=_sha(payload))
        waiter = await self.ws.ping(payload)

        async def pong_seen():
            await waiter
            # The client's library answered by itself: the pong's payload is the ping's.
            log("pong_rcvd", opcode="pong", len=len(payload), sha256=_sha(payload))

        if wait:
            await pong_seen()
        else:
            asyncio.get_running_loop().create_task(pong_seen())

    async def command(self, text: str) -> bool:
        words = text.split(" ", 2)
        if words[0] == "push" and len(words) == 2:
            for seq in range(1, int(words[1]) + 1):
                await self.send(json.dumps({"event": "tick", "seq": seq, "note": "pushed by the server"}))
                await asyncio.sleep(0.05)
            await self.ping(b"srv-ping")
            await self.send("pushed")
        elif words[0] == "frag" and len(words) == 1:
            await self.send_fragments(["Server ", "sends ", "this in ", "fragments"], ping_after=1)
            await self.send_fragments([bytes(range(0, 10)), bytes(range(10, 20))])
            await self.send("fragged")
        elif words[0] == "stream" and len(words) == 3:
            for seq in range(1, int(words[1]) + 1):
                await self.send(f"update {seq:02d}: the price of tea is {100 + seq} pence")
                await asyncio.sleep(int(words[2]) / 1000)
            await self.send("end")
        elif words[0] == "close" and len(words) == 3:
            log("close_requested", code=int(words[1]), reason=words[2])
            await self.ws.close(int(words[1]), words[2])
            return False
        else:
            await self.send("echo: " + text)
        return True

    async def run(self):
        async for message in self.ws:
            opcode = "text" if isinstance(message, str) else "binary"
            log.message("msg_rcvd", opcode, message)
            if opcode == "text":
                if not await self.command(message):
                    break
            elif args.answer_binary_with_text:
                await self.send(text_of_length(len(message)))
            else:
                await self.send(message)


def _sha(data: bytes) -> str:
    from peerlog import sha256

    return sha256(data)


sessions_done = asyncio.Event()
finished = 0


async def handler(ws):
    global finished
    request, response = ws.request, ws.response
    log(
        "handshake",
        peer=list(ws.remote_address[:2]),
        local=list(ws.local_address[:2]),
        method="GET",
        target=request.path,
        status=response.status_code,
        subprotocol=ws.subprotocol,
        extensions=response.headers.get("Sec-WebSocket-Extensions"),
    )
    # Kept: once the transport is gone the connection no longer knows its peer.
    peer = list(ws.remote_address[:2])
    tls = ws.transport.get_extra_info("ssl_object")
    if tls is not None:
        log(
            "tls",
            peer=list(ws.remote_address[:2]),
            version=tls.version(),
            cipher=tls.cipher()[0],
            alpn=tls.selected_alpn_protocol(),
            sni=tls.server_hostname if hasattr(tls, "server_hostname") else None,
        )
    session = Session(ws)
    try:
        await session.run()
        await ws.wait_closed()
    except ConnectionClosed:
        pass
    finally:
        protocol = ws.protocol
        sent, rcvd = protocol.close_sent, protocol.close_rcvd
        log(
            "closed",
            peer=peer,
            close_sent=[sent.code, sent.reason] if sent else None,
            close_rcvd=[rcvd.code, rcvd.reason] if rcvd else None,
        )
        finished += 1
        if finished >= args.max_connections:
            sessions_done.set()


async def process_request(connection, request):
    # Plain HTTP requests to a WebSocket-only server are answered by the library (426);
    # the log keeps them so expected results list every HTTP exchange.
    if request.headers.get("Upgrade", "").lower() != "websocket":
        log("http_without_upgrade", target=request.path)
    return None


def tls_context():
    if not args.tls_cert:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3 if args.tls_max == "1.3" else ssl.TLSVersion.TLSv1_2
    if args.ciphers:
        ctx.set_ciphers(args.ciphers)
    if args.no_etm:
        ctx.options |= 1 << 19  # SSL_OP_NO_ENCRYPT_THEN_MAC (OpenSSL 3)
    return ctx


async def main():
    async with serve(
        handler,
        args.host,
        args.port,
        compression="deflate" if args.deflate else None,
        subprotocols=args.subprotocol or None,
        ping_interval=None,
        max_size=2**22,
        process_request=process_request,
        ssl=tls_context(),
    ):
        ready(f"ws {args.host}:{args.port}")
        await sessions_done.wait()
        # Give the closing handshake and TCP teardown time to reach the wire.
        await asyncio.sleep(0.3)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
