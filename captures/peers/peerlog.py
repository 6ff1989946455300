"""What a python peer did, one JSON object per line, for captures/peers/expect.py.

Every record carries `ts` (wall clock, seconds) so records of the two peers of a
session can be merged in the order things happened, and `ev` naming the event.
Payloads are summarised by length and SHA-256, never stored.
"""

import hashlib
import json
import os
import sys
import time


def sha256(data) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(bytes(data)).hexdigest()


class PeerLog:
    def __init__(self, path: str, role: str):
        self.role = role
        self.file = open(path, "a", buffering=1) if path else None

    def __call__(self, ev: str, **fields) -> None:
        record = {"ts": time.time(), "role": self.role, "ev": ev, **fields}
        line = json.dumps(record, sort_keys=True)
        if self.file:
            self.file.write(line + "\n")
            self.file.flush()
            os.fsync(self.file.fileno())
        print(line, file=sys.stderr, flush=True)

    def message(self, ev: str, opcode: str, payload, frames=1, **fields) -> None:
        if isinstance(payload, str):
            payload = payload.encode()
        self(ev, opcode=opcode, len=len(payload), sha256=sha256(payload), frames=frames, **fields)


def ready(what: str) -> None:
    """Tell record.sh (which waits for this line on stdout) that the peer is listening."""
    print(f"READY {what}", flush=True)
