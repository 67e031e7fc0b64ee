#!/usr/bin/env node
// One demo agent, a separate process: takes a lease, then claims ready tasks until none is left
// for it. Prints one JSON line per claimed task. Used by scripts/demo.mjs.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const [name, root] = process.argv.slice(2);
const bin = fileURLToPath(new URL('../bin/decapod', import.meta.url));
const decapod = (args, env = {}) => spawnSync(bin, [...args, '--root', root], { encoding: 'utf8', env: { ...process.env, ...env } });

const lease = decapod(['lease', 'grant', '--agent', name, '--ttl', '2m', '--export']).stdout.trim().split('=')[1];
for (let misses = 0; misses < 3; ) {
  const r = decapod(['task', 'claim'], { DECAPOD_LEASE: lease });
  if (r.status === 0) {
    const { task, claim } = JSON.parse(r.stdout);
    console.log(JSON.stringify({ agent: name, task: task.id, title: task.title, paths: claim.paths, fence: claim.fence }));
    spawnSync('sleep', ['0.05']); // "work"
    continue;
  }
  const err = JSON.parse(r.stderr);
  if (err.data.code === 'NOT_FOUND') break; // nothing ready
  misses++; // CONFLICT: every ready task touches paths others hold; try again shortly
  spawnSync('sleep', ['0.1']);
}
