// Loading and calling the lshrs Lua scripts (lua/*.lua), as lshrs.protocol does in Python.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's lua/ directory, seen from this package (clients/node/src/..). */
export const DEFAULT_LUA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../lua');

// A line that is exactly `--- @include "<name>"` (Python: re.MULTILINE ^...$, where ^ and $
// only know "\n"; JS's m flag would also split at "\r", so the line ends are spelled out).
const INCLUDE = /(?<![^\n])--- @include "([a-z_]+)"(?![^\n])/g;
const SCRIPT_ERROR = /LSHRS_([A-Z_]+) ?(.*?)(?: script: [0-9a-f]{40}, on @\S+\.)?\s*$/s;

/** Python reads the files in text mode: "\r\n" and "\r" become "\n" before hashing. */
const readText = (path) => readFileSync(path, 'utf8').replace(/\r\n?/g, '\n');

/**
 * A script's source as Redis runs it: every include line replaced by
 * lua/includes/<name>.lua without its trailing newlines. The SHA1 of this text is the
 * one Python lshrs loads, so all clients share the server's cached copy.
 * @param {string} name script name, e.g. "gather"
 * @param {string} [luaDir]
 * @returns {string}
 */
export function scriptSource(name, luaDir = DEFAULT_LUA_DIR) {
  return readText(join(luaDir, `${name}.lua`)).replace(INCLUDE, (_, include) =>
    readText(join(luaDir, 'includes', `${include}.lua`)).replace(/\n+$/, ''),
  );
}

/** A script refused a call: `code` is e.g. "CONFIG_MISMATCH", `detail` the rest. */
export class LshrsError extends Error {
  /** @param {string} code @param {string} detail @param {Error} [cause] */
  constructor(code, detail, cause) {
    super(`LSHRS_${code}: ${detail}`, { cause });
    this.name = 'LshrsError';
    this.code = code;
    this.detail = detail;
  }
}

/** @param {unknown} error @returns {unknown} an LshrsError for a script's refusal, else the error */
export function translate(error) {
  const match = error instanceof Error ? SCRIPT_ERROR.exec(error.message) : null;
  return match ? new LshrsError(match[1], match[2].trim(), /** @type {Error} */ (error)) : error;
}

/**
 * The scripts of one lua/ directory on one ioredis client: EVALSHA, and after a
 * NOSCRIPT (a flushed or restarted server) SCRIPT LOAD and one retry.
 */
export class Scripts {
  /** @param {import('ioredis').Redis} redis @param {string} [luaDir] */
  constructor(redis, luaDir = DEFAULT_LUA_DIR) {
    this.redis = redis;
    this.luaDir = luaDir;
    /** @type {Map<string, {source: string, sha: string}>} */
    this.loaded = new Map();
  }

  /** @param {string} name @returns {{source: string, sha: string}} */
  script(name) {
    let script = this.loaded.get(name);
    if (!script) {
      const source = scriptSource(name, this.luaDir);
      script = { source, sha: createHash('sha1').update(source, 'utf8').digest('hex') };
      this.loaded.set(name, script);
    }
    return script;
  }

  /** @param {string} name @returns {string} the SHA1 EVALSHA uses */
  sha(name) {
    return this.script(name).sha;
  }

  /**
   * Run a script with KEYS[1] = root. Replies come back with Buffers for strings.
   * @param {string} name
   * @param {string} root the index's key root, "{prefix}:"
   * @param {Array<string|number|Buffer>} args ARGV
   * @returns {Promise<any>}
   * @throws {LshrsError} when the script refuses the call; other Redis errors unchanged
   */
  async call(name, root, args) {
    const { source, sha } = this.script(name);
    try {
      try {
        return await this.redis.evalshaBuffer(sha, 1, root, ...args);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        await this.redis.script('LOAD', source);
        return await this.redis.evalshaBuffer(sha, 1, root, ...args);
      }
    } catch (error) {
      throw translate(error);
    }
  }
}
