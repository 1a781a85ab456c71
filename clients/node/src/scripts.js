// Loading and calling the lshrs Lua scripts (lua/*.lua), as lshrs.protocol does in Python:
// as functions of the lshrs Redis Functions library of this version when the server has
// it (Redis 7+, Valkey), with EVALSHA otherwise (docs/lua-protocol.md, "Calling the
// Functions library").

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's lua/ directory, seen from this package (clients/node/src/..). */
export const DEFAULT_LUA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../lua');

// A line that is exactly `--- @include "<name>"` (Python: re.MULTILINE ^...$, where ^ and $
// only know "\n"; JS's m flag would also split at "\r", so the line ends are spelled out).
const INCLUDE = /(?<![^\n])--- @include "([a-z_]+)"(?![^\n])/g;
const SCRIPT_ERROR = /LSHRS_([A-Z_]+) ?(.*?)(?: script: \S+, on @\S+\.)?\s*$/s;
const FLAGS_LINE = /^ {2}Flags {4}(.*)$/m;
/** The layout of the Functions library; part of its version digest. */
export const FUNCTIONS_FORMAT = 'lshrs-functions/1';
// Replies to FCALL meaning "no function of this version here": no Functions (Redis 6.2),
// no library of this version, or a user without +fcall. The call did not run.
const NO_FUNCTION = /^(?:ERR )?Function not found|unknown command|no permissions to run the 'fcall/i;
const SCRIPTS_REFUSED = /no permissions to run the '(?:evalsha|script)/i;

const sha1 = (/** @type {string} */ text) => createHash('sha1').update(text, 'utf8').digest('hex');

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

/**
 * A script's Redis Functions flags: its header's `Flags` line (e.g. `no-writes`), none without.
 * @param {string} name @param {string} [luaDir] @returns {string[]}
 */
export function scriptFlags(name, luaDir = DEFAULT_LUA_DIR) {
  const match = FLAGS_LINE.exec(scriptSource(name, luaDir));
  return match ? match[1].split(', ') : [];
}

/**
 * The library of this lua/ directory: `lshrs_<version>`, where version is the first 12 hex
 * digits of SHA1(FUNCTIONS_FORMAT + "\n" + "<script> <sha1 of its source>\n" per script
 * in name order). Script NAME is the function `lshrs_<version>_NAME`.
 * @param {string} [luaDir] @returns {string}
 */
export function libraryName(luaDir = DEFAULT_LUA_DIR) {
  const names = readdirSync(luaDir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.lua'))
    .map((entry) => entry.name.slice(0, -'.lua'.length))
    .sort();
  const lines = [FUNCTIONS_FORMAT, ...names.map((name) => `${name} ${sha1(scriptSource(name, luaDir))}`)];
  return `lshrs_${sha1(lines.map((line) => `${line}\n`).join('')).slice(0, 12)}`;
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
 * The scripts of one lua/ directory on one ioredis client: FCALL (FCALL_RO for
 * `no-writes` scripts) when the server has the library of this version, else EVALSHA,
 * and after a NOSCRIPT (a flushed or restarted server) SCRIPT LOAD and one retry. The
 * first call decides (`path`); a library removed later is noticed the same way.
 */
export class Scripts {
  /** @param {import('ioredis').Redis} redis @param {string} [luaDir] */
  constructor(redis, luaDir = DEFAULT_LUA_DIR) {
    this.redis = redis;
    this.luaDir = luaDir;
    /** @type {Map<string, {source: string, sha: string, readOnly: boolean}>} */
    this.loaded = new Map();
    this.library = libraryName(luaDir);
    /** @type {'functions' | 'scripts' | null} null until the first call */
    this.path = null;
    /** @type {Error | null} why the library cannot serve this client */
    this.noLibrary = null;
  }

  /** @param {string} name @returns {{source: string, sha: string, readOnly: boolean}} */
  script(name) {
    let script = this.loaded.get(name);
    if (!script) {
      const source = scriptSource(name, this.luaDir);
      script = { source, sha: sha1(source), readOnly: scriptFlags(name, this.luaDir).includes('no-writes') };
      this.loaded.set(name, script);
    }
    return script;
  }

  /** @param {string} name @returns {string} the SHA1 EVALSHA uses */
  sha(name) {
    return this.script(name).sha;
  }

  /** @param {string} name @returns {string} the function FCALL uses */
  functionName(name) {
    return `${this.library}_${name}`;
  }

  /**
   * Run a script with KEYS[1] = root. Replies come back with Buffers for strings.
   * @param {string} name
   * @param {string} root the index's key root, "{prefix}:"
   * @param {Array<string|number|Buffer>} args ARGV
   * @returns {Promise<any>}
   * @throws {LshrsError} when the script refuses the call, or (code NO_LIBRARY) when the
   *   user may run neither this version's library nor scripts; other Redis errors unchanged
   */
  async call(name, root, args) {
    const { source, sha, readOnly } = this.script(name);
    if (this.path !== 'scripts') {
      try {
        const reply = await this.redis.callBuffer(readOnly ? 'FCALL_RO' : 'FCALL', this.functionName(name), 1, root, ...args);
        this.path = 'functions';
        return reply;
      } catch (error) {
        if (!(error instanceof Error) || !NO_FUNCTION.test(error.message)) {
          if (error instanceof Error && SCRIPT_ERROR.test(error.message)) this.path = 'functions';
          throw translate(error);
        }
        this.path = 'scripts';
        this.noLibrary = error;
      }
    }
    try {
      try {
        return await this.redis.evalshaBuffer(sha, 1, root, ...args);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        await this.redis.script('LOAD', source);
        return await this.redis.evalshaBuffer(sha, 1, root, ...args);
      }
    } catch (error) {
      if (this.noLibrary && error instanceof Error && SCRIPTS_REFUSED.test(error.message)) {
        throw new LshrsError(
          'NO_LIBRARY',
          `this client calls the Redis Functions library ${this.library} (its own scripts), which the server does not serve to this user (${this.noLibrary.message}), and the user may not run scripts either (${error.message}); an administrator installs it with \`lshrs install --redis-url <url>\` of the same lshrs version`,
          error,
        );
      }
      throw translate(error);
    }
  }
}
