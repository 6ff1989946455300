"""Expected file for a capture whose peers are openssl s_client / s_server, from their output:
the version and suite s_client reports, and the data s_server printed (what it received).

    python expect_openssl.py --capture tls/NAME.pcap --keylog tls/NAME.keys --out OUT.json \
        --client-out sclient.out --server-out sserver.out --client IP --server IP:PORT \
        --key-updates N --recorded-by ... --description ...
"""

import argparse
import re

from expect import dumps
from expect_tls import SCHEMA

p = argparse.ArgumentParser()
for name in ("capture", "keylog", "out", "client-out", "server-out", "client", "server", "recorded-by", "description"):
    p.add_argument(f"--{name}", required=True)
p.add_argument("--key-updates", type=int, default=0)
a = p.parse_args()
client_text = open(a.client_out, errors="replace").read()
server_text = open(a.server_out, errors="replace").read()
m = re.search(r"New, (TLSv1\.[23]), Cipher is (\S+)", client_text)
if not m:
    raise SystemExit("s_client did not report the session")
version, cipher = {"TLSv1.3": "TLS 1.3", "TLSv1.2": "TLS 1.2"}[m.group(1)], m.group(2)
# s_server prints its session report, then what it receives (with "Read BLOCK" when a read
# found only a non-data record, such as a KeyUpdate), then DONE.
lines = server_text.splitlines()
start = next(i for i, l in enumerate(lines) if l.startswith("Secure Renegotiation")) + 1
end = lines.index("DONE", start)
received = "".join(l + "\n" for l in lines[start:end] if l != "Read BLOCK")
exp = {
    "schema": SCHEMA,
    "capture": a.capture,
    "description": a.description,
    "recorded_by": a.recorded_by,
    "crafted": False,
    "link_types": ["EN10MB"],
    "port": 443,
    "flows": 1,
    # s_client cannot choose its port: the client is named by its address.
    "connections": [{"id": 1, "client": a.client, "server": a.server, "kind": "other", "midstream": False}],
    "http": [],
    "websocket": [],
    "sse": [],
    "anomalies": [],
    "keylog": a.keylog,
    "secrets_in_capture": False,
    "tls": [{"flow": 1, "version": version, "cipher_suite": cipher, "alpn": None, "sni": "sockscope.test", "decryptable": True}],
    "plaintext_c2s": received,
    "key_updates": a.key_updates,
}
with open(a.out, "w") as f:
    f.write(dumps(exp) + "\n")
