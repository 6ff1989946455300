"""WebSocket client for the api-errors capture: sends each text message given on the command line
to URL, waits for the server's reply to each, then closes 1000. No compression is offered, so
each message travels as one plain text frame.

    python ws_texts.py ws://192.0.2.80/ws "status: ok" "error: disk full"
"""

import sys

from websockets.sync.client import connect


def main():
    url, texts = sys.argv[1], sys.argv[2:]
    with connect(url, compression=None) as ws:
        for text in texts:
            ws.send(text)
            ws.recv(timeout=5)
        ws.close(code=1000, reason="done")


if __name__ == "__main__":
    main()
