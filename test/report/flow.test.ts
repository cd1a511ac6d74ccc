import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseStrataConfig } from "../../src/policy/config.js";
import type { Config } from "../../src/policy/config-schema.js";
import { dataFlow } from "../../src/report/flow.js";
import { tempDir } from "../support/tmp.js";

const SEED = fileURLToPath(new URL("../../examples/seed/strata.yaml", import.meta.url));

/** strata.yaml of these lines in a temp directory, parsed and checked as the CLI does. */
function configOf(lines: string[]): { dir: string; config: Config } {
  const dir = tempDir();
  const file = join(dir, "strata.yaml");
  writeFileSync(file, `${lines.join("\n")}\n`);
  return { dir, config: parseStrataConfig(file) };
}

describe("dataFlow", () => {
  it("draws the seed: scratch on POSIX, the S3 archive, one nightly arrow by the seed's rule", () => {
    expect(dataFlow(parseStrataConfig(SEED))).toEqual({
      nodes: [
        { location: "scratch", kind: "posix", url: "file:///lustre/scratch/projectX" },
        { location: "archive", kind: "s3", url: "s3://lab-archive/projectX", defaultClass: "STANDARD" },
      ],
      edges: [
        {
          policy: "scratch-to-s3",
          from: "scratch",
          to: "archive",
          schedule: "0 2 * * *",
          placement: "seed tiering",
          // biome-ignore lint/suspicious/noThenProperty: the policy language's word
          then: "keep",
          selects: ["excludes **/*.tmp, **/.nfs*"],
          copies: 1,
        },
      ],
    });
  });

  it("draws an arrow per place and source, with the class, release, copies and the filters in words", () => {
    const { dir, config } = configOf([
      "locations:",
      "  lab:",
      "    url: ./lab",
      "  instrument:",
      "    url: file:///data/instrument",
      "  cold:",
      "    url: s3://lab-cold/raw",
      "  offsite:",
      "    url: gs://lab-offsite",
      "  cheap:",
      "    url: az://cheapest/all",
      "policies:",
      "  - name: raw-to-cold",
      "    from: [lab, instrument]",
      "    match:",
      "      path: 'raw/**'",
      "      exclude: ['**/*.tmp']",
      "      size: { min: 1GiB }",
      "      notAccessedFor: 30d",
      "      not: { owner: 0 }",
      "    place:",
      "      - to: cold",
      "        class: GLACIER",
      "      - to: offsite",
      "    copies: 2",
      "    then: release",
      "    prune: true",
      "  - name: by-cost",
      "    from: lab",
      "    match:",
      "      any: [{ type: [h5, nc] }, { tags: { project: alpha } }]",
      "      modifiedWithin: 1y",
      "    place:",
      "      - to: cheap",
      "        tiering: cost",
      "        maxRestoreLatency: 12h",
      "        horizon: 12mo",
      '    schedule: "30 3 * * 0"',
      "  - name: switched-off",
      "    enabled: false",
      "    from: lab",
      "    place: [{ to: cold }]",
    ]);
    const flow = dataFlow(config, { baseDir: dir });
    expect(flow.nodes).toEqual([
      { location: "lab", kind: "posix", url: `file://${join(dir, "lab")}` },
      { location: "instrument", kind: "posix", url: "file:///data/instrument" },
      { location: "cold", kind: "s3", url: "s3://lab-cold/raw" },
      { location: "offsite", kind: "gcs", url: "gs://lab-offsite" },
      { location: "cheap", kind: "azure", url: "az://cheapest/all" },
    ]);
    const rawSelects = [
      "path raw/**",
      "excludes **/*.tmp",
      "at least 1 GiB",
      "not read for 30 days",
      "not (owned by 0)",
    ];
    // biome-ignore lint/suspicious/noThenProperty: the policy language's word
    const release = { policy: "raw-to-cold", then: "release", selects: rawSelects, copies: 2, prune: true };
    expect(flow.edges).toEqual([
      { ...release, from: "lab", to: "cold", placement: "GLACIER" },
      { ...release, from: "instrument", to: "cold", placement: "GLACIER" },
      // No class written: the store's default, the first class GCS lists.
      { ...release, from: "lab", to: "offsite", placement: "STANDARD" },
      { ...release, from: "instrument", to: "offsite", placement: "STANDARD" },
      {
        policy: "by-cost",
        from: "lab",
        to: "cheap",
        schedule: "30 3 * * 0",
        placement: "cost tiering (restore within 12 hours, over 12 months)",
        // biome-ignore lint/suspicious/noThenProperty: the policy language's word
        then: "keep",
        selects: ["modified within 1 year", "any of (type h5, nc; tagged project=alpha)"],
        copies: 1,
      },
    ]);
  });

  it("says every file for a policy without a match, and writes the purge rule out", () => {
    const { dir, config } = configOf([
      "locations:",
      "  scratch: { url: ./scratch }",
      "  store: { url: 'local:store', class: STANDARD_IA }",
      "policies:",
      "  - name: clean",
      "    from: scratch",
      "    place: [{ to: store }]",
      "    then: purge",
      "    purge: { after: 90d, grace: 14d }",
    ]);
    expect(dataFlow(config, { baseDir: dir }).edges).toEqual([
      {
        policy: "clean",
        from: "scratch",
        to: "store",
        placement: "STANDARD_IA",
        // biome-ignore lint/suspicious/noThenProperty: the policy language's word
        then: "purge",
        selects: ["every file"],
        copies: 1,
        purge: "announced once not read for 90 days, deleted 14 days later if still unread",
      },
    ]);
  });
});
