// lshrs-client: use an lshrs index in Redis from Node.js.
//
//   const index = await attach(redis, 'docs', { extraProbes: 192 });
//   await index.topK(vector, 10);            // ids, as Python's LSHRS.get_top_k
//   await index.insert([7, 8], [v7, v8]);    // through the insert / ivf_insert scripts
//   await index.delete([7]);

import { Hyperplane, IvfPq, KMeans, RQ } from './schemes.js';
import { DEFAULT_LUA_DIR, libraryName, LshrsError, Scripts, scriptFlags, scriptSource } from './scripts.js';

export { DEFAULT_LUA_DIR, Hyperplane, IvfPq, KMeans, libraryName, LshrsError, RQ, Scripts, scriptFlags, scriptSource };

/** @typedef {import('./schemes.js').Vector} Vector */
/** @typedef {number | bigint | string} Id an integer in [0, 2^53 - 1] */

const MAX_ID = 2n ** 53n - 1n;
// Work bounds, as Python's lshrs.limits: every call is sized by what it does in Redis and
// sent after the previous reply (Redis runs the calls of one read back to back).
const MEMBERSHIPS_PER_CALL = 1024; // ids x bands per insert or delete call
const CODES_PER_CALL = 8192;
const MEMBERS_PER_QUERY = 1 << 18;
const SCAN_BYTES_PER_CALL = 1 << 21;
const SCAN_BYTES_PER_QUERY = 1 << 24;
const IVF_RECORDS_PER_CALL = 250;
const IVF_IDS_PER_DELETE = 256;
const COMPACT_BYTES_PER_CALL = 1 << 20;
const COPY_BYTES_LIMIT = 1 << 21;
const COMPACT_LISTS_PER_CALL = 4096;
const CLEAR_SCAN_COUNT = 1000;

/**
 * @typedef {object} AttachOptions
 * @property {string} [luaDir] the repository's lua/ directory (default: ../../lua from this package)
 * @property {number} [extraProbes] bucket schemes: buckets read beyond the scheme's own
 *   (default: cfg's extra_probes, the index's query setting)
 * @property {number} [nprobe] k-means: lists per band; IVF-PQ: lists per query
 *   (default: cfg's nprobe)
 * @property {number} [beam] RQ: prefixes a query reads (default: cfg's beam)
 */

/**
 * Attach to the index under `prefix`: read `{prefix}:cfg` and `{prefix}:model`, and
 * return an object that queries and writes it through the Lua scripts.
 * @param {import('ioredis').Redis} redis
 * @param {string} prefix the index's redis_prefix (without braces)
 * @param {AttachOptions} [options]
 * @returns {Promise<BucketIndex | IvfPqIndex>}
 */
export async function attach(redis, prefix, options = {}) {
  if (typeof prefix !== 'string' || !prefix || /[{}]/.test(prefix)) {
    throw new Error(`prefix must be a non-empty string without braces, got ${JSON.stringify(prefix)}`);
  }
  const root = `{${prefix}}:`;
  const [cfg, blob] = await Promise.all([redis.hgetall(`${root}cfg`), redis.getBuffer(`${root}model`)]);
  if (!cfg.fingerprint) throw new LshrsError('NO_CONFIG', `no lshrs index under prefix ${JSON.stringify(prefix)}`);
  if (cfg.partitions && cfg.partitions !== '1') {
    throw new LshrsError(
      'PARTITIONED',
      `index ${JSON.stringify(prefix)} has ${cfg.partitions} partitions, which this client does not route; ` +
        'attach to one partition by its own prefix (docs/cluster.md), or use Python lshrs',
    );
  }
  const scripts = new Scripts(redis, options.luaDir ?? DEFAULT_LUA_DIR);
  const model = blob ?? Buffer.alloc(0);
  /** @type {BucketIndex | IvfPqIndex} */
  let index;
  switch (cfg.scheme) {
    case 'hyperplane':
      index = new BucketIndex(scripts, root, cfg, new Hyperplane(cfg, model), options);
      break;
    case 'kmeans':
      index = new BucketIndex(scripts, root, cfg, new KMeans(cfg, model), options);
      break;
    case 'rq':
      index = new BucketIndex(scripts, root, cfg, new RQ(cfg, model), options);
      break;
    case 'ivfpq':
      index = new IvfPqIndex(scripts, root, cfg, new IvfPq(cfg, model), options);
      break;
    default:
      throw new Error(`scheme ${JSON.stringify(cfg.scheme)} is not an lshrs scheme this client knows (hyperplane, kmeans, rq, ivfpq)`);
  }
  checkConfig(index, cfg);
  selfCheck(index, cfg);
  return index;
}

/**
 * The attach step's configuration check (docs/lua-protocol.md, "Fingerprint"): the
 * fingerprint of what this client computes from cfg and the model must be the stored
 * one, and cfg's sizes (dim, num_bands and sig_bytes, or nlist and record_bytes) those
 * it implies; a cfg edited behind its fingerprint's back is refused, not used.
 * @param {BucketIndex | IvfPqIndex} index @param {Record<string, string>} cfg
 */
function checkConfig(index, cfg) {
  const scheme = index instanceof IvfPqIndex ? index.model : index.hasher;
  const implied = index instanceof IvfPqIndex
    ? { dim: scheme.dim, nlist: scheme.nlist, record_bytes: scheme.recordBytes }
    : { dim: scheme.dim, num_bands: scheme.numBands, sig_bytes: scheme.sigBytes };
  const wrong = Object.entries(implied).filter(([name, value]) => cfg[name] !== String(value));
  if (scheme.fingerprint !== cfg.fingerprint || wrong.length) {
    const fields = wrong.map(([name, value]) => [` ${name}=${cfg[name]}`, ` ${name}=${value}`]);
    throw new LshrsError('CONFIG_MISMATCH', `${cfg.fingerprint}${fields.map((f) => f[0]).join('')} | ${scheme.fingerprint}${fields.map((f) => f[1]).join('')}`);
  }
}

/**
 * The attach step's self-check (docs/computing-codes.md): the codes this client computes
 * for cfg's check_vector must be cfg's check_codes, or it would write wrong codes.
 * @param {BucketIndex | IvfPqIndex} index @param {Record<string, string>} cfg
 */
function selfCheck(index, cfg) {
  if (!cfg.check_codes) return;
  const raw = Buffer.from(cfg.check_vector ?? '', 'base64');
  const vector = Array.from({ length: raw.length / 4 }, (_, i) => raw.readFloatLE(4 * i));
  let codes;
  if (index instanceof IvfPqIndex) {
    const { list, code } = index.encode(vector);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(list);
    codes = Buffer.concat([head, Buffer.from(code)]).toString('hex');
  } else {
    codes = index.signatures(vector).toString('hex');
  }
  if (codes !== cfg.check_codes) {
    throw new LshrsError('SELF_CHECK', `this client codes the check vector as ${codes}, the index stores ${cfg.check_codes}`);
  }
}

/** @param {Id[]} ids @returns {string[]} canonical decimal ids, checked distinct */
function idText(ids) {
  const text = ids.map((id) => {
    const value = typeof id === 'bigint' ? id : typeof id === 'number' && Number.isInteger(id) ? BigInt(id) : /^(0|[1-9]\d*)$/.test(String(id)) ? BigInt(id) : -1n;
    if (value < 0n || value > MAX_ID) throw new RangeError(`ids must be integers in [0, 2^53 - 1], got ${String(id)}`);
    return value.toString();
  });
  if (new Set(text).size !== text.length) throw new RangeError('ids must be distinct');
  if (text.length === 0) throw new RangeError('no ids given');
  return text;
}

/** @param {Vector} vector @param {number} dim @returns {Float32Array} as Python sees it: float32 */
function asVector(vector, dim) {
  const array = Float32Array.from(vector);
  if (array.length !== dim) throw new RangeError(`vector has ${array.length} values; the index has dim ${dim}`);
  if (!array.every(Number.isFinite)) throw new RangeError('vector contains NaN or infinity');
  if (array.every((v) => v === 0)) throw new RangeError('vector is all zeros');
  return array;
}

/** @template T @param {T[]} items @param {number} size @returns {T[][]} */
const chunks = (items, size) => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

class BaseIndex {
  /** @param {Scripts} scripts @param {string} root @param {Record<string, string>} cfg */
  constructor(scripts, root, cfg) {
    this.scripts = scripts;
    this.redis = scripts.redis;
    this.root = root;
    this.cfg = cfg;
    this.fingerprint = cfg.fingerprint;
    this.scheme = cfg.scheme;
    this.dim = Number(cfg.dim);
  }

  /** @param {string} name @param {Array<string|number|Buffer>} args */
  call(name, args) {
    return this.scripts.call(name, this.root, args);
  }

  /** @returns {Promise<number>} ids in the index */
  async count() {
    return Number((await this.redis.hget(`${this.root}cfg`, 'count')) ?? 0);
  }

  /** Delete every key of the index (the clear script, in bounded steps). @returns {Promise<number>} keys deleted */
  async clear() {
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, count] = await this.call('clear', [cursor, CLEAR_SCAN_COUNT]);
      [cursor, deleted] = [next.toString(), deleted + Number(count)];
    } while (cursor !== '0');
    return deleted;
  }
}

/** A bucket index (hyperplane or k-means): gather / insert / delete scripts. */
export class BucketIndex extends BaseIndex {
  /**
   * @param {Scripts} scripts @param {string} root @param {Record<string, string>} cfg
   * @param {Hyperplane | KMeans | RQ} hasher @param {AttachOptions} options
   */
  constructor(scripts, root, cfg, hasher, options) {
    super(scripts, root, cfg);
    this.hasher = hasher;
    this.extraProbes = options.extraProbes ?? Number(cfg.extra_probes ?? 0);
    this.nprobe = options.nprobe ?? Number(cfg.nprobe ?? 1);
    this.beam = options.beam ?? Number(cfg.beam ?? 1);
  }

  /** @param {Vector} vector @returns {Buffer} its signatures, all bands, band 0 first */
  signatures(vector) {
    return this.hasher.signatures(asVector(vector, this.dim));
  }

  /** @param {Vector} vector @returns {Buffer[]} the bucket codes a query reads, in Python's order */
  probes(vector) {
    const x = asVector(vector, this.dim);
    if (this.hasher instanceof KMeans) return this.hasher.probes(x, this.nprobe, this.extraProbes);
    if (this.hasher instanceof RQ) return this.hasher.probes(x, this.beam, this.extraProbes);
    return this.hasher.probes(x, this.extraProbes);
  }

  /**
   * The `k` ids that collide with the query in most bands, ties to the smaller id
   * (Python's get_top_k / count_collisions): one gather call, counted here.
   * @param {Vector} vector @param {number} [k] @returns {Promise<number[]>}
   */
  async topK(vector, k = 10) {
    const { ids } = await this.candidates(vector, k);
    return ids;
  }

  /**
   * @param {Vector} vector @param {number} limit
   * @returns {Promise<{total: number, ids: number[], counts: number[]}>} distinct candidates,
   *   and the best `limit` with their collision counts
   */
  async candidates(vector, limit) {
    const { members, cut, unread } = await this.gather(this.probes(vector));
    /** @type {Map<number, number>} */
    const counts = new Map();
    let value = -1;
    for (let i = 0; i <= members.length; i++) {
      const byte = i < members.length ? members[i] : 32;
      if (byte === 32) {
        if (value >= 0) counts.set(value, (counts.get(value) ?? 0) + 1);
        value = -1;
      } else {
        value = (value < 0 ? 0 : value * 10) + byte - 48;
      }
    }
    const ranked = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, Math.max(0, limit));
    return { total: counts.size, ids: ranked.map(([id]) => id), counts: ranked.map(([, c]) => c), cut, unread };
  }

  /**
   * The members of the codes' buckets, by gather calls one after another, each within its
   * bound, at most MEMBERS_PER_QUERY in all (as Python's RedisStorage.gather).
   * @param {Buffer[]} codes
   * @returns {Promise<{members: Buffer, cut: number, unread: number}>} space-separated
   *   members, buckets cut, codes left unread
   */
  async gather(codes) {
    /** @type {Buffer[]} */
    const parts = [];
    let [position, cut, read] = [0, 0, 0];
    while (position < codes.length && read < MEMBERS_PER_QUERY) {
      const [text, done, cutPositions] = await this.call('gather', [this.fingerprint, ...codes.slice(position, position + CODES_PER_CALL)]);
      if (text.length) {
        parts.push(text);
        read += text.reduce((spaces, byte) => spaces + (byte === 32 ? 1 : 0), 1);
      }
      cut += cutPositions.length;
      position += Math.max(1, Number(done));
    }
    const members = Buffer.concat(parts.flatMap((part, i) => (i ? [Buffer.from(' '), part] : [part])));
    return { members, cut, unread: codes.length - position };
  }

  /**
   * Insert (or move) ids with the insert script's "*" form, sorted by id, at most
   * MEMBERSHIPS_PER_CALL memberships (ids x bands) per call, one call at a time.
   * @param {Id[]} ids @param {Vector[]} vectors @returns {Promise<number>} how many ids were new
   */
  async insert(ids, vectors) {
    const text = idText(ids);
    if (vectors.length !== text.length) throw new RangeError(`${text.length} ids but ${vectors.length} vectors`);
    const pairs = text.map((id, i) => /** @type {[string, Buffer]} */ ([id, this.signatures(vectors[i])]));
    pairs.sort((a, b) => a[0].length - b[0].length || (a[0] < b[0] ? -1 : 1));
    let added = 0;
    for (const batch of chunks(pairs, this.idsPerCall())) {
      added += Number(await this.call('insert', [this.fingerprint, batch.length, ...batch.flat(), '*']));
    }
    return added;
  }

  /** @param {Id[]} ids @returns {Promise<number>} how many were indexed (and are now removed) */
  async delete(ids) {
    let removed = 0;
    for (const batch of chunks(idText(ids), this.idsPerCall())) removed += Number(await this.call('delete', batch));
    return removed;
  }

  /** @returns {number} ids per insert or delete call: MEMBERSHIPS_PER_CALL / bands, at least 1 */
  idsPerCall() {
    return Math.max(1, Math.floor(MEMBERSHIPS_PER_CALL / this.hasher.numBands));
  }
}

/** An IVF-PQ index: ivf_scan / ivf_insert / ivf_delete / ivf_compact scripts. */
export class IvfPqIndex extends BaseIndex {
  /**
   * @param {Scripts} scripts @param {string} root @param {Record<string, string>} cfg
   * @param {IvfPq} model @param {AttachOptions} options
   */
  constructor(scripts, root, cfg, model, options) {
    super(scripts, root, cfg);
    this.model = model;
    this.nprobe = options.nprobe ?? Number(cfg.nprobe ?? 1);
  }

  /** @param {Vector} vector @returns {number[]} the lists a query reads, nearest first */
  probes(vector) {
    return this.model.probes(asVector(vector, this.dim), this.nprobe);
  }

  /** @param {Vector} vector @returns {{list: number, code: Uint8Array}} */
  encode(vector) {
    return this.model.encode(asVector(vector, this.dim));
  }

  /**
   * The `k` best ids by approximate (ADC) score, ties to the smaller id: one ivf_scan call
   * unless the lists hold more than one call returns.
   * @param {Vector} vector @param {number} [k] @returns {Promise<number[]>}
   */
  async topK(vector, k = 10) {
    const { ids, scores } = await this.candidates(vector);
    const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || ids[a] - ids[b]);
    return order.slice(0, Math.max(0, k)).map((i) => ids[i]);
  }

  /** @param {Vector} vector @returns {Promise<{ids: number[], scores: Float64Array}>} every probed record, scored */
  async candidates(vector) {
    const x = asVector(vector, this.dim);
    const lists = this.model.probes(x, this.nprobe);
    const { blobs, unread } = await this.scan(lists);
    return { ...this.model.score(x, lists, blobs), unread };
  }

  /**
   * The records of `lists`, by ivf_scan calls one after another (each at most
   * SCAN_BYTES_PER_CALL), at most SCAN_BYTES_PER_QUERY in all, in whole records (as
   * Python's ListIndex.candidates).
   * @param {number[]} lists
   * @returns {Promise<{blobs: Buffer[], unread: number}>} each list's records; lists not read to their end
   */
  async scan(lists) {
    const size = this.model.recordBytes;
    const allowed = Math.floor(SCAN_BYTES_PER_QUERY / size);
    /** @type {Buffer[][]} */
    const parts = lists.map(() => []);
    let [position, start, records] = [0, 0, 0];
    while (position < lists.length && records < allowed) {
      const take = Math.max(1, Math.min(Math.floor(SCAN_BYTES_PER_CALL / size), allowed - records));
      const [next, ...blobs] = await this.call('ivf_scan', [this.fingerprint, take * size, start, ...lists.slice(position)]);
      blobs.forEach((blob, i) => {
        parts[position + i].push(blob);
        records += blob.length / size;
      });
      if (Number(next)) [position, start] = [position + blobs.length - 1, Number(next)];
      else [position, start] = [position + blobs.length, 0];
    }
    return { blobs: parts.map((part) => Buffer.concat(part)), unread: lists.length - position };
  }

  /**
   * Insert (or move) ids: records (int64-le id, then code) grouped by list, at most 250
   * per ivf_insert call, one call at a time (Redis runs the calls of one read back to
   * back); then ivf_compact on the lists written.
   * @param {Id[]} ids @param {Vector[]} vectors @returns {Promise<number>} how many ids were new
   */
  async insert(ids, vectors) {
    const text = idText(ids);
    if (vectors.length !== text.length) throw new RangeError(`${text.length} ids but ${vectors.length} vectors`);
    /** @type {Map<number, Buffer[]>} */
    const byList = new Map();
    text.forEach((id, i) => {
      const { list, code } = this.encode(vectors[i]);
      const record = Buffer.alloc(this.model.recordBytes);
      record.writeBigInt64LE(BigInt(id));
      record.set(code, 8);
      byList.set(list, [...(byList.get(list) ?? []), record]);
    });
    /** @type {Array<Array<number|Buffer>>} */
    const calls = [];
    let args = [];
    let size = 0;
    for (const list of [...byList.keys()].sort((a, b) => a - b)) {
      for (const piece of chunks(byList.get(list) ?? [], IVF_RECORDS_PER_CALL)) {
        if (size + piece.length > IVF_RECORDS_PER_CALL) [args, size] = [(calls.push(args), []), 0];
        args.push(list, Buffer.concat(piece));
        size += piece.length;
      }
    }
    calls.push(args);
    let added = 0;
    for (const pairs of calls) added += Number(await this.call('ivf_insert', [this.fingerprint, ...pairs]));
    await this.compact([...byList.keys()]);
    return added;
  }

  /**
   * Rewrite lists as exactly their live records (appends leave spare capacity), one call
   * at a time; lists over COPY_BYTES_LIMIT are left as they are. @param {number[]} lists
   */
  async compact(lists) {
    const sorted = [...new Set(lists)].sort((a, b) => a - b);
    if (sorted.length === 0) return;
    const live = await this.redis.hmget(`${this.root}n`, ...sorted.map(String));
    /** @type {number[][]} */
    const calls = [[]];
    let bytes = 0;
    sorted.forEach((list, i) => {
      const size = Number(live[i] ?? 0) * this.model.recordBytes;
      if (size > COPY_BYTES_LIMIT) return;
      const batch = calls[calls.length - 1];
      if (batch.length && (bytes + size > COMPACT_BYTES_PER_CALL || batch.length === COMPACT_LISTS_PER_CALL)) {
        calls.push([]);
        bytes = 0;
      }
      calls[calls.length - 1].push(list);
      bytes += size;
    });
    for (const batch of calls) if (batch.length) await this.call('ivf_compact', [this.fingerprint, ...batch]);
  }

  /** @param {Id[]} ids @returns {Promise<number>} how many were indexed (and are now removed) */
  async delete(ids) {
    let removed = 0;
    for (const batch of chunks(idText(ids), IVF_IDS_PER_DELETE)) {
      removed += Number(await this.call('ivf_delete', [this.fingerprint, ...batch]));
    }
    return removed;
  }
}
