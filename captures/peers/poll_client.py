"""Polling client built on aiohttp's ClientSession (one keep-alive connection).

    python poll_client.py URL ROUNDS INTERVAL_SECONDS LOG

Asks URL?round=N ROUNDS times, waiting INTERVAL_SECONDS between an answer and the next ask:
with /poll/long the server holds each request (long polling); with /poll/short it answers at
once and the client's own timer sets the pace (short polling).
"""

import asyncio
import sys

import aiohttp

from peerlog import PeerLog

url, rounds, interval, log_path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
log = PeerLog(log_path, "client")


async def main():
    connector = aiohttp.TCPConnector(limit=1, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        for n in range(1, rounds + 1):
            log("request_sent", method="GET", target=f"?round={n}")
            async with session.get(url, params={"round": str(n)}) as response:
                body = await response.read()
                log("response_rcvd", status=response.status, len=len(body))
            await asyncio.sleep(interval)


asyncio.run(main())
