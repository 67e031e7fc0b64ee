// Bundles into dist/: the CLI as one file (dist/cli.js), the server beside it (dist/server/, loaded
// only by `decapod serve`, split again so its heavy parts load only once the lock is taken), and
// the generator. Bundled: measured here, a bundled server starts ~100 ms faster than unbundled ESM,
// and no TypeScript loader sits on the spawn path. The CLI is one module rather than an entry with
// five shared chunks: every `decapod call` loads it (BENCHMARKS.md).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

const common = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  // Native addon: loaded from node_modules at run time; pg-native is pg's optional binding, never used.
  external: ['better-sqlite3', 'pg-native'],
  // CommonJS dependencies inside an ESM bundle still call require() for node built-ins.
  banner: { js: "import { createRequire as __decapodRequire } from 'node:module'; const require = __decapodRequire(import.meta.url);" },
  logLevel: 'warning',
};

/** The CLI reaches the server only through `import('../lifecycle/serve.js')`: that stays its own bundle. */
const serverApart = {
  name: 'server-apart',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/lifecycle\/serve\.js$/ }, () => ({ path: './server/serve.js', external: true }));
    // `decapod mcp` and the MCP SDK it loads: dist/mcp.js, apart from the light path.
    b.onResolve({ filter: /^\.\/mcp\.js$/ }, () => ({ path: './mcp.js', external: true }));
  },
};

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await Promise.all([
  build({ ...common, entryPoints: { cli: 'src/cli/main.ts' }, outdir: 'dist', plugins: [serverApart] }),
  build({ ...common, entryPoints: { serve: 'src/lifecycle/serve.ts' }, outdir: 'dist/server', splitting: true }),
  build({ ...common, entryPoints: { mcp: 'src/cli/mcp.ts' }, outdir: 'dist' }),
  build({ ...common, entryPoints: { generate: 'scripts/generate.ts' }, outdir: 'dist' }),
]);
