"""Socket.IO (python-socketio over aiohttp, Engine.IO 4) server and client, WebSocket transport
only: the client calls `chat message` three times (each acknowledged), uploads a file as a
binary attachment (acknowledged with its size), and the server answers the upload with a
`thumbnail` event carrying binary data, then pushes a `news` event to a namespace.

    python socketio_peers.py server HOST PORT LOGFILE
    python socketio_peers.py client URL LOGFILE
"""

import asyncio
import json
import sys
import time

import socketio


def logger(path, role):
    f = open(path, "a", buffering=1)

    def log(ev, **fields):
        f.write(json.dumps({"ts": time.time(), "role": role, "ev": ev, **fields}, sort_keys=True) + "\n")

    return log


async def server(host, port, log_path):
    from aiohttp import web

    log = logger(log_path, "server")
    sio = socketio.AsyncServer(async_mode="aiohttp")
    app = web.Application()
    sio.attach(app)
    done = asyncio.Event()

    @sio.event
    async def connect(sid, environ, auth=None):
        log("connect", sid=sid)

    @sio.on("chat message")
    async def chat(sid, text):
        log("event", event="chat message", args=[text])
        return "ok", len(text)

    @sio.on("upload")
    async def upload(sid, name, blob):
        log("event", event="upload", args=[name], attachment_len=len(blob))
        await sio.emit("thumbnail", {"name": name, "png": bytes(blob[:64])}, to=sid)
        log("emit", event="thumbnail", attachment_len=64)
        return {"stored": name, "bytes": len(blob)}

    @sio.on("*", namespace="/news")
    async def any_news(event, sid, *args):
        log("event", event=event, namespace="/news", args=list(args))

    async def connect_news(sid, environ, auth=None):
        log("connect", sid=sid, namespace="/news")

    sio.on("connect", connect_news, namespace="/news")

    @sio.event
    async def disconnect(sid, reason=None):
        log("disconnect", sid=sid)
        done.set()

    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print("READY", flush=True)
    await done.wait()
    await asyncio.sleep(0.3)
    await runner.cleanup()


async def client(url, log_path):
    log = logger(log_path, "client")
    sio = socketio.AsyncClient()
    thumb = asyncio.Event()

    @sio.on("thumbnail")
    async def thumbnail(data):
        log("event", event="thumbnail", attachment_len=len(data["png"]))
        thumb.set()

    await sio.connect(url, transports=["websocket"], namespaces=["/", "/news"])
    log("connected")
    for text in ["hello", "how are you?", "bye for now"]:
        t0 = time.time()
        result = await sio.call("chat message", text, timeout=10)
        log("ack", event="chat message", args=[text], result=list(result), ms=(time.time() - t0) * 1000)
    blob = bytes(range(256)) * 8
    t0 = time.time()
    result = await sio.call("upload", ("photo.png", blob), timeout=10)
    log("ack", event="upload", args=["photo.png"], attachment_len=len(blob), result=result, ms=(time.time() - t0) * 1000)
    await asyncio.wait_for(thumb.wait(), 10)
    await sio.emit("headline", {"title": "sockscope decodes Socket.IO"}, namespace="/news")
    log("emit", event="headline", namespace="/news")
    await asyncio.sleep(0.3)
    await sio.disconnect()
    log("disconnected")


if __name__ == "__main__":
    if sys.argv[1] == "server":
        asyncio.run(server(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
    else:
        asyncio.run(client(sys.argv[2], sys.argv[3]))
