"""Check a recorded TLS capture against its expected JSON with tshark and the key log.

    python check_tls.py CAPTURE EXPECTED.json [KEYLOG]

tshark (with -o tls.keylog_file:KEYLOG, or the capture's own Decryption Secrets Block) must
see the expected TCP flows, negotiate the version and suite the peers reported, decrypt every
flow the peers expect to be decryptable (and none of the others), and find in the plaintext
the HTTP requests, HTTP/2 requests and WebSocket messages the peers logged. Exits non-zero
with the differences.
"""

import json
import subprocess
import sys

capture, expected_path = sys.argv[1], sys.argv[2]
keylog = sys.argv[3] if len(sys.argv) > 3 else None
with open(expected_path) as f:
    exp = json.load(f)
prefs = ["-o", "tcp.reassemble_out_of_order:TRUE"]
if keylog:
    prefs += ["-o", f"tls.keylog_file:{keylog}"]


def tshark(*args):
    out = subprocess.run(["tshark", "-r", capture, *prefs, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"tshark failed: {out.stderr.strip()}")
    return out.stdout


VERSION = {"0x0301": "TLS 1.0", "0x0302": "TLS 1.1", "0x0303": "TLS 1.2", "0x0304": "TLS 1.3"}
problems = []
streams = {}
for line in tshark("-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0", "-T", "fields", "-e", "tcp.stream", "-e", "ip.src", "-e", "tcp.srcport").splitlines():
    s, ip, port = line.split("\t")
    streams[f"{ip}:{port}"] = s
app_data = set(tshark("-Y", "tls.record.content_type == 23", "-T", "fields", "-e", "tcp.stream").split())
# A browser opens spare connections ahead of need, a varying number; those that never carry a
# byte of application data are not counted.
busy = {k: v for k, v in streams.items() if v in app_data}
if len(streams) != exp["flows"] and len(busy) != len([t for t in exp["tls"]]):
    problems.append(f"tshark sees {len(streams)} connections ({len(busy)} with application data), expected {exp['flows']}")

# The ServerHello of each stream: version and suite.
hello = {}
for line in tshark("-Y", "tls.handshake.type == 2", "-T", "fields", "-e", "tcp.stream", "-e", "tls.handshake.ciphersuite", "-e", "tls.handshake.extensions.supported_version", "-e", "tls.handshake.version").splitlines():
    s, suite, version, legacy = (line.split("\t") + ["", "", ""])[:4]
    # TLS 1.3 says its version in supported_versions; the others in the hello itself.
    hello[s] = (suite, VERSION.get(version or legacy, version or legacy))
names = {}
for line in tshark("-Y", "tls.handshake.type == 2", "-V").splitlines():
    line = line.strip()
    if line.startswith("Cipher Suite: "):
        name, code = line[len("Cipher Suite: "):].rsplit(" (", 1)
        names[code.rstrip(")")] = name



def follow(stream):
    """The decrypted bytes of a stream, both directions, as tshark's follow,tls,raw gives them."""
    raw = tshark("-q", "-z", f"follow,tls,raw,{stream}")
    body = "".join(l.strip() for l in raw.splitlines() if l and not l.startswith(("=", "Follow", "Filter", "Node")))
    return bytes.fromhex(body)


decrypted = {s: follow(s) for s in streams.values()}
finished = set(tshark("-Y", "tls.handshake.type == 20", "-T", "fields", "-e", "tcp.stream").split())
# Alerts tshark could read (in the clear, or decrypted with the key log): (stream, sender, level,
# description).
alerts = set()
for line in tshark("-Y", "tls.alert_message.level", "-T", "fields", "-e", "tcp.stream", "-e", "ip.src",
                   "-e", "tls.alert_message.level", "-e", "tls.alert_message.desc").splitlines():
    s, src, level, desc = line.split("\t")
    for lv, ds in zip(level.split(","), desc.split(",")):
        alerts.add((s, src, int(lv), int(ds)))

for t in exp["tls"]:
    conn = next(c for c in exp["connections"] if c["id"] == t["flow"])
    s = streams.get(conn["client"]) or next((v for k, v in streams.items() if k.split(":")[0] == conn["client"]), None)
    if s is None:
        problems.append(f"flow {t['flow']}: tshark has no connection from {conn['client']}")
        continue
    suite, version = hello.get(s, ("", ""))
    if names.get(suite) != t["cipher_suite"] or version != t["version"]:
        problems.append(f"flow {t['flow']}: tshark sees {names.get(suite, suite)} {version}, peers {t['cipher_suite']} {t['version']}")
    # A session that ended in its handshake has no application data: a Finished tshark could
    # read (always protected) says that the key log opens it.
    opened = bool(decrypted.get(s)) or s in finished
    if t["decryptable"] != opened:
        problems.append(f"flow {t['flow']}: tshark decrypted {len(decrypted.get(s, b''))} bytes, peers expect decryptable={t['decryptable']}")

# The plaintext: WebSocket messages and HTTP exchanges the peers logged, on decryptable flows.
ok_flows = {t["flow"] for t in exp["tls"] if t["decryptable"]}
frames = {}
for line in tshark("-Y", "websocket && !tcp.analysis.retransmission", "-T", "fields", "-e", "tcp.stream").splitlines():
    frames[line] = frames.get(line, 0) + 1
for ws in exp["websocket"]:
    # With a wrong server key the 101 never decrypts: no dissector sees WebSocket then.
    if ws["flow"] not in ok_flows or "tls.decrypt_failed" in exp["anomalies"]:
        continue
    conn = next(c for c in exp["connections"] if c["id"] == ws["flow"])
    want = sum((m["frames"] or 1) for m in ws["client_to_server"] + ws["server_to_client"])
    want += sum(1 for side in ("c2s", "s2c") if ws["close"].get(side))
    got = frames.get(streams.get(conn["client"], "?"), 0)
    if got < want - 2 or got > want + 2:
        problems.append(f"flow {ws['flow']}: tshark decodes {got} WebSocket frames, peers logged about {want}")
requests = len(tshark("-Y", "http.request || http2.headers.method", "-T", "fields", "-e", "frame.number").split())
want_requests = sum(1 for h in exp["http"] if h["flow"] in ok_flows)
if requests < want_requests:
    problems.append(f"tshark decodes {requests} HTTP requests, peers logged {want_requests}")
if "plaintext_c2s" in exp:
    text = decrypted.get(next(iter(streams.values()), "0"), b"").decode(errors="replace")
    if exp["plaintext_c2s"] not in text:
        problems.append(f"decrypted bytes {text!r} do not hold {exp['plaintext_c2s']!r}")
for al in exp.get("alerts", []):
    conn = next(c for c in exp["connections"] if c["id"] == al["flow"])
    s = streams.get(conn["client"]) or next((v for k, v in streams.items() if k.split(":")[0] == conn["client"]), None)
    sender = conn["client"] if al["dir"] == "c2s" else conn["server"]
    if (s, sender.rsplit(":", 1)[0] if al["dir"] == "s2c" else sender.split(":")[0], al["level"], al["description"]) not in alerts:
        problems.append(f"flow {al['flow']}: tshark does not see the {al['dir']} alert {al['level']}/{al['description']} ({sorted(alerts)})")
if exp.get("key_updates"):
    updates = len(tshark("-Y", "tls.handshake.type == 24", "-T", "fields", "-e", "frame.number").split())
    if updates != exp["key_updates"]:
        problems.append(f"tshark decrypts {updates} KeyUpdate messages, expected {exp['key_updates']}")

print(f"{capture}: {len(streams)} connections, decrypted bytes {sorted((k, len(v)) for k, v in decrypted.items())}, {sum(frames.values())} WebSocket frames, {requests} HTTP requests")
if problems:
    print("\n".join("  " + p for p in problems))
    sys.exit(1)
