import { instance } from "@viz-js/viz";
import type { DataFlow, FlowEdge } from "../model.js";

/*
 * The data-flow diagram: the config's locations as nodes, each policy placement as an arrow
 * labelled with its schedule, placement and what happens to the source. Written as DOT and laid
 * out by Graphviz compiled to WebAssembly (@viz-js/viz), so it draws in Node without a binary.
 */

/** A DOT string literal: names come from the config and are escaped, never spliced raw. */
export function dotString(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\r?\n/g, "\\n")}"`;
}

export function edgeLabel(edge: FlowEdge): string {
  const lines = [edge.policy, edge.schedule ? `schedule ${edge.schedule}` : "run by hand", edge.placement];
  if (edge.then !== "keep") lines.push(`then ${edge.then}`);
  for (const selects of edge.selects) lines.push(selects);
  return lines.join("\n");
}

export function flowDot(flow: DataFlow): string {
  const lines = [
    "digraph dataflow {",
    "  rankdir=LR;",
    '  graph [fontname="Helvetica", fontsize=11, nodesep=0.6, ranksep=1.4, bgcolor="white"];',
    '  node [shape=box, style="rounded,filled", fillcolor="#edf2f7", color="#2b6cb0", fontname="Helvetica", fontsize=12, margin="0.3,0.12"];',
    '  edge [color="#4a5568", fontname="Helvetica", fontsize=10];',
  ];
  for (const node of flow.nodes) {
    const label = [node.location, `${node.kind}${node.defaultClass ? ` · ${node.defaultClass}` : ""}`, node.url];
    lines.push(`  ${dotString(node.location)} [label=${dotString(label.join("\n"))}];`);
  }
  for (const edge of flow.edges) {
    lines.push(`  ${dotString(edge.from)} -> ${dotString(edge.to)} [label=${dotString(edgeLabel(edge))}];`);
  }
  lines.push("}");
  return lines.join("\n");
}

export async function flowSvg(flow: DataFlow): Promise<string> {
  const viz = await instance();
  // Without the doctype (it names a DTD by URL a viewer might fetch) and Graphviz's comments.
  return viz
    .renderString(flowDot(flow), { format: "svg", engine: "dot" })
    .replace(/<!DOCTYPE[^>]*>/i, "")
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/\n{2,}/g, "\n");
}
