// `npm run package [-- --stage <stage>] [--region <region>] [--param key=value]...`
//
// Builds one deterministic zip per function and the CloudFormation template, offline:
//   1. resolves serverless.yml with `osls print` (so variables, params and stages are honoured),
//   2. bundles each function's handler module with esbuild to .build/<name>/<module>.mjs,
//   3. zips it into .build/<name>.zip (the artifact serverless.yml points at),
//   4. runs `osls package`, which writes .serverless/cloudformation-template-update-stack.json.
// No AWS call is made: osls gets dummy credentials and nothing in it needs to reach AWS.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build, formatMessages, type Message } from 'esbuild';
import { ZipFile } from 'yazl';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = path.join(root, '.build');
const templatePath = path.join(root, '.serverless', 'cloudformation-template-update-stack.json');

// Fixed metadata so the same input always gives byte-identical zips (so a deploy can tell that a
// function did not change). The date is built from local components and written as a DOS timestamp only, so the bytes
// do not depend on the machine's time zone.
const ZIP_MTIME = new Date(1980, 0, 1, 0, 0, 0);
const ZIP_FILE_MODE = 0o100644;

// ESM bundles that inline CommonJS dependencies need a real `require` (esbuild's shim throws
// "Dynamic require of ... is not supported" otherwise). Aliased so it cannot clash with a bundled
// `import { createRequire } from 'node:module'`.
const ESM_REQUIRE_BANNER =
  "import { createRequire as __strongboxCreateRequire } from 'node:module';\n" +
  'const require = __strongboxCreateRequire(import.meta.url);';

const CHILD_TIMEOUT_MS = Number(process.env.STRONGBOX_PACKAGE_TIMEOUT_MS ?? 120_000);

class PackageError extends Error {}

interface FunctionConfig {
  handler?: string;
  package?: { artifact?: string };
}

interface ResolvedConfig {
  provider?: { runtime?: string; stage?: string };
  functions?: Record<string, FunctionConfig>;
}

interface FunctionBuild {
  name: string;
  entry: string;
  moduleBase: string;
  outDir: string;
  zipPath: string;
}

interface BuildResult {
  name: string;
  bundleBytes: number;
  zipBytes: number;
  bundleMs: number;
  zipMs: number;
}

const usage = `Usage: npm run package -- [--stage <stage>] [--region <region>] [--param <key=value>]...

Bundles every function in serverless.yml into .build/<name>.zip and writes the CloudFormation
template to .serverless/ with osls, offline (dummy AWS credentials, no AWS calls).`;

function parseCli(argv: string[]): { stage: string | undefined; passThrough: string[] } {
  const { values } = parseArgs({
    args: argv,
    options: {
      stage: { type: 'string', short: 's' },
      region: { type: 'string', short: 'r' },
      param: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const passThrough: string[] = [];
  if (values.stage) passThrough.push('--stage', values.stage);
  if (values.region) passThrough.push('--region', values.region);
  for (const param of values.param ?? []) {
    if (!/^[^=]+=/.test(param)) throw new PackageError(`--param expects key=value, got "${param}"`);
    passThrough.push('--param', param);
  }
  return { stage: values.stage, passThrough };
}

function oslsBin(): string {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('osls/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { bin: Record<string, string> };
  const bin = pkg.bin.osls ?? pkg.bin.serverless;
  if (!bin) throw new PackageError('osls/package.json declares no "osls" bin');
  return path.join(path.dirname(pkgPath), bin);
}

// The child gets dummy credentials and nothing that could make it look for real ones: no profile,
// no container/instance metadata lookups.
function oslsEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (
      /^AWS_(PROFILE|DEFAULT_PROFILE|SESSION_TOKEN|CONTAINER_.*|WEB_IDENTITY_TOKEN_FILE|ROLE_ARN)$/.test(key)
    ) {
      delete env[key];
    }
  }
  return {
    ...env,
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_EC2_METADATA_DISABLED: 'true',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    SLS_INTERACTIVE_SETUP_DISABLE: '1',
    CI: '1',
    FORCE_COLOR: '0',
  };
}

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runOsls(args: string[], echo: boolean): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [oslsBin(), ...args], {
      cwd: root,
      env: oslsEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // osls installs signal handlers and can spin in synchronous code, so a plain SIGTERM is not
    // enough to stop a stuck run: escalate to SIGKILL.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    }, CHILD_TIMEOUT_MS);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (echo) process.stdout.write(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (echo) process.stderr.write(chunk);
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(new PackageError(`osls ${args[0]} did not finish within ${CHILD_TIMEOUT_MS / 1000} s`));
      } else if (signal) {
        reject(new PackageError(`osls ${args[0]} was killed by ${signal}`));
      } else {
        resolve({ code, stdout, stderr });
      }
    });
  });
}

async function resolveConfig(passThrough: string[]): Promise<ResolvedConfig> {
  const result = await runOsls(['print', '--format', 'json', ...passThrough], false);
  if (result.code !== 0) {
    throw new PackageError(
      `osls print failed (exit ${result.code}):\n${[result.stderr, result.stdout].join('\n').trim()}`,
    );
  }
  try {
    return JSON.parse(result.stdout) as ResolvedConfig;
  } catch {
    throw new PackageError(`osls print did not return JSON:\n${result.stdout}\n${result.stderr}`.trim());
  }
}

// A handler `functions/copy.handler` lives in `functions/copy.ts`; Lambda loads `functions/copy.mjs`
// from the zip's root, so the bundle keeps the module path and only swaps the extension.
function planBuilds(config: ResolvedConfig): FunctionBuild[] {
  const functions = Object.entries(config.functions ?? {});
  if (functions.length === 0) throw new PackageError('serverless.yml declares no functions');
  return functions.map(([name, fn]) => {
    if (!fn.handler) throw new PackageError(`function "${name}" has no handler (images are not supported)`);
    const moduleBase = fn.handler.slice(0, fn.handler.lastIndexOf('.'));
    if (!moduleBase || moduleBase.startsWith('/') || moduleBase.includes('..')) {
      throw new PackageError(`function "${name}": cannot derive a module from handler "${fn.handler}"`);
    }
    const entry = path.join(root, `${moduleBase}.ts`);
    if (!existsSync(entry)) {
      throw new PackageError(
        `function "${name}": ${path.relative(root, entry)} not found (handler ${fn.handler} in serverless.yml)`,
      );
    }
    const zipPath = path.join(buildDir, `${name}.zip`);
    const artifact = fn.package?.artifact;
    if (artifact && path.resolve(root, artifact) !== zipPath) {
      throw new PackageError(
        `function "${name}": serverless.yml has package.artifact ${artifact}, expected ${path.relative(root, zipPath)}`,
      );
    }
    if (!artifact) {
      throw new PackageError(
        `function "${name}": add "package: { artifact: ${path.relative(root, zipPath)} }" to it in serverless.yml`,
      );
    }
    return { name, entry, moduleBase, outDir: path.join(buildDir, name), zipPath };
  });
}

async function bundle(fn: FunctionBuild): Promise<{ bundleBytes: number; ms: number }> {
  const started = performance.now();
  try {
    const result = await build({
      absWorkingDir: root,
      entryPoints: [{ in: fn.entry, out: fn.moduleBase }],
      outdir: fn.outDir,
      outExtension: { '.js': '.mjs' },
      platform: 'node',
      format: 'esm',
      target: 'node22',
      bundle: true,
      // Everything is bundled, @aws-sdk/* included: the versions in package-lock.json are the ones
      // that run, not whatever SDK the Lambda runtime happens to ship.
      external: [],
      // Prefer the ESM builds (the AWS SDK ships dist-es), which tree-shake far better.
      mainFields: ['module', 'main'],
      minify: false,
      treeShaking: true,
      sourcemap: 'linked',
      sourcesContent: false,
      legalComments: 'none',
      banner: { js: ESM_REQUIRE_BANNER },
      logLevel: 'silent',
      metafile: false,
      write: true,
    });
    await printMessages(result.warnings, 'warning', fn.name);
  } catch (error) {
    const errors = (error as { errors?: Message[] }).errors;
    if (errors?.length) {
      const text = await formatMessages(errors, { kind: 'error', color: false });
      throw new PackageError(`esbuild failed for function "${fn.name}":\n${text.join('\n')}`);
    }
    throw new PackageError(`esbuild failed for function "${fn.name}": ${(error as Error).message}`);
  }
  const ms = performance.now() - started;
  const { size } = await stat(path.join(fn.outDir, `${fn.moduleBase}.mjs`));
  return { bundleBytes: size, ms };
}

async function printMessages(messages: Message[], kind: 'warning' | 'error', name: string): Promise<void> {
  if (messages.length === 0) return;
  const text = await formatMessages(messages, { kind, color: false });
  console.warn(`esbuild ${kind}s for function "${name}":\n${text.join('\n')}`);
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) files.push(...(await listFiles(path.join(dir, entry.name), rel)));
    else if (entry.isFile()) files.push(rel);
  }
  return files;
}

async function zip(fn: FunctionBuild): Promise<{ zipBytes: number; ms: number }> {
  const started = performance.now();
  const files = (await listFiles(fn.outDir)).sort();
  const zipFile = new ZipFile();
  for (const file of files) {
    zipFile.addBuffer(await readFile(path.join(fn.outDir, file)), file, {
      mtime: ZIP_MTIME,
      mode: ZIP_FILE_MODE,
      compress: true,
      compressionLevel: 9,
      forceDosTimestamp: true,
    });
  }
  const written = pipeline(zipFile.outputStream, createWriteStream(fn.zipPath));
  zipFile.end();
  await written;
  const { size } = await stat(fn.zipPath);
  return { zipBytes: size, ms: performance.now() - started };
}

async function buildFunction(fn: FunctionBuild): Promise<BuildResult> {
  const bundled = await bundle(fn);
  const zipped = await zip(fn);
  return {
    name: fn.name,
    bundleBytes: bundled.bundleBytes,
    zipBytes: zipped.zipBytes,
    bundleMs: bundled.ms,
    zipMs: zipped.ms,
  };
}

function printTable(results: BuildResult[]): void {
  const rows = results.map((r) => [
    r.name,
    (r.bundleBytes / 1024).toFixed(1),
    (r.zipBytes / 1024).toFixed(1),
    `${Math.round(r.bundleMs)}`,
    `${Math.round(r.zipMs)}`,
  ]);
  const header = ['function', 'bundle KiB', 'zip KiB', 'bundle ms', 'zip ms'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

async function packageService(passThrough: string[]): Promise<void> {
  await rm(path.join(root, '.serverless'), { recursive: true, force: true });
  const result = await runOsls(['package', ...passThrough], true);
  if (result.code !== 0) {
    throw new PackageError(`osls package failed (exit ${result.code}); see its output above`);
  }
  if (!existsSync(templatePath)) {
    throw new PackageError(`osls package succeeded but wrote no ${path.relative(root, templatePath)}`);
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const { stage, passThrough } = parseCli(process.argv.slice(2));

  const config = await resolveConfig(passThrough);
  const resolvedMs = performance.now() - started;
  const builds = planBuilds(config);
  console.log(
    `Resolved serverless.yml in ${Math.round(resolvedMs)} ms: stage ${stage ?? config.provider?.stage ?? 'dev'}, ` +
      `runtime ${config.provider?.runtime ?? '?'}, ${builds.length} functions`,
  );

  await rm(buildDir, { recursive: true, force: true });
  await mkdir(buildDir, { recursive: true });
  const bundleStarted = performance.now();
  // One at a time: esbuild already uses every core for one bundle, so running them in parallel is no
  // faster, and this way each function's time in the table is its own.
  const results: BuildResult[] = [];
  for (const fn of builds) results.push(await buildFunction(fn));
  const bundleMs = performance.now() - bundleStarted;
  printTable(results);
  console.log(`Bundled and zipped ${results.length} functions in ${Math.round(bundleMs)} ms\n`);

  const oslsStarted = performance.now();
  await packageService(passThrough);
  const oslsMs = performance.now() - oslsStarted;

  console.log(
    `\nWrote ${path.relative(root, templatePath)} (osls package ${Math.round(oslsMs)} ms); ` +
      `total ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

try {
  await main();
} catch (error) {
  if (error instanceof PackageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    console.error(`\npackage: ${(error as Error).message}`);
  } else {
    console.error('\npackage: unexpected error');
    console.error(error);
  }
  process.exitCode = 1;
}
