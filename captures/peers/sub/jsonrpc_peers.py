"""JSON-RPC 2.0 over WebSocket: a python `websockets` server dispatching with `jsonrpcserver`,
and a `websockets` client building its requests with `jsonrpcclient`: three calls, a call of
a method that does not exist (error -32601), a call that raises (an application error), a
notification, and a batch of two calls.

    python jsonrpc_peers.py server HOST PORT LOGFILE
    python jsonrpc_peers.py client URL LOGFILE
"""

import asyncio
import json
import sys
import time

import websockets
from jsonrpcclient import notification_json, parse_json, request, request_json
from jsonrpcserver import Error, Success, async_dispatch, method


def logger(path, role):
    f = open(path, "a", buffering=1)

    def log(ev, **fields):
        f.write(json.dumps({"ts": time.time(), "role": role, "ev": ev, **fields}, sort_keys=True) + "\n")

    return log


@method
async def add(a, b):
    return Success(a + b)


@method
async def echo(text):
    await asyncio.sleep(0.02)
    return Success(text)


@method
async def divide(a, b):
    if b == 0:
        return Error(1, "division by zero", {"a": a})
    return Success(a / b)


@method
async def log_line(text):
    return Success(None)


async def server(host, port, log_path):
    log = logger(log_path, "server")
    done = asyncio.Event()

    async def handler(ws):
        async for message in ws:
            response = await async_dispatch(message)
            log("request", text=message, answered=bool(response))
            if response:
                await ws.send(response)
        done.set()

    async with websockets.serve(handler, host, port, subprotocols=["jsonrpc-2.0"]):
        print("READY", flush=True)
        await done.wait()
        await asyncio.sleep(0.2)


async def client(url, log_path):
    log = logger(log_path, "client")
    async with websockets.connect(url, subprotocols=["jsonrpc-2.0"]) as ws:
        calls = [("add", [2, 3]), ("echo", ["hello"]), ("add", [40, 2]), ("missing", []), ("divide", [1, 0])]
        for name, params in calls:
            text = request_json(name, params=params)
            t0 = time.time()
            await ws.send(text)
            reply = json.loads(await ws.recv())
            log("call", method=name, id=json.loads(text)["id"], reply=reply, ms=(time.time() - t0) * 1000)
        await ws.send(notification_json("log_line", params=["a notification gets no reply"]))
        log("notification", method="log_line")
        batch = [request("echo", params=["one"]), request("add", params=[1, 1])]
        t0 = time.time()
        await ws.send(json.dumps(batch))
        replies = json.loads(await ws.recv())
        log("batch", methods=["echo", "add"], ids=[r["id"] for r in batch], replies=replies, ms=(time.time() - t0) * 1000)
        await asyncio.sleep(0.1)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        asyncio.run(server(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
    else:
        asyncio.run(client(sys.argv[2], sys.argv[3]))
