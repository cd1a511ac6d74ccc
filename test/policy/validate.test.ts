import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";

/**
 * Bad policies are refused before anything runs: exit 2, one line per problem naming the file,
 * line, column and key, and nothing changed (not even a catalog created).
 */

const LOCATIONS = [
  "catalog: catalog.db",
  "locations:",
  "  scratch:",
  "    url: ./scratch",
  "  archive:",
  "    url: s3://lab-archive/x",
  "  store:",
  "    url: local:store",
  "policies:",
];

/** Policies' lines, indented under `policies:`. */
interface Case {
  label: string;
  policies: string[];
  /** The line (a substring of it) the message must point at, and what it must say. */
  at: string;
  message: RegExp;
  files?: Record<string, string[]>;
}

const CASES: Case[] = [
  {
    label: "an unknown key",
    policies: ["  - name: a", "    from: scratch", "    plase: []"],
    at: "plase",
    message: /policies\.0\.plase: unknown key "plase"/,
  },
  {
    label: "an unknown key deep in a selector",
    policies: ["  - name: a", "    from: scratch", "    match:", "      all:", "        - sise: { min: 1 }"],
    at: "sise",
    message: /policies\.0\.match\.all\.0\.sise: unknown key "sise"/,
  },
  {
    label: "an unknown location",
    policies: ["  - name: a", "    from: scratch", "    place:", "      - to: archiv"],
    at: "to: archiv",
    message: /policies\.0\.place\.0\.to: unknown location "archiv" \(known: archive, scratch, store\)/,
  },
  {
    label: "a class the location's backend does not have",
    policies: ["  - name: a", "    from: scratch", "    place:", "      - to: archive", "        class: Cool"],
    at: "class: Cool",
    message: /policies\.0\.place\.0\.class: archive \(s3\) has no storage class Cool \(it has STANDARD, /,
  },
  {
    label: "release with copies: 0",
    policies: [
      "  - name: a",
      "    from: scratch",
      "    place:",
      "      - to: archive",
      "    copies: 0",
      "    then: release",
    ],
    at: "copies: 0",
    message: /policies\.0\.copies: then: release frees the source only once verified copies exist/,
  },
  {
    label: "release from a location that is not a POSIX tree",
    policies: ["  - name: a", "    from: store", "    place:", "      - to: archive", "    then: release"],
    at: "then: release",
    message: /policies\.0\.then: then: release frees space on a POSIX tree; store is not one/,
  },
  {
    label: "tiering onto a POSIX tree",
    policies: ["  - name: a", "    from: store", "    place:", "      - to: scratch", "        tiering: seed"],
    at: "tiering: seed",
    message: /policies\.0\.place\.0\.tiering: tiering: seed chooses among storage classes; scratch is a POSIX tree/,
  },
  {
    label: "an unknown user",
    policies: ["  - name: a", "    from: scratch", "    match:", "      owner: [0, nosuchuser-h5]"],
    at: "owner:",
    message:
      /policies\.0\.match\.owner\.1: unknown user "nosuchuser-h5" \(not in \/etc\/passwd; give the number instead\)/,
  },
  {
    label: "a bad schedule",
    policies: ["  - name: a", "    from: scratch", '    schedule: "0 25 * * *"'],
    at: "schedule",
    message: /policies\.0\.schedule: not a cron schedule: .*hour/,
  },
  {
    label: "two policies placing the same files in different classes",
    policies: [
      "  - name: nightly",
      "    from: scratch",
      '    match: { path: "projects/**" }',
      "    place: [{ to: archive, class: GLACIER }]",
      "  - name: tiered",
      "    from: scratch",
      '    match: { path: "projects/climate/**" }',
      "    place: [{ to: archive, tiering: seed }]",
    ],
    at: "name: tiered",
    message:
      /policies\.1\.name: policies "nightly" \(.*strata\.yaml:10:5\) and "tiered" can select the same files of scratch and place them at archive differently \(class GLACIER vs tiering seed\)/,
  },
  {
    label: "an unknown key in an included policy file",
    policies: [],
    at: "sise",
    message: /policies\.0\.match\.sise: unknown key "sise"/,
    files: {
      "policies/extra.yaml": ["policies:", "  - name: b", "    from: scratch", "    match:", "      sise: 1"],
    },
  },
];

describe("policy validation", () => {
  it.each(CASES)("refuses $label: exit 2, file:line:col and key", async ({ policies, at, message, files }) => {
    const work = tempDir();
    const lines = policies.length > 0 ? [...LOCATIONS, ...policies] : LOCATIONS.slice(0, -1);
    if (files) lines.unshift(`include: [${Object.keys(files).join(", ")}]`);
    writeFileSync(join(work, "strata.yaml"), `${lines.join("\n")}\n`);
    let where = { file: "strata.yaml", lines };
    for (const [name, content] of Object.entries(files ?? {})) {
      mkdirSync(join(work, name, ".."), { recursive: true });
      writeFileSync(join(work, name), `${content.join("\n")}\n`);
      where = { file: name.split("/").at(-1) as string, lines: content };
    }
    const line = where.lines.findIndex((l) => l.includes(at)) + 1;
    expect(line).toBeGreaterThan(0);

    const result = await strata(["plan"], { cwd: work });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    const problems = result.stderr
      .replace(/^strata: /, "")
      .trim()
      .split("\n");
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`${where.file.replace(".", "\\.")}:${line}:\\d+: `));
    expect(problems[0]).toMatch(message);
    expect(existsSync(join(work, "catalog.db"))).toBe(false);
  });

  it("reports every problem at once, and accepts a valid config with an included policy file", async () => {
    const work = tempDir();
    writeFileSync(
      join(work, "strata.yaml"),
      [
        ...LOCATIONS,
        "  - name: a",
        "    from: scratch",
        "    place: [{ to: nowhere }, { to: archive, class: Hot }]",
        "",
      ].join("\n"),
    );
    const bad = await strata(["plan"], { cwd: work });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/policies\.0\.place\.0\.to: unknown location "nowhere"/);
    expect(bad.stderr).toMatch(/policies\.0\.place\.1\.class: archive \(s3\) has no storage class Hot/);

    writeFileSync(join(work, "strata.yaml"), ["include: [more.yaml]", ...LOCATIONS.slice(0, -1), ""].join("\n"));
    writeFileSync(
      join(work, "more.yaml"),
      ["policies:", "  - name: b", "    from: scratch", "    place: [{ to: store, tiering: cost }]", ""].join("\n"),
    );
    mkdirSync(join(work, "scratch"));
    const good = await strata(["plan"], { cwd: work });
    expect(good.stderr).toMatch(/scratch has not been scanned yet/);
    expect(good.code).toBe(0);
    expect(good.stdout).toBe("b: nothing to do\n");
  });
});
