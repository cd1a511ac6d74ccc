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
import { createHash } from "node:crypto";
import { createServer, request } from "node:http";
import type { S3Client } from "@aws-sdk/client-s3";
import { SignatureV4 } from "@smithy/signature-v4";
import { forward, type LocalServer, listenLocally, relay } from "./http-proxy.js";
import { operationOf } from "./s3-fault-proxy.js";

export interface UncheckingStore extends LocalServer {
  /** Flips a byte of each PutObject body from now on (true) or stops (false). */
  damage(on: boolean): void;
  /** The PutObject requests seen, the payload question's (payload-check.ts) among them: their keys, and whether each carried a Content-MD5. */
  readonly puts: { path: string; contentMd5: boolean }[];
}

/** Headers the store is told nothing of: a new signature replaces them. */
const RESIGNED = /^(authorization|x-amz-date|x-amz-content-sha256|x-amz-checksum-.*|x-amz-sdk-checksum-algorithm)$/;

/** `client`: an SDK client holding RGW's credentials, whose own hash the new signatures use. */
export async function startUncheckingStore(upstream: string, client: S3Client): Promise<UncheckingStore> {
  const target = new URL(upstream);
  const signer = new SignatureV4({
    service: "s3",
    region: "us-east-1",
    credentials: client.config.credentials,
    sha256: client.config.sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  let damaging = false;
  const puts: UncheckingStore["puts"] = [];
  const server = createServer(async (req, res) => {
    const operation = operationOf(req);
    if (operation !== "PutObject" && operation !== "PayloadCheck") return forward(target, req, res);
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
