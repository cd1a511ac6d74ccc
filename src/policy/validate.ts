import { type BackendDescriptor, descriptorOf, parseLocationUrl } from "../backends/all.js";
import { UsageError } from "../config/errors.js";
import type { Config, LocationConfig } from "./config-schema.js";
import { globRange } from "./filter.js";
import type { Place, Policy, Selector } from "./schema.js";
import { principalId, unknownPrincipal } from "./selector.js";

/**
 * The checks of policies against the rest of the config, run when the config is loaded: every
 * name a policy uses exists, every class is one its location's backend supports, the source is
 * freed only where that means something, and no two policies fight over the same files. Each
 * problem names the file, line and key; all of them are reported at once.
 */

type Key = readonly (string | number)[];

/** Where a policy was written, for messages. */
export interface PolicyOrigin {
  /** `file:line:col` of a key of the policy (or of the deepest part of it that exists). */
  position(key: Key): string;
  /** The key as the file spells it from its top: `policies.2.place.0.to`. */
  keyPath(key: Key): string;
}

export function checkPolicies(config: Config, origins: readonly PolicyOrigin[]): void {
  const problems: string[] = [];
  const report = (index: number, key: Key, message: string) => {
    const origin = origins[index] as PolicyOrigin;
    problems.push(`${origin.position(key)}: ${origin.keyPath(key)}: ${message}`);
  };
  const backends = locationBackends(config);
  const known = Object.keys(config.locations).sort().join(", ") || "none";
  const unknown = (name: string) => `unknown location "${name}" (known: ${known})`;

  const firstByName = new Map<string, number>();
  config.policies.forEach((policy, i) => {
    const earlier = firstByName.get(policy.name);
    if (earlier !== undefined) {
      report(
        i,
        ["name"],
        `a policy named "${policy.name}" is already defined at ${origins[earlier]?.position(["name"])}`,
      );
    } else firstByName.set(policy.name, i);

    policy.from.forEach((name, j) => {
      if (!(name in config.locations)) report(i, ["from", j], unknown(name));
      else if (policy.then !== "keep" && backends.get(name)?.fileTree !== true) {
        report(i, ["then"], `then: ${policy.then} frees space on a POSIX tree; ${name} is not one`);
      }
    });
    policy.place.forEach((place, j) => {
      const settings = config.locations[place.to];
      if (!settings) report(i, ["place", j, "to"], unknown(place.to));
      else checkPlace(place, settings, backends.get(place.to), (key, message) => report(i, ["place", j, key], message));
    });
    walk(policy.match, ["match"], (selector, key) => {
      if (selector.replica && !(selector.replica.at in config.locations)) {
        report(i, [...key, "replica", "at"], unknown(selector.replica.at));
      }
      for (const role of ["owner", "group"] as const) {
        selector[role]?.forEach((value, j) => {
          if (principalId(role, value) === undefined)
            report(i, [...key, role, j], unknownPrincipal(role, String(value)));
        });
      }
    });
  });
  for (const conflict of conflicts(config.policies)) {
    const [a, b] = conflict.policies;
    report(
      b,
      ["name"],
      `policies "${config.policies[a]?.name}" (${origins[a]?.position(["name"])}) and ` +
        `"${config.policies[b]?.name}" can select the same files of ${conflict.from} and ${conflict.why}; ` +
        "give them distinct from locations or paths, or disable one",
    );
  }
  if (problems.length > 0) throw new UsageError(problems.join("\n"));
}

/** Each location's backend, from its URL alone (no client is opened); undefined for a bad URL. */
function locationBackends(config: Config): Map<string, BackendDescriptor | undefined> {
  return new Map(
    Object.entries(config.locations).map(([name, settings]) => {
      try {
        return [name, descriptorOf(parseLocationUrl(settings.url).kind)];
      } catch {
        // A bad URL is reported, with its location, by the command that uses it.
        return [name, undefined];
      }
    }),
  );
}

function checkPlace(
  place: Place,
  settings: LocationConfig,
  backend: BackendDescriptor | undefined,
  report: (key: string, message: string) => void,
): void {
  if (backend === undefined) return;
  const classes = backend.caps.storageClasses;
  if (place.class !== undefined && !classes.includes(place.class)) {
    report("class", `${place.to} (${backend.kind}) has no storage class ${place.class} (it has ${classes.join(", ")})`);
  }
  if (place.tiering !== undefined && backend.fileTree) {
    report("tiering", `tiering: ${place.tiering} chooses among storage classes; ${place.to} is a POSIX tree`);
  }
  if (place.pack !== undefined && backend.fileTree) {
    report("pack", `pack: writes tar packs to object stores; ${place.to} is a POSIX tree`);
  }
  const flat = settings.price?.perTBMonth !== undefined || settings.price?.profile === "onprem";
  if (place.tiering === "cost" && flat) {
    report("tiering", `tiering: cost compares class prices; ${place.to} has one flat price (price.perTBMonth)`);
  }
}

/** Visits a selector and every selector nested in it, with its key. */
function walk(selector: Selector, key: Key, visit: (selector: Selector, key: Key) => void): void {
  visit(selector, key);
  selector.all?.forEach((child, i) => {
    walk(child, [...key, "all", i], visit);
  });
  selector.any?.forEach((child, i) => {
    walk(child, [...key, "any", i], visit);
  });
  if (selector.not) walk(selector.not, [...key, "not"], visit);
}

interface Conflict {
  policies: [number, number];
  from: string;
  why: string;
}

/**
 * Two enabled policies conflict when they share a `from` location, their path globs may
 * overlap, and they want different things: one location in two classes, or the source both
 * released and purged. Conservative: other conditions (sizes, ages) are not taken to separate them.
 */
function conflicts(policies: readonly Policy[]): Conflict[] {
  const found: Conflict[] = [];
  policies.forEach((b, j) => {
    for (let i = 0; i < j; i++) {
      const a = policies[i] as Policy;
      if (!a.enabled || !b.enabled) continue;
      const from = a.from.find((name) => b.from.includes(name));
      if (from === undefined || !mayOverlap(scope(a.match), scope(b.match))) continue;
      const why = disagreement(a, b);
      if (why) found.push({ policies: [i, j], from, why });
    }
  });
  return found;
}

function disagreement(a: Policy, b: Policy): string | undefined {
  for (const placeA of a.place) {
    const placeB = b.place.find((p) => p.to === placeA.to);
    if (placeB && describePlace(placeA) !== describePlace(placeB)) {
      return `place them at ${placeA.to} differently (${describePlace(placeA)} vs ${describePlace(placeB)})`;
    }
  }
  if (a.then !== "keep" && b.then !== "keep" && a.then !== b.then) return `both ${a.then} and ${b.then} the source`;
  return undefined;
}

function describePlace(place: Place): string {
  if (place.tiering === undefined) return place.class === undefined ? "the location's class" : `class ${place.class}`;
  const limits = [
    place.maxRestoreLatency === undefined ? "" : ` maxRestoreLatency ${place.maxRestoreLatency} ms`,
    place.horizon === undefined ? "" : ` horizon ${place.horizon} ms`,
  ].join("");
  return `tiering ${place.tiering}${limits}`;
}

/** The path globs every selected file must match, when the selector says (else: anything). */
function scope(selector: Selector): string[] | undefined {
  if (selector.path) return selector.path;
  for (const child of selector.all ?? []) {
    const found = scope(child);
    if (found) return found;
  }
  return undefined;
}

function mayOverlap(a: string[] | undefined, b: string[] | undefined): boolean {
  if (!a || !b) return true;
  const prefixes = (globs: string[]) =>
    globs.map((glob) => {
      const range = globRange(glob);
      return range === undefined ? "" : "equals" in range ? range.equals : range.from;
    });
  const [pa, pb] = [prefixes(a), prefixes(b)];
  return pa.some((x) => pb.some((y) => x.startsWith(y) || y.startsWith(x)));
}
