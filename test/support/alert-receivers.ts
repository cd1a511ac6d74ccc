import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { SMTPServer } from "smtp-server";

/*
 * The receivers Strata's alerts are sent to in tests: a webhook endpoint on node:http and an
 * SMTP server (smtp-server) that takes mail only over STARTTLS with a login, as a site relay
 * on port 587 would. Both keep what they were sent.
 */

export interface WebhookReceiver {
  url: string;
  /** Each body posted, parsed. */
  posts: unknown[];
  /** Answers with this status instead of 200 (a receiver that is down). */
  failWith?: number;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const posts: unknown[] = [];
  const receiver: WebhookReceiver = { url: "", posts, close: async () => {} };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (receiver.failWith !== undefined) {
        res.writeHead(receiver.failWith).end();
        return;
      }
      posts.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
  receiver.close = () => new Promise((resolve) => server.close(() => resolve()));
  return receiver;
}

export interface ReceivedMail {
  from: string;
  to: string[];
  /** The headers unfolded, then the body, as sent. */
  raw: string;
  subject: string;
  /** The session had switched to TLS (STARTTLS) before the mail. */
  secure: boolean;
  user: string;
}

export interface SmtpReceiver {
  port: number;
  /** A PEM file of the certificate the server presents, to trust as its CA. */
  caFile: string;
  mails: ReceivedMail[];
  close(): Promise<void>;
}

/** An SMTP server on 127.0.0.1 with a fresh self-signed certificate, taking one login. */
export async function startSmtpReceiver(dir: string, login: { user: string; pass: string }): Promise<SmtpReceiver> {
  const keyFile = join(dir, "smtp-key.pem");
  const caFile = join(dir, "smtp-cert.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      keyFile,
      "-out",
      caFile,
    ],
    { stdio: "ignore" },
  );
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    key: readFileSync(keyFile),
    cert: readFileSync(caFile),
    // AUTH only after STARTTLS (smtp-server's default): a login sent in the clear fails the test.
    allowInsecureAuth: false,
    authMethods: ["PLAIN", "LOGIN"],
    onAuth(auth, _session, callback) {
      if (auth.username === login.user && auth.password === login.pass) callback(null, { user: auth.username });
      else callback(new Error("invalid login"));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks)
          .toString("utf8")
          .replace(/\r\n[ \t]+/g, " ");
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          subject: /^Subject: (.*)$/m.exec(raw)?.[1]?.trim() ?? "",
          secure: session.secure,
          user: String(session.user ?? ""),
        });
        callback();
      });
    },
  });
  // A client that hangs up mid-session is the sender's problem, not a crash of the test run.
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, caFile, mails, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
