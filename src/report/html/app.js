// sockscope report: draws the page from the records embedded in it (the records
// `sockscope read --json` prints, plus the report's own `tcp`, `ws_accept` and `sse_stream`).
// No library, no network. Everything that came from the capture is put into the page as text
// (text nodes and attribute values), never parsed as markup.
'use strict';
(function () {
  const SVGNS = 'http://www.w3.org/2000/svg';
  const PAGE = 500;

  // ---- building elements without markup ----------------------------------------------------
  function put(node, attrs, children) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'on') { for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn); }
      else if (k === 'vars') { for (const [n, val] of Object.entries(v)) node.style.setProperty(n, val); }
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  const h = (tag, attrs, ...children) => put(document.createElement(tag), attrs, children);
  const s = (tag, attrs, ...children) => put(document.createElementNS(SVGNS, tag), attrs, children);

  // Control, bidi and invisible characters from the capture are shown as visible marks.
  function visible(text) {
    if (text === null || text === undefined) return '';
    return String(text).replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, (c) => {
      const n = c.charCodeAt(0);
      if (n < 0x20) return String.fromCharCode(0x2400 + n);
      return '\u27e8U+' + n.toString(16).toUpperCase().padStart(4, '0') + '\u27e9';
    });
  }

  // ---- data --------------------------------------------------------------------------------
  function unpack(packed) {
    return packed.rows.map((row) => {
      const keys = packed.schemas[row[0]];
      const rec = {};
      keys.forEach((k, i) => { rec[k] = row[i + 1]; });
      return rec;
    });
  }
  const records = unpack(JSON.parse(document.getElementById('records').textContent));
  const meta = JSON.parse(document.getElementById('meta').textContent);
  const docs = JSON.parse(document.getElementById('anomaly-docs').textContent);
  const docOf = new Map(docs.map((d) => [d.code, d]));
  const summary = records.find((r) => r.type === 'summary') || {
    packets: 0, flows: 0, kinds: {}, overhead: [], anomalies: {}, what_if: [],
    skipped_flows: 0, refused_flows: 0, skipped_packets: {}, first_ts: null, last_ts: null,
  };
  const flows = records.filter((r) => r.type === 'flow');
  const flowById = new Map(flows.map((f) => [f.id, f]));
  const perFlow = new Map();
  const globalAnomalies = [];
  for (const r of records) {
    if (r.type === 'flow' || r.type === 'summary') continue;
    if (r.flow === null || r.flow === undefined) { if (r.type === 'anomaly') globalAnomalies.push(r); continue; }
    if (!perFlow.has(r.flow)) perFlow.set(r.flow, []);
    perFlow.get(r.flow).push(r);
  }
  const detail = new Set(meta.detail_flows);
  // Several files are read as one capture, in the order given: time starts at the earliest.
  const t0 = [summary.first_ts, ...flows.map((f) => f.first_ts)].filter((t) => t !== null && t !== undefined)
    .reduce((a, b) => Math.min(a, b), Infinity);

  // ---- formatting --------------------------------------------------------------------------
  const int = (n) => (n === null || n === undefined) ? '–' : Number(n).toLocaleString('en-US');
  const bytes = (n) => int(n) + ' B';
  const secs = (x) => (x === null || x === undefined) ? '–' : x.toFixed(6);
  const ms = (x) => (x === null || x === undefined) ? '–' : (x * 1000).toFixed(3) + ' ms';
  // What a message meant to its sub-protocol, in one line, from the record's sub object(s).
  const SUB_NAMES = { json: 'JSON', 'socket.io': 'Socket.IO', stomp: 'STOMP', mqtt: 'MQTT', 'graphql-ws': 'graphql-ws', 'graphql-transport-ws': 'graphql-transport-ws', signalr: 'SignalR', 'json-rpc': 'JSON-RPC', wamp: 'WAMP' };
  function subLabel(u) {
    const parts = [SUB_NAMES[u.protocol] || String(u.protocol), String(u.type)];
    for (const k of ['namespace', 'event', 'method', 'topic', 'operation']) {
      if (typeof u[k] === 'string' && !(k === 'namespace' && u[k] === '/')) parts.push(JSON.stringify(u[k]));
    }
    if (u.qos !== undefined && u.qos !== null) parts.push('qos=' + u.qos);
    if (u.id !== undefined && u.id !== null) parts.push('id=' + u.id);
    if (typeof u.error === 'string') parts.push('error ' + JSON.stringify(u.error));
    return visible(parts.join(' '));
  }
  const subLabels = (r) => r.sub ? [r.sub].concat(r.sub_more || []).map(subLabel).join(', ') : '';
  function dur(x) {
    if (x === null || x === undefined) return '–';
    if (x < 1e-3) return (x * 1e6).toFixed(0) + ' µs';
    if (x < 1) return (x * 1e3).toFixed(x < 0.01 ? 3 : 1) + ' ms';
    return x.toFixed(x < 10 ? 3 : 1) + ' s';
  }
  function utc(ts) {
    if (ts === null || ts === undefined) return '–';
    const d = new Date(ts * 1000);
    return d.toISOString().replace('T', ' ').replace('Z', ' UTC');
  }
  const rel = (ts) => (t0 === Infinity || ts === null || ts === undefined) ? null : ts - t0;
  const plural = (n, word) => int(n) + ' ' + word + (n === 1 ? '' : 's');
  const kindOf = (f) => (f.kind === 'http' && f.polling) ? 'polling' : f.kind;
  const kindChip = (k) => h('span', { class: 'chip', vars: { '--chip': 'var(--k-' + k + ', var(--k-other))' } }, k);
  const sevClass = (sev) => 'sev-' + sev;
  const severityOf = (code) => (docOf.get(code) || {}).severity || 'warning';
  const codeLink = (code) => h('a', { href: '#code-' + code, class: sevClass(severityOf(code)) }, h('code', {}, code));

  // Markdown `code` spans of docs/anomalies.md as <code>, the rest as text.
  function mdText(text) {
    return String(text).split('`').map((part, i) => (i % 2 ? h('code', {}, part) : part.replace(/\*\*/g, '')));
  }

  const app = document.getElementById('app');
  const section = (id, title, ...children) => h('section', { id }, h('h2', {}, title), ...children);

  // Patterns shared by the charts: hatching for L7 headers, dots for TCP/IP headers.
  app.appendChild(s('svg', { width: 0, height: 0, 'aria-hidden': 'true', class: 'defs' },
    s('defs', {},
      s('pattern', { id: 'pat-l7', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
        s('rect', { width: 6, height: 6, fill: 'var(--bg)' }), s('rect', { width: 3.5, height: 6, fill: 'var(--l7)' })),
      s('pattern', { id: 'pat-tcpip', width: 5, height: 5, patternUnits: 'userSpaceOnUse' },
        s('rect', { width: 5, height: 5, fill: 'var(--bg)' }), s('circle', { cx: 2.5, cy: 2.5, r: 1.6, fill: 'var(--tcpip)' })))));

  // ---- overview ----------------------------------------------------------------------------
  function overview() {
    const origin = meta.origin || {};
    const files = origin.files || [];
    const what = files.length === 1 ? files[0] : files.length ? files.length + ' files read as one capture' : origin.interface ? 'live capture on ' + origin.interface : '';
    document.title = 'sockscope report' + (what ? ': ' + what : '');
    const duration = (summary.first_ts !== null && summary.last_ts !== null) ? summary.last_ts - summary.first_ts : null;
    const skipped = Object.entries(summary.skipped_packets || {});
    const skippedTotal = skipped.reduce((a, [, n]) => a + n, 0);
    const bySev = { error: 0, warning: 0, info: 0 };
    const codesBySev = { error: [], warning: [], info: [] };
    for (const [code, n] of Object.entries(summary.anomalies || {})) {
      const sev = severityOf(code);
      bySev[sev] = (bySev[sev] || 0) + n;
      (codesBySev[sev] = codesBySev[sev] || []).push([code, n]);
    }
    const kinds = Object.entries(summary.kinds || {});
    const polling = flows.filter((f) => f.kind === 'http' && f.polling).length;

    // Short polling is an http flow asking for the same resource again and again: drawn apart.
    const shown = kinds.flatMap(([k, n]) => (k === 'http' && polling) ? [['http', n - polling], ['polling', polling]] : [[k, n]]);
    const kindsCard = h('div', { class: 'card', id: 'kinds' }, h('h3', {}, 'Flows by kind'),
      h('div', { class: 'big' }, int(summary.flows)),
      kindBar(shown),
      h('ul', { class: 'legend' }, kinds.map(([k, n]) => h('li', { 'data-kind': k, 'data-count': n }, kindChip(k), ' ', int(n),
        k === 'http' && polling ? h('small', { class: 'muted' }, '\u00a0(' + int(polling) + ' of them ', kindChip('polling'), ')') : null))));

    const sevCard = h('div', { class: 'card', id: 'severities' }, h('h3', {}, 'Anomalies by severity'),
      h('div', { class: 'big' }, int(bySev.error + bySev.warning + bySev.info)),
      ['error', 'warning', 'info'].map((sev) => h('p', { 'data-severity': sev },
        h('strong', { class: sevClass(sev) }, (sev === 'error' ? '✗ ' : sev === 'warning' ? '⚠ ' : 'ℹ ') + int(bySev[sev]) + ' ' + (sev === 'info' ? 'note' : sev) + (bySev[sev] === 1 ? '' : 's')),
        codesBySev[sev].length ? [' — ', codesBySev[sev].map(([c, n], i) => [i ? ', ' : '', codeLink(c), ' ×' + n])] : null)));

    const capCard = h('div', { class: 'card', id: 'capture' }, h('h3', {}, 'Capture'),
      files.length > 1 ? h('details', {}, h('summary', {}, what), h('ul', { class: 'small mono' }, files.map((f) => h('li', {}, visible(f)))))
        : h('p', {}, h('span', { class: 'mono' }, visible(what) || '–')),
      h('p', {}, 'starts ', utc(t0 === Infinity ? null : t0)),
      h('p', {}, 'lasts ', h('strong', {}, dur(duration)), ', ', h('strong', {}, plural(summary.packets, 'packet'))));

    const skipCard = h('div', { class: 'card', id: 'skipped' }, h('h3', {}, 'Not analyzed'),
      h('p', {}, h('strong', {}, plural(skippedTotal, 'packet')), ' skipped',
        skipped.length ? ' (' + skipped.map(([r, n]) => r + ': ' + int(n)).join(', ') + ')' : ''),
      h('p', {}, plural(summary.skipped_flows, 'TCP flow'), ' on other ports',
        summary.skipped_flows ? h('span', { class: 'muted' }, ' — add them with -p PORT or --any-port') : null),
      summary.refused_flows ? h('p', {}, plural(summary.refused_flows, 'flow'), ' refused: flow table full (--max-flows)') : null);

    app.appendChild(h('p', { class: 'subtitle' }, 'made by ' + meta.generator + ' from ', h('span', { class: 'mono' }, visible(what))));
    app.appendChild(section('overview', 'Overview', h('div', { class: 'cards' }, capCard, kindsCard, sevCard, skipCard), leftOutNotice()));
  }

  function kindBar(kinds) {
    const total = kinds.reduce((a, [, n]) => a + n, 0);
    const W = 300, H = 18;
    let x = 0;
    return s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'kindbar', role: 'img', 'aria-label': 'flows by kind' },
      kinds.map(([k, n]) => {
        const w = total ? (n / total) * W : 0;
        const r = s('rect', { x, y: 0, width: Math.max(w, 0), height: H, fill: 'var(--k-' + k + ', var(--k-other))' }, s('title', {}, k + ': ' + n));
        x += w;
        return r;
      }));
  }

  function leftOutNotice() {
    const lo = meta.left_out || {};
    const lim = meta.limits || {};
    const notes = [];
    const listed = flows.length;
    if (listed < summary.flows) notes.push(int(listed) + ' of ' + int(summary.flows) + ' flows are listed in the table (the first ' + int(lim.flow_rows) + ' to end, and every flow shown in detail); the overview and the charts count every flow.');
    if (summary.flows > lim.first_flows) notes.push('Packets, frames and messages are kept for ' + plural(meta.detail_flows.length, 'flow') + ': the first ' + lim.first_flows + ' and up to ' + lim.anomalous_flows + ' more with anomalies' + (lo.anomalous_flows_without_detail ? ' (' + int(lo.anomalous_flows_without_detail) + ' more flows with anomalies are listed without them)' : '') + '.');
    const cut = Object.entries(lo.cut || {});
    if (cut.length) notes.push('Flows ' + cut.map(([f, n]) => f + ' (' + int(n) + ' records)').join(', ') + ' were too long to keep whole: their first records are shown.');
    if (lo.anomalies_not_kept) notes.push(int(lo.anomalies_not_kept) + ' anomalies of other flows are counted but not listed.');
    if (!notes.length) return null;
    return h('div', { class: 'notice', id: 'left-out' }, h('strong', {}, 'This report is summarised. '), notes.join(' '));
  }

  // ---- overhead ----------------------------------------------------------------------------
  function overhead() {
    const rows = summary.overhead || [];
    const sec = section('overhead', 'Header overhead: what each message costs',
      h('p', { class: 'explain' }, 'Every message pays for its ', h('strong', {}, 'payload'), ' (the data itself), its ',
        h('strong', {}, 'L7 headers'), ' (an HTTP start line and headers, or a WebSocket frame header of 2–14 bytes) and the ',
        h('strong', {}, 'TCP/IP headers'), ' of the packets that carry it (about 52–72 bytes per packet, ACKs included). The bars show the bytes per message of each kind of flow, measured from this capture.'),
      h('div', { class: 'legend' },
        h('span', {}, h('i', { class: 'swatch sw-l7' }), 'L7 headers (hatched)'),
        h('span', {}, h('i', { class: 'swatch sw-payload' }), 'payload (solid)'),
        h('span', {}, h('i', { class: 'swatch sw-tcpip' }), 'TCP/IP headers (dotted)')));
    const withMsgs = rows.filter((r) => r.messages > 0);
    if (withMsgs.length) {
      sec.appendChild(perMessageChart(withMsgs));
      sec.appendChild(h('p', { class: 'explain' }, 'The headers alone, on a scale of their own: what each message pays for being labelled and framed.'));
      sec.appendChild(headerChart(withMsgs));
    }
    sec.appendChild(overheadTable(rows));
    sec.appendChild(whatIf());
    sec.appendChild(cumulative());
    app.appendChild(sec);
  }

  function perMessageChart(rows) {
    const W = 900, left = 110, right = 250, bh = 22, gap = 16, top = 6;
    const per = rows.map((r) => ({
      kind: r.kind, l7: r.l7_header_bytes / r.messages, payload: r.payload_bytes / r.messages, tcpip: r.tcpip_header_bytes / r.messages,
    }));
    const max = Math.max(...per.map((p) => p.l7 + p.payload + p.tcpip), 1);
    const scale = (W - left - right) / max;
    const H = top + per.length * (bh + gap);
    return s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img', id: 'per-message-chart', 'aria-label': 'bytes per message by kind' },
      per.map((p, i) => {
        const y = top + i * (bh + gap);
        let x = left;
        const seg = (cls, v, name) => {
          const w = v * scale;
          const r = s('rect', { class: cls, x, y, width: w, height: bh, stroke: 'var(--fg)', 'stroke-width': 0.5 }, s('title', {}, name + ': ' + v.toFixed(1) + ' B per message'));
          x += w;
          return r;
        };
        return s('g', { 'data-kind': p.kind },
          s('text', { x: left - 8, y: y + bh / 2 + 4, 'text-anchor': 'end' }, p.kind),
          seg('bar-l7', p.l7, 'L7 headers'), seg('bar-payload', p.payload, 'payload'), seg('bar-tcpip', p.tcpip, 'TCP/IP headers'),
          s('text', { x: x + 8, y: y + bh / 2 + 4, class: 'muted' },
            p.l7.toFixed(1) + ' + ' + p.payload.toFixed(1) + ' + ' + p.tcpip.toFixed(1) + ' B per message'));
      }));
  }

  function headerChart(rows) {
    const W = 900, left = 110, right = 250, bh = 16, gap = 10;
    const per = rows.map((r) => [r.kind, r.l7_header_bytes / r.messages]);
    const max = Math.max(...per.map(([, v]) => v), 1);
    const H = per.length * (bh + gap);
    return s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img', id: 'header-chart', 'aria-label': 'L7 header bytes per message by kind' },
      per.map(([kind, v], i) => {
        const y = i * (bh + gap);
        const w = (v / max) * (W - left - right);
        return s('g', { 'data-kind': kind },
          s('text', { x: left - 8, y: y + bh - 3, 'text-anchor': 'end' }, kind),
          s('rect', { class: 'bar-l7', x: left, y, width: w, height: bh, stroke: 'var(--l7)' }),
          s('text', { x: left + w + 8, y: y + bh - 3 }, v.toFixed(1) + ' B of L7 headers per message'));
      }));
  }

  function overheadTable(rows) {
    const total = rows.reduce((t, r) => {
      for (const k of ['flows', 'messages', 'payload_bytes', 'l7_header_bytes', 'tcpip_header_bytes']) t[k] += r[k];
      return t;
    }, { kind: 'total', flows: 0, messages: 0, payload_bytes: 0, l7_header_bytes: 0, tcpip_header_bytes: 0 });
    total.overhead_pct = total.payload_bytes ? Math.round(total.l7_header_bytes * 100000 / total.payload_bytes) / 1000 : null;
    const cell = (field, v, text) => h('td', { class: 'num', 'data-field': field, 'data-value': v === null ? 'null' : v }, text);
    const tr = (r, isTotal) => h('tr', isTotal ? { 'data-total': 'true' } : { 'data-kind': r.kind },
      h('th', {}, isTotal ? 'total' : kindChip(r.kind)),
      cell('flows', r.flows, int(r.flows)),
      cell('messages', r.messages, int(r.messages)),
      cell('payload_bytes', r.payload_bytes, int(r.payload_bytes)),
      cell('l7_header_bytes', r.l7_header_bytes, int(r.l7_header_bytes)),
      h('td', { class: 'num' }, r.messages ? (r.l7_header_bytes / r.messages).toFixed(1) : '–'),
      cell('tcpip_header_bytes', r.tcpip_header_bytes, int(r.tcpip_header_bytes)),
      cell('overhead_pct', r.overhead_pct, r.overhead_pct === null ? '–' : r.overhead_pct + '%'));
    return h('div', { class: 'tablewrap' }, h('table', { id: 'overhead-table' },
      h('thead', {}, h('tr', {}, ['kind', 'flows', 'messages', 'payload B', 'L7 header B', 'L7 B/msg', 'TCP/IP header B', 'overhead %'].map((t, i) => h('th', { class: i ? 'num' : '' }, t)))),
      h('tbody', {}, rows.map((r) => tr(r, false)), rows.length > 1 ? tr(total, true) : null)),
      h('p', { class: 'small muted' }, 'messages: HTTP requests and responses (a pair counts 2) and WebSocket data messages; the upgrade request and its 101 count as the handshake. overhead % = L7 header bytes / payload bytes, as in sockscope read --json.'));
  }

  // The carriers of a what-if row, in the text table's order: the flow as captured, then the
  // same messages over HTTP (sockscope read prints the same numbers; docs/overhead.md).
  const CARRIERS = [
    { key: 'websocket', label: 'WebSocket (measured)', fill: 'var(--k-websocket)' },
    { key: 'short_polling', label: 'short polling', fill: 'url(#pat-poll)', stroke: 'var(--k-polling)' },
    { key: 'long_polling', label: 'long polling', fill: 'url(#pat-http)', stroke: 'var(--http)' },
    { key: 'sse', label: 'SSE + POSTs', fill: 'url(#pat-sse)', stroke: 'var(--k-sse)' },
  ];

  // The ratio in the words sockscope read uses.
  function ratioWords(r) {
    const shown = r.toFixed(1);
    if (shown === '1.0') return 'about as many (1.0×)';
    if (r < 1) return 'HTTP would be cheaper here (' + shown + '×)';
    return shown + '× as many header bytes';
  }

  function whatIf() {
    const rows = summary.what_if || [];
    const box = h('div', { id: 'what-if' }, h('h3', {}, 'What if the same messages had gone over HTTP?'));
    if (!rows.length) {
      box.appendChild(h('p', { class: 'muted' }, 'No WebSocket flow with a complete handshake in this capture.'));
      return box;
    }
    box.appendChild(h('p', { class: 'explain' }, 'The WebSocket bar is what the flow really spent: its handshake plus every frame header. The others price the same messages over HTTP, each direction as it would travel: the client\'s as POSTs answered by a 204, the server\'s by short polling (a GET every poll interval, empty polls counted), long polling (a GET per message) or Server-Sent Events (one stream, a few bytes per event). Heads are the flow\'s own, as its upgrade request and 101 without their WebSocket headers.'));
    box.appendChild(h('div', { class: 'legend' }, CARRIERS.map((c, i) =>
      h('span', {}, h('i', { class: 'swatch ' + (i ? 'sw-http' : 'sw-ws') }), c.label + (i ? ' (estimated)' : '')))));
    const shown = rows.slice(0, 30);
    const W = 900, left = 90, right = 330, bh = 12, gap = 14;
    const cost = (r, key) => (r.carriers || []).find((c) => c.carrier === key) || { l7_header_bytes: key === 'websocket' ? r.actual_l7_header_bytes : r.http_l7_header_bytes };
    const max = Math.max(...shown.map((r) => Math.max(...CARRIERS.map((c) => cost(r, c.key).l7_header_bytes))), 1);
    const scale = (W - left - right) / max;
    const rowH = CARRIERS.length * bh + gap;
    const H = shown.length * rowH;
    const pattern = (id, color) => s('pattern', { id, width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(-45)' },
      s('rect', { width: 6, height: 6, fill: 'var(--bg)' }), s('rect', { width: 3.5, height: 6, fill: color }));
    box.appendChild(s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img', 'aria-label': 'what if over HTTP' },
      s('defs', {}, pattern('pat-http', 'var(--http)'), pattern('pat-poll', 'var(--k-polling)'), pattern('pat-sse', 'var(--k-sse)')),
      shown.map((r, i) => {
        const y = i * rowH;
        const attrs = { class: 'whatif', 'data-flow': r.flow, 'data-actual': r.actual_l7_header_bytes, 'data-http': r.http_l7_header_bytes };
        for (const c of CARRIERS.slice(1)) attrs['data-' + c.key.replace('_', '-')] = cost(r, c.key).l7_header_bytes;
        return s('g', attrs,
          s('text', { x: left - 8, y: y + 2 * bh, 'text-anchor': 'end' }, 'flow ' + r.flow),
          CARRIERS.map((c, k) => {
            const b = cost(r, c.key).l7_header_bytes;
            const yy = y + k * bh;
            const label = k === 0
              ? bytes(b) + ' as WebSocket (' + plural(r.messages, 'message') + ')'
              : bytes(b) + ' by ' + c.label + (r.actual_l7_header_bytes ? ', ' + ratioWords(cost(r, c.key).ratio ?? b / r.actual_l7_header_bytes) : '');
            return [
              s('rect', { x: left, y: yy, width: b * scale, height: bh - 1, fill: c.fill, stroke: c.stroke || 'none' }),
              s('text', { x: left + b * scale + 6, y: yy + bh - 3, class: 'small' }, label),
            ];
          }));
      })));
    if (rows.length > shown.length) box.appendChild(h('p', { class: 'muted small' }, 'The first ' + shown.length + ' of ' + rows.length + ' WebSocket flows.'));
    return box;
  }

  // Cumulative L7 header bytes after each message of one WebSocket flow, measured, against the
  // same messages over HTTP (and a polling flow of the capture, measured, if there is one).
  function wsCumulative(id) {
    const recs = perFlow.get(id) || [];
    let acc = 0;
    for (const r of recs) {
      if (r.type === 'handshake') break;
      if (r.type === 'http') acc += r.header_bytes + r.framing_bytes;
    }
    const points = [acc];
    let pendingFrames = 0;
    for (const r of recs) {
      if (r.type === 'ws_frame') pendingFrames += r.header_len;
      if (r.type === 'ws_message') { acc += pendingFrames; pendingFrames = 0; points.push(acc); }
    }
    if (pendingFrames && points.length > 1) points[points.length - 1] = acc + pendingFrames;
    return points;
  }

  function pollCumulative() {
    const poll = flows.find((f) => f.polling && detail.has(f.id));
    if (!poll) return null;
    const points = [0];
    let acc = 0, n = 0;
    for (const r of perFlow.get(poll.id) || []) {
      if (r.type !== 'http') continue;
      acc += r.header_bytes;
      n += 1;
      if (r.kind === 'response') points.push(acc);
    }
    return n ? { flow: poll.id, points } : null;
  }

  function cumulative() {
    const box = h('div', { id: 'cumulative' }, h('h3', {}, 'Header bytes, message after message'));
    const candidates = (summary.what_if || []).filter((w) => detail.has(w.flow) && w.messages > 0);
    if (!candidates.length) {
      box.appendChild(h('p', { class: 'muted' }, 'Drawn for a WebSocket flow whose messages the report keeps; there is none here.'));
      return box;
    }
    box.appendChild(h('p', { class: 'explain' }, 'WebSocket pays for its handshake once, up front; then each message costs only a frame header. HTTP pays a whole request and response head for every message. Where the lines cross, the connection has paid for itself.'));
    const select = h('select', { id: 'cumulative-flow', 'aria-label': 'WebSocket flow' }, candidates.map((w) => h('option', { value: w.flow }, 'flow ' + w.flow + ' (' + plural(w.messages, 'message') + ')')));
    const holder = h('div', {});
    const draw = () => {
      const w = candidates.find((c) => String(c.flow) === select.value) || candidates[0];
      holder.replaceChildren(cumulativeChart(w));
    };
    select.addEventListener('change', draw);
    box.appendChild(h('div', { class: 'controls' }, h('label', {}, 'flow ', select)));
    box.appendChild(holder);
    draw();
    return box;
  }

  function cumulativeChart(w) {
    const ws = wsCumulative(w.flow);
    const n = ws.length - 1;
    const per = w.messages ? w.http_l7_header_bytes / w.messages : 0;
    const http = ws.map((_, k) => k * per);
    const poll = pollCumulative();
    const series = [ws, http];
    if (poll) series.push(poll.points.slice(0, n + 1));
    const W = 900, H = 300, L = 70, R = 200, T = 12, B = 40;
    const maxY = Math.max(1, ...series.flat());
    const x = (k) => L + (n ? (k / n) * (W - L - R) : 0);
    const y = (v) => T + (H - T - B) * (1 - v / maxY);
    const path = (pts) => pts.map((v, k) => (k ? 'L' : 'M') + x(k).toFixed(1) + ',' + y(v).toFixed(1)).join(' ');
    let cross = null;
    for (let k = 1; k <= n; k++) if (ws[k] < http[k]) { cross = k; break; }
    const ticks = [];
    for (let i = 0; i <= 4; i++) ticks.push((maxY * i) / 4);
    const xt = [];
    const step = Math.max(1, Math.ceil(n / 10));
    for (let k = 0; k <= n; k += step) xt.push(k);
    const endLabel = (pts, cls, text) => s('text', { x: x(pts.length - 1) + 8, y: y(pts[pts.length - 1]) + 4, class: cls }, text);
    return s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img', 'aria-label': 'cumulative header bytes', 'data-flow': w.flow },
      ticks.map((v) => [s('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }), s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'muted' }, int(Math.round(v)))]),
      xt.map((k) => s('text', { x: x(k), y: H - B + 16, 'text-anchor': 'middle', class: 'muted' }, k)),
      s('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle', class: 'muted' }, 'messages sent so far'),
      s('text', { x: 12, y: T + 4, class: 'muted', transform: 'rotate(90 12 ' + (T + 4) + ')' }, 'L7 header bytes'),
      s('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }), s('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }),
      cross !== null ? [s('line', { x1: x(cross), x2: x(cross), y1: T, y2: H - B, stroke: 'var(--ok)', 'stroke-dasharray': '3 3' }),
        s('text', { x: x(cross) + 4, y: T + 12, class: 'small' }, 'from message ' + cross + ' on, WebSocket has spent less')] : null,
      s('path', { class: 'line-http', d: path(http) }),
      s('path', { class: 'line-ws', d: path(ws) }),
      poll ? s('path', { class: 'line-poll', d: path(series[2]) }) : null,
      ws.map((v, k) => s('rect', { class: 'pt-ws', x: x(k) - 3, y: y(v) - 3, width: 6, height: 6 }, s('title', {}, 'after ' + k + ' messages: ' + v + ' B as WebSocket'))),
      http.map((v, k) => s('circle', { class: 'pt-http', cx: x(k), cy: y(v), r: 3 }, s('title', {}, 'after ' + k + ' messages: ' + Math.round(v) + ' B over HTTP'))),
      endLabel(ws, 'end-ws', '■ WebSocket: ' + bytes(ws[n])),
      endLabel(http, 'end-http', '● over HTTP: ' + bytes(Math.round(http[n]))),
      poll ? endLabel(series[2], 'end-poll', '⋯ polling flow ' + poll.flow + ' (measured)') : null);
  }

  // ---- flow table --------------------------------------------------------------------------
  const columns = [
    ['id', '#', (f) => f.id, true],
    ['kind', 'kind', (f) => kindOf(f), false],
    ['client', 'client', (f) => f.client, false],
    ['server', 'server', (f) => f.server, false],
    ['start', 'start (s)', (f) => rel(f.first_ts), true],
    ['duration', 'duration', (f) => f.last_ts - f.first_ts, true],
    ['packets', 'packets', (f) => f.packets, true],
    ['bytes', 'bytes c→s / s→c', (f) => f.bytes_c2s + f.bytes_s2c, true],
    ['messages', 'messages', (f) => f.http_messages + f.ws_messages + f.sse_events, true],
    ['ping', 'ping RTT', (f) => f.ping_rtt_ms, true],
    ['anomalies', 'anomalies', (f) => f.anomalies, true],
    ['end', 'end', (f) => f.end, false],
  ];
  const table = { sort: 'id', dir: 1, shown: PAGE, filter: '', kind: '', onlyAnomalies: false };

  function flowTable() {
    const tbody = h('tbody', {});
    const count = h('span', { id: 'flow-count', class: 'muted' });
    const more = h('button', { id: 'more-flows', type: 'button' }, 'show more');
    const heads = columns.map(([key, label, , num]) => h('th', { class: num ? 'num' : '', 'data-sort': key, tabindex: 0, scope: 'col' }, label));
    const kindsPresent = [...new Set(flows.map(kindOf))].sort();
    const search = h('input', { type: 'search', id: 'flow-filter', placeholder: 'filter: address, port, kind, flow number', 'aria-label': 'filter flows' });
    const kindSel = h('select', { id: 'flow-kind', 'aria-label': 'kind' }, h('option', { value: '' }, 'every kind'), kindsPresent.map((k) => h('option', { value: k }, k)));
    const anomBox = h('input', { type: 'checkbox', id: 'flow-anomalies' });
    function render() {
      const q = table.filter.trim().toLowerCase();
      const col = columns.find((c) => c[0] === table.sort);
      let list = flows.filter((f) => (!table.kind || kindOf(f) === table.kind) && (!table.onlyAnomalies || f.anomalies > 0) &&
        (!q || [f.id, kindOf(f), f.client, f.server, f.end].some((v) => String(v).toLowerCase().includes(q))));
      list.sort((a, b) => {
        const va = col[2](a), vb = col[2](b);
        if (va === vb) return a.id - b.id;
        if (va === null || va === undefined) return 1;
        if (vb === null || vb === undefined) return -1;
        return (va < vb ? -1 : 1) * table.dir;
      });
      const rows = list.slice(0, table.shown).map((f) => {
        const tr = h('tr', { 'data-flow': f.id, tabindex: 0, class: current === f.id ? 'selected' : null },
          h('td', { class: 'num' }, f.id), h('td', {}, kindChip(kindOf(f))), h('td', { class: 'mono' }, visible(f.client)), h('td', { class: 'mono' }, visible(f.server)),
          h('td', { class: 'num' }, secs(rel(f.first_ts))), h('td', { class: 'num' }, dur(f.last_ts - f.first_ts)), h('td', { class: 'num' }, int(f.packets)),
          h('td', { class: 'num' }, int(f.bytes_c2s) + ' / ' + int(f.bytes_s2c)), h('td', { class: 'num' }, int(f.http_messages + f.ws_messages + f.sse_events)),
          h('td', { class: 'num' }, f.ping_rtt_ms === null ? '' : f.ping_rtt_ms + ' ms'),
          h('td', { class: 'num' }, f.anomalies ? h('strong', { class: 'sev-error' }, int(f.anomalies)) : '0'), h('td', {}, f.end));
        const open = () => showFlow(f.id, true);
        tr.addEventListener('click', open);
        tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
        return tr;
      });
      tbody.replaceChildren(...rows);
      count.textContent = (list.length === flows.length ? int(flows.length) + ' flows' : int(list.length) + ' of ' + int(flows.length) + ' flows') +
        (rows.length < list.length ? ', first ' + int(rows.length) + ' shown' : '');
      more.hidden = rows.length >= list.length;
      heads.forEach((th) => th.setAttribute('aria-sort', th.dataset.sort === table.sort ? (table.dir > 0 ? 'ascending' : 'descending') : 'none'));
    }
    heads.forEach((th) => {
      const sort = () => { if (table.sort === th.dataset.sort) table.dir = -table.dir; else { table.sort = th.dataset.sort; table.dir = 1; } render(); };
      th.addEventListener('click', sort);
      th.addEventListener('keydown', (e) => { if (e.key === 'Enter') sort(); });
    });
    search.addEventListener('input', () => { table.filter = search.value; table.shown = PAGE; render(); });
    kindSel.addEventListener('change', () => { table.kind = kindSel.value; table.shown = PAGE; render(); });
    anomBox.addEventListener('change', () => { table.onlyAnomalies = anomBox.checked; table.shown = PAGE; render(); });
    more.addEventListener('click', () => { table.shown += PAGE; render(); });
    app.appendChild(section('flows-section', 'Flows',
      h('p', { class: 'explain' }, 'One row per TCP connection. Click a row (or press Enter on it) to see that flow below: its sequence diagram, its messages over time, the handshake and every frame.'),
      h('div', { class: 'controls' }, search, kindSel, h('label', {}, anomBox, ' with anomalies only'), count),
      h('div', { class: 'tablewrap' }, h('table', { id: 'flows' }, h('thead', {}, h('tr', {}, heads)), tbody)), more,
      h('div', { id: 'flow-detail' })));
    table.render = render;
    render();
  }

  // ---- one flow ----------------------------------------------------------------------------
  let current = null;

  function showFlow(id, scroll) {
    current = id;
    document.querySelectorAll('#flows tbody tr').forEach((tr) => tr.classList.toggle('selected', tr.dataset.flow === String(id)));
    const f = flowById.get(id);
    const box = document.getElementById('flow-detail');
    if (!f) { box.replaceChildren(); return; }
    const recs = perFlow.get(id) || [];
    const has = (t) => recs.some((r) => r.type === t);
    const parts = [h('h2', { id: 'flow-title' }, 'Flow ' + id + ': ', h('span', { class: 'dir-c2s mono' }, visible(f.client)), ' ⇄ ', h('span', { class: 'dir-s2c mono' }, visible(f.server)), ' ', kindChip(kindOf(f))),
      h('p', {}, plural(f.packets, 'packet') + ' over ' + dur(f.last_ts - f.first_ts) + ', starting ' + secs(rel(f.first_ts)) + ' s into the capture; ' +
        'client sent ' + bytes(f.bytes_c2s) + ', server ' + bytes(f.bytes_s2c) + ' of TCP payload; ' + endWords(f.end) +
        (f.ping_rtt_ms !== null ? '; ping RTT ' + f.ping_rtt_ms + ' ms' : '') + (f.gaps ? '; ' + bytes(f.gaps) + ' missing from the capture' : '') + '.' +
        (f.sub ? ' Messages ' + (f.sub.protocol ? 'decoded as ' + (SUB_NAMES[f.sub.protocol] || f.sub.protocol) : 'not decoded') + ' (' + visible(f.sub.reason) + ').' : ''))];
    if (!detail.has(id)) {
      parts.push(h('p', { class: 'notice' }, 'The report keeps packets, frames and messages for the first ' + meta.limits.first_flows + ' flows and for up to ' + meta.limits.anomalous_flows + ' flows with anomalies; this flow is listed with its totals only. Run sockscope read --ladder ' + id + ' (or --follow ' + id + ') on the capture for all of it.'));
      parts.push(anomalyList(recs));
      box.replaceChildren(...parts);
      if (scroll) box.scrollIntoView({ block: 'start' });
      return;
    }
    if ((meta.left_out.cut || {})[id]) parts.push(h('p', { class: 'notice' }, 'This flow was too long to keep whole: ' + int(meta.left_out.cut[id]) + ' of its records are left out, so what follows stops early.'));
    const left = [h('h3', {}, 'Sequence diagram'), h('p', { class: 'small muted' }, 'The same sequence as sockscope read --ladder ' + id + ': client on the left, server on the right, one arrow per SYN, FIN, RST, HTTP message and WebSocket frame; thick arrows marked ■ complete a data message. Pure ACKs and segments that complete nothing are summarised between arrows.'), ladder(id, recs)];
    const right = [];
    if (has('handshake')) right.push(handshakeBox(recs));
    right.push(h('h3', {}, 'Messages over time'), timeline(f, recs));
    parts.push(h('div', { class: 'detailgrid' }, h('div', {}, left), h('div', {}, right)));
    if (has('ws_frame')) parts.push(framesTable(id, recs));
    if (has('ws_message') || has('sse_event')) parts.push(messageList(recs));
    if (has('latency')) parts.push(latencyTable(recs));
    if (has('http')) parts.push(httpList(id, recs));
    parts.push(anomalyList(recs));
    box.replaceChildren(...parts);
    if (scroll) box.scrollIntoView({ block: 'start' });
  }

  function endWords(end) {
    return { fin: 'ended by FIN', rst: 'reset (RST)', idle: 'idle (timed out)', eof: 'still open at the end of the capture', evicted: 'evicted (flow table full)' }[end] || String(end);
  }

  function startLine(r) {
    return r.kind === 'request' ? r.method + ' ' + r.target + ' ' + r.version : r.version + ' ' + r.status + ' ' + r.reason;
  }

  function isEventStream(r) {
    return r.kind === 'response' && (r.headers || []).some(([n, v]) => n.toLowerCase() === 'content-type' && v.toLowerCase().trim().startsWith('text/event-stream'));
  }

  function frameLabel(r) {
    const names = { continuation: 'Continuation', text: 'Text', binary: 'Binary', close: 'Close', ping: 'Ping', pong: 'Pong' };
    let label = names[r.opcode] || 'Opcode 0x' + r.opcode_num.toString(16);
    if (r.opcode === 'close') {
      if (r.close_code !== null) label += ' ' + r.close_code;
      if (r.close_reason) label += ' "' + visible(r.close_reason).slice(0, 20) + '"';
    } else label += ' ' + r.payload_len + ' B';
    if (r.rsv1) label += ' compressed';
    if (r.dir === 's2c' && r.masked) label += ' MASKED';
    if (r.dir === 'c2s' && !r.masked) label += ' UNMASKED';
    if (!r.fin) label += ' (more follows)';
    else if (r.opcode === 'continuation') label += ' (last)';
    return label;
  }

  // The ladder's rows from the flow's records, as `--ladder` draws them: within a packet the
  // SYN first, then what the packet completed, then FIN or RST; pure ACKs and bare segments
  // counted between arrows, except the handshake's ACK and the last ACK.
  function ladderRows(recs) {
    const rows = [];
    let pending = [], notes = [], acks = 0, segs = 0, segBytes = 0;
    let synAck = false, hsAckDrawn = false;
    const fin = { c2s: false, s2c: false };
    const after = new Set(['ws.accept_mismatch', 'ws.handshake_invalid', 'ws.upgrade_refused']);
    let lastArrow = null;
    const lastFrame = { c2s: null, s2c: null };
    const summarised = () => {
      if (!acks && !segs) return;
      const parts = [];
      if (segs) parts.push(plural(segs, 'segment') + ' (' + segBytes + ' B) with no complete PDU');
      if (acks) parts.push(acks + ' ACK' + (acks === 1 ? '' : 's'));
      rows.push({ kind: 'summary', text: '⋯ ' + parts.join(', ') + ' ⋯' });
      acks = 0; segs = 0; segBytes = 0;
    };
    const draw = (pkt, a) => { summarised(); a.frame = pkt ? pkt.frame : null; a.ts = pkt ? pkt.ts : null; rows.push(a); lastArrow = a; };
    // An anomaly found in an earlier packet than the PDU after it (decoded once a later packet
    // showed what it was: a ClientHello a plain HTTP server answered) keeps its own packet.
    const known = (f) => f !== null && f !== undefined;
    const earlier = (n, frame) => known(n.frame) && known(frame) && n.frame < frame;
    const takeNotes = (rec) => {
      const all = notes.splice(0);
      notes.push(...all.filter((n) => rec && earlier(n, rec.frame)));
      return all.filter((n) => !(rec && earlier(n, rec.frame)));
    };
    const arrow = (dir, label, cls, extra) => Object.assign({ kind: 'arrow', dir, label, cls, notes: takeNotes(extra && extra.rec), verdict: null }, extra || {});
    const noteLine = (pkt, list) => {
      summarised();
      const before = list.filter((n) => pkt && earlier(n, pkt.frame));
      for (const n of before) rows.push({ kind: 'note', frame: n.frame, ts: n.ts, notes: [n] });
      const rest = list.filter((n) => !before.includes(n));
      if (rest.length) rows.push({ kind: 'note', frame: pkt ? pkt.frame : null, ts: pkt ? pkt.ts : null, notes: rest });
    };
    const drawPending = (pkt) => {
      for (const a of pending.splice(0)) draw(pkt, a);
      if (notes.length) noteLine(pkt, notes.splice(0));
    };
    for (const r of recs) {
      switch (r.type) {
        case 'http':
          pending.push(arrow(r.dir, isEventStream(r) ? 'end of event stream (' + r.body_bytes + ' B)' : startLine(r), 'http', { rec: r }));
          break;
        case 'sse_stream':
          pending.push(arrow(r.dir, r.version + ' ' + r.status + ' ' + r.reason + ' (event stream)', 'http', { rec: r }));
          break;
        case 'handshake': {
          const a = pending.length ? pending[pending.length - 1] : lastArrow;
          if (a) a.verdict = r.accept_valid ? ['ok', '✓ accept key valid'] : ['bad', '✗ accept key invalid'];
          break;
        }
        case 'ws_frame': {
          const a = arrow(r.dir, frameLabel(r), 'ws-frame', { rec: r });
          pending.push(a);
          lastFrame[r.dir] = a;
          break;
        }
        case 'ws_message':
          if (lastFrame[r.dir] && !lastFrame[r.dir].msg) lastFrame[r.dir].msg = r;
          break;
        case 'tls': {
          const facts = [r.sni !== null ? 'SNI ' + visible(r.sni) : null, r.version, r.cipher_suite].filter((x) => x !== null);
          pending.push(arrow(r.dir, 'TLS ' + r.name + (facts.length ? ' (' + facts.join(', ') + ')' : ''), 'http', { rec: r }));
          break;
        }
        case 'sse_event':
          pending.push(arrow('s2c', 'event' + (r.event !== null ? ' "' + visible(r.event) + '"' : ''), 'sse', { rec: r }));
          break;
        case 'anomaly': {
          const a = pending.length ? pending[pending.length - 1] : null;
          const isAfter = after.has(r.code) || (r.code === 'ws.invalid_utf8' && String(r.detail).startsWith('text message ends'));
          if (a && isAfter) a.notes.push(r); else notes.push(r);
          break;
        }
        case 'tcp': {
          const pkt = { frame: r.frame, ts: r.ts };
          const f = new Set(r.flags);
          const syn = f.has('SYN');
          const parts = ['SYN', 'FIN', 'RST'].filter((x) => f.has(x));
          const label = parts.length ? parts.concat(f.has('ACK') ? ['ACK'] : []).join(', ') : null;
          const tcpArrow = (text, withNotes) => ({ kind: 'arrow', dir: r.dir, label: text, cls: 'tcp', notes: withNotes, verdict: null, rec: r });
          if (syn && f.has('ACK')) synAck = true;
          if (syn) draw(pkt, tcpArrow(label, []));
          const drawn = pending.splice(0);
          for (const a of drawn) draw(pkt, a);
          let left = notes.splice(0);
          if (!syn && label) {
            if (f.has('FIN')) fin[r.dir] = true;
            if (!drawn.length && r.len > 0) { segs += 1; segBytes += r.len; }
            draw(pkt, tcpArrow(label, left));
            left = [];
          } else if (!drawn.length && !syn) {
            const pure = r.len === 0;
            const hsAck = pure && synAck && !hsAckDrawn && r.dir === 'c2s';
            const lastAck = pure && fin.c2s && fin.s2c;
            if (hsAck || lastAck) {
              hsAckDrawn = hsAckDrawn || hsAck;
              draw(pkt, tcpArrow('ACK', left));
              left = [];
            } else if (pure) acks += 1;
            else { segs += 1; segBytes += r.len; }
          }
          if (left.length) noteLine(pkt, left);
          if (r.len > 0) hsAckDrawn = true;
          break;
        }
        default:
      }
    }
    for (const a of pending) { if (a.rec && a.rec.frame !== undefined && a.rec.frame !== null) a.frameHint = a.rec.frame; }
    drawPending(null);
    summarised();
    return rows;
  }

  function ladder(id, recs) {
    const rows = ladderRows(recs);
    const f = flowById.get(id);
    const W = 720, TIME = 4, PKT = 84, CL = 180, SV = 560, NOTE = 572, RH = 26, SH = 18, TOP = 44;
    let y = TOP;
    const items = [];
    const seenFrames = new Set();
    for (const row of rows) {
      if (row.kind === 'summary') {
        items.push(s('text', { x: (CL + SV) / 2, y: y + 12, 'text-anchor': 'middle', class: 'muted small summary-row' }, row.text));
        y += SH;
        continue;
      }
      const frame = row.frame !== null && row.frame !== undefined ? row.frame : row.frameHint;
      const anchor = frame !== null && frame !== undefined && !seenFrames.has(frame) ? 'ladder-' + id + '-p' + frame : null;
      if (anchor) seenFrames.add(frame);
      const tsv = row.ts !== null && row.ts !== undefined ? (row.ts - f.first_ts).toFixed(6) : '(end)';
      const g = [s('rect', { class: 'band', x: 0, y, width: W, height: RH }),
        s('text', { x: TIME, y: y + RH / 2 + 4, class: 'muted mono small' }, tsv),
        s('text', { x: PKT + 30, y: y + RH / 2 + 4, 'text-anchor': 'end', class: 'muted mono small' }, frame !== null && frame !== undefined ? frame : '–')];
      const notes = row.notes || [];
      let nx = NOTE;
      if (row.kind === 'arrow') {
        const mid = y + RH / 2 + 5;
        const [x1, x2] = row.dir === 'c2s' ? [CL + 2, SV - 3] : [SV - 2, CL + 3];
        const cls = ['arrow', row.dir, row.cls, row.msg ? 'msg' : ''].join(' ');
        const tip = [row.label, row.msg ? '(completes a ' + row.msg.opcode + ' message of ' + row.msg.len + ' B)' : ''].join(' ');
        const head = row.dir === 'c2s' ? 'M' + x2 + ',' + mid + ' l-9,-5 l0,10 z' : 'M' + x2 + ',' + mid + ' l9,-5 l0,10 z';
        g.push(s('g', { class: cls, 'data-frame': frame === undefined ? null : frame },
          s('line', { x1, y1: mid, x2: row.dir === 'c2s' ? x2 - 8 : x2 + 8, y2: mid }),
          s('path', { class: 'head', d: head }),
          s('text', { x: (CL + SV) / 2, y: mid - 5, 'text-anchor': 'middle', class: 'lbl' }, (row.msg ? '■ ' : '') + visible(row.label)),
          s('title', {}, visible(tip))));
        if (row.verdict) {
          g.push(s('text', { x: nx, y: mid, class: row.verdict[0] === 'ok' ? 'verdict-ok' : 'verdict-bad' }, row.verdict[1]));
          nx += 150;
        }
      }
      for (const a of notes) {
        const link = s('a', { href: '#code-' + a.code }, s('text', { x: nx, y: y + RH / 2 + 5, class: 'note-' + a.severity }, (a.severity === 'error' ? '✗ ' : a.severity === 'warning' ? '⚠ ' : 'ℹ ') + a.code, s('title', {}, visible(a.detail))));
        g.push(link);
        nx += 8 + 7 * a.code.length + 16;
      }
      items.push(s('g', { id: anchor, class: 'row' }, g));
      y += RH;
    }
    const H = y + 10;
    return s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'ladder', role: 'img', 'aria-label': 'sequence diagram of flow ' + id, 'data-flow': id },
      s('text', { x: TIME, y: 30, class: 'muted small' }, 'time (s)'),
      s('text', { x: PKT + 30, y: 30, 'text-anchor': 'end', class: 'muted small' }, 'pkt'),
      s('text', { x: CL, y: 14, 'text-anchor': 'middle', class: 'dir-c2s' }, 'client'),
      s('text', { x: SV, y: 14, 'text-anchor': 'middle' }, 'server'),
      s('text', { x: CL, y: 30, 'text-anchor': 'middle', class: 'muted small mono' }, visible(f.client)),
      s('text', { x: SV, y: 30, 'text-anchor': 'middle', class: 'muted small mono' }, visible(f.server)),
      s('line', { class: 'rail', x1: CL, x2: CL, y1: TOP - 6, y2: H - 6 }),
      s('line', { class: 'rail', x1: SV, x2: SV, y1: TOP - 6, y2: H - 6 }),
      items);
  }

  function handshakeBox(recs) {
    const hs = recs.find((r) => r.type === 'handshake');
    const acc = recs.find((r) => r.type === 'ws_accept');
    const req = recs.find((r) => r.type === 'http' && r.kind === 'request' && r.upgrade !== null);
    const res = recs.find((r) => r.type === 'http' && r.kind === 'response' && r.status === 101);
    const box = h('div', { id: 'handshake' }, h('h3', {}, 'The WebSocket handshake'));
    box.appendChild(h('p', { class: 'small' }, 'The client asks to switch protocols with a random ', h('code', {}, 'Sec-WebSocket-Key'), '; the server proves it understood by answering with ', h('code', {}, 'Sec-WebSocket-Accept'), ' = base64(SHA-1(key + GUID)). sockscope does the same computation:'));
    const steps = h('ol', { class: 'steps', id: 'accept-steps' });
    if (acc) {
      steps.appendChild(h('li', {}, 'The client\'s key (request header Sec-WebSocket-Key)', h('code', { class: 'val', 'data-step': 'key' }, visible(acc.key))));
      steps.appendChild(h('li', {}, 'append the fixed GUID of RFC 6455', h('code', { class: 'val', 'data-step': 'concat' }, visible(acc.key), h('strong', {}, acc.guid))));
      steps.appendChild(h('li', {}, 'SHA-1 of those bytes: 20 bytes, here in hex', h('code', { class: 'val', 'data-step': 'sha1' }, acc.sha1.replace(/(..)(?!$)/g, '$1 '))));
      steps.appendChild(h('li', {}, 'base64 of the 20 bytes: the accept value the server must send', h('code', { class: 'val', 'data-step': 'expected' }, visible(hs.expected_accept))));
    } else {
      steps.appendChild(h('li', {}, 'The upgrade request (and so its key) is not in the capture: the accept value cannot be checked.'));
    }
    const match = hs.accept_valid;
    steps.appendChild(h('li', {}, 'what the server sent (Sec-WebSocket-Accept in the 101)', h('code', { class: 'val', 'data-step': 'actual' }, hs.accept === null ? '(none)' : visible(hs.accept)),
      h('strong', { class: match ? 'ok' : 'bad', 'data-step': 'verdict' }, match ? '✓ matches: the server understood the WebSocket handshake' : '✗ does not match (ws.accept_mismatch)')));
    box.appendChild(steps);
    const facts = [['version', hs.version], ['subprotocol', hs.subprotocol], ['extensions', (hs.extensions || []).join(', ') || null], ['permessage-deflate', hs.deflate ? 'yes' : 'no'], ['origin', hs.origin]];
    box.appendChild(h('p', { class: 'small' }, facts.filter(([, v]) => v !== null).map(([k, v], i) => [i ? ' · ' : '', k + ': ', h('code', {}, visible(v))])));
    for (const r of [req, res]) if (r) box.appendChild(headBlock(r));
    return box;
  }

  function headBlock(r) {
    return h('details', {}, h('summary', { class: r.dir === 'c2s' ? 'dir-c2s' : 'dir-s2c' }, (r.dir === 'c2s' ? '→ ' : '← ') + visible(startLine(r)) + ' (' + r.header_bytes + ' B head)'),
      h('table', { class: 'small' }, h('tbody', {}, (r.headers || []).map(([n, v]) => h('tr', {}, h('th', { class: 'mono' }, visible(n)), h('td', { class: 'mono' }, visible(v)))))),
      r.preview ? h('pre', { class: 'preview' }, visible(r.preview)) : null);
  }

  function timeline(f, recs) {
    const items = recs.filter((r) => ['http', 'ws_message', 'sse_event'].includes(r.type) || (r.type === 'ws_frame' && ['ping', 'pong', 'close'].includes(r.opcode)));
    if (!items.length) return h('p', { class: 'muted' }, 'No messages.');
    const W = 520, H = 190, L = 70, R = 90, y1 = 60, y2 = 130;
    const span = Math.max(f.last_ts - f.first_ts, 1e-6);
    const x = (ts) => L + ((ts - f.first_ts) / span) * (W - L - R);
    const marks = [];
    const pings = [];
    for (const r of items) {
      const dir = r.type === 'sse_event' ? 's2c' : r.dir;
      const yy = dir === 'c2s' ? y1 : y2;
      const cx = x(r.ts);
      let size, shape, tip;
      if (r.type === 'ws_message') { size = 3 + Math.log2(1 + r.len); shape = r.opcode === 'text' ? 'circle' : 'square'; tip = (r.sub ? subLabels(r) + ' — ' : '') + r.opcode + ' message, ' + r.len + ' B'; }
      else if (r.type === 'http') { size = 7; shape = 'triangle'; tip = startLine(r); }
      else if (r.type === 'sse_event') { size = 5; shape = 'diamond'; tip = 'event' + (r.event !== null ? ' ' + r.event : ''); }
      else { size = 4; shape = 'control'; tip = r.opcode + (r.payload_len ? ' ' + r.payload_len + ' B' : ''); }
      const t = ' at ' + ((r.ts - f.first_ts) * 1000).toFixed(3) + ' ms';
      let m;
      if (shape === 'circle') m = s('circle', { cx, cy: yy, r: size / 1.3 });
      else if (shape === 'square') m = s('rect', { x: cx - size / 1.3, y: yy - size / 1.3, width: size * 1.5, height: size * 1.5 });
      else if (shape === 'triangle') m = s('path', { d: 'M' + cx + ',' + (yy - size) + ' l' + size + ',' + 2 * size + ' l' + -2 * size + ',0 z' });
      else if (shape === 'diamond') m = s('path', { d: 'M' + cx + ',' + (yy - size) + ' l' + size + ',' + size + ' l' + -size + ',' + size + ' l' + -size + ',' + -size + ' z' });
      else m = s('text', { x: cx, y: yy + 4, 'text-anchor': 'middle', class: 'mono small' }, r.opcode === 'ping' ? 'P' : r.opcode === 'pong' ? 'p' : 'C');
      marks.push(s('g', { class: dir, 'data-type': r.type }, m, s('title', {}, visible(tip + t))));
      if (r.type === 'ws_frame' && r.opcode === 'ping') pings.push(r);
      if (r.type === 'ws_frame' && r.opcode === 'pong') {
        const i = pings.findIndex((p) => p.dir !== r.dir);
        if (i >= 0) {
          const p = pings.splice(i, 1)[0];
          const xa = x(p.ts), xb = x(r.ts);
          marks.push(s('g', { class: 'rtt-mark' }, s('path', { class: 'rtt', d: 'M' + xa + ',' + (y1 + 12) + ' L' + xa + ',95 L' + xb + ',95 L' + xb + ',' + (y2 - 12) }),
            s('text', { x: Math.max(xa, xb) + 4, y: 99, class: 'small' }, 'RTT ' + ((r.ts - p.ts) * 1000).toFixed(3) + ' ms')));
        }
      }
    }
    const ticks = [0, 0.25, 0.5, 0.75, 1].map((q) => [L + q * (W - L - R), span * q]);
    return h('div', {}, s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'timeline', role: 'img', 'aria-label': 'messages over time' },
      s('text', { x: 4, y: y1 + 4, class: 'dir-c2s small' }, 'client →'),
      s('text', { x: 4, y: y2 + 4, class: 'small' }, '← server'),
      s('line', { class: 'axis', x1: L, x2: W - R, y1, y2: y1 }), s('line', { class: 'axis', x1: L, x2: W - R, y1: y2, y2 }),
      ticks.map(([tx, v]) => s('text', { x: tx, y: H - 12, 'text-anchor': 'middle', class: 'muted small' }, dur(v))),
      marks),
    h('p', { class: 'small muted' }, '● text message, ■ binary message (size grows with its length), ▲ HTTP message, ◆ SSE event, P ping, p pong, C close; hover a mark for details.'));
  }

  function bitsOf(r) {
    const b0 = [r.fin, r.rsv1, r.rsv2, r.rsv3].map(Number).concat(r.opcode_num.toString(2).padStart(4, '0').split('').map(Number));
    const rest = r.header_len - (r.masked ? 4 : 0);
    const len7 = rest === 2 ? r.payload_len : rest === 4 ? 126 : 127;
    const b1 = [Number(r.masked)].concat(len7.toString(2).padStart(7, '0').split('').map(Number));
    const names = ['FIN', 'RSV1', 'RSV2', 'RSV3', 'opcode', 'opcode', 'opcode', 'opcode', 'MASK', 'length', 'length', 'length', 'length', 'length', 'length', 'length'];
    const all = b0.concat(b1);
    return h('span', { class: 'bits', 'aria-label': all.join('') }, all.map((bit, i) => [i === 4 || i === 8 || i === 9 ? h('span', { class: 'gap' }) : null, h('span', { class: bit ? 'on' : '', title: names[i] }, bit)]),
      rest > 2 ? h('span', { class: 'gap' }) : null, rest === 4 ? h('span', { title: '16-bit extended length' }, '+16') : rest === 10 ? h('span', { title: '64-bit extended length' }, '+64') : null);
  }

  function framesTable(id, recs) {
    const frames = recs.filter((r) => r.type === 'ws_frame');
    const f = flowById.get(id);
    return h('section', { id: 'frames' }, h('h3', {}, 'WebSocket frames'),
      h('p', { class: 'small muted' }, 'The first two bytes of every frame, bit by bit: FIN (last frame of a message), RSV1–3 (extensions; RSV1 = compressed), the 4-bit opcode, MASK (set on every client frame, never on a server frame) and the 7-bit length (126: a 16-bit length follows, 127: a 64-bit one).'),
      h('div', { class: 'tablewrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['pkt', 'time (s)', 'dir', 'F R R R  opcode  M  length', 'opcode', 'payload', 'header', 'mask key', 'preview'].map((t) => h('th', {}, t)))),
        h('tbody', {}, frames.map((r) => h('tr', { id: r.frame !== null ? 'frame-' + id + '-p' + r.frame : null, 'data-frame': r.frame },
          h('td', { class: 'num' }, r.frame), h('td', { class: 'num' }, (r.ts - f.first_ts).toFixed(6)),
          h('td', { class: 'dir-' + r.dir }, r.dir === 'c2s' ? 'client →' : '← server'),
          h('td', {}, bitsOf(r)), h('td', {}, r.opcode + ' (' + r.opcode_num + ')'),
          h('td', { class: 'num' }, bytes(r.payload_len)), h('td', { class: 'num' }, bytes(r.header_len)),
          h('td', { class: 'mono' }, r.mask || ''),
          h('td', {}, r.opcode === 'close' && r.close_code !== null ? h('code', {}, r.close_code + ' ') : null, h('code', { class: 'preview' }, visible(r.preview)))))))));
  }

  function messageList(recs) {
    const msgs = recs.filter((r) => r.type === 'ws_message' || r.type === 'sse_event');
    return h('section', { id: 'messages' }, h('h3', {}, 'Messages'),
      h('div', { class: 'tablewrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['dir', 'type', 'length', 'frames', 'meaning', 'preview'].map((t) => h('th', {}, t)))),
        h('tbody', {}, msgs.map((r) => h('tr', {},
          h('td', { class: 'dir-' + (r.dir || 's2c') }, (r.dir || 's2c') === 'c2s' ? 'client →' : '← server'),
          h('td', {}, r.type === 'sse_event' ? 'SSE event' + (r.event !== null ? ' "' + visible(r.event) + '"' : '') : r.opcode + (r.compressed ? ' (deflated ' + r.wire_len + ' B on the wire)' : '') + (r.valid_utf8 === false ? ' ✗ not UTF-8' : '')),
          h('td', { class: 'num' }, r.type === 'ws_message' ? bytes(r.len) : ''),
          h('td', { class: 'num' }, r.type === 'ws_message' ? r.frames : ''),
          h('td', { class: 'mono small' }, subLabels(r)),
          h('td', {}, h('pre', { class: 'preview' }, visible(r.preview)))))))));
  }

  // Application latency of a connection decoded as a sub-protocol: its latency records.
  function latencyTable(recs) {
    const rows = recs.filter((r) => r.type === 'latency');
    return h('section', { id: 'latency' }, h('h3', {}, 'Application latency'),
      h('p', { class: 'small muted' }, 'Requests paired with their replies by the sub-protocol\'s own ids (JSON-RPC id, Socket.IO ack id, graphql operation id, STOMP receipt, MQTT packet id, SignalR invocation id), per method or event; latencies measured where the capture was taken.'),
      h('div', { class: 'tablewrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['method / event', 'dir', 'count', 'p50', 'p90', 'p99', 'max', 'errors', 'unanswered'].map((t) => h('th', {}, t)))),
        h('tbody', {}, rows.map((r) => h('tr', {},
          h('td', { class: 'mono' }, r.name === null ? '(whole connection)' : visible(r.name)),
          h('td', { class: r.dir ? 'dir-' + r.dir : '' }, r.dir === 'c2s' ? 'client →' : r.dir === 's2c' ? '← server' : ''),
          h('td', { class: 'num' }, int(r.count)), h('td', { class: 'num' }, ms(r.p50)), h('td', { class: 'num' }, ms(r.p90)),
          h('td', { class: 'num' }, ms(r.p99)), h('td', { class: 'num' }, ms(r.max)),
          h('td', { class: 'num' }, int(r.errors)), h('td', { class: 'num' }, int(r.unanswered))))))));
  }

  function httpList(id, recs) {
    const msgs = recs.filter((r) => r.type === 'http');
    const shown = msgs.slice(0, 200);
    return h('section', { id: 'http' }, h('h3', {}, 'HTTP messages'),
      shown.map((r) => headBlock(r)),
      msgs.length > shown.length ? h('p', { class: 'muted' }, 'The first ' + shown.length + ' of ' + msgs.length + '.') : null);
  }

  function anomalyList(recs) {
    const list = recs.filter((r) => r.type === 'anomaly');
    const box = h('section', { id: 'flow-anomalies' }, h('h3', {}, 'Anomalies'));
    if (!list.length) { box.appendChild(h('p', { class: 'ok' }, '✓ none')); return box; }
    box.appendChild(h('ul', { class: 'anomalies' }, list.map((a) => h('li', {},
      h('strong', { class: sevClass(a.severity) }, a.severity), ' ', codeLink(a.code),
      a.frame !== null ? [' at ', h('a', { href: '#ladder-' + a.flow + '-p' + a.frame, class: 'frame-link', 'data-frame': a.frame, on: { click: (e) => { e.preventDefault(); highlight(a.flow, a.frame); } } }, 'packet ' + a.frame)] : null,
      a.dir ? ' (' + (a.dir === 'c2s' ? 'client → server' : 'server → client') + ')' : '', ': ', visible(a.detail)))));
    return box;
  }

  function highlight(flow, frame) {
    document.querySelectorAll('.hl').forEach((n) => n.classList.remove('hl'));
    const row = document.getElementById('ladder-' + flow + '-p' + frame);
    const tr = document.getElementById('frame-' + flow + '-p' + frame);
    if (row) row.classList.add('hl');
    if (tr) tr.classList.add('hl');
    (row || tr || document.getElementById('flow-detail')).scrollIntoView({ block: 'center' });
  }

  // ---- the anomaly codes -------------------------------------------------------------------
  function glossary() {
    const seen = summary.anomalies || {};
    const global = globalAnomalies.length ? h('div', {}, h('h3', {}, 'Anomalies of no flow'), h('ul', {}, globalAnomalies.map((a) => h('li', {}, codeLink(a.code), a.frame !== null ? ' at packet ' + a.frame : '', ': ', visible(a.detail))))) : null;
    app.appendChild(section('codes', 'Anomaly codes',
      h('p', { class: 'explain' }, 'Every protocol violation or analysis limit sockscope reports, from docs/anomalies.md; the ones this capture has are marked with their count. ✗ errors fail sockscope check, ⚠ warnings fail it with --strict, ℹ notes never do.'),
      global,
      h('div', { class: 'tablewrap' }, h('table', { id: 'codes-table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'code'), h('th', {}, 'severity'), h('th', { class: 'num' }, 'here'), h('th', {}, 'raised when'))),
        h('tbody', {}, docs.map((d) => h('tr', { id: 'code-' + d.code, class: seen[d.code] ? 'seen' : null },
          h('td', {}, h('code', { class: sevClass(d.severity) }, d.code)), h('td', { class: sevClass(d.severity) }, d.severity),
          h('td', { class: 'num' }, seen[d.code] ? h('strong', {}, int(seen[d.code])) : ''), h('td', {}, mdText(d.when)))))))));
  }

  overview();
  overhead();
  flowTable();
  glossary();
  app.appendChild(h('footer', {}, 'Made by ' + meta.generator + '. This file needs no network: its data are the records of sockscope read --json, embedded in it.'));
  const fromHash = /^#flow-(\d+)$/.exec(location.hash);
  if (fromHash && flowById.has(Number(fromHash[1]))) showFlow(Number(fromHash[1]), true);
  window.addEventListener('hashchange', () => {
    const m = /^#flow-(\d+)$/.exec(location.hash);
    if (m && flowById.has(Number(m[1]))) showFlow(Number(m[1]), true);
  });
  document.documentElement.dataset.ready = 'true';
})();
