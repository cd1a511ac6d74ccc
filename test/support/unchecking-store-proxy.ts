/**
 * STAND-IN: an S3-compatible store that does not check a body's signed SHA-256. AWS S3, Ceph RGW
 * and MinIO all check it, and no store that skips the check installs here, so this proxy in front
 * of the real RGW plays one: each PutObject is signed again, with the test's RGW credentials, for
 * the body as it arrived (its flexible-checksum headers dropped), so RGW keeps whatever came.
 * Content-MD5 passes unchanged, as such a store still checks it. With `damage` on, one byte of
 * each PutObject body is flipped first, as a faulty link would.
 *
 * Every other request is forwarded unchanged (its signature still verifies).
 */
import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import { createServer, type IncomingMessage, request } from "node:http";
import { SignatureV4 } from "@smithy/signature-v4";
import { forward, type LocalServer, listenLocally, relay } from "./http-proxy.js";

export interface UncheckingStore extends LocalServer {
  /** Flips a byte of each PutObject body from now on (true) or stops (false). */
  damage(on: boolean): void;
  /** The PutObject requests seen: their keys, and whether each carried a Content-MD5. */
  readonly puts: { path: string; contentMd5: boolean }[];
}

/** Headers the store is told nothing of: a new signature replaces them. */
const RESIGNED = /^(authorization|x-amz-date|x-amz-content-sha256|x-amz-checksum-.*|x-amz-sdk-checksum-algorithm)$/;

export async function startUncheckingStore(upstream: string, credentials: Credentials): Promise<UncheckingStore> {
  const target = new URL(upstream);
  const signer = new SignatureV4({
    service: "s3",
    region: "us-east-1",
    credentials,
    sha256: NodeSha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  let damaging = false;
  const puts: UncheckingStore["puts"] = [];
  const server = createServer(async (req, res) => {
    if (!isObjectPut(req)) return forward(target, req, res);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (damaging && body.length > 0) body[body.length >> 1] = (body[body.length >> 1] ?? 0) ^ 0xff;
    const url = new URL(req.url ?? "/", "http://store");
    puts.push({ path: decodeURIComponent(url.pathname), contentMd5: req.headers["content-md5"] !== undefined });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === "string" && !RESIGNED.test(name)) headers[name] = value;
    }
    headers["x-amz-content-sha256"] = createHash("sha256").update(body).digest("hex");
    const signed = await signer.sign({
      method: "PUT",
      protocol: "http:",
      hostname: url.hostname,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body,
    });
    const out = request(
      { host: target.hostname, port: target.port, method: "PUT", path: req.url, headers: signed.headers },
      (answer) => relay(answer, res),
    );
    out.on("error", () => res.destroy());
    out.end(body);
  });
  const local = await listenLocally(server);
  return {
    ...local,
    damage: (on) => {
      damaging = on;
    },
    puts,
  };
}

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** A PutObject: a PUT of an object's path that is not a part, a copy or a tag set. */
function isObjectPut(req: IncomingMessage): boolean {
  const url = new URL(req.url ?? "/", "http://store");
  if (req.method !== "PUT" || url.pathname.split("/").filter(Boolean).length < 2) return false;
  return !url.searchParams.has("partNumber") && !url.searchParams.has("tagging") && !req.headers["x-amz-copy-source"];
}

/** SHA-256 and its HMAC as the signer asks for them. */
class NodeSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", asBytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(asBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

function asBytes(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === "string") return Buffer.from(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
