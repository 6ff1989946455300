#!/usr/bin/env python3
"""Makes docs/img/har-devtools.png: a HAR written by `sockscope read --har` imported into the
Network panel of Chromium's own DevTools, the WebSocket entry's Messages tab open.

No display is needed: Chromium runs headless with its remote-debugging port, the DevTools front
end it serves on that port (`/devtools/devtools_app.html`) is opened in a second tab and
attached to the first, and the HAR is given to the Network panel's import button (its file
input), as a user choosing the file would. What the picture shows is DevTools' own reading of
the file.

    python docs/img/har-devtools.py [--sockscope BIN] [--chromium BIN] [--out PNG]

Needs Python's `playwright` package (tests/browser/.venv has it: see tests/browser) and a
Chromium (`/usr/bin/chromium` by default). Run from the repository root.
"""

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from urllib.parse import urlsplit

CAPTURES = ["captures/ws-chat.pcap", "captures/http-keepalive.pcap", "captures/sse.pcap"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_har(sockscope, path):
    subprocess.run(
        [sockscope, "read", "-q", "--any-port", "--har", path, *CAPTURES],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    with open(path, encoding="utf-8") as f:
        entries = json.load(f)["log"]["entries"]
    ws = [e for e in entries if e.get("_resourceType") == "websocket"]
    if not ws:
        sys.exit("the HAR has no WebSocket entry")
    # DevTools names a request by the last segment of its URL path.
    return urlsplit(ws[0]["request"]["url"]).path.rstrip("/").rsplit("/", 1)[-1]


def targets(port):
    deadline = time.monotonic() + 10
    while True:
        try:
            return json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


async def shoot(chromium, har, name, out):
    from playwright.async_api import async_playwright

    port = free_port()
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=[f"--remote-debugging-port={port}", "--no-sandbox"],
        )
        try:
            ctx = await browser.new_context(viewport={"width": 1280, "height": 760})
            inspected = await ctx.new_page()
            await inspected.goto("about:blank")
            page_id = next(
                t["id"] for t in targets(port) if t["type"] == "page" and t["url"] == "about:blank"
            )
            devtools = await ctx.new_page()
            await devtools.goto(
                f"http://127.0.0.1:{port}/devtools/devtools_app.html"
                f"?ws=127.0.0.1:{port}/devtools/page/{page_id}&panel=network"
            )
            # The Network panel's "Import HAR file" button opens this input.
            await devtools.locator("input[type=file]").set_input_files(har)
            row = devtools.locator("td.name-column", has_text=name).first
            await row.click()
            await devtools.get_by_role("tab", name="Messages").click()
            await devtools.locator("td", has_text="hello").first.wait_for()
            await devtools.wait_for_timeout(500)
            await devtools.screenshot(path=out)
        finally:
            await browser.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sockscope", default=shutil.which("sockscope") or "target/release/sockscope")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--out", default="docs/img/har-devtools.png")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        har = os.path.join(tmp, "capture.har")
        name = write_har(args.sockscope, har)
        asyncio.run(shoot(args.chromium, har, name, args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
