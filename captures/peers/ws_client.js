'use strict';
// WebSocket client for the sample captures: the `ws` library running one scripted session.
//
//   node ws_client.js <scenario> <url> <log.jsonl> [go-file]
//
// Every message and control frame this side sends, and every one it receives, is logged as a
// JSON line (lengths and SHA-256 of payloads) for captures/peers/expect.py.

const crypto = require('crypto');
const fs = require('fs');
const WebSocket = require('ws');
const Sender = WebSocket.Sender;

// Log every close frame the library writes, including the ones it writes by itself (an echo
// of the peer's close, or 1002/1007 after a protocol error), exactly as they go on the wire.
const senderClose = Sender.prototype.close;
Sender.prototype.close = function (code, data, mask, cb) {
  const reason = data === undefined ? '' : Buffer.from(data).toString();
  log('close_sent', { code: code === undefined ? null : code, reason });
  return senderClose.call(this, code, data, mask, cb);
};

const [scenario, url, logPath, goFile] = process.argv.slice(2);
const logFd = fs.openSync(logPath, 'a');

function log(ev, fields) {
  const record = Object.assign({ ts: Date.now() / 1000, role: process.env.SOCKSCOPE_ROLE || 'client', ev }, fields || {});
  const line = JSON.stringify(record);
  fs.writeSync(logFd, line + '\n');
  fs.fsyncSync(logFd);
  process.stderr.write(line + '\n');
}

function summary(opcode, data, frames) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const out = { opcode, len: buf.length, sha256: crypto.createHash('sha256').update(buf).digest('hex') };
  if (frames !== undefined) out.frames = frames;
  return out;
}

// Deterministic pseudo-random bytes so that a message's content is reproducible.
function pseudoRandom(n, seed) {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const options = {
  deflate: { perMessageDeflate: { threshold: 0 } },
  chat: { perMessageDeflate: false, protocols: ['chat.v1'] },
};
const wsOptions = Object.assign({ perMessageDeflate: false, protocols: [] }, options[scenario] || {});
// wss://: the recording's CA, and the suite / versions the capture is about.
if (url.startsWith('wss:')) {
  if (process.env.SOCKSCOPE_CA) wsOptions.ca = fs.readFileSync(process.env.SOCKSCOPE_CA);
  if (process.env.SOCKSCOPE_CIPHERS) wsOptions.ciphers = process.env.SOCKSCOPE_CIPHERS;
  if (process.env.SOCKSCOPE_TLS_MAX) wsOptions.maxVersion = process.env.SOCKSCOPE_TLS_MAX;
  if (process.env.SOCKSCOPE_SNI) wsOptions.servername = process.env.SOCKSCOPE_SNI;
}
const protocols = wsOptions.protocols;
delete wsOptions.protocols;

const ws = new WebSocket(url, protocols, wsOptions);
const inbox = [];
let waiter = null;
let pongWaiter = null;

let scriptDone = false;
const timeout = setTimeout(() => {
  log('timeout', {});
  process.exit(3);
}, 30000);

ws.on('upgrade', (res) => {
  if (res.socket.getProtocol) {
    log('tls', {
      version: res.socket.getProtocol(),
      cipher: res.socket.getCipher().standardName,
      alpn: res.socket.alpnProtocol || null,
      local: [res.socket.localAddress, res.socket.localPort],
    });
  }
  log('handshake', {
    status: res.statusCode,
    subprotocol: res.headers['sec-websocket-protocol'] || null,
    extensions: res.headers['sec-websocket-extensions'] || null,
    local: [res.socket.localAddress, res.socket.localPort],
  });
});
ws.on('unexpected-response', (req, res) => {
  log('unexpected_response', { status: res.statusCode });
  res.resume();
  res.on('end', () => { ws.terminate(); });
});
ws.on('error', (err) => log('error', { message: String(err && err.message) }));
ws.on('message', (data, isBinary) => {
  const message = { opcode: isBinary ? 'binary' : 'text', data };
  log('msg_rcvd', summary(message.opcode, data));
  if (waiter) { const w = waiter; waiter = null; w(message); } else inbox.push(message);
});
ws.on('ping', (data) => log('ping_rcvd', summary('ping', data)));
ws.on('pong', (data) => {
  // The server's library answered our ping by itself: this is the frame it sent.
  log('pong_rcvd', summary('pong', data));
  if (pongWaiter) { const w = pongWaiter; pongWaiter = null; w(data); }
});
ws.on('close', (code, reason) => {
  log('closed', { close_rcvd: ws._closeFrameReceived ? [code === 1005 ? null : code, reason.toString()] : null });
  clearTimeout(timeout);
  // A scripted session that ends before its script did is a failed recording.
  setTimeout(() => process.exit(scriptDone || scenario === 'victim' ? 0 : 5), 100);
});


function next() {
  if (inbox.length) return Promise.resolve(inbox.shift());
  return new Promise((resolve) => { waiter = resolve; });
}

async function expectText(prefix) {
  const m = await next();
  const text = m.data.toString();
  if (!text.startsWith(prefix)) throw new Error(`expected "${prefix}...", got "${text.slice(0, 40)}"`);
  return m;
}

async function drainUntil(text) {
  for (;;) {
    const m = await next();
    if (m.opcode === 'text' && m.data.toString() === text) return;
  }
}

function send(data, opts) {
  const binary = Buffer.isBuffer(data);
  log('msg_sent', summary(binary ? 'binary' : 'text', data, 1));
  ws.send(data, opts || {});
}

// One message as several frames; `pingAfter` puts a ping between two fragments.
function sendFragments(fragments, pingAfter) {
  const binary = Buffer.isBuffer(fragments[0]);
  const whole = binary ? Buffer.concat(fragments) : fragments.join('');
  log('msg_sent', summary(binary ? 'binary' : 'text', whole, fragments.length));
  fragments.forEach((fragment, index) => {
    ws.send(fragment, { binary, fin: index === fragments.length - 1 });
    if (index === pingAfter) ping(Buffer.from('ping-between-fragments'));
  });
}

function ping(payload) {
  log('ping_sent', summary('ping', payload));
  const p = new Promise((resolve) => { pongWaiter = resolve; });
  ws.ping(payload);
  return p;
}

function close(code, reason) {
  ws.close(code, reason);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function waitForGoFile() {
  return new Promise((resolve) => {
    const poll = () => (fs.existsSync(goFile) ? resolve() : setTimeout(poll, 20));
    poll();
  });
}

const scenarios = {
  async chat() {
    send('hello');
    await expectText('echo: hello');
    send(Buffer.from([...Array(16).keys()]));
    await next();
    await ping(Buffer.from('are-you-there'));
    send('push 2');
    await drainUntil('pushed');
    send('bye soon');
    await expectText('echo: bye soon');
    close(1000, 'bye');
  },
  async deflate() {
    for (let i = 1; i <= 6; i++) {
      send(JSON.stringify({ type: 'chat', user: 'alice', room: 'general', text: `hello everyone, this is message number ${i}` }));
      await expectText('echo: ');
    }
    send('push 3');
    await drainUntil('pushed');
    const pattern = Buffer.from('0123456789abcdef'.repeat(4));
    send(Buffer.concat(Array(32).fill(pattern)));
    await next();
    send(Buffer.concat(Array(32).fill(pattern)));
    await next();
    send('close 1000 server done');
  },
  async fragmented() {
    sendFragments(['Hel', 'lo, ', 'frag', 'ments!'], 1);
    await expectText('echo: Hello, fragments!');
    sendFragments([Buffer.from('binary-1'), Buffer.from('binary-2'), Buffer.from('binary-3')]);
    await next();
    send('frag');
    await drainUntil('fragged');
    close(1000, 'done');
  },
  async lengths() {
    const sizes = [125, 126, 65535, 65536, 200000];
    for (const [i, n] of sizes.entries()) {
      send(pseudoRandom(n, 0x5eed + i));
      const m = await next();
      if (m.data.length !== n) throw new Error(`expected ${n} bytes, got ${m.data.length}`);
    }
    send('close 1000 lengths done');
  },
  async lossy() {
    for (let i = 1; i <= 30; i++) {
      send(`message ${i}: ` + 'lossy path payload '.repeat(40 + 5 * i));
      await expectText('echo: ');
    }
    send(pseudoRandom(40000, 0x1055));
    await next();
    close(1000, 'survived');
  },
  async midstream() {
    log('waiting_for_capture', {});
    await waitForGoFile();
    log('capture_running', {});
    send('hello again');
    await expectText('echo: hello again');
    send(Buffer.from('binary after the capture started'));
    await next();
    await ping(Buffer.from('still-there?'));
    send('push 1');
    await drainUntil('pushed');
    close(1000, 'bye');
  },
  async gap() {
    send('stream 10 100');
    await drainUntil('end');
    close(1000, 'bye');
  },
  async victim() {
    // Against a misbehaving raw server: say hello, then let the library react to whatever comes.
    send('hello');
    await sleep(3000);
    if (ws.readyState === WebSocket.OPEN) close(1000, 'bye');
  },
};

ws.on('open', () => {
  scenarios[scenario]().then(() => { scriptDone = true; }, (err) => {
    log('script_error', { message: String(err && err.message) });
    process.exit(4);
  });
});
