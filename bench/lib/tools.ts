import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "./measure.js";

export const SYNC_TOOLS = ["strata", "rclone", "rclone-tuned", "aws"] as const;
/** An older build of Strata (`--baseline`), named after its commit. */
export type BaselineTool = `strata-${string}`;
export type SyncTool = (typeof SYNC_TOOLS)[number] | BaselineTool;
export type ScanTool = "strata" | BaselineTool | "find";
export type Tool = SyncTool | ScanTool;

/** The current build or an older one: the tools whose --json report the bench reads. */
export function isStrata(tool: Tool): tool is "strata" | BaselineTool {
  return tool === "strata" || tool.startsWith("strata-");
}

/** What the packs bench asks of a Strata sync beyond the transfer bench's plain one. */
export interface StrataOptions {
  /** More arguments of `strata sync` (`--pack-below 1MiB`). */
  args?: string[];
  /** More YAML lines of the remote location (`dedup: true`). */
  location?: string[];
  /** Another endpoint for the remote location (a counting proxy in front of the RGW). */
  endpoint?: string;
  /** Told apart from the plain config of the same place: a config file of its own. */
  configName?: string;
}

/** A local directory or a bucket/prefix on the RGW. */
export type Place = { dir: string } | { bucket: string; prefix: string };

export interface ToolSetup {
  repo: string;
  work: string;
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  aws: string;
  /** The older build of `--baseline`: its tool name and where it was built. */
  baseline?: { tool: BaselineTool; dir: string };
}

/**
 * Builds the command lines of each tool, written as a user would run them against this RGW.
 * Every tool gets the same credentials from the environment (rclone from its config file) and
 * none sees the user's ~/.aws or ~/.config/rclone, so the run is the same on every machine.
 */
export class Tools {
  private readonly env: NodeJS.ProcessEnv;
  private readonly rcloneConf: string;
  private readonly confDir: string;
  private readonly logDir: string;

  constructor(private readonly setup: ToolSetup) {
    this.confDir = join(setup.work, "conf");
    this.logDir = join(setup.work, "logs");
    mkdirSync(this.confDir, { recursive: true });
    mkdirSync(this.logDir, { recursive: true });
    this.rcloneConf = join(this.confDir, "rclone.conf");
    writeFileSync(this.rcloneConf, rcloneConfig(setup, setup.accessKeyId, setup.secretAccessKey), { mode: 0o600 });
    const emptyAwsConfig = join(this.confDir, "aws-config");
    writeFileSync(emptyAwsConfig, "");
    const { AWS_PROFILE: _profile, ...inherited } = process.env;
    this.env = {
      ...inherited,
      AWS_ACCESS_KEY_ID: setup.accessKeyId,
      AWS_SECRET_ACCESS_KEY: setup.secretAccessKey,
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_REGION: "us-east-1",
      AWS_CONFIG_FILE: emptyAwsConfig,
      AWS_SHARED_CREDENTIALS_FILE: emptyAwsConfig,
    };
  }

  /** The RGW's endpoint the tools are pointed at. */
  get endpoint(): string {
    return this.setup.endpoint;
  }

  /** rclone.conf as RESULTS.md shows it: the keys replaced by placeholders. */
  rcloneConfigShown(): string {
    return rcloneConfig(this.setup, "$AWS_ACCESS_KEY_ID", "$AWS_SECRET_ACCESS_KEY");
  }

  /**
   * strata.yaml for one S3 place: the location is named so its URL picks up the RGW settings.
   * `options` are more YAML lines of that location (`dedup: true`, `class: GLACIER`).
   */
  strataConfig(place: Place, options: StrataOptions = {}): string {
    const name = "bucket" in place ? `${place.bucket}-${place.prefix.replaceAll("/", "_")}` : "none";
    const path = join(this.confDir, `strata-${name}${options.configName ? `-${options.configName}` : ""}.yaml`);
    writeFileSync(path, strataYaml(place, options.endpoint ?? this.setup.endpoint, options.location ?? []));
    return path;
  }

  sync(tool: SyncTool, from: Place, to: Place, catalog: string, label: string, options: StrataOptions = {}): Command {
    if (isStrata(tool)) {
      const remote = "bucket" in from ? from : to;
      const config = this.strataConfig(remote, options);
      const argv = [...this.strata(tool), "--config", config, "--catalog", catalog, "--json", "sync"];
      // --json: the report (files and bytes copied) is read back from stdout.
      const paths = [this.path(from, tool), this.path(to, tool)];
      return this.command([...argv, ...paths, ...(options.args ?? [])], label, true);
    }
    switch (tool) {
      case "rclone":
      case "rclone-tuned": {
        const tuned = tool === "rclone-tuned" ? ["--transfers", "16", "--checkers", "16"] : [];
        // rclone 1.60 cannot start with AWS_CA_BUNDLE set (even for plain http).
        const argv = ["env", "-u", "AWS_CA_BUNDLE", "rclone", "--config", this.rcloneConf, "sync"];
        return this.command([...argv, this.path(from, tool), this.path(to, tool), ...tuned], label, false);
      }
      case "aws": {
        const argv = [
          "env",
          "-u",
          "AWS_CA_BUNDLE",
          this.setup.aws,
          "--endpoint-url",
          this.setup.endpoint,
          "s3",
          "sync",
        ];
        // --only-show-errors: otherwise aws prints a line per file, which the others do not.
        const paths = [this.path(from, tool), this.path(to, tool)];
        return this.command([...argv, ...paths, "--only-show-errors"], label, false);
      }
    }
  }

  strataScan(tool: "strata" | BaselineTool, dir: string, catalog: string, label: string): Command {
    const config = this.strataConfig({ dir });
    const argv = [...this.strata(tool), "--config", config, "--catalog", catalog, "--json", "scan", dir];
    return this.command(argv, label, true);
  }

  /** Another command of the current build (`restore`, `cost`), its --json report kept: `args` name the config. */
  strataCommand(args: string[], label: string): Command {
    return this.command([...this.strata("strata"), "--json", ...args], label, true);
  }

  /**
   * How to start this build's CLI: the current one from the repository, an older one from its
   * tree. Each runs as a user's `strata` does, the file itself, so the Node flags of its shebang
   * apply (bin/strata.js).
   */
  private strata(tool: "strata" | BaselineTool): string[] {
    if (tool === "strata") return ["./bin/strata.js"];
    const { baseline } = this.setup;
    if (baseline?.tool !== tool) throw new Error(`${tool}: no such build (--baseline)`);
    return [join(baseline.dir, "bin", "strata.js")];
  }

  /** What a shell script would do to see every file's size and mtime: the floor for a scan. */
  find(dir: string, label: string): Command {
    const command = this.command(["find", dir, "-printf", "%s %T@ %p\\n"], label, false);
    return { ...command, display: `${command.display} > /dev/null` };
  }

  private path(place: Place, tool: Tool): string {
    if ("dir" in place) return place.dir;
    return tool === "rclone" || tool === "rclone-tuned"
      ? `rgw:${place.bucket}/${place.prefix}`
      : `s3://${place.bucket}/${place.prefix}`;
  }

  private command(argv: string[], label: string, keepStdout: boolean): Command {
    const log = join(this.logDir, label);
    return {
      argv,
      env: this.env,
      cwd: this.setup.repo,
      ...(keepStdout ? { stdoutFile: `${log}.out` } : {}),
      stderrFile: `${log}.err`,
      timeFile: `${log}.time`,
      display: this.display(argv),
    };
  }

  private display(argv: string[]): string {
    return argv
      .map((arg) =>
        arg
          .replaceAll(this.setup.work, "$BENCH")
          .replace(process.execPath, "node")
          .replace(this.setup.aws, "aws")
          .replace(/^%s %T@ %p\\n$/, "'%s %T@ %p\\n'"),
      )
      .join(" ");
  }
}

function rcloneConfig(setup: ToolSetup, accessKeyId: string, secretAccessKey: string): string {
  return [
    "[rgw]",
    "type = s3",
    "provider = Ceph",
    `access_key_id = ${accessKeyId}`,
    `secret_access_key = ${secretAccessKey}`,
    `endpoint = ${setup.endpoint}`,
    "force_path_style = true",
    "",
  ].join("\n");
}

function strataYaml(place: Place, endpoint: string, options: readonly string[]): string {
  if ("dir" in place) return "locations: {}\n";
  return [
    "locations:",
    "  remote:",
    `    url: s3://${place.bucket}/${place.prefix}`,
    `    s3: { endpoint: "${endpoint}", forcePathStyle: true, checksums: when_required }`,
    ...options.map((line) => `    ${line}`),
    "",
  ].join("\n");
}
