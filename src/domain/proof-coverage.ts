import type { Gate } from './gates.js';
import { coverageOf } from './path-overlap.js';

/**
 * What one content digest covers: a predicate over root-relative paths, and the globs whose
 * ignored files count too (in a git worktree, files git ignores are otherwise left out).
 */
export interface Coverage {
  covers: (path: string) => boolean;
  inputs: readonly string[];
}

/**
 * docs/design.md §4: a gate's proof vouches for the task's paths (the whole worktree when it has none)
 * plus the gate's declared `inputs`. README "What a proof covers" says the same to people.
 */
export function proofCoverage(taskPaths: string[], gate: Pick<Gate, 'inputs'>): Coverage {
  const ofTask = coverageOf(taskPaths);
  if (gate.inputs.length === 0) return { covers: ofTask, inputs: [] };
  const ofInputs = coverageOf(gate.inputs);
  return { covers: (p) => ofTask(p) || ofInputs(p), inputs: gate.inputs };
}
