import { fileURLToPath } from "node:url";
import { cruise, type ICruiseResult, type IViolation } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";
import { expect, test } from "vitest";

/*
 * Imports point one way (ARCHITECTURE.md, "Layout"): the layers and the few allowed imports
 * between peers are in .dependency-cruiser.cjs, which says why each one is there.
 */

const root = fileURLToPath(new URL("..", import.meta.url));

/** One line per violation: the rule, then the import, or the whole cycle for a cycle. */
function asLine(violation: IViolation): string {
  const path = violation.cycle
    ? [violation.from, ...violation.cycle.map((step) => step.name)]
    : [violation.from, violation.to];
  return `${violation.rule.name}: ${path.join(" → ")}`;
}

test("src/ has no import cycle and no import against the direction of its layers", async () => {
  const options = await extractDepcruiseOptions(`${root}.dependency-cruiser.cjs`);
  const tsConfig = extractTSConfig(`${root}tsconfig.json`);
  const { output } = await cruise(["src"], { ...options, baseDir: root }, undefined, { tsConfig });
  const result = output as ICruiseResult;

  // A cruise that saw no imports would pass vacuously: make sure it read the tree.
  expect(result.summary.totalCruised).toBeGreaterThan(50);
  expect(result.summary.totalDependenciesCruised).toBeGreaterThan(200);
  expect(result.summary.violations.map(asLine).sort()).toEqual([]);
});
