import { descriptorOf, parseLocationUrl } from "../backends/all.js";
import type { Config } from "../policy/config-schema.js";
import type { Place, Policy, Selector } from "../policy/schema.js";
import type { DataFlow, FlowEdge, FlowNode } from "./model.js";
import { durationWords, horizonWords, sizeWords } from "./words.js";

/**
 * The data-flow diagram's facts, from the config alone: each configured location as a node
 * (its backend kind and canonical URL, which never holds credentials: those stay in each SDK's
 * chain), and each place entry of each enabled policy as an arrow from every one of its sources,
 * labelled with its schedule, how the class is chosen, what happens to the source, and what
 * the policy selects, in words. A disabled policy moves nothing, so it draws no arrow.
 */
export function dataFlow(config: Config, options: { baseDir?: string } = {}): DataFlow {
  const baseDir = options.baseDir ?? process.cwd();
  const nodes = Object.entries(config.locations).map(([location, settings]): FlowNode => {
    const parsed = parseLocationUrl(settings.url, baseDir);
    return {
      location,
      kind: parsed.kind,
      url: parsed.url,
      ...(settings.class ? { defaultClass: settings.class } : {}),
    };
  });
  const edges = config.policies
    .filter((policy) => policy.enabled)
    .flatMap((policy) => {
      const selects = selectorWords(policy.match);
      return policy.place.flatMap((place) =>
        policy.from.map(
          (from): FlowEdge => ({
            policy: policy.name,
            from,
            to: place.to,
            ...(policy.schedule ? { schedule: policy.schedule } : {}),
            placement: placementWords(config, place),
            // biome-ignore lint/suspicious/noThenProperty: the policy language's word (FlowEdge.then); a string is never awaited as a thenable
            then: policy.then,
            selects,
            copies: policy.copies,
            ...(policy.prune ? { prune: true } : {}),
            ...(policy.purge ? { purge: purgeWords(policy) } : {}),
          }),
        ),
      );
    });
  return { nodes, edges };
}

/** "seed tiering", "cost tiering (restore within 12 hours)", or the class the copies land in. */
function placementWords(config: Config, place: Place): string {
  if (place.tiering === "seed") return "seed tiering";
  if (place.tiering === "cost") {
    const limits = [
      place.maxRestoreLatency === undefined ? "" : `restore within ${durationWords(place.maxRestoreLatency)}`,
      place.horizon === undefined ? "" : `over ${horizonWords(place.horizon)}`,
    ].filter(Boolean);
    return limits.length === 0 ? "cost tiering" : `cost tiering (${limits.join(", ")})`;
  }
  if (place.class) return place.class;
  const settings = config.locations[place.to];
  if (settings?.class) return settings.class;
  // No class written anywhere: the backend's default, the first it lists.
  const kind = settings ? parseLocationUrl(settings.url).kind : undefined;
  return (kind ? descriptorOf(kind).caps.storageClasses[0] : undefined) ?? "the location's class";
}

function purgeWords(policy: Policy): string {
  const purge = policy.purge;
  if (!purge) return "";
  return `announced once not read for ${durationWords(purge.after)}, deleted ${durationWords(purge.grace)} later if still unread`;
}

const AGE_WORDS = [
  ["notAccessedFor", "not read for"],
  ["accessedWithin", "read within"],
  ["notModifiedFor", "not modified for"],
  ["modifiedWithin", "modified within"],
  ["notChangedFor", "inode not changed for"],
  ["changedWithin", "inode changed within"],
] as const;

/** A selector as a list of conditions that must all hold; the empty selector is every file. */
export function selectorWords(selector: Selector): string[] {
  const words = conditionWords(selector);
  return words.length === 0 ? ["every file"] : words;
}

function conditionWords(selector: Selector): string[] {
  const words: string[] = [];
  if (selector.path) words.push(`path ${selector.path.join(" or ")}`);
  if (selector.exclude) words.push(`excludes ${selector.exclude.join(", ")}`);
  if (selector.size?.min !== undefined) words.push(`at least ${sizeWords(selector.size.min)}`);
  if (selector.size?.max !== undefined) words.push(`at most ${sizeWords(selector.size.max)}`);
  for (const [key, phrase] of AGE_WORDS) {
    const ms = selector[key];
    if (ms !== undefined) words.push(`${phrase} ${durationWords(ms)}`);
  }
  if (selector.kind) words.push(`${selector.kind.map((kind) => `${kind}s`).join(" and ")} only`);
  if (selector.type) words.push(`type ${selector.type.join(", ")}`);
  if (selector.owner) words.push(`owned by ${selector.owner.join(", ")}`);
  if (selector.group) words.push(`group ${selector.group.join(", ")}`);
  if (selector.tags) {
    words.push(
      `tagged ${Object.entries(selector.tags)
        .map(([key, value]) => `${key}=${value}`)
        .join(", ")}`,
    );
  }
  if (selector.replica) words.push(replicaWords(selector.replica));
  for (const child of selector.all ?? []) words.push(...conditionWords(child));
  if (selector.any) words.push(`any of (${selector.any.map((child) => groupWords(child)).join("; ")})`);
  if (selector.not) words.push(`not (${groupWords(selector.not)})`);
  return words;
}

function groupWords(selector: Selector): string {
  return selectorWords(selector).join(", ");
}

function replicaWords(replica: NonNullable<Selector["replica"]>): string {
  if (replica.state === "missing") return `no copy at ${replica.at}`;
  return `a ${replica.state} copy at ${replica.at}${replica.class ? ` in ${replica.class}` : ""}`;
}
