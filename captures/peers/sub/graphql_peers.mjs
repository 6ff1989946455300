// graphql-transport-ws with the graphql-ws library: a `ws` server (useServer) with a schema of
// one query and one subscription, and the library's client (ws as its WebSocket): a named
// query, an anonymous query, a subscription streaming three greetings, a query that fails.
//
//   node graphql_peers.mjs server HOST PORT LOGFILE
//   node graphql_peers.mjs client URL LOGFILE
import { WebSocketServer, WebSocket } from "ws";
import { useServer } from "graphql-ws/use/ws";
import { createClient } from "graphql-ws";
import { buildSchema } from "graphql";
import fs from "node:fs";

const [mode, ...args] = process.argv.slice(2);
const logTo = (path, role) => (ev, fields = {}) =>
  fs.appendFileSync(path, JSON.stringify({ ts: Date.now() / 1000, role, ev, ...fields }) + "\n");

if (mode === "server") {
  const [host, port, logPath] = args;
  const log = logTo(logPath, "server");
  const schema = buildSchema(`
    type Query { hello(name: String): String, boom: String }
    type Subscription { greetings: String }
  `);
  const roots = {
    query: {
      hello: ({ name }) => `Hello, ${name ?? "world"}!`,
      boom: () => { throw new Error("boom on purpose"); },
    },
    subscription: {
      greetings: async function* () {
        for (const hi of ["Hi", "Bonjour", "Hola"]) {
          await new Promise((r) => setTimeout(r, 50));
          yield { greetings: hi };
        }
      },
    },
  };
  const wss = new WebSocketServer({ host, port: Number(port), path: "/graphql" });
  useServer(
    {
      schema,
      roots,
      onSubscribe: (ctx, id, payload) => log("subscribe", { id, operationName: payload.operationName ?? null }),
      onComplete: (ctx, id) => log("complete", { id }),
    },
    wss,
  );
  wss.on("connection", (sock) => sock.on("close", () => { log("closed"); setTimeout(() => process.exit(0), 200); }));
  console.log("READY");
} else {
  const [url, logPath] = args;
  const log = logTo(logPath, "client");
  const client = createClient({ url, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
  const run = (payload) =>
    new Promise((resolve) => {
      const results = [];
      const t0 = Date.now();
      client.subscribe(payload, {
        next: (r) => { results.push(r); log("next", { operationName: payload.operationName ?? null, ms: Date.now() - t0, errors: r.errors?.length ?? 0 }); },
        error: (e) => { log("error", { operationName: payload.operationName ?? null }); resolve(results); },
        complete: () => { log("complete", { operationName: payload.operationName ?? null, results: results.length }); resolve(results); },
      });
    });
  await run({ query: "query Hello($name: String) { hello(name: $name) }", operationName: "Hello", variables: { name: "sockscope" } });
  await run({ query: "{ hello }" });
  await run({ query: "subscription Greetings { greetings }", operationName: "Greetings" });
  await run({ query: "query Boom { boom }", operationName: "Boom" });
  await client.dispose();
  log("disposed");
  setTimeout(() => process.exit(0), 300);
}
