// `npm run bench -- NAME [args...]` runs bench/NAME.ts, whose default export is
// `async (args: string[]) => void`. Each benchmark prints its command, the machine and its numbers,
// side by side with its reference in the same run; docs/BENCHMARKS.md records them.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();
const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- NAME [args]\navailable: ${available.join(', ') || '(none yet)'}`);
  process.exit(name ? 2 : 0);
}
const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as {
  default: (args: string[]) => Promise<void>;
};
await mod.default(args);
