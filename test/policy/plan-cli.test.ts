import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/config/errors.js";
import type { PolicyAction } from "../../src/policy/actions.js";
import { readPlanFile } from "../../src/policy/plan-file.js";
import { strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { collectActions } from "./fixtures.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/seed/strata.yaml", import.meta.url));
const GIB = 1024 ** 3;
const KIB = 1024;
const DAY = 86_400;

/** The seed example, pointed at a crafted scratch tree instead of /lustre. */
function seedExample(): string {
  const work = tempDir();
  const config = readFileSync(EXAMPLE, "utf8");
  expect(config).toContain("url: /lustre/scratch/projectX");
  writeFileSync(join(work, "strata.yaml"), config.replace("url: /lustre/scratch/projectX", "url: ./scratch"));
  const now = Date.now() / 1000;
  const files: [string, number, number][] = [
    ["runs/r1/out.dat", 3 * GIB, 2 * DAY],
    ["notes/readme.txt", 2000, 60],
    ["runs/r1/partial.tmp", 500, 2 * DAY],
  ];
  for (const [path, size, idle] of files) {
    const full = join(work, "scratch", path);
    mkdirSync(dirname(full), { recursive: true });
    if (size > 1e6) {
      closeSync(openSync(full, "w"));
      truncateSync(full, size);
    } else writeFileSync(full, randomBytes(size));
    utimesSync(full, now - idle, now - idle - DAY);
  }
  return work;
}

async function ok(work: string, args: string[]) {
  const result = await strata(args, { cwd: work });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return result;
}

describe("strata plan on the seed example", () => {
  it("prints a plan whose cost figures check by hand against the S3 price table", async () => {
    const work = seedExample();
    await ok(work, ["scan", "scratch"]);
    const plan = JSON.parse((await ok(work, ["--json", "plan"])).stdout);
    expect(plan).toMatchObject({ format: "strata-plan", version: 1, policies: ["scratch-to-s3"] });
    const byPath = new Map((plan.actions as PolicyAction[]).map((a) => [a.file.path, a]));
    expect([...byPath.keys()].sort()).toEqual(["notes/readme.txt", "runs/r1/out.dat"]);

    // 3 GiB idle two days: GLACIER. S3 bills GLACIER $0.0036 per GB-month plus, per object, a
    // 32 KiB index at that rate and 8 KiB of metadata at STANDARD's $0.023; a PUT into GLACIER
    // is $0.03 per 1,000. Reading scratch and leaving it cost nothing (on premises).
    const out = byPath.get("runs/r1/out.dat");
    expect(out).toMatchObject({ kind: "copy", to: "archive", storageClass: "GLACIER", bytes: 3 * GIB });
    const glacierMonthly = ((3 * GIB + 32 * KIB) / GIB) * 0.0036 + ((8 * KIB) / GIB) * 0.023;
    expect(out?.monthlyCostDelta).toBeCloseTo(glacierMonthly, 12);
    expect(out?.oneTimeCost).toBeCloseTo(0.03 / 1000, 12);
    // 2,000 bytes just read: STANDARD at $0.023 per GB-month, PUT $0.005 per 1,000.
    const readme = byPath.get("notes/readme.txt");
    expect(readme).toMatchObject({ kind: "copy", storageClass: "STANDARD" });
    expect(readme?.monthlyCostDelta).toBeCloseTo((2000 / GIB) * 0.023, 15);
    expect(plan.totals).toEqual([
      {
        policy: "scratch-to-s3",
        kind: "copy",
        files: 2,
        bytes: 3 * GIB + 2000,
        monthlyCostDelta: expect.closeTo(glacierMonthly + (2000 / GIB) * 0.023, 12),
        oneTimeCost: expect.closeTo(0.035 / 1000, 12),
      },
    ]);

    const human = await ok(work, ["plan"]);
    expect(human.stdout).toMatch(
      /^scratch-to-s3:\n {2}copy +2 files +3\.00 GiB +\+\$0\.01\/month +once \$0\.000035\n$/,
    );
  });

  it("plans the same twice with nothing applied, and --out writes a file apply can stream back", async () => {
    const work = seedExample();
    await ok(work, ["scan", "scratch"]);
    const strip = (text: string) => {
      const { createdAt: _createdAt, ...rest } = JSON.parse(text);
      return rest;
    };
    const first = strip((await ok(work, ["--json", "plan"])).stdout);
    const second = strip((await ok(work, ["--json", "plan", "--policy", "scratch-to-s3"])).stdout);
    expect(second).toEqual(first);

    const written = await ok(work, ["plan", "--out", "plan.json"]);
    expect(written.stdout).toMatch(/Plan written to plan\.json; carry it out with: strata apply plan\.json/);
    const file = join(work, "plan.json");
    expect(strip(readFileSync(file, "utf8"))).toEqual(first);
    const reader = await readPlanFile(file);
    expect(reader.header).toMatchObject({ format: "strata-plan", version: 1, policies: ["scratch-to-s3"] });
    expect(reader.totals).toEqual(first.totals);
    expect(await collectActions(reader.actions)).toEqual(first.actions);
  });

  it("refuses an unknown --policy, and a plan file that is not one, naming it", async () => {
    const work = seedExample();
    const unknown = await strata(["plan", "--policy", "nightly"], { cwd: work });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("strata: --policy nightly: no such policy (known: scratch-to-s3)\n");

    await ok(work, ["scan", "scratch"]);
    await ok(work, ["plan", "--out", "plan.json"]);
    const text = readFileSync(join(work, "plan.json"), "utf8");
    const cases: [string, string, RegExp][] = [
      [
        "other.json",
        '{"format":"something-else"}\n',
        /other\.json:1: not a Strata plan file: the first line must open the actions list/,
      ],
      ["truncated.json", text.split("\n").slice(0, 2).join("\n"), /truncated\.json: not a Strata plan file/],
      [
        "version.json",
        text.replace('"version":1', '"version":9'),
        /version\.json:1: not a Strata plan file: version: this Strata reads plan version 1/,
      ],
      [
        "edited.json",
        text.replace('"kind":"copy"', '"kind":"teleport"'),
        /edited\.json:2: not a Strata plan file: kind: /,
      ],
    ];
    for (const [name, content, message] of cases) {
      writeFileSync(join(work, name), content);
      const read = async () => collectActions((await readPlanFile(join(work, name))).actions);
      await expect(read()).rejects.toThrow(UsageError);
      await expect(read()).rejects.toThrow(message);
    }
    await expect(readPlanFile(join(work, "missing.json"))).rejects.toThrow(/missing\.json: cannot read/);
  });
});
