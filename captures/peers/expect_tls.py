"""Add what the peers said about TLS to an expected file written by expect.py.

    python expect_tls.py --expected expected/tls/NAME.json --keylog tls/NAME.keys \
        --server-log srv.jsonl [--client-log cli.jsonl] [--undecryptable CLIENT:PORT ...] \
        [--plaintext-c2s TEXT] [--anomaly CODE ...]

Every value comes from the peers: the version, suite and ALPN each TLS endpoint reported on
its own socket (Python's ssl object, node's TLSSocket), never from the capture.
"""

import argparse
import json

from expect import dumps, endpoint, load

SCHEMA = "sockscope-expected-tls/1"

# OpenSSL's names (what Python's ssl reports for TLS 1.2) to the IANA names.
IANA = {
    "ECDHE-RSA-AES128-GCM-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-RSA-CHACHA20-POLY1305": "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "ECDHE-RSA-AES128-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "ECDHE-RSA-AES256-SHA384": "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    "ECDHE-RSA-AES128-SHA": "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "ECDHE-RSA-AES256-SHA": "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
}
VERSIONS = {"TLSv1.2": "TLS 1.2", "TLSv1.3": "TLS 1.3"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--expected", required=True)
    p.add_argument("--keylog", default=None, help="key log file next to the capture; none when a DSB carries it")
    p.add_argument("--secrets-in-capture", action="store_true")
    p.add_argument("--server-log", action="append", default=[])
    p.add_argument("--client-log", action="append", default=[])
    p.add_argument("--sni", default=None)
    p.add_argument("--undecryptable", action="append", default=[], help="client endpoint whose session the key log cannot decrypt")
    p.add_argument("--plaintext-c2s", default=None)
    p.add_argument("--anomaly", action="append", default=[])
    p.add_argument("--note", action="append", default=[])
    a = p.parse_args()
    with open(a.expected) as f:
        exp = json.load(f)
    records = load(a.server_log + a.client_log)
    by_client = {}
    for r in records:
        if r["ev"] != "tls":
            continue
        client = endpoint(r["peer"]) if r.get("peer") else endpoint(r["local"])
        seen = by_client.setdefault(client, {})
        cipher = r["cipher"]
        seen["version"] = VERSIONS.get(r["version"], r["version"])
        # The client's IANA name wins over the server's OpenSSL name; both name one suite.
        if cipher.startswith("TLS_") or "cipher_suite" not in seen:
            seen["cipher_suite"] = IANA.get(cipher, cipher)
        if r.get("alpn") is not None:
            seen["alpn"] = r["alpn"]
    tls = []
    for conn in exp["connections"]:
        facts = by_client.get(conn["client"])
        if facts is None:
            continue
        tls.append({
            "flow": conn["id"],
            "version": facts["version"],
            "cipher_suite": facts["cipher_suite"],
            "alpn": facts.get("alpn"),
            "sni": a.sni or None,
            "decryptable": conn["client"] not in a.undecryptable,
        })
    exp["schema"] = SCHEMA
    exp["keylog"] = a.keylog
    exp["secrets_in_capture"] = a.secrets_in_capture
    exp["tls"] = tls
    if a.plaintext_c2s is not None:
        exp["plaintext_c2s"] = a.plaintext_c2s
    exp["anomalies"] = sorted(set(exp.get("anomalies", [])) | set(a.anomaly))
    if a.note:
        exp["notes"] = exp.get("notes", []) + a.note
    with open(a.expected, "w") as f:
        f.write(dumps(exp) + "\n")


if __name__ == "__main__":
    main()
