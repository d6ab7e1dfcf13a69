/**
 * The web console's browser assets: the UI (./ui/main.ts, preact + htm, uPlot) bundled by esbuild in
 * memory when the console starts (a few hundred milliseconds), so `npm start` on a fresh clone needs
 * no build step and nothing is written to disk.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StrongboxError } from '#domain/errors.ts';

/** One file the console serves. */
export interface Asset {
  body: Buffer;
  contentType: string;
}

const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), 'ui');

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

/** The page: the bundle's script and stylesheet, and what shows until (or unless) it runs. */
export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Strongbox console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/app.css">
</head>
<body>
<div id="app"><p>Loading the Strongbox console…</p></div>
<noscript><p>The Strongbox console needs JavaScript.</p></noscript>
<script type="module" src="/app.js"></script>
</body>
</html>
`;

/**
 * Bundle the UI: `/app.js`, `/app.css` (the UI's styles and uPlot's) and their source maps, plus `/`.
 * @returns the assets by URL path.
 * @throws StrongboxError naming the problem when esbuild is missing or the UI does not build.
 * @example
 * ```ts
 * const assets = await buildConsoleAssets();
 * assets.get('/app.js')?.body.length; // ~60 KB
 * ```
 */
export async function buildConsoleAssets(): Promise<Map<string, Asset>> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (error) {
    throw new StrongboxError(
      `the console's UI is bundled by esbuild, which is not installed (run 'npm ci'): ${(error as Error).message}`,
    );
  }
  let result: Awaited<ReturnType<typeof esbuild.build>>;
  try {
    result = await esbuild.build({
      entryPoints: { app: join(UI_DIR, 'main.ts') },
      bundle: true,
      write: false,
      outdir: '/',
      format: 'esm',
      platform: 'browser',
      target: ['es2022'],
      minify: true,
      sourcemap: 'linked',
      legalComments: 'none',
      logLevel: 'silent',
    });
  } catch (error) {
    throw new StrongboxError(`the console's UI does not build: ${(error as Error).message}`);
  }
  const assets = new Map<string, Asset>([
    ['/', { body: Buffer.from(INDEX_HTML), contentType: CONTENT_TYPES['.html'] as string }],
  ]);
  for (const file of result.outputFiles ?? []) {
    const path = file.path.slice(file.path.lastIndexOf('/'));
    const ext = path.slice(path.lastIndexOf('.'));
    assets.set(path, {
      body: Buffer.from(file.contents),
      contentType: CONTENT_TYPES[ext] ?? 'application/octet-stream',
    });
  }
  return assets;
}
