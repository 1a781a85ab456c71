// Python builds each kind of index from the bundled demo; Node attaches to it, must read
// the same buckets or lists and return the same top-k ids for every query, then writes
// through the scripts, and Python must find what Node wrote.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Redis from 'ioredis';
import { attach, LshrsError, Scripts } from '../src/index.js';
import { base64, floats, python, startRedis } from './harness.js';

const QUERIES = Number(process.env.LSHRS_TEST_QUERIES ?? 200);
const CORPUS = 5000;

/** @type {Awaited<ReturnType<typeof startRedis>>} */
let server;
/** @type {Redis} */
let redis;
/** @type {string} */
let tmp;

before(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
  tmp = await mkdtemp(join(tmpdir(), 'lshrs-node-test-'));
});

after(async () => {
  redis?.disconnect();
  await server?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** A demo vector moved a little, deterministically. @param {Float32Array} vector @param {number} seed */
const perturb = (vector, seed) => vector.map((v, i) => v + 0.003 * Math.sin(7.1 * i + seed));

const hex = (/** @type {Buffer|number} */ code) => (typeof code === 'number' ? code : code.toString('hex'));

for (const scheme of ['hyperplane', 'kmeans', 'rq', 'ivfpq']) {
  describe(scheme, () => {
    const prefix = `lshrs-node-test:${scheme}:${process.pid}`;
    const model = () => join(tmp, `${scheme}.lsh`);
    /** @type {any} */
    let built;
    /** @type {import('../src/index.js').BucketIndex | import('../src/index.js').IvfPqIndex} */
    let index;
    /** @type {Float32Array[]} */
    let queries;

    before(async () => {
      const started = performance.now();
      built = await python('build', { scheme, redis: server.url, prefix, queries: QUERIES, model: model() });
      built.wall = Math.round(performance.now() - started);
      index = await attach(redis, prefix); // query settings from cfg: the index describes itself
      queries = built.queries.map(floats);
    });

    after(async () => {
      await index?.clear();
    });

    test('attach refuses an index whose self-check this client fails', async () => {
      const stored = await redis.hget(`{${prefix}}:cfg`, 'check_codes');
      assert.ok(stored, 'the index stores a self-check');
      await redis.hset(`{${prefix}}:cfg`, 'check_codes', 'ff'.repeat(stored.length / 2));
      try {
        await assert.rejects(attach(redis, prefix), (e) => e instanceof LshrsError && e.code === 'SELF_CHECK');
      } finally {
        await redis.hset(`{${prefix}}:cfg`, 'check_codes', stored);
      }
    });

    test('attach refuses a cfg edited behind its fingerprint', async () => {
      // Edits that keep the model readable: hyperplanes keep their bits (half the bands,
      // twice the rows); the learned schemes read their sizes from the model itself.
      const cfg = `{${prefix}}:cfg`;
      const names = scheme === 'ivfpq' ? ['nlist', 'record_bytes'] : ['num_bands', 'sig_bytes', 'rows_per_band'];
      const stored = await redis.hmget(cfg, ...names);
      const [first, second, rows] = stored.map(Number);
      const edited = scheme === 'hyperplane' ? [first / 2, Math.ceil((2 * rows) / 8), 2 * rows] : [first + 1, second + 1, rows];
      await redis.hset(cfg, ...names.flatMap((name, i) => (stored[i] === null ? [] : [name, String(edited[i])])));
      try {
        await assert.rejects(attach(redis, prefix), (e) => e instanceof LshrsError && e.code === 'CONFIG_MISMATCH');
      } finally {
        await redis.hset(cfg, ...names.flatMap((name, i) => (stored[i] === null ? [] : [name, String(stored[i])])));
      }
    });

    test('attach reads the scheme, fingerprint and count Python wrote', async (t) => {
      t.diagnostic(`Python built ${built.count} vectors in ${built.build_seconds} s (${built.wall} ms with start-up): ${built.fingerprint}`);
      assert.equal(index.scheme, scheme);
      assert.equal(index.fingerprint, built.fingerprint);
      assert.equal(await index.count(), CORPUS);
      assert.equal(queries.length, QUERIES);
    });

    test('every script has the SHA1 Python loads', () => {
      const scripts = new Scripts(redis);
      for (const [name, sha] of Object.entries(built.shas)) assert.equal(scripts.sha(name), sha, name);
    });

    test('probes: the same bucket codes or lists as Python (the same set; order reported)', (t) => {
      // The set decides the answer (collisions are counted, records scored). The order
      // can differ where two probes' scores are within float32 rounding: Python's
      // projections come from float32 BLAS (|error| up to ~1e-6), Node's from float64.
      const sets = [];
      const orders = [];
      queries.forEach((q, i) => {
        const node = index.probes(q).map(hex);
        const python = built.probes[i];
        if (JSON.stringify(node) !== JSON.stringify(python)) orders.push(i);
        if (JSON.stringify([...node].sort()) !== JSON.stringify([...python].sort())) sets.push(i);
      });
      t.diagnostic(`probes: same set for ${QUERIES - sets.length}/${QUERIES} queries, same order for ${QUERIES - orders.length}/${QUERIES}${orders.length ? ` (differ: ${orders})` : ''}`);
      assert.deepEqual(sets, []);
    });

    test("topK equals Python's get_top_k(q, 10) for every query", async (t) => {
      const started = performance.now();
      const answers = [];
      for (const q of queries) answers.push(await index.topK(q, 10));
      const elapsed = performance.now() - started;
      const mismatches = answers.flatMap((ids, i) => (JSON.stringify(ids) === JSON.stringify(built.topk[i]) ? [] : [{ query: i, node: ids, python: built.topk[i] }]));
      t.diagnostic(`top-10 equal for ${QUERIES - mismatches.length}/${QUERIES} queries; ${(elapsed / QUERIES).toFixed(2)} ms per query`);
      assert.deepEqual(mismatches, []);
    });

    test('insert and delete through the scripts; Python finds the new ids and verify() is ok', async (t) => {
      // Ids below every demo id (10..59489): a full collision count then wins its tie.
      // 2^53 - 1, the largest id, is checked for its encoding and its best rank.
      const newIds = [1, 2, 3, 4, 2 ** 53 - 1];
      const samples = built.samples.slice(0, newIds.length);
      const vectors = samples.map(([, vector], i) => perturb(floats(vector), i));
      assert.equal(await index.insert(newIds, vectors), newIds.length);
      assert.equal(await index.insert(newIds.slice(0, 2), vectors.slice(0, 2)), 0, 'inserting again adds nothing');
      for (const [i, id] of newIds.slice(0, 4).entries()) assert.ok((await index.topK(vectors[i], 10)).includes(id), `Node finds ${id}`);

      const deleted = [samples[0][0], samples[1][0], samples[2][0], 4];
      assert.equal(await index.delete([...deleted, 999_999_999]), deleted.length, 'unknown ids are skipped');
      assert.equal(await index.count(), CORPUS + newIds.length - deleted.length);
      for (const [i, [id]] of samples.slice(0, 3).entries()) {
        assert.ok(!(await index.topK(floats(samples[i][1]), 10)).includes(id), `deleted ${id} is not found`);
      }

      const kept = newIds.flatMap((id, i) => (deleted.includes(id) ? [] : [[id, base64(vectors[i])]]));
      const check = await python('check', { redis: server.url, prefix, model: model() }, { inserted: kept, deleted });
      t.diagnostic(
        `Python: ${check.inserted.filter((r) => r.same_signature).length}/${kept.length} same signatures, ` +
          `${check.inserted.filter((r) => r.found).length}/${kept.length} in its top 10, ` +
          `${check.inserted.filter((r) => r.best_score).length}/${kept.length} with the best score, ` +
          `${check.deleted.filter((r) => r.gone).length}/${deleted.length} deleted gone, verify ok: ${check.verify_ok}`,
      );
      assert.deepEqual(check.inserted.filter((r) => !r.same_signature || !r.best_score || (r.id < 10 && !r.found)), []);
      assert.deepEqual(check.deleted.filter((r) => !r.gone), []);
      assert.equal(check.count, CORPUS + newIds.length - deleted.length);
      assert.ok(check.verify_ok, JSON.stringify(check.verify));
    });
  });
}

describe('protocol', () => {
  test('script errors become LshrsError with their code', async () => {
    await assert.rejects(attach(redis, 'lshrs-node-test:missing'), (e) => e instanceof LshrsError && e.code === 'NO_CONFIG');
    await redis.hset('{lshrs-node-test:errors}:cfg', 'fingerprint', 'fp-1', 'count', '0', 'num_bands', '1', 'sig_bytes', '1');
    const scripts = new Scripts(redis);
    await assert.rejects(scripts.call('gather', '{lshrs-node-test:errors}:', ['fp-2', 'x']), (e) => e instanceof LshrsError && e.code === 'CONFIG_MISMATCH' && e.detail === 'fp-1 | fp-2');
    await assert.rejects(scripts.call('delete', '{lshrs-node-test:errors}:', ['01']), (e) => e instanceof LshrsError && e.code === 'BAD_ARGUMENT');
    await redis.del('{lshrs-node-test:errors}:cfg');
  });

  test('a partitioned index is refused, not written as one', async () => {
    await redis.hset('{lshrs-node-test:parts}:cfg', 'fingerprint', 'fp partitions=3', 'count', '0', 'scheme', 'hyperplane', 'partitions', '3');
    await assert.rejects(attach(redis, 'lshrs-node-test:parts'), (e) => e instanceof LshrsError && e.code === 'PARTITIONED');
    await redis.del('{lshrs-node-test:parts}:cfg');
  });

  test('EVALSHA after SCRIPT FLUSH loads the script again and retries', async (t) => {
    if (!server.private) return t.skip('SCRIPT FLUSH only on a private server (REDIS_URL is set)');
    const scripts = new Scripts(redis);
    await redis.script('FLUSH');
    const [members, read, cut] = await scripts.call('gather', '{lshrs-node-test:none}:', ['fp', 'x']);
    assert.deepEqual([members.length, Number(read), cut], [0, 1, []]);
    assert.deepEqual(await redis.script('EXISTS', scripts.sha('gather')), [1]);
  });
});
