// Test support: a Redis to test against and the Python helper (test/python/build_index.py).

import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Redis from 'ioredis';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '../../..');
const HELPER = join(here, 'python', 'build_index.py');
const run = promisify(execFile);

/** A free TCP port on 127.0.0.1. */
async function freePort() {
  const server = createServer();
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  await new Promise((ok) => server.close(ok));
  return port;
}

/**
 * REDIS_URL when set, else a private redis-server on a free port in a temp dir.
 * @returns {Promise<{url: string, private: boolean, stop: () => Promise<void>}>}
 */
export async function startRedis() {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, private: false, stop: async () => {} };
  const dir = await mkdtemp(join(tmpdir(), 'lshrs-node-redis-'));
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${port}/0`;
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => {}); // refused connections while the server starts
  for (let attempt = 0; ; attempt++) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch (error) {
      if (attempt > 100 || server.exitCode !== null) throw new Error(`redis-server did not start: ${error}`);
      await new Promise((ok) => setTimeout(ok, 50));
    }
  }
  probe.disconnect();
  return {
    url,
    private: true,
    stop: async () => {
      const exited = new Promise((ok) => server.once('exit', ok));
      server.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Run the Python helper with LSHRS_PYTHON (default python3) and the repository first on
 * PYTHONPATH, so Python imports the lshrs (and loads the lua/) of this checkout.
 * @param {string} command "build" or "check"
 * @param {Record<string, string|number>} options --name value pairs
 * @param {unknown} [input] written to a JSON file passed as --input
 * @returns {Promise<any>} the JSON the helper wrote
 */
export async function python(command, options, input) {
  const dir = await mkdtemp(join(tmpdir(), 'lshrs-node-py-'));
  try {
    const out = join(dir, 'out.json');
    const args = [HELPER, command, '--out', out];
    for (const [name, value] of Object.entries(options)) args.push(`--${name}`, String(value));
    if (input !== undefined) {
      await writeFile(join(dir, 'in.json'), JSON.stringify(input));
      args.push('--input', join(dir, 'in.json'));
    }
    const env = { ...process.env, PYTHONPATH: [REPO, process.env.PYTHONPATH].filter(Boolean).join(':') };
    await run(process.env.LSHRS_PYTHON || 'python3', args, { env, cwd: REPO, maxBuffer: 1 << 26 });
    return JSON.parse(await readFile(out, 'utf8'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** @param {string} text base64 float32-le @returns {Float32Array} */
export function floats(text) {
  const bytes = Buffer.from(text, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

/** @param {Float32Array} vector @returns {string} base64 float32-le */
export const base64 = (vector) => Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64');
