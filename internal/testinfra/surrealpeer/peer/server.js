// surrealpeer: a test-only SurrealDB server. It speaks the CBOR RPC protocol
// of `surreal start` at /rpc over the real SurrealDB engine embedded in
// @surrealdb/node. Authentication and permissions are emulated here, not
// enforced by the engine: see README.md.
//
// Usage: node server.js --port N [--host 127.0.0.1] [--path mem://|surrealkv://dir]
// Credentials of the root user: SURREALPEER_USER / SURREALPEER_PASS.
import http from "node:http";
import crypto from "node:crypto";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { CborCodec, Uuid } from "surrealdb";
import { WebSocketServer } from "ws";

const args = parseArgs(process.argv.slice(2));
const host = args.host ?? "127.0.0.1";
const port = Number(args.port ?? 0);
const storePath = args.path ?? "mem://";
const rootUser = process.env.SURREALPEER_USER || "root";
const rootPass = process.env.SURREALPEER_PASS || "root";
// Replies to writes wait this long so that the live notifications the write
// caused reach the socket first, as they do with a real server.
const writeDelayMs = Number(args["write-delay-ms"] ?? 1);

const codec = CborCodec.DEFAULT;
const native = loadNative();
const engine = await native.SurrealNodeEngine.connect(storePath, {});
const engineVersion = decodeResult(await engine.execute(encodeRequest("version", [], null)));

// Methods that need a signed-in session. Everything else (use, signin,
// signup, authenticate, invalidate, version, ping, let, unset, info,
// attach, detach, reset) is allowed anonymously, as on a real server.
const dataMethods = new Set([
  "query", "select", "create", "insert", "insert_relation", "update", "upsert",
  "merge", "patch", "delete", "relate", "live", "kill", "run", "graphql",
  "begin", "commit", "cancel", "export", "import",
]);
const writeMethods = new Set([
  "query", "create", "insert", "insert_relation", "update", "upsert", "merge",
  "patch", "delete", "relate", "run", "commit",
]);

// session (hex) -> { socket, authed }
const sessions = new Map();

await bootstrap();

const server = http.createServer((req, res) => {
  const url = req.url.split("?")[0];
  if (req.method === "GET" && url === "/health") {
    res.writeHead(200).end();
    return;
  }
  if (req.method === "GET" && url === "/version") {
    res.writeHead(200, { "content-type": "text/plain" }).end(String(engineVersion));
    return;
  }
  if ((req.method === "GET" || req.method === "POST") && url === "/export") {
    serveTransfer(req, res, "export");
    return;
  }
  if (req.method === "POST" && url === "/import") {
    serveTransfer(req, res, "import");
    return;
  }
  res.writeHead(404).end();
});

// Export and import run on the engine's default session, which only they
// use; one at a time, since each first selects its namespace and database.
let transferQueue = Promise.resolve();

// serveTransfer answers GET|POST /export (SurrealQL text of one database)
// and POST /import (SurrealQL text applied to one database) like a real
// server: the root user's credentials as HTTP Basic auth, the target in the
// Surreal-NS / Surreal-DB headers (NS / DB accepted too), export options as a
// JSON body.
function serveTransfer(req, res, kind) {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    transferQueue = transferQueue.then(() => transfer(req, res, kind, Buffer.concat(chunks))).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(err?.message ?? err));
    });
  });
}

async function transfer(req, res, kind, body) {
  const auth = String(req.headers["authorization"] ?? "");
  let user = "", pass = "";
  if (auth.startsWith("Basic ")) {
    const dec = Buffer.from(auth.slice(6), "base64").toString("utf8");
    const i = dec.indexOf(":");
    if (i >= 0) [user, pass] = [dec.slice(0, i), dec.slice(i + 1)];
  }
  if (user !== rootUser || pass !== rootPass) {
    res.writeHead(401, { "content-type": "text/plain" }).end("There was a problem with authentication");
    return;
  }
  const ns = req.headers["surreal-ns"] ?? req.headers["ns"];
  const db = req.headers["surreal-db"] ?? req.headers["db"];
  if (!ns || !db) {
    res.writeHead(400, { "content-type": "text/plain" }).end("Specify a namespace and database (Surreal-NS, Surreal-DB headers)");
    return;
  }
  const used = Buffer.from(await engine.execute(encodeRequest("use", [String(ns), String(db)], null)));
  if (isErrorMap(used)) {
    res.writeHead(400, { "content-type": "text/plain" }).end(JSON.stringify(codec.decode(used)));
    return;
  }
  if (kind === "export") {
    let opts = {};
    if (body.length > 0) {
      try {
        opts = JSON.parse(body.toString("utf8"));
      } catch (err) {
        res.writeHead(400, { "content-type": "text/plain" }).end(`export options: ${err.message}`);
        return;
      }
    }
    const sql = await engine.export(codec.encode(opts));
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" }).end(sql);
    return;
  }
  try {
    await engine.import(body.toString("utf8"));
  } catch (err) {
    res.writeHead(400, { "content-type": "text/plain" }).end(String(err?.message ?? err));
    return;
  }
  res.writeHead(200, { "content-type": "application/json" }).end("[]");
}

const wss = new WebSocketServer({
  noServer: true,
  handleProtocols: (protocols) => (protocols.has("cbor") ? "cbor" : false),
});
server.on("upgrade", (req, socket, head) => {
  if (req.url.split("?")[0] !== "/rpc") {
    socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws));
});

server.listen(port, host, () => {
  const addr = server.address();
  process.stdout.write(`surrealpeer listening on ${addr.address}:${addr.port} engine ${engineVersion}\n`);
});

pumpNotifications();

// With --watch-stdin (the Go launcher) the parent holds our stdin open: when
// it dies without stopping us, stdin closes and we exit instead of leaking.
if (args["watch-stdin"] !== undefined) {
  process.stdin.on("end", shutdown);
  process.stdin.on("error", shutdown);
  process.stdin.resume();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

function shutdown() {
  for (const ws of wss.clients) ws.terminate();
  server.close();
  try { engine.free(); } catch {}
  process.exit(0);
}

async function onConnection(ws) {
  const own = crypto.randomUUID();
  const ownBytes = uuidBytes(own);
  const mine = new Set([own]);
  // Requests that arrive before the session exists wait for it.
  const ready = attachSession(own, ws);
  ws.on("message", async (data, isBinary) => {
    await ready;
    let reply;
    try {
      reply = await handle(ws, Buffer.from(data), ownBytes, mine);
    } catch (err) {
      reply = null;
      process.stderr.write(`surrealpeer: ${err?.stack ?? err}\n`);
    }
    if (reply && ws.readyState === ws.OPEN) ws.send(reply, { binary: true });
  });
  ws.on("close", async () => {
    await ready;
    for (const s of mine) {
      sessions.delete(s);
      try { await engine.execute(encodeRequest("detach", [], new Uuid(s))); } catch {}
    }
  });
}

async function attachSession(id, ws) {
  sessions.set(id, { socket: ws, authed: false });
  await engine.execute(encodeRequest("attach", [], new Uuid(id)));
}

// handle answers one request frame; it returns the reply frame.
async function handle(ws, buf, ownBytes, mine) {
  const req = splitMap(buf, 0);
  const idRaw = req.get("id") ?? CBOR_NULL;
  const method = req.has("method") ? codec.decode(req.get("method")) : "";
  let sessionRaw = req.get("session");
  if (!sessionRaw || isNullish(sessionRaw)) sessionRaw = encodeUuidBytes(ownBytes);
  const sid = uuidString(sessionRaw);
  const state = sessions.get(sid);

  if (method === "ping") {
    return encodeMap([["id", idRaw], ["result", CBOR_NULL]]);
  }
  if (method === "attach") {
    if (sessions.has(sid)) return replyError(idRaw, -32000, "Session already exists", "AlreadyExists");
    sessions.set(sid, { socket: ws, authed: false });
    mine.add(sid);
  } else if (!state || state.socket !== ws) {
    return replyError(idRaw, -32000, "Session not found", "NotFound");
  } else if (dataMethods.has(method) && !state.authed) {
    return replyError(idRaw, -32002, "Not enough permissions to perform this action", "NotAllowed");
  }

  const fields = [["id", idRaw], ["method", req.get("method") ?? codec.encode(method)]];
  fields.push(["params", req.get("params") ?? CBOR_EMPTY_ARRAY]);
  fields.push(["session", sessionRaw]);
  if (req.has("txn") && !isNullish(req.get("txn"))) fields.push(["txn", req.get("txn")]);

  const out = Buffer.from(await engine.execute(encodeMap(fields)));
  const failed = isErrorMap(out);

  if (!failed) {
    switch (method) {
      case "signin":
      case "signup":
      case "authenticate":
        sessions.get(sid).authed = true;
        break;
      case "invalidate":
      case "reset":
        sessions.get(sid).authed = false;
        break;
      case "detach":
        sessions.delete(sid);
        mine.delete(sid);
        break;
    }
  } else if (method === "signin" || method === "authenticate") {
    // A failed signin leaves the session signed out, as on a real server.
    sessions.get(sid).authed = false;
  } else if (method === "attach") {
    sessions.delete(sid);
    mine.delete(sid);
  }

  if (!failed && writeMethods.has(method) && writeDelayMs > 0) {
    await new Promise((r) => setTimeout(r, writeDelayMs));
  }
  if (failed) {
    const inner = splitMap(out, 0).get("error");
    return encodeMap([["id", idRaw], ["error", inner]]);
  }
  return encodeMap([["id", idRaw], ["result", out]]);
}

async function pumpNotifications() {
  const receiver = await engine.notifications();
  for (;;) {
    const value = await receiver.recv();
    if (value === null) return;
    const buf = Buffer.from(value);
    let fields;
    try {
      fields = splitMap(buf, 0);
    } catch {
      continue;
    }
    // KILLED notifications carry no session; clients cannot route them.
    const s = fields.get("session");
    if (!s || isNullish(s)) continue;
    const state = sessions.get(uuidString(s));
    if (!state || state.socket.readyState !== state.socket.OPEN) continue;
    state.socket.send(encodeMap([["result", buf]]), { binary: true });
  }
}

async function bootstrap() {
  const s = crypto.randomUUID();
  await engine.execute(encodeRequest("attach", [], new Uuid(s)));
  const q = `DEFINE USER OVERWRITE ${ident(rootUser)} ON ROOT PASSWORD ${quote(rootPass)} ROLES OWNER`;
  const out = Buffer.from(await engine.execute(encodeRequest("query", [q, {}], new Uuid(s))));
  if (isErrorMap(out)) throw new Error(`define root user: ${JSON.stringify(codec.decode(out))}`);
  const res = codec.decode(out);
  if (!Array.isArray(res) || res[0]?.status !== "OK") throw new Error(`define root user failed: ${res?.[0]?.result}`);
  await engine.execute(encodeRequest("detach", [], new Uuid(s)));
}

function loadNative() {
  const require = createRequire(import.meta.url);
  // server.js sits beside the node_modules that `npm ci` installed.
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "node_modules", "@surrealdb", "node", "dist");
  let suffix;
  if (process.platform === "linux") {
    const musl = !process.report?.getReport?.().header?.glibcVersionRuntime;
    suffix = `linux-${process.arch}-${musl ? "musl" : "gnu"}`;
  } else if (process.platform === "win32") {
    suffix = `win32-${process.arch}-msvc`;
  } else {
    suffix = `${process.platform}-${process.arch}`;
  }
  return require(path.join(dir, `surrealdb-node.${suffix}.node`));
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) continue;
    const eq = a.indexOf("=");
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) out[a.slice(2)] = argv[++i];
    else out[a.slice(2)] = "";
  }
  return out;
}

function ident(s) {
  return "`" + String(s).replaceAll("\\", "\\\\").replaceAll("`", "\\`") + "`";
}

function quote(s) {
  return "'" + String(s).replaceAll("\\", "\\\\").replaceAll("'", "\\'") + "'";
}

function decodeResult(buf) {
  const v = codec.decode(buf);
  return v;
}

function encodeRequest(method, params, session) {
  const req = { id: 0, method, params };
  if (session) req.session = session;
  return codec.encode(req);
}

function replyError(idRaw, code, message, kind) {
  return encodeMap([["id", idRaw], ["error", codec.encode({ code, message, kind })]]);
}

// ---- minimal CBOR framing: requests and replies are re-assembled from the
// raw bytes of their fields so that values pass through untouched (floats,
// tags, big integers keep their exact encoding).

const CBOR_NULL = Buffer.from([0xf6]);
const CBOR_EMPTY_ARRAY = Buffer.from([0x80]);

function isNullish(raw) {
  return raw.length === 1 && (raw[0] === 0xf6 || raw[0] === 0xf7);
}

// readHead returns [major, argument, offset after head]; argument is -1 for
// indefinite length.
function readHead(buf, off) {
  const ib = buf[off];
  if (ib === undefined) throw new Error("cbor: truncated");
  const major = ib >> 5;
  const ai = ib & 0x1f;
  off++;
  if (ai < 24) return [major, ai, off];
  if (ai === 24) return [major, buf.readUInt8(off), off + 1];
  if (ai === 25) return [major, buf.readUInt16BE(off), off + 2];
  if (ai === 26) return [major, buf.readUInt32BE(off), off + 4];
  if (ai === 27) return [major, Number(buf.readBigUInt64BE(off)), off + 8];
  if (ai === 31) return [major, -1, off];
  throw new Error("cbor: bad additional info");
}

// skip returns the offset just past the data item starting at off.
function skip(buf, off) {
  const [major, arg, next] = readHead(buf, off);
  off = next;
  switch (major) {
    case 0:
    case 1:
      return off;
    case 2:
    case 3:
      if (arg >= 0) return off + arg;
      while (buf[off] !== 0xff) off = skip(buf, off);
      return off + 1;
    case 4:
    case 5: {
      const per = major === 5 ? 2 : 1;
      if (arg >= 0) {
        for (let i = 0; i < arg * per; i++) off = skip(buf, off);
        return off;
      }
      while (buf[off] !== 0xff) off = skip(buf, off);
      return off + 1;
    }
    case 6:
      return skip(buf, off);
    case 7:
      // Simple values and floats: the head already covered their bytes.
      return off;
  }
  throw new Error("cbor: unknown major type");
}

// splitMap returns the fields of the map at off as key -> raw value bytes.
function splitMap(buf, off) {
  const [major, arg, next] = readHead(buf, off);
  if (major !== 5) throw new Error("cbor: expected a map");
  const out = new Map();
  off = next;
  for (let i = 0; arg < 0 ? buf[off] !== 0xff : i < arg; i++) {
    const keyEnd = skip(buf, off);
    const key = codec.decode(buf.subarray(off, keyEnd));
    const valEnd = skip(buf, keyEnd);
    out.set(String(key), buf.subarray(keyEnd, valEnd));
    off = valEnd;
  }
  return out;
}

function isErrorMap(buf) {
  if (buf.length === 0 || buf[0] >> 5 !== 5) return false;
  const [, arg] = readHead(buf, 0);
  if (arg !== 1) return false;
  return splitMap(buf, 0).has("error");
}

function head(major, n) {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

function encodeMap(fields) {
  const parts = [head(5, fields.length)];
  for (const [k, v] of fields) {
    const kb = Buffer.from(k, "utf8");
    parts.push(head(3, kb.length), kb, v);
  }
  return Buffer.concat(parts);
}

function uuidBytes(s) {
  return Buffer.from(s.replaceAll("-", ""), "hex");
}

// Tag 37 (UUID) over 16 bytes.
function encodeUuidBytes(b) {
  return Buffer.concat([Buffer.from([0xd8, 0x25, 0x50]), b]);
}

// uuidString reads a session id in either binary (tag 37) or string form.
function uuidString(raw) {
  const v = codec.decode(raw);
  return String(v).toLowerCase();
}
