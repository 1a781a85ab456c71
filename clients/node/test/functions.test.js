// The Redis Functions path: with lshrs' library installed (by Python's installer), Node
// calls FCALL / FCALL_RO under a user that may run no Lua of its own, with the same
// answers; a client of another version (other scripts) never calls that library.

import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Redis from 'ioredis';
import { attach, DEFAULT_LUA_DIR, libraryName, LshrsError, Scripts, scriptFlags } from '../src/index.js';
import { floats, python, startRedis } from './harness.js';

const PREFIX = 'lshrs-node-fn';
const PASSWORD = 's3cret-pw';

describe('functions', () => {
  /** @type {Awaited<ReturnType<typeof startRedis>>} */
  let server;
  /** @type {Redis} */
  let admin;
  /** @type {string} */
  let tmp;
  /** @type {any} */
  let built;
  /** @type {any} */
  let installed;
  let skip = '';

  before(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
    const version = Number(String(await admin.info('server')).match(/redis_version:(\d+)/)?.[1]);
    if (!server.private) skip = 'FUNCTION LOAD only on a private server (REDIS_URL is set)';
    else if (version < 7) skip = `Redis ${version} has no Functions`;
    if (skip) return;
    tmp = await mkdtemp(join(tmpdir(), 'lshrs-node-fn-'));
    built = await python('build', { scheme: 'hyperplane', redis: server.url, prefix: PREFIX, queries: 20, model: join(tmp, 'model.lsh') });
    installed = await python('install', { redis: server.url, prefix: PREFIX });
    await admin.call('ACL', 'SETUSER', 'app', 'on', `>${PASSWORD}`, ...installed.rules);
  });

  after(async () => {
    admin?.disconnect();
    await server?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** @param {string} user */
  const connect = (user) => new Redis(server.url, { username: user, password: PASSWORD });

  test('the library name and flags are the ones Python installs', (t) => {
    if (skip) return t.skip(skip);
    assert.equal(libraryName(), installed.library);
    assert.ok(!installed.rules.some((/** @type {string} */ rule) => /eval|script|function/.test(rule)));
    assert.deepEqual(scriptFlags('gather'), ['no-writes']);
    assert.deepEqual(scriptFlags('insert'), []);
  });

  test('a user with only FCALL queries, inserts and deletes through the library', async (t) => {
    if (skip) return t.skip(skip);
    const user = connect('app');
    try {
      await admin.call('CONFIG', 'RESETSTAT');
      const index = await attach(user, PREFIX);
      for (const [i, q] of built.queries.entries()) {
        const vector = floats(q);
        assert.deepEqual(await index.topK(vector, 10), built.topk[i]);
      }
      const vector = floats(built.samples[0][1]);
      assert.equal(await index.insert([3], [vector]), 1);
      assert.ok((await index.topK(vector, 10)).includes(3));
      assert.equal(await index.delete([3]), 1);
      assert.equal(index.scripts.path, 'functions');
      const stats = String(await admin.info('commandstats'));
      assert.match(stats, /cmdstat_fcall_ro:calls=\d+/);
      assert.match(stats, /cmdstat_fcall:calls=\d+/);
      assert.doesNotMatch(stats, /cmdstat_evalsha|cmdstat_script/);
      await assert.rejects(user.eval('return 1', 0), /NOPERM/);
      await assert.rejects(user.call('FUNCTION', 'LOAD', '#!lua name=mine\nredis.register_function("f", function() end)'), /NOPERM/);
    } finally {
      user.disconnect();
    }
  });

  test('a client of another version uses its own scripts, or says its library is missing', async (t) => {
    if (skip) return t.skip(skip);
    const other = join(tmp, 'lua');
    await cp(DEFAULT_LUA_DIR, other, { recursive: true });
    await writeFile(join(other, 'clear.lua'), `${await readFile(join(other, 'clear.lua'), 'utf8')}-- another version\n`);
    assert.notEqual(libraryName(other), installed.library);

    const scripts = new Scripts(admin, other);
    const [members, codesRead] = await scripts.call('gather', `{${PREFIX}}:`, [built.fingerprint]);
    assert.equal(String(members), '');
    assert.equal(Number(codesRead), 0);
    assert.equal(scripts.path, 'scripts');

    const user = connect('app');
    try {
      await assert.rejects(
        attach(user, PREFIX, { luaDir: other }).then((index) => index.topK(new Float32Array(384).fill(1), 10)),
        (e) => e instanceof LshrsError && e.code === 'NO_LIBRARY' && e.detail.includes(libraryName(other)),
      );
    } finally {
      user.disconnect();
    }
  });
});
