// A second request signer, written from the "Signing" section of docs/ingress.md alone
// (no code shared with the Python signer), used by tests/ingress/test_second_signer.py.
//
// stdin: {"base": "http://127.0.0.1:PORT", "key_id": "...", "secret": "...",
//         "cases": [{"method": "GET", "target": "/path?query", "body": "..." | null}]}
// stdout: one JSON object per case: {"target", "path", "query", "status", "body"}; the
// request is sent with node's http client exactly as the target is written.
import { createHash, createHmac, randomBytes } from "node:crypto";
import http from "node:http";

const ALPHANUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const PATH_KEPT = new Set(ALPHANUM + "-._~!$&'()*+,;=:@/");
const QUERY_KEPT = new Set(ALPHANUM + "-._~");

class Malformed extends Error {}

// "Replace every escape by its byte": % and two hex digits (either case) is one byte.
function unescape(text) {
  const bytes = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "%") {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Malformed(text);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(text.charCodeAt(i)); // the request target is ASCII
    }
  }
  return Buffer.from(bytes);
}

// "Write every byte escaped except ...": % and two upper-case hex digits.
function escape(bytes, kept) {
  let out = "";
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    out += b < 0x80 && kept.has(ch) ? ch : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

function canonicalPath(path) {
  return escape(unescape(path), PATH_KEPT);
}

function canonicalQuery(query) {
  const pairs = [];
  for (const piece of query.split("&")) {
    if (piece === "") continue;
    const at = piece.indexOf("=");
    const name = at < 0 ? piece : piece.slice(0, at);
    const value = at < 0 ? "" : piece.slice(at + 1);
    pairs.push([unescape(name.replaceAll("+", " ")), unescape(value.replaceAll("+", " "))]);
  }
  pairs.sort((a, b) => Buffer.compare(a[0], b[0]) || Buffer.compare(a[1], b[1]));
  return pairs.map(([n, v]) => `${escape(n, QUERY_KEPT)}=${escape(v, QUERY_KEPT)}`).join("&");
}

function split(target) {
  const q = target.indexOf("?");
  return q < 0 ? [target, ""] : [target.slice(0, q), target.slice(q + 1)];
}

function send(base, method, target, headers, body) {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: url.hostname, port: url.port, method, path: target, headers },
      (response) => {
        const chunks = [];
        response.on("data", (c) => chunks.push(c));
        response.on("end", () =>
          resolve({ status: response.statusCode, body: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    request.setTimeout(10000, () => request.destroy(new Error("timeout")));
    request.on("error", reject);
    if (body) request.write(body);
    request.end();
  });
}

async function main() {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const { base, key_id: keyId, secret, cases } = JSON.parse(input);
  for (const { method, target, body } of cases) {
    const [rawPath, rawQuery] = split(target);
    const bodyBytes = Buffer.from(body ?? "", "utf8");
    let path;
    let query;
    try {
      path = canonicalPath(rawPath);
      query = canonicalQuery(rawQuery);
    } catch (err) {
      if (!(err instanceof Malformed)) throw err;
      path = query = null; // nothing to sign: sent with a signature that cannot match
    }
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = randomBytes(16).toString("hex");
    const digest = createHash("sha256").update(bodyBytes).digest("hex");
    const text = ["TP1-HMAC-SHA256", method.toUpperCase(), path ?? "", query ?? "", timestamp, nonce, digest]
      .join("\n");
    const signature = createHmac("sha256", Buffer.from(secret, "utf8")).update(text).digest("hex");
    const headers = {
      "X-TP-Key-Id": keyId,
      "X-TP-Timestamp": timestamp,
      "X-TP-Nonce": nonce,
      "X-TP-Signature": path === null ? "0".repeat(64) : signature,
    };
    if (bodyBytes.length) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(bodyBytes.length);
    }
    const answer = await send(base, method, target, headers, bodyBytes.length ? bodyBytes : null);
    process.stdout.write(JSON.stringify({ target, path, query, ...answer }) + "\n");
  }
}

await main();
