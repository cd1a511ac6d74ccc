import type { Command } from "commander";
import type { Runner } from "./runner.js";

// Placeholders until the compare branch lands: the agreed signatures only.
export function registerCostCompare(_cost: Command, _run: Runner): void {}
export function registerCostMigrate(_cost: Command, _run: Runner): void {}
