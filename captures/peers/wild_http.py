"""HTTP/1.x heads as they are found in the wild, from the Python standard library, which writes
what its caller asks for with no more checks than the protocol's line structure needs:

    python wild_http.py server HOST PORT LOG
        http.server (ThreadingHTTPServer, HTTP/1.1 keep-alive), lenient as many deployed
        servers are: it accepts obs-fold, whitespace before a colon, raw UTF-8 in the target
        and any number of fields. Routes:
          /express   "Access-Control-Allow-Credentials : true", as old Express servers sent it
                     (the field name with a trailing space)
          /folded    a field folded over two lines (obs-fold, RFC 9112 section 5.2)
          /many      97 header fields (93 of its own; http.client reads at most 100)
          anything   200 with the path echoed
    python wild_http.py client HOST PORT LOG
        http.client on one keep-alive connection: GET /folded with a field given two values,
        which http.client folds onto a continuation line (obs-fold); GET /many with 97 header
        fields of its own (http.server takes at most 100). (http.client itself cannot read the
        /express response: its header parser takes the spaced field for the start of the body.)
    python wild_http.py spaced-client HOST PORT LOG
        http.client sending a field whose name ends in a space ("X-Api-Key : ..."), which its
        name check allows; against a strict server (aiohttp) that answers 400.

Every exchange is logged through peerlog ("http" records, as captures/peers/http_server.py
logs them), so that peers/expect.py can write the expected results.
"""

import http.client
import http.server
import sys

from peerlog import PeerLog, ready

role, host, port, log_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
log = PeerLog(log_path, "server" if role == "server" else "client")

EXPRESS_BODY = b'{"categories":[]}'


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        # http.server reads the request line as ISO-8859-1: give the target back its bytes.
        target = self.path.encode("iso-8859-1").decode("utf-8", "replace")
        extra = []
        if self.path == "/express":
            body = EXPRESS_BODY
            extra = [("X-Powered-By", "Express"), ("Access-Control-Allow-Credentials ", "true")]
            ctype = "application/json; charset=utf-8"
        elif self.path == "/folded":
            body = b"folded\n"
            extra = [("X-Folded", "first part;\r\n\tsecond part")]
            ctype = "text/plain"
        elif self.path == "/many":
            body = b"many\n"
            extra = [(f"X-Field-{i:03}", f"value {i}") for i in range(93)]
            ctype = "text/plain"
        else:
            body = f"you asked for {target}\n".encode()
            ctype = "text/plain; charset=utf-8"
        self.send_response(200)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        log("http", peer=list(self.client_address[:2]), method="GET", target=target,
            version=self.request_version, status=200, req_body=0, resp_body=len(body),
            chunked=False, upgrade=None)


def serve():
    server = http.server.ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    ready(f"wild_http {host}:{port}")
    server.serve_forever()


def exchange(conn, target, fields):
    conn.putrequest("GET", target)
    for name, *values in fields:
        conn.putheader(name, *values)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    log("response_rcvd", target=target, status=response.status, len=len(body))
    return response.status


def client():
    conn = http.client.HTTPConnection(host, port, timeout=10)
    # Two values for one field: http.client joins them with CRLF + TAB, an obs-fold.
    exchange(conn, "/folded", [("X-Trace", "span=1;", "parent=0")])
    # With Host and Accept-Encoding, 97 fields: one more than sockscope once took.
    exchange(conn, "/many", [(f"X-Client-{i:03}", f"v{i}") for i in range(95)])
    conn.close()


def spaced_client():
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.connect()
    # The server cannot parse this request: what was sent is known from this side only.
    log("request_sent", method="GET", target="/plain", local=list(conn.sock.getsockname()[:2]))
    try:
        status = exchange(conn, "/plain", [("X-Api-Key ", "c2VjcmV0")])
    except (http.client.HTTPException, OSError) as e:
        log("response_rcvd", target="/plain", error=str(e))
        status = None
    conn.close()
    if status != 400:
        sys.exit(f"expected the server to refuse the request with 400, got {status}")


if role == "server":
    serve()
elif role == "client":
    client()
elif role == "spaced-client":
    spaced_client()
else:
    sys.exit(f"unknown role {role}")
