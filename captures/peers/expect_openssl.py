"""Expected file for a capture whose peers are openssl s_client / s_server, from their output:
the version and suite s_client reports, and the data s_server printed (what it received).

    python expect_openssl.py --capture tls/NAME.pcap --keylog tls/NAME.keys --out OUT.json \
        --client-out sclient.out --server-out sserver.out --client IP --server IP:PORT \
        --key-updates N --recorded-by ... --description ... [--kind KIND] [--anomaly CODE ...]
        [--alert DIR:LEVEL:DESCRIPTION ...] [--not-decrypted-by-sockscope]

The anomalies and alerts are the ones the peers said they sent or received (s_server's "SSL alert
number N", s_client's errors), checked by record.sh before this runs.
"""

import argparse
import re

from expect import dumps
from expect_tls import IANA, SCHEMA

p = argparse.ArgumentParser()
for name in ("capture", "keylog", "out", "client-out", "server-out", "client", "server", "recorded-by", "description"):
    p.add_argument(f"--{name}", required=True)
p.add_argument("--key-updates", type=int, default=0)
p.add_argument("--kind", default="other")
p.add_argument("--anomaly", action="append", default=[])
p.add_argument("--alert", action="append", default=[], help="DIR:LEVEL:DESCRIPTION of an alert a peer sent")
p.add_argument("--not-decrypted-by-sockscope", action="store_true",
               help="the suite is one sockscope does not decrypt (tshark does, with the same key log)")
a = p.parse_args()
client_text = open(a.client_out, errors="replace").read()
server_text = open(a.server_out, errors="replace").read()
m = re.search(r"New, (TLSv1\.[0-3]), Cipher is (\S+)", client_text)
if not m:
    raise SystemExit("s_client did not report the session")
# "New, …" names the cipher's own version; the session block says the protocol, when the
# handshake got that far.
protocol = re.search(r"Protocol\s*: (TLSv1\.[0-3])", client_text)
VERSIONS = {"TLSv1.3": "TLS 1.3", "TLSv1.2": "TLS 1.2", "TLSv1.1": "TLS 1.1", "TLSv1.0": "TLS 1.0"}
version = VERSIONS[(protocol or m).group(1)]
cipher = IANA.get(m.group(2), m.group(2))
# s_server prints its session report, then what it receives (with "Read BLOCK" when a read
# found only a non-data record, such as a KeyUpdate), then DONE.
# A handshake that failed has no session report and nothing received; a session that ended on
# an error prints ERROR instead of DONE.
lines = server_text.splitlines()
start = next((i + 1 for i, l in enumerate(lines) if l.startswith("Secure Renegotiation")), len(lines))
end = next((i for i in range(start, len(lines)) if lines[i] in ("DONE", "ERROR")), len(lines))
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
    "connections": [{"id": 1, "client": a.client, "server": a.server, "kind": a.kind, "midstream": False}],
    "http": [],
    "websocket": [],
    "sse": [],
    "anomalies": sorted(set(a.anomaly)),
    "keylog": a.keylog,
    "secrets_in_capture": False,
    "tls": [{"flow": 1, "version": version, "cipher_suite": cipher, "alpn": None, "sni": "sockscope.test", "decryptable": True}],
    "plaintext_c2s": received,
    "key_updates": a.key_updates,
}
if a.not_decrypted_by_sockscope:
    exp["tls"][0]["sockscope_decrypts"] = False
if a.alert:
    exp["alerts"] = [
        {"flow": 1, "dir": d, "level": int(level), "description": int(desc)}
        for d, level, desc in (x.split(":") for x in a.alert)
    ]
with open(a.out, "w") as f:
    f.write(dumps(exp) + "\n")
