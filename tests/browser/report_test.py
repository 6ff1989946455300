#!/usr/bin/env python3
"""The HTML report in a real browser: Debian's Chromium, headless, driven by Playwright.

    report_test.py MANIFEST.json

The manifest (written by tests/report.rs) lists cases: {"name", "html", "json" (the JSON Lines
`sockscope read --json` printed for the same capture), "screenshots" (a directory or null),
"flow_shot" (a flow id to photograph, or null), "hostile" (strings that must appear as text)}.
For every case: the page loads from file:// with no console error and no request other than
itself; the flow table has a row per `flow` record; the overhead table and the "what if" bars
show the JSON summary's numbers; clicking each WebSocket flow draws its ladder with one thick
arrow per data message and one arrow per frame, and the handshake's accept-key steps end in the
JSON's expected and actual values; every anomaly and code link leads somewhere on the page.

Prints one line per failed check and ends with "N passed, N failed"; exits 1 on any failure.
"""

import json
import os
import sys
import tempfile

from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("SOCKSCOPE_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_ROWS = 500


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, case, what, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {case}: {what} {detail}".rstrip(), flush=True)

    def eq(self, case, what, ours, theirs):
        self.check(case, what, ours == theirs, f"(page: {ours!r}, JSON: {theirs!r})")


def number(text):
    """A number as the page shows it: thousands separators, a unit or a percent sign."""
    t = text.replace(",", "").replace("%", "").replace(" B", "").strip()
    if t in ("–", ""):
        return None
    return float(t) if "." in t else int(t)


# The ladder's arrow labels and summary lines, top to bottom.
LADDER_ROWS = """(flow) => [...document.querySelector(`svg.ladder[data-flow="${flow}"]`).children]
  .map((n) => n.matches('text.summary-row') ? n.textContent
    : n.matches('g.row') && n.querySelector('.lbl') ? n.querySelector('.lbl').textContent.replace(/^■ /, '') : null)
  .filter((t) => t !== null)"""


def same_label(page, text):
    """A page label against --ladder's: the text view cuts long labels with '…' and gives SSE
    events their data length, which the JSON record does not carry."""
    if text.endswith("…"):
        return page.startswith(text[:-1])
    if text.startswith("event") and text.endswith(" B)"):
        return page == text[: text.rindex(" (")]
    return page == text


def run_case(ctx, case, checks):
    name = case["name"]
    records = [json.loads(line) for line in open(case["json"], encoding="utf-8") if line.strip()]
    summary = records[-1]
    flows = [r for r in records if r["type"] == "flow"]
    url = "file://" + os.path.abspath(case["html"])

    page = ctx.new_page()
    errors, requests, dialogs = [], [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: requests.append(r.url) if r.url != url else None)
    page.goto(url)
    page.wait_for_function("document.documentElement.dataset.ready === 'true'", timeout=60_000)

    # The table: one row per flow record (a page of 500 at a time).
    rows = page.locator("#flows tbody tr").count()
    checks.eq(name, "flow table rows", rows, min(len(flows), PAGE_ROWS))
    listed = page.evaluate("document.getElementById('flow-count').textContent")
    checks.check(name, "flow count label", f"{len(flows):,} flows" in listed, listed)

    # The overhead table shows the summary's numbers.
    for row in summary["overhead"]:
        for field in ["flows", "messages", "payload_bytes", "l7_header_bytes", "tcpip_header_bytes", "overhead_pct"]:
            cell = page.locator(f'#overhead-table tr[data-kind="{row["kind"]}"] td[data-field="{field}"]')
            shown = number(cell.inner_text()) if cell.count() == 1 else "missing"
            checks.eq(name, f"overhead {row['kind']} {field}", shown, row[field])
    kinds_shown = {
        el.get_attribute("data-kind"): int(el.get_attribute("data-count"))
        for el in page.locator("#kinds li").all()
    }
    checks.eq(name, "flows by kind", kinds_shown, summary["kinds"])
    for w in summary["what_if"][:30]:
        g = page.locator(f'#what-if g.whatif[data-flow="{w["flow"]}"]')
        shown = (int(g.get_attribute("data-actual")), int(g.get_attribute("data-http"))) if g.count() == 1 else None
        checks.eq(name, f"what-if flow {w['flow']}", shown, (w["actual_l7_header_bytes"], w["http_l7_header_bytes"]))
        text = g.text_content() if g.count() == 1 else ""
        checks.check(name, f"what-if flow {w['flow']} labels", f"{w['actual_l7_header_bytes']:,} B" in text and f"{w['http_l7_header_bytes']:,} B" in text, text)
        # Every carrier of the JSON's comparison, drawn with its bytes and the ratio in the text's words.
        for c in w["carriers"][1:]:
            attr = "data-" + c["carrier"].replace("_", "-")
            drawn = int(g.get_attribute(attr)) if g.count() == 1 and g.get_attribute(attr) else None
            checks.eq(name, f"what-if flow {w['flow']} {c['carrier']}", drawn, c["l7_header_bytes"])
            if c["ratio"] is not None and c["ratio"] > 1.0:
                words = f"{c['ratio']:.1f}× as many header bytes"
                checks.check(name, f"what-if flow {w['flow']} {c['carrier']} words", words in text, text)
    cum = page.locator("#cumulative svg")
    if cum.count() == 1:
        flow = int(cum.get_attribute("data-flow"))
        w = next(x for x in summary["what_if"] if x["flow"] == flow)
        end_ws = page.locator("#cumulative .end-ws").text_content()
        end_http = page.locator("#cumulative .end-http").text_content()
        checks.check(name, "cumulative chart ends at the flow's header bytes", f"{w['actual_l7_header_bytes']:,} B" in end_ws, end_ws)
        checks.check(name, "cumulative chart ends at the HTTP estimate", f"{w['http_l7_header_bytes']:,} B" in end_http, end_http)

    detail = json.loads(page.evaluate("document.getElementById('meta').textContent"))["detail_flows"]
    packed = json.loads(page.evaluate("document.getElementById('records').textContent"))
    embedded = [dict(zip(packed["schemas"][row[0]], row[1:])) for row in packed["rows"]]
    if case.get("screenshots"):
        page.set_viewport_size({"width": 1280, "height": 1000})
        page.screenshot(path=os.path.join(case["screenshots"], f"{name}-overview.png"))

    # Every WebSocket flow with its detail kept: the ladder, the handshake.
    hostile_seen = set()
    by_flow = {}
    for r in embedded:
        if "flow" in r and r["type"] != "flow":
            by_flow.setdefault(r["flow"], []).append(r)
    for f in flows:
        fid = f["id"]
        if fid not in detail:
            continue
        is_ws = f["kind"] == "websocket"
        want = case.get("ladders", {}).get(str(fid))
        if not is_ws and not f["anomalies"] and fid != case.get("flow_shot") and not case.get("hostile") and want is None:
            continue
        row = page.locator(f'#flows tbody tr[data-flow="{fid}"]')
        if row.count() == 0 and len(flows) > PAGE_ROWS:
            # Beyond the first page: the filter finds it.
            page.fill("#flow-filter", str(fid))
        if row.count() != 1:
            checks.check(name, f"flow {fid} row", False, "not in the table")
            continue
        row.click()
        ladder = page.locator(f'svg.ladder[data-flow="{fid}"]')
        ladder.wait_for(timeout=10_000)
        if want is not None:
            rows = page.evaluate(LADDER_ROWS, fid)
            same = len(rows) == len(want) and all(same_label(a, b) for a, b in zip(rows, want))
            checks.check(name, f"flow {fid} ladder as --ladder", same, f"\npage:     {rows}\n--ladder: {want}")
        if is_ws:
            checks.eq(name, f"flow {fid} message arrows", page.locator(".ladder .arrow.msg").count(), f["ws_messages"])
            checks.eq(name, f"flow {fid} frame arrows", page.locator(".ladder .arrow.ws-frame").count(), f["ws_frames"])
        syns = [r for r in by_flow.get(fid, []) if r["type"] == "tcp" and "SYN" in r["flags"]]
        checks.eq(name, f"flow {fid} SYN arrows", page.locator(".ladder .arrow.tcp text", has_text="SYN").count(), len(syns))
        hs = next((r for r in by_flow.get(fid, []) if r["type"] == "handshake"), None)
        if hs is not None:
            steps = page.locator("#accept-steps")
            if hs["key"] is not None:
                checks.eq(name, f"flow {fid} accept key", steps.locator('[data-step="key"]').inner_text(), hs["key"])
                checks.eq(name, f"flow {fid} expected accept", steps.locator('[data-step="expected"]').inner_text(), hs["expected_accept"])
                # The page's base64 of the SHA-1 step must be the expected value.
                sha1 = steps.locator('[data-step="sha1"]').inner_text().replace(" ", "")
                b64 = page.evaluate("(hex) => btoa(hex.match(/../g).map((b) => String.fromCharCode(parseInt(b, 16))).join(''))", sha1)
                checks.eq(name, f"flow {fid} base64(SHA-1)", b64, hs["expected_accept"])
            if hs["accept"] is not None:
                checks.eq(name, f"flow {fid} actual accept", steps.locator('[data-step="actual"]').inner_text(), hs["accept"])
            verdict = steps.locator('[data-step="verdict"]').get_attribute("class")
            checks.eq(name, f"flow {fid} accept verdict", verdict, "ok" if hs["accept_valid"] else "bad")
        # Each anomaly links to a packet row of the ladder (when it has a packet) and its code.
        for link in page.locator("#flow-anomalies a").all():
            target = link.get_attribute("href")[1:]
            found = page.evaluate("(id) => document.getElementById(id) !== null", target)
            checks.check(name, f"flow {fid} link #{target}", found)
        # Sub-protocols: each decoded message's meaning in the messages table, the latency
        # records as the flow's latency table, the choice in the flow's description.
        mine = by_flow.get(fid, [])
        lat = [r for r in mine if r["type"] == "latency"]
        checks.eq(name, f"flow {fid} latency rows", page.locator("#latency tbody tr").count(), len(lat))
        decoded = [r for r in mine if r["type"] == "ws_message" and r.get("sub")]
        if page.locator("#messages").count() == 1:
            meanings = [t for t in page.locator("#messages tbody tr td:nth-child(5)").all_inner_texts() if t.strip()]
            checks.eq(name, f"flow {fid} messages with a meaning", len(meanings), len(decoded))
            for m, r in zip(meanings, decoded):
                checks.check(name, f"flow {fid} meaning names {r['sub']['type']}", str(r["sub"]["type"]) in m, m)
        if f.get("sub") and f["sub"]["protocol"]:
            text = page.locator("#flow-detail p").first.inner_text()
            checks.check(name, f"flow {fid} says what it was decoded as", "decoded as" in text, text)
        for text in case.get("hostile", []):
            if page.evaluate("(t) => document.body.textContent.includes(t)", text):
                hostile_seen.add(text)
        if fid == case.get("flow_shot") and case.get("screenshots"):
            page.set_viewport_size({"width": 1280, "height": 1000})
            page.locator("#flow-detail").scroll_into_view_if_needed()
            page.evaluate("document.getElementById('flow-detail').scrollIntoView()")
            page.screenshot(path=os.path.join(case["screenshots"], f"{name}-flow-{fid}.png"))

    if page.locator("#flow-filter").input_value():
        page.fill("#flow-filter", "")
    for text in case.get("hostile", []):
        checks.check(name, f"hostile text shown as text: {text!r}", text in hostile_seen)
    injected = page.evaluate("document.querySelectorAll('img, iframe, object, embed, script:not([type])').length")
    checks.eq(name, "no element injected from the capture", injected, 1)
    checks.eq(name, "console errors", errors, [])
    checks.eq(name, "network requests", requests, [])
    checks.eq(name, "dialogs", dialogs, [])
    page.close()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    cases = json.load(open(sys.argv[1], encoding="utf-8"))
    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="sockscope-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS, offline=True
        )
        # Anything but the page itself is refused (and counted by the request listener).
        ctx.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://") else route.abort())
        for case in cases:
            try:
                run_case(ctx, case, checks)
            except Exception as e:  # a broken page fails its case, the others still run
                checks.check(case["name"], "ran", False, f"{type(e).__name__}: {e}")
        ctx.close()
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
