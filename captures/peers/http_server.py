"""HTTP server for the sample captures: aiohttp, with the routes the recording scenarios use.

    /                 small HTML page
    /resource         ETag'd text; answers 304 to a matching If-None-Match; HEAD allowed
    /chunked          response streamed in chunks (Transfer-Encoding: chunked)
    /echo             POST: answers with what it received
    /chat.html        page that opens a WebSocket to /ws (for Chromium)
    /api/hello        JSON fetched by that page
    /ws               aiohttp WebSocket endpoint (permessage-deflate when offered)
    /events           Server-Sent Events stream
    /poll/long        long-poll: holds each request 1.5 s before answering
    /poll/short       answers at once
    /slow/image       a 40 000-byte binary body (the same pseudo-random bytes for every ?n=),
                      after 1.2 s: a slow server, for pipelined downloads
    /plain            plain 200 that ignores any Upgrade header
    /legacy           426 Upgrade Required for everything

Every request is logged (method, target, status, body lengths, peer) through peerlog, and so
is every WebSocket message and every SSE event.
"""

import argparse
import asyncio
import json
import random
import sys

from aiohttp import WSMsgType, web, web_protocol

from peerlog import PeerLog, ready

parser = argparse.ArgumentParser()
parser.add_argument("--host", action="append", required=True)
parser.add_argument("--port", type=int, default=80)
parser.add_argument("--log", required=True)
parser.add_argument("--tls-cert", help="serve https:// with this certificate chain (PEM)")
parser.add_argument("--tls-key", help="private key of --tls-cert")
args = parser.parse_args()
log = PeerLog(args.log, "server")

ETAG = '"v1-sockscope"'

INDEX = """<!doctype html>
<html><head><title>sockscope sample</title></head>
<body><h1>sockscope sample server</h1><p>Nothing to see here but HTTP.</p></body></html>
"""

CHAT_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>sockscope chat</title></head>
<body><h1>chat</h1><pre id="out"></pre>
<script>
const out = document.getElementById('out');
const say = (line) => { out.textContent += line + '\\n'; console.log(line); };
fetch('/api/hello').then((r) => r.json()).then((j) => {
  say('api says ' + j.greeting);
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
  ws.binaryType = 'arraybuffer';
  let step = 0;
  ws.onopen = () => ws.send('hello from chromium');
  ws.onmessage = (ev) => {
    say('got ' + (typeof ev.data === 'string' ? ev.data : ev.data.byteLength + ' bytes'));
    step += 1;
    if (step === 1) ws.send(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer);
    else if (step === 2) ws.send('subscribe');
    else if (step === 4) ws.send(JSON.stringify({ text: 'the same words again and again and again' }));
    else if (step === 5) ws.send(JSON.stringify({ text: 'the same words again and again and again!' }));
    else if (step === 6) ws.close(1000, 'page done');
  };
  ws.onclose = (ev) => { say('closed ' + ev.code + ' ' + ev.reason); document.title = 'done'; };
});
</script></body></html>
"""


# Log every accepted connection, including the ones that never carry a request (browsers open
# spare connections ahead of need), so that expected results name every flow of a capture.
_connection_made = web_protocol.RequestHandler.connection_made


def _log_connection_made(self, transport):
    peer = transport.get_extra_info("peername")
    local = transport.get_extra_info("sockname")
    log("connection", peer=list(peer[:2]), local=list(local[:2]))
    return _connection_made(self, transport)


web_protocol.RequestHandler.connection_made = _log_connection_made

# Bytes that do not parse as HTTP never reach the middleware; aiohttp answers them itself.
_handle_error = web_protocol.RequestHandler.handle_error


def _log_handle_error(self, request, status=500, exc=None, message=None):
    response = _handle_error(self, request, status, exc, message)
    peer = self.transport.get_extra_info("peername") if self.transport else None
    log("http", peer=list(peer[:2]) if peer else None, method=None, target=None, version=None, status=status,
        req_body=0, resp_body=len(response.body or b""), chunked=False, upgrade=None, error=str(exc))
    return response


web_protocol.RequestHandler.handle_error = _log_handle_error


_tls_logged = set()


@web.middleware
async def log_requests(request, handler):
    peer = request.transport.get_extra_info("peername") if request.transport else None
    tls = request.transport.get_extra_info("ssl_object") if request.transport else None
    if tls is not None and peer and tuple(peer[:2]) not in _tls_logged:
        _tls_logged.add(tuple(peer[:2]))
        log("tls", peer=list(peer[:2]), version=tls.version(), cipher=tls.cipher()[0],
            alpn=tls.selected_alpn_protocol(), sni=getattr(tls, "server_hostname", None))
    body = await request.read()
    status = None
    resp_body = None
    chunked = False
    try:
        response = await handler(request)
        status = response.status
        if isinstance(response, web.WebSocketResponse):
            status = 101
        elif isinstance(response, web.Response):
            resp_body = 0 if request.method == "HEAD" or status in (204, 304) else len(response.body or b"")
        else:
            resp_body = request.get("resp_body")
            chunked = bool(request.get("chunked"))
        return response
    except web.HTTPException as exc:
        status = exc.status
        resp_body = len(exc.body or b"") if exc.body is not None else 0
        raise
    finally:
        # The WebSocket handler logs its own handshake.
        if status != 101:
            log_http(request, peer, body, status, resp_body, chunked)


def log_http(request, peer, body, status, resp_body, chunked):
    log(
        "http",
        peer=list(peer[:2]) if peer else None,
        method=request.method,
        target=request.path_qs,
        version=f"HTTP/{request.version.major}.{request.version.minor}",
        status=status,
        req_body=len(body),
        resp_body=resp_body,
        chunked=chunked,
        upgrade=request.headers.get("Upgrade"),
    )


async def index(request):
    return web.Response(text=INDEX, content_type="text/html")


async def resource(request):
    headers = {"ETag": ETAG, "Cache-Control": "max-age=0"}
    if request.headers.get("If-None-Match") == ETAG:
        return web.Response(status=304, headers=headers)
    return web.Response(text="This resource carries an ETag.\n", headers=headers)


async def chunked(request):
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    total = 0
    for line in ("first chunk\n", "second, a little longer chunk\n", "third and last chunk\n"):
        data = line.encode()
        total += len(data)
        await response.write(data)
        await asyncio.sleep(0.02)
    await response.write_eof()
    request["resp_body"] = total
    request["chunked"] = True
    return response


async def echo(request):
    body = await request.read()
    return web.json_response({"received_bytes": len(body), "body": body.decode(errors="replace")})


async def chat_page(request):
    return web.Response(text=CHAT_PAGE, content_type="text/html")


async def api_hello(request):
    return web.json_response({"greeting": "hello from aiohttp"})


async def api_orders(request):
    try:
        order = json.loads(await request.read())
    except ValueError:
        return web.json_response({"error": "an order is a JSON object"}, status=400)
    if order.get("item") == "unobtainium":
        return web.json_response({"error": "inventory backend failed"}, status=500)
    return web.json_response({"id": 17, "item": order.get("item")}, status=201)


async def api_status(request):
    return web.json_response({"error": "down for maintenance"}, status=503)


async def websocket(request):
    ws = web.WebSocketResponse(autoclose=False, compress=True, max_msg_size=2**22)
    await ws.prepare(request)
    peer = request.transport.get_extra_info("peername")
    log(
        "handshake",
        peer=list(peer[:2]),
        method="GET",
        target=request.path_qs,
        status=101,
        subprotocol=ws.ws_protocol,
        extensions=ws.headers.get("Sec-WebSocket-Extensions"),
    )

    async def send_str(text):
        log.message("msg_sent", "text", text)
        await ws.send_str(text)

    async def send_bytes(data):
        log.message("msg_sent", "binary", data)
        await ws.send_bytes(data)

    close_rcvd = None
    while True:
        msg = await ws.receive()
        if msg.type == WSMsgType.TEXT:
            log.message("msg_rcvd", "text", msg.data)
            if msg.data == "subscribe":
                for seq in (1, 2):
                    await send_str(json.dumps({"event": "news", "seq": seq, "headline": "sockscope records real browsers"}))
                    await asyncio.sleep(0.05)
            else:
                await send_str("echo: " + msg.data)
        elif msg.type == WSMsgType.BINARY:
            log.message("msg_rcvd", "binary", msg.data)
            await send_bytes(bytes(reversed(msg.data)))
        elif msg.type == WSMsgType.CLOSE:
            close_rcvd = [msg.data, msg.extra or ""]
            break
        else:
            break
    close_sent = [1000, "bye from aiohttp"]
    await ws.close(code=close_sent[0], message=close_sent[1].encode())
    log("closed", peer=list(peer[:2]), close_rcvd=close_rcvd, close_sent=close_sent)
    return ws


async def events(request):
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    sent = [
        {"event": "greeting", "id": "1", "data": ["hello, subscriber"]},
        {"event": "price", "id": "2", "data": ['{"tea": 101}']},
        {"event": "news", "id": "3", "data": ["line one of a multi-line event", "line two", "line three"]},
        {"event": None, "id": "4", "data": ["an event without a name"]},
        {"event": "bye", "id": "5", "data": ["stream ends"]},
    ]
    total = 0
    await response.write(b": sockscope sample stream\nretry: 2000\n\n")
    total += len(b": sockscope sample stream\nretry: 2000\n\n")
    for event in sent:
        lines = []
        if event["event"]:
            lines.append(f"event: {event['event']}")
        lines.append(f"id: {event['id']}")
        lines.extend(f"data: {line}" for line in event["data"])
        block = ("\n".join(lines) + "\n\n").encode()
        log("sse_sent", event=event["event"], id=event["id"], data="\n".join(event["data"]))
        await response.write(block)
        total += len(block)
        await asyncio.sleep(0.2)
    await response.write_eof()
    request["resp_body"] = total
    request["chunked"] = True
    return response


async def poll_long(request):
    await asyncio.sleep(1.5)
    return web.json_response({"round": request.query.get("round"), "news": "something happened"})


SLOW_IMAGE = random.Random(1955).randbytes(40_000)


async def slow_image(request):
    await asyncio.sleep(1.2)
    return web.Response(body=SLOW_IMAGE, content_type="image/webp")


async def poll_short(request):
    return web.json_response({"round": request.query.get("round"), "news": None})


async def plain(request):
    return web.Response(text="This route speaks plain HTTP only.\n")


async def legacy(request):
    return web.Response(status=426, text="Upgrade Required: this endpoint wants TLS/1.0.\n", headers={"Upgrade": "TLS/1.0", "Connection": "Upgrade"})


def tls_context():
    if not args.tls_cert:
        return None
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def main():
    app = web.Application(middlewares=[log_requests])
    app.router.add_get("/", index)
    app.router.add_get("/resource", resource)
    app.router.add_get("/chunked", chunked)
    app.router.add_post("/echo", echo)
    app.router.add_get("/chat.html", chat_page)
    app.router.add_get("/api/hello", api_hello)
    app.router.add_post("/api/orders", api_orders)
    app.router.add_get("/api/status", api_status)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/events", events)
    app.router.add_get("/poll/long", poll_long)
    app.router.add_get("/poll/short", poll_short)
    app.router.add_get("/slow/image", slow_image)
    app.router.add_get("/plain", plain)
    app.router.add_get("/legacy", legacy)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    for host in args.host:
        await web.TCPSite(runner, host, args.port, ssl_context=tls_context()).start()
    ready(f"http {args.host}:{args.port}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
