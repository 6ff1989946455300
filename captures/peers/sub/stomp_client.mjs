// STOMP over WebSocket with @stomp/stompjs (node ws as the WebSocket) against RabbitMQ
// Web-STOMP: CONNECT with heart-beats, SUBSCRIBE with a receipt, three SENDs with receipts,
// the MESSAGEs back, heart-beats while idle, DISCONNECT with a receipt.
//
//   node stomp_client.mjs URL LOGFILE
import { Client } from "@stomp/stompjs";
import WebSocket from "ws";
import fs from "node:fs";

const [url, logPath] = process.argv.slice(2);
const log = (ev, fields = {}) =>
  fs.appendFileSync(logPath, JSON.stringify({ ts: Date.now() / 1000, role: "client", ev, ...fields }) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const client = new Client({
  webSocketFactory: () => new WebSocket(url, ["v12.stomp", "v11.stomp", "v10.stomp"]),
  heartbeatIncoming: 1000,
  heartbeatOutgoing: 1000,
  reconnectDelay: 0,
  debug: () => {},
});

const receipt = (id) =>
  new Promise((resolve) => {
    const t0 = Date.now();
    client.watchForReceipt(id, () => {
      log("receipt", { receipt: id, ms: Date.now() - t0 });
      resolve();
    });
  });

const received = [];
client.onConnect = async (frame) => {
  log("connected", { version: frame.headers.version, heart_beat: frame.headers["heart-beat"] });
  const subReceipt = receipt("sub-1");
  client.subscribe("/queue/sockscope", (m) => {
    received.push(m.body);
    log("message", { destination: m.headers.destination, body: m.body });
  }, { id: "sub-0", receipt: "sub-1" });
  await subReceipt;
  for (let i = 1; i <= 3; i++) {
    const r = receipt(`send-${i}`);
    const body = JSON.stringify({ n: i, text: `hello ${i}` });
    client.publish({ destination: "/queue/sockscope", body, headers: { receipt: `send-${i}`, "content-type": "application/json" } });
    log("send", { destination: "/queue/sockscope", receipt: `send-${i}`, body });
    await r;
  }
  while (received.length < 3) await sleep(20);
  // Idle long enough for heart-beats both ways.
  await sleep(2500);
  client.deactivate();
  log("disconnect");
};
client.onStompError = (f) => { log("error", { message: f.headers.message }); process.exit(1); };
client.onWebSocketClose = () => { log("closed"); setTimeout(() => process.exit(0), 200); };
client.activate();
setTimeout(() => { log("timeout"); process.exit(2); }, 20000);
