import { execFileSync } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawnStrata } from "../support/cli.js";
import { apiWorkspace, expectOk } from "./workspace.js";

/** `strata serve` and `strata token` as real processes, over real HTTP and HTTPS. */

interface Server {
  url: string;
  pid: number;
  output: () => string;
  stop: () => Promise<number | null>;
}

async function serve(workspace: Awaited<ReturnType<typeof apiWorkspace>>, ...extra: string[]): Promise<Server> {
  const child = spawnStrata(["--config", workspace.configPath, "serve", "--listen", "127.0.0.1:0", ...extra], {
    cwd: workspace.dir,
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  // Fastify's first log line says where it listens (port 0 took a free one).
  const deadline = Date.now() + 30_000;
  let url: string | undefined;
  while (url === undefined) {
    url = /Server listening at (https?:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`strata serve did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid: child.pid as number,
    output: () => output,
    stop: () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

describe("strata serve and strata token", () => {
  const servers: Server[] = [];
  afterAll(async () => {
    for (const server of servers) await server.stop();
  });

  it("makes a token shown once, lets it in until revoked, and never logs it", async () => {
    const workspace = await apiWorkspace("sqlite");
    expectOk(await workspace.run("scan", "scratch"), "scan");
    const created = await workspace.run("--json", "token", "create", "--role", "read", "--name", "grafana");
    expectOk(created, "token create");
    const { token, id } = JSON.parse(created.stdout) as { token: string; id: number };
    expect(token).toMatch(/^strata_[A-Za-z0-9_-]{43}$/);

    const listed = await workspace.run("token", "ls");
    expectOk(listed, "token ls");
    expect(listed.stdout).toMatch(new RegExp(`^\\s+${id}\\s+read\\s+grafana\\s+\\S+\\s+live$`, "m"));
    expect(listed.stdout).not.toContain(token);

    const server = await serve(workspace);
    servers.push(server);
    const auth = { authorization: `Bearer ${token}` };
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/api/v1/locations`)).status).toBe(401);
    const locations = await fetch(`${server.url}/api/v1/locations`, { headers: auth });
    expect(locations.status).toBe(200);
    expect(await locations.json()).toEqual(expect.arrayContaining([expect.objectContaining({ name: "scratch" })]));

    expectOk(await workspace.run("token", "revoke", "grafana"), "token revoke");
    const refused = await fetch(`${server.url}/api/v1/locations`, { headers: auth });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("content-type")).toBe("application/problem+json; charset=utf-8");
    expect((await workspace.run("token", "ls")).stdout).toMatch(/grafana\s+\S+\s+revoked /);
    const again = await workspace.run("token", "revoke", "grafana");
    expect(again.code).toBe(2);

    expect(await server.stop()).toBe(0);
    const lines = server
      .output()
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { msg: string; status?: number });
    expect(lines.filter((l) => l.msg === "request").map((l) => l.status)).toEqual([200, 401, 200, 401]);
    expect(server.output()).not.toContain(token);
  }, 120_000);

  it("serves HTTPS from --cert and --key, and refuses a bad role or half a TLS pair", async () => {
    const workspace = await apiWorkspace("sqlite");
    const cert = join(workspace.dir, "cert.pem");
    const key = join(workspace.dir, "key.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
      ],
      { stdio: "ignore" },
    );
    const server = await serve(workspace, "--cert", cert, "--key", key);
    servers.push(server);
    expect(server.url).toMatch(/^https:/);
    const health = execFileSync("openssl", ["s_client", "-connect", server.url.slice("https://".length), "-quiet"], {
      input: "GET /healthz HTTP/1.0\r\n\r\n",
      stdio: ["pipe", "pipe", "ignore"],
    }).toString();
    expect(health).toMatch(/^HTTP\/1\.[01] 200/);
    expect(health).toContain('{"ok":true}');

    expect((await workspace.run("token", "create", "--role", "root")).code).toBe(2);
    expect((await workspace.run("serve", "--cert", cert)).code).toBe(2);
    expect((await workspace.run("serve", "--listen", "nowhere")).code).toBe(2);
  }, 120_000);

  it("--workers 2: two processes share the port, a crashed one is replaced, SIGTERM stops them all", async () => {
    const workspace = await apiWorkspace("sqlite");
    const created = await workspace.run("--json", "token", "create", "--role", "read", "--name", "load");
    const { token } = JSON.parse(created.stdout) as { token: string };
    const server = await serve(workspace, "--workers", "2");
    servers.push(server);
    const workers = () => childPids(server.pid);
    // Connections go only to the processes that listen already.
    await until(() => (server.output().match(/Server listening at/g) ?? []).length === 2);

    // Each request on a connection of its own: the supervisor hands connections out in turn.
    for (let i = 0; i < 6; i++) expect(await getOnNewConnection(`${server.url}/api/v1/locations`, token)).toBe(200);
    const answeredBy = new Set(
      server
        .output()
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { msg: string; pid: number })
        .filter((l) => l.msg === "request")
        .map((l) => l.pid),
    );
    expect([...answeredBy].sort()).toEqual(workers().sort());

    const [crashed] = workers();
    process.kill(crashed as number, "SIGKILL");
    await until(() => workers().length === 2 && !workers().includes(crashed as number));
    await until(() => server.output().includes(`server process ${crashed} ended (signal SIGKILL): starting another`));
    await until(async () => (await getOnNewConnection(`${server.url}/healthz`, token).catch(() => 0)) === 200);

    const last = workers();
    expect(await server.stop()).toBe(0);
    for (const pid of last) expect(alive(pid)).toBe(false);
  }, 120_000);

  it("--workers 2 on a port already taken exits 2 and leaves no process behind", async () => {
    const workspace = await apiWorkspace("sqlite");
    const first = await serve(workspace);
    servers.push(first);
    const port = new URL(first.url).port;
    const second = await workspace.run("serve", "--listen", `127.0.0.1:${port}`, "--workers", "2");
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/--listen 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    expect(second.stderr).toMatch(/ended \(exit 2\) as it started: stopping the others/);
  }, 120_000);
});

function childPids(parent: number): number[] {
  const out = execFileSync("ps", ["-o", "pid=", "--ppid", String(parent)], { encoding: "utf8" }).trim();
  return out === "" ? [] : out.split(/\s+/).map(Number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(done: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** GET on a connection of its own (no keep-alive agent), resolving with the status. */
function getOnNewConnection(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}
