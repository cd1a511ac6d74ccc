import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createToken, revokeToken } from "../../src/catalog/tokens.js";
import { CATALOG_KINDS } from "../support/catalogs.js";
import { finished, spawnStrata } from "../support/cli.js";
import { writeTree } from "../support/trees.js";
import { apiWorkspace, catalogRows, expectOk, serveInProcess } from "./workspace.js";

type Served = Awaited<ReturnType<typeof serveInProcess>>;

describe.each(CATALOG_KINDS)("the API of strata serve (%s catalog)", (kind) => {
  let served: Served;
  let workspace: Awaited<ReturnType<typeof apiWorkspace>>;
  let tokens: { read: string; operate: string; admin: string; revoked: string };

  beforeAll(async () => {
    workspace = await apiWorkspace(kind);
    expectOk(await workspace.run("scan", "scratch"), "scan");
    expectOk(await workspace.run("apply", "--policy", "keep-results"), "apply");
    served = await serveInProcess(workspace);
    const make = async (role: "read" | "operate" | "admin", name: string) =>
      (await createToken(served.catalog, { role, name })).token;
    tokens = {
      read: await make("read", "reader"),
      operate: await make("operate", "operator"),
      admin: await make("admin", "keeper"),
      revoked: "",
    };
    tokens.revoked = await make("read", "gone");
    expect(await revokeToken(served.catalog, "gone")).toBe(1);
  }, 120_000);

  afterAll(async () => served?.close());

  const get = (url: string, token?: string) =>
    served.app.inject({ method: "GET", url, headers: token ? { authorization: `Bearer ${token}` } : {} });

  function expectProblem(response: Awaited<ReturnType<typeof get>>, status: number): void {
    expect(`${response.statusCode} ${response.headers["content-type"]}`).toBe(
      `${status} application/problem+json; charset=utf-8`,
    );
    const body = response.json() as { status: number; title: string; detail: string };
    expect(body.status).toBe(status);
    expect(body.detail.length).toBeGreaterThan(0);
  }

  it("answers /healthz without a token", async () => {
    const response = await get("/healthz");
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ok: true });
  });

  it("refuses every other endpoint without a token, with an unknown one and with a revoked one", async () => {
    for (const url of ["/api/v1/locations", "/metrics", "/openapi.json", "/api/v1/nowhere"]) {
      const none = await get(url);
      expectProblem(none, 401);
      expect(none.headers["www-authenticate"]).toBe('Bearer realm="strata"');
      expectProblem(await get(url, "strata_not-a-real-token"), 401);
      expectProblem(await get(url, tokens.revoked), 401);
    }
    const basic = await served.app.inject({
      method: "GET",
      url: "/api/v1/locations",
      headers: { authorization: `Basic ${Buffer.from(`x:${tokens.read}`).toString("base64")}` },
    });
    expectProblem(basic, 401);
  });

  it("answers a read token with the locations and their totals from the summaries", async () => {
    const response = await get("/api/v1/locations", tokens.read);
    expect(response.statusCode).toBe(200);
    const locations = response.json() as { name: string; files: number; logicalBytes: number; storedBytes: number }[];
    const byName = Object.fromEntries(locations.map((l) => [l.name, l]));
    expect(byName.scratch).toMatchObject({ files: 3, logicalBytes: 4005, kind: "posix" });
    // The archive holds the two results' copies.
    expect(byName.archive).toMatchObject({ storedBytes: 4000 });
  });

  it("serves Prometheus metrics, the capacity series and the alerts from the catalog", async () => {
    const metrics = await get("/metrics", tokens.read);
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers["content-type"]).toMatch(/^text\/plain/);
    // The scanned tree's three files, as the locations route counts them (before the operate
    // tests below add more).
    expect(metrics.body).toMatch(/^strata_location_files\{[^}]*location="scratch"[^}]*state="present"[^}]*\} 3$/m);
    expect(metrics.body).toMatch(/^strata_monthly_cost_usd\{location="archive"\} /m);
    expect(metrics.body).not.toContain(workspace.dir);

    const series = (await get("/api/v1/series?since=0", tokens.read)).json() as {
      location: string;
      files: number;
    }[];
    // A snapshot after the scan and after the apply: the latest scratch point holds the 3 files.
    const scratch = series.filter((point) => point.location === "scratch");
    expect(scratch.length).toBeGreaterThanOrEqual(2);
    expect(scratch.at(-1)?.files).toBe(3);

    const alerts = await get("/api/v1/alerts", tokens.read);
    expect(alerts.statusCode).toBe(200);
    // This workspace configures no alerts: nothing was ever evaluated.
    expect(alerts.json()).toEqual([]);
  });

  it("lists runs, a run's action counts, and streams a finished run's events then ends", async () => {
    const runs = (await get("/api/v1/runs?limit=5", tokens.read)).json() as { id: number; command: string }[];
    const apply = runs.find((r) => r.command === "apply keep-results");
    expect(apply).toBeDefined();
    const run = (await get(`/api/v1/runs/${apply?.id}`, tokens.read)).json() as Record<string, unknown>;
    expect(run.actions).toEqual({ done: 2 });
    expect(run.kinds).toEqual([{ kind: "copy", state: "done", actions: 2, bytes: 4000 }]);
    const events = await get(`/api/v1/runs/${apply?.id}/events`, tokens.read);
    expect(events.headers["content-type"]).toBe("text/event-stream");
    const kinds = [...events.body.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(kinds).toEqual(["event", "event", "progress", "end"]);
    expect(events.body).toContain('"path":"results/a.dat"');
  });

  it("shows a file with its replicas and history, du, find, policies, plan and cost", async () => {
    const file = (await get("/api/v1/files/scratch/results/b.dat", tokens.read)).json() as {
      file: { size: number };
      replicas: { location: string }[];
      events: { kind: string }[];
    };
    expect(file.file.size).toBe(3000);
    expect(file.replicas.map((r) => r.location)).toEqual(["archive"]);
    expect(file.events.map((e) => e.kind)).toEqual(["copy"]);

    const du = (await get("/api/v1/du?location=scratch&path=results", tokens.read)).json() as {
      rows: { name: string; files: number; bytes: number }[];
    };
    expect(du.rows).toMatchObject([{ name: "scratch:results", files: 2, bytes: 4000 }]);

    const found = (await get(`/api/v1/find?expr=${encodeURIComponent("scratch -name *.txt")}`, tokens.read)).json();
    expect(found).toMatchObject({ files: [{ path: "notes/c.txt" }], truncated: false });

    const policies = (await get("/api/v1/policies", tokens.read)).json() as Record<string, unknown>[];
    expect(policies).toHaveLength(1);
    expect(policies[0]).toMatchObject({ name: "keep-results", lastStatus: "done" });
    expect(Date.parse(policies[0]?.nextRun as string)).toBeGreaterThan(Date.now());
    expect(policies[0]?.lastSuccess).toEqual(policies[0]?.lastRun);

    const plan = (await get("/api/v1/plan?policy=keep-results", tokens.read)).json();
    expect(plan).toEqual({ policies: ["keep-results"], totals: [] });
    expect((await get("/api/v1/cost", tokens.read)).statusCode).toBe(200);
    expect((await get("/api/v1/cost/forecast?months=12", tokens.read)).statusCode).toBe(200);
    expect((await get("/api/v1/restores", tokens.read)).json()).toEqual([]);
  });

  it("serves an OpenAPI document naming every route", async () => {
    const document = (await get("/openapi.json", tokens.read)).json() as { paths: Record<string, unknown> };
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(["/api/v1/du", "/api/v1/files/{location}/{path}", "/api/v1/runs/{id}/events", "/metrics"]),
    );
  });

  it("refuses hostile parameters with 4xx problem+json and changes nothing", async () => {
    const before = await catalogRows(served.catalog);
    const hostile: [string, number][] = [
      ["/api/v1/du?location=scratch&path=../../etc", 400],
      ["/api/v1/du?location=scratch&path=/etc/passwd", 400],
      ["/api/v1/du?location=scratch&path=results/../..", 400],
      ["/api/v1/du?location=..", 404],
      ["/api/v1/du?path=results", 400],
      ["/api/v1/du?location=scratch&depth=1e9", 400],
      ["/api/v1/du?location=scratch&by=tag:x;drop", 400],
      ["/api/v1/du?location=scratch&evil=1", 400],
      // A URL parser resolves dot segments (%2E too) away, leaving no route; behind %2F they reach one.
      ["/api/v1/files/scratch/../../etc/passwd", 404],
      ["/api/v1/files/scratch/%2E%2E/%2E%2E/etc/passwd", 404],
      ["/api/v1/files/scratch/results%2F..%2F..%2Fetc", 400],
      ["/api/v1/files/scratch/%2Fetc%2Fpasswd", 400],
      ["/api/v1/files/scratch/results/nothing.dat", 404],
      ["/api/v1/runs?limit=100000000", 400],
      ["/api/v1/runs?limit=-1", 400],
      ["/api/v1/runs?limit=abc", 400],
      ["/api/v1/runs/0", 400],
      ["/api/v1/runs/99999", 404],
      ["/api/v1/runs/1;DROP%20TABLE%20runs", 400],
      ["/api/v1/find?expr=-delete", 400],
      [`/api/v1/find?expr=${encodeURIComponent("scratch -exec rm {} ;")}`, 400],
      ["/api/v1/find?limit=99999999", 400],
      ["/api/v1/plan?policy=nope", 400],
      ["/api/v1/cost/forecast?months=100000", 400],
      [`/api/v1/find?expr=${"a".repeat(5000)}`, 414],
    ];
    for (const [url, status] of hostile) {
      const response = await get(url, tokens.operate);
      expect(`${url} → ${response.statusCode}`).toBe(`${url} → ${status}`);
      expectProblem(response, status);
    }
    expect(await catalogRows(served.catalog)).toEqual(before);
  });

  const post = (url: string, token: string, payload?: string, contentType = "application/json") =>
    served.app.inject({
      method: "POST",
      url,
      headers: { authorization: `Bearer ${token}`, ...(payload === undefined ? {} : { "content-type": contentType }) },
      ...(payload === undefined ? {} : { payload }),
    });

  it("refuses a read token on the operate API, and bad bodies, changing nothing", async () => {
    const before = await catalogRows(served.catalog);
    expectProblem(await post("/api/v1/policies/keep-results/apply", tokens.read), 403);
    expectProblem(await post("/api/v1/runs/1/cancel", tokens.read), 403);
    const bad: [string, string | undefined, number, string?][] = [
      ["/api/v1/policies/keep-results/apply", "{not json", 400],
      ["/api/v1/policies/keep-results/apply", '{"force": "yes"}', 400],
      ["/api/v1/policies/keep-results/apply", '{"force": false, "rm": "-rf"}', 400],
      ["/api/v1/policies/keep-results/apply", JSON.stringify({ pad: "x".repeat(100_000) }), 413],
      ["/api/v1/policies/keep-results/apply", "force=true", 415, "application/x-www-form-urlencoded"],
      ["/api/v1/policies/nope/apply", undefined, 404],
      ["/api/v1/runs/1/cancel", undefined, 409],
      ["/api/v1/runs/99999/cancel", undefined, 404],
    ];
    for (const [url, payload, status, type] of bad) {
      const response = await post(url, tokens.operate, payload, type);
      expect(`${url} ${payload?.slice(0, 30)} → ${response.statusCode}`).toBe(
        `${url} ${payload?.slice(0, 30)} → ${status}`,
      );
      expectProblem(response, status);
    }
    expect(await catalogRows(served.catalog)).toEqual(before);
  });

  it("plans and applies a policy now through the engine, journaled, and stops a run it started", async () => {
    writeTree(join(workspace.dir, "tree"), { "results/new.dat": Buffer.alloc(700, 3) });
    expectOk(await workspace.run("scan", "scratch"), "scan");
    const started = await post("/api/v1/policies/keep-results/apply", tokens.operate);
    expect(started.statusCode).toBe(202);
    const { runId } = started.json() as { runId: number };
    const events = await get(`/api/v1/runs/${runId}/events`, tokens.read);
    expect(events.body).toMatch(/event: end\ndata: \{"status":"done"\}/);
    const run = (await get(`/api/v1/runs/${runId}`, tokens.read)).json() as { run: { command: string } };
    expect(run).toMatchObject({
      run: { command: "apply keep-results", status: "done" },
      actions: { done: 1 },
      kinds: [{ kind: "copy", state: "done", actions: 1, bytes: 700 }],
    });

    const many = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`results/many/${i}.dat`, `${i}`]));
    writeTree(join(workspace.dir, "tree"), many);
    expectOk(await workspace.run("scan", "scratch"), "scan");
    const long = (await post("/api/v1/policies/keep-results/apply", tokens.operate)).json() as { runId: number };
    const cancel = await post(`/api/v1/runs/${long.runId}/cancel`, tokens.operate);
    expect(cancel.statusCode).toBe(202);
    await get(`/api/v1/runs/${long.runId}/events`, tokens.read);
    const stopped = (await get(`/api/v1/runs/${long.runId}`, tokens.read)).json() as {
      run: { status: string };
      actions: Record<string, number>;
    };
    expect(stopped.run.status).toBe("partial");
    expect(stopped.actions.done ?? 0).toBeLessThan(400);
  }, 120_000);

  it("stops another process's policy run through the catalog, and says which runs it cannot stop", async () => {
    const slow = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`results/slow/${i}.dat`, Buffer.alloc(8192, i)]),
    );
    writeTree(join(workspace.dir, "tree"), slow);
    expectOk(await workspace.run("scan", "scratch"), "scan");
    // 320 KiB at 16 KiB/s: about 20 s unless stopped.
    const args = ["--config", workspace.configPath, "apply", "--policy", "keep-results", "--bwlimit", "16k"];
    const cli = finished(spawnStrata([...args, "--transfers", "1"], { cwd: workspace.dir }));
    const runId = await runningApply(served.catalog);
    const cancel = await post(`/api/v1/runs/${runId}/cancel`, tokens.operate);
    expect(cancel.statusCode).toBe(202);
    const exited = await cli;
    expect(exited.stdout).toMatch(/stopped: \d+ actions were not begun/);
    const stopped = (await get(`/api/v1/runs/${runId}`, tokens.read)).json() as {
      run: { status: string };
      actions: Record<string, number>;
    };
    expect(stopped.run.status).toBe("partial");
    expect(stopped.actions.skipped ?? 0).toBeGreaterThan(0);
    const slowCopies = await served.catalog.db
      .selectFrom("replicas")
      .innerJoin("files", "files.id", "replicas.file_id")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("files.path", "like", "results/slow/%")
      .executeTakeFirstOrThrow();
    expect(Number(slowCopies.n)).toBeLessThan(40);

    // A sync's run in another process does not watch for requests: refused, nothing recorded.
    const scanRun = await served.catalog.db
      .insertInto("runs")
      .values({
        command: "sync a b",
        host: "elsewhere",
        pid: 1,
        started_at: Date.now(),
        status: "running",
        finished_at: null,
        stop_requested_at: null,
        summary: null,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    const refused = await post(`/api/v1/runs/${scanRun.id}/cancel`, tokens.operate);
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ detail: expect.stringMatching(/on elsewhere and takes no stop requests/) });
    await served.catalog.db.deleteFrom("runs").where("id", "=", scanRun.id).execute();
  }, 120_000);

  it("gives token management to admin tokens only: make, list, revoke over HTTP", async () => {
    const before = await catalogRows(served.catalog);
    const body = JSON.stringify({ role: "read", name: "ci-reader" });
    for (const weaker of [tokens.read, tokens.operate]) {
      expectProblem(await get("/api/v1/tokens", weaker), 403);
      expectProblem(await post("/api/v1/tokens", weaker, body), 403);
      expectProblem(
        await served.app.inject({
          method: "DELETE",
          url: "/api/v1/tokens/reader",
          headers: { authorization: `Bearer ${weaker}` },
        }),
        403,
      );
    }
    for (const bad of [
      '{"role": "root", "name": "x"}',
      '{"role": "read", "name": "12"}',
      '{"role": "read", "name": "a b"}',
      '{"role": "read"}',
    ]) {
      expectProblem(await post("/api/v1/tokens", tokens.admin, bad), 400);
    }
    expect(await catalogRows(served.catalog)).toEqual(before);

    const made = await post("/api/v1/tokens", tokens.admin, body);
    expect(made.statusCode).toBe(201);
    const { token, id } = made.json() as { token: string; id: number };
    expect((await get("/api/v1/locations", token)).statusCode).toBe(200);
    const listed = (await get("/api/v1/tokens", tokens.admin)).json() as { tokens: { id: number; name: string }[] };
    expect(listed.tokens.find((t) => t.id === id)).toMatchObject({ name: "ci-reader", role: "read", revokedAt: null });
    expect(JSON.stringify(listed)).not.toContain(token);

    const del = (target: string) =>
      served.app.inject({
        method: "DELETE",
        url: `/api/v1/tokens/${target}`,
        headers: { authorization: `Bearer ${tokens.admin}` },
      });
    expect((await del("ci-reader")).json()).toEqual({ revoked: 1 });
    expectProblem(await get("/api/v1/locations", token), 401);
    expectProblem(await del("ci-reader"), 404);
  });

  it("restores a path in place through the engine, and refuses one outside the catalog", async () => {
    const file = join(workspace.dir, "tree", "results", "a.dat");
    rmSync(file);
    const body = (location: string, path: string) => JSON.stringify({ location, path });
    expectProblem(await post("/api/v1/restores", tokens.read, body("scratch", "results/a.dat")), 403);
    expectProblem(await post("/api/v1/restores", tokens.operate, body("scratch", "../tree/results/a.dat")), 400);
    expectProblem(await post("/api/v1/restores", tokens.operate, body("scratch", "/etc/passwd")), 400);
    expectProblem(await post("/api/v1/restores", tokens.operate, body("/etc", "passwd")), 404);
    expectProblem(await post("/api/v1/restores", tokens.operate, body("archive", "results/a.dat")), 400);
    expect(existsSync(file)).toBe(false);
    const restored = await post("/api/v1/restores", tokens.operate, body("scratch", "results/a.dat"));
    expect(restored.statusCode).toBe(200);
    expect(restored.json()).toEqual({
      matched: 1,
      restored: { files: 1, bytes: 1000 },
      inPlace: 0,
      thawing: 0,
      failed: [],
    });
    expect(readFileSync(file)).toEqual(Buffer.alloc(1000, 1));
    const runs = (await get("/api/v1/runs?limit=1", tokens.read)).json() as { command: string; status: string }[];
    expect(runs[0]).toMatchObject({ command: "restore scratch:results/a.dat", status: "done" });
  });

  it("logs one JSON line per request, with the token's name but never the token", async () => {
    await get(`/api/v1/runs?access_token=${tokens.operate}`, tokens.read);
    const lines = served
      .log()
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = lines.filter((line) => line.msg === "request");
    expect(requests.length).toBeGreaterThan(20);
    // A Server-Sent Events stream is logged too, once it ends.
    expect(requests.some((line) => /^\/api\/v1\/runs\/\d+\/events$/.test(String(line.url)))).toBe(true);
    // A token in the query string is no way in (and no parameter of /runs): refused, and not logged.
    expect(requests.at(-1)).toMatchObject({ method: "GET", status: 400, tokenName: "reader", role: "read" });
    expect(String(requests.at(-1)?.url)).toBe("/api/v1/runs?access_token=***");
    for (const token of Object.values(tokens)) expect(served.log()).not.toContain(token);
    expect(served.log()).not.toMatch(/strata_[A-Za-z0-9_-]{20}/);
  });
});

/** The id of the policy run another process has just started, once the catalog shows it and its actions. */
async function runningApply(catalog: Served["catalog"]): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const row = await catalog.db
      .selectFrom("runs")
      .select("id")
      .where("status", "=", "running")
      .where("command", "=", "apply keep-results")
      // Once it has journaled the slow files' copies: a stop before that (between rounds, say)
      // would leave none of them to skip.
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom("actions")
            .innerJoin("files", "files.id", "actions.file_id")
            .select("actions.id")
            .whereRef("actions.run_id", "=", "runs.id")
            .where("files.path", "like", "results/slow/%"),
        ),
      )
      .executeTakeFirst();
    if (row) return row.id;
    if (Date.now() > deadline) throw new Error("the CLI's apply run never appeared in the catalog");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
