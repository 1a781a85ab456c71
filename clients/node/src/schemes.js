// The arithmetic of each scheme: model blobs, signatures, probes and IVF-PQ codes.
//
// Models are float32 (as stored); products are accumulated in float64 from those float32
// values. Python computes in float32 with BLAS; the two differ by ~1e-6 at most on the
// demo data, which only matters for a value within that distance of a decision (a
// projection's sign, two nearly equal scores). See README.md, "Exactness".

import { createHash } from 'node:crypto';

/** @typedef {Float32Array | Float64Array | number[]} Vector */

/** The version in every fingerprint: `lshrs/<version> <scheme> dim=<dim> ...`. */
export const FORMAT_VERSION = 1;

/** A fingerprint in the one format of lshrs.schemes.base.describe. */
const describe = (/** @type {string} */ scheme, /** @type {number} */ dim, /** @type {Record<string, string | number>} */ settings) =>
  [`lshrs/${FORMAT_VERSION} ${scheme} dim=${dim}`, ...Object.entries(settings).map(([name, value]) => `${name}=${value}`)].join(' ');

const MAX_PROBE_BITS = 10;
const CODEWORDS = 256;

/** @param {Buffer} blob @param {number} offset bytes @param {number} count floats */
function floats(blob, offset, count) {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = blob.readFloatLE(offset + 4 * i);
  return out;
}

/** First 16 hex digits of SHA-256: the digests in lshrs fingerprints and cfg fields. */
export const digest16 = (/** @type {Buffer} */ bytes) =>
  createHash('sha256').update(bytes).digest('hex').slice(0, 16);

/** @param {Vector} a @param {number} aStart @param {Vector} b @param {number} bStart @param {number} n */
function dot(a, aStart, b, bStart, n) {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += a[aStart + i] * b[bStart + i];
  return sum;
}

/** @param {Vector} x @returns {Float64Array} x scaled to unit length */
function unit(x) {
  let norm = 0;
  for (let i = 0; i < x.length; i++) norm += x[i] * x[i];
  norm = Math.max(Math.sqrt(norm), 1e-30);
  return Float64Array.from(x, (value) => value / norm);
}

/** A bucket code: band number as 2 bytes big-endian, then the band's signature. */
function bucketCode(/** @type {number} */ band, /** @type {Uint8Array} */ signature) {
  const code = Buffer.alloc(2 + signature.length);
  code.writeUInt16BE(band, 0);
  code.set(signature, 2);
  return code;
}

/** A centroid number as a big-endian uint16 (nlist <= 65536) or uint32 signature. */
function labelBytes(/** @type {number} */ label, /** @type {number} */ width) {
  const bytes = Buffer.alloc(width);
  if (width === 2) bytes.writeUInt16BE(label);
  else bytes.writeUInt32BE(label);
  return bytes;
}

/**
 * The `count` best of `scores` (higher first), ties to the smaller position: the order
 * of numpy's argmax (count 1) and of lshrs.kmeans.nearest.
 * @param {Float64Array} scores @param {number} count @returns {number[]}
 */
function topPositions(scores, count) {
  const positions = Array.from(scores.keys());
  if (count === 1) {
    let best = 0;
    for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
    return [best];
  }
  positions.sort((a, b) => scores[b] - scores[a] || a - b);
  return positions.slice(0, count);
}

/** Random hyperplanes (lshrs.hashing.LSHHasher), with or without a centre. */
export class Hyperplane {
  /**
   * @param {Record<string, string>} cfg the index's cfg hash
   * @param {Buffer} blob its model: planes (num_bands * rows_per_band, dim) float32-le,
   *   then, for a centred hasher, the centre (dim,) float32-le
   */
  constructor(cfg, blob) {
    this.dim = Number(cfg.dim);
    this.numBands = Number(cfg.num_bands);
    this.rowsPerBand = Number(cfg.rows_per_band);
    this.sigBytes = Math.ceil(this.rowsPerBand / 8);
    const bits = this.numBands * this.rowsPerBand;
    const planeBytes = 4 * bits * this.dim;
    const centred = blob.length === planeBytes + 4 * this.dim;
    if (!centred && blob.length !== planeBytes) {
      throw new Error(`hyperplane model is ${blob.length} bytes; expected ${planeBytes} (+ ${4 * this.dim} for a centre)`);
    }
    if (centred !== 'center' in cfg) throw new Error('hyperplane model and cfg disagree about the centre');
    if (centred && digest16(blob.subarray(planeBytes)) !== cfg.center) {
      throw new Error('hyperplane centre does not match the digest in cfg');
    }
    this.planes = floats(blob, 0, bits * this.dim);
    /** @type {Float32Array | null} */
    this.center = centred ? floats(blob, planeBytes, this.dim) : null;
    const name = describe('hyperplane', this.dim, { bands: this.numBands, rows: this.rowsPerBand, seed: cfg.seed });
    /** The fingerprint of what this hasher computes (the planes come from the blob; the
     * seed that made them is named as cfg has it). */
    this.fingerprint = centred ? `${name} center=${cfg.center}` : name;
  }

  /** @param {Vector} x @returns {Float64Array} (x - centre) . plane_j for every bit j */
  project(x) {
    const shifted = this.center ? Float64Array.from(x, (v, i) => v - this.center[i]) : x;
    const out = new Float64Array(this.numBands * this.rowsPerBand);
    for (let j = 0; j < out.length; j++) out[j] = dot(shifted, 0, this.planes, j * this.dim, this.dim);
    return out;
  }

  /** Band `band`'s bits packed most significant first (numpy packbits), some flipped. */
  #pack(/** @type {Float64Array} */ projection, /** @type {number} */ band, flips = /** @type {number[]} */ ([])) {
    const signature = new Uint8Array(this.sigBytes);
    const start = band * this.rowsPerBand;
    for (let r = 0; r < this.rowsPerBand; r++) {
      if (projection[start + r] > 0) signature[r >> 3] ^= 0x80 >> (r & 7);
    }
    for (const r of flips) signature[r >> 3] ^= 0x80 >> (r & 7);
    return signature;
  }

  /** @param {Vector} x @returns {Buffer} the signatures of all bands, band 0 first */
  signatures(x) {
    const projection = this.project(x);
    return Buffer.concat(Array.from({ length: this.numBands }, (_, b) => this.#pack(projection, b)));
  }

  /**
   * Bucket codes a query reads (LSHHasher.probe_codes): its own bucket in every band,
   * then the `extraProbes` neighbouring buckets with the lowest scores over all bands.
   * A neighbour flips a non-empty subset of the band's `width` least confident bits
   * (smallest |projection|, ties to the lower bit); its score is the sum of the flipped
   * bits' squared projections; ties to the lower (band, subset) position.
   * @param {Vector} x @param {number} [extraProbes] @returns {Buffer[]}
   */
  probes(x, extraProbes = 0) {
    const projection = this.project(x);
    const rows = this.rowsPerBand;
    const codes = Array.from({ length: this.numBands }, (_, b) => bucketCode(b, this.#pack(projection, b)));
    if (extraProbes <= 0) return codes;

    const width = Math.min(rows, MAX_PROBE_BITS, Math.max(1, extraProbes));
    const subsets = (1 << width) - 1; // subset s (1..2^width-1): bit i flips the i-th least confident bit
    const scores = new Float64Array(this.numBands * subsets);
    /** @type {number[][]} */
    const weakest = [];
    for (let band = 0; band < this.numBands; band++) {
      const margins = Array.from({ length: rows }, (_, r) => Math.abs(projection[band * rows + r]));
      const order = Array.from(margins.keys()).sort((a, b) => margins[a] - margins[b] || a - b).slice(0, width);
      weakest.push(order);
      const sums = new Float64Array(1 << width);
      for (let s = 1; s <= subsets; s++) {
        const low = 31 - Math.clz32(s & -s);
        sums[s] = sums[s & (s - 1)] + margins[order[low]] ** 2;
        scores[band * subsets + s - 1] = sums[s];
      }
    }
    const take = Math.min(extraProbes, scores.length);
    const chosen = Array.from(scores.keys())
      .sort((a, b) => scores[a] - scores[b] || a - b)
      .slice(0, take);
    for (const position of chosen) {
      const band = Math.floor(position / subsets);
      const subset = (position % subsets) + 1;
      const flips = weakest[band].filter((_, i) => (subset >> i) & 1);
      codes.push(bucketCode(band, this.#pack(projection, band, flips)));
    }
    return codes;
  }
}

/** Learned k-means buckets (lshrs.ivf.KMeansHasher): blob LSHRSKM1. */
export class KMeans {
  /**
   * @param {Record<string, string>} cfg
   * @param {Buffer} blob "LSHRSKM1", uint32-le num_bands, nlist, dim, metric (0 l2, 1 ip),
   *   then float32-le centroids (num_bands, nlist, dim)
   */
  constructor(cfg, blob) {
    if (blob.length < 24 || blob.toString('latin1', 0, 8) !== 'LSHRSKM1') throw new Error('not an LSHRSKM1 model');
    this.numBands = blob.readUInt32LE(8);
    this.nlist = blob.readUInt32LE(12);
    this.dim = blob.readUInt32LE(16);
    this.metric = ['l2', 'ip'][blob.readUInt32LE(20)];
    const size = this.numBands * this.nlist * this.dim;
    if (!this.metric || blob.length !== 24 + 4 * size) throw new Error('LSHRSKM1 model is truncated or has a bad header');
    if (cfg.model_sha256_16 !== digest16(blob)) throw new Error('k-means model does not match model_sha256_16 in cfg');
    this.sigBytes = this.nlist <= 1 << 16 ? 2 : 4;
    this.fingerprint = describe('kmeans', this.dim, { bands: this.numBands, nlist: this.nlist, metric: this.metric, model: digest16(blob) });
    this.centroids = floats(blob, 24, size);
    this.halfNorms = new Float64Array(this.numBands * this.nlist);
    if (this.metric === 'l2') {
      for (let c = 0; c < this.halfNorms.length; c++) {
        this.halfNorms[c] = 0.5 * dot(this.centroids, c * this.dim, this.centroids, c * this.dim, this.dim);
      }
    }
  }

  /** Scores of a unit vector against band `band`'s centroids, higher is nearer:
   * x . c (ip) or x . c - |c|^2 / 2 (l2). */
  #scores(/** @type {Float64Array} */ u, /** @type {number} */ band) {
    const scores = new Float64Array(this.nlist);
    for (let l = 0; l < this.nlist; l++) {
      const c = band * this.nlist + l;
      scores[l] = dot(u, 0, this.centroids, c * this.dim, this.dim) - this.halfNorms[c];
    }
    return scores;
  }

  /** @param {Vector} x @returns {Buffer} each band's nearest centroid, big-endian */
  signatures(x) {
    const u = unit(x);
    const bands = Array.from({ length: this.numBands }, (_, b) => labelBytes(topPositions(this.#scores(u, b), 1)[0], this.sigBytes));
    return Buffer.concat(bands);
  }

  /**
   * Bucket codes a query reads (KMeansHasher.probe_codes): each band's nearest list in
   * band order; then the other nprobe - 1 nearest lists of every band, by gap (the band's
   * best score minus the list's); then the `extraProbes` next ones by gap. Gap ties go
   * to the lower band, then the nearer rank.
   * @param {Vector} x @param {number} nprobe @param {number} [extraProbes] @returns {Buffer[]}
   */
  probes(x, nprobe, extraProbes = 0) {
    const u = unit(x);
    const depth = Math.min(this.nlist, nprobe + Math.max(0, extraProbes));
    /** @type {{band: number, rank: number, label: number, gap: number}[]} */
    const entries = [];
    for (let band = 0; band < this.numBands; band++) {
      const scores = this.#scores(u, band);
      topPositions(scores, depth).forEach((label, rank, ranked) =>
        entries.push({ band, rank, label, gap: scores[ranked[0]] - scores[label] }),
      );
    }
    const byGap = (/** @type {typeof entries} */ list) => list.sort((a, b) => a.gap - b.gap || a.band - b.band || a.rank - b.rank);
    const chosen = [
      ...entries.filter((e) => e.rank === 0),
      ...byGap(entries.filter((e) => e.rank > 0 && e.rank < nprobe)),
      ...byGap(entries.filter((e) => e.rank >= nprobe)).slice(0, Math.max(0, extraProbes)),
    ];
    return chosen.map((e) => bucketCode(e.band, labelBytes(e.label, this.sigBytes)));
  }
}

/** Residual quantization (lshrs RQHasher): blob LSHRSRQ1; one band, a code prefix. */
export class RQ {
  /**
   * @param {Record<string, string>} cfg
   * @param {Buffer} blob "LSHRSRQ1", uint32-le levels, dim, depth, then one uint32-le size
   *   per level, then each level's float32-le codebook (size, dim), level 0 first
   */
  constructor(cfg, blob) {
    if (blob.length < 20 || blob.toString('latin1', 0, 8) !== 'LSHRSRQ1') throw new Error('not an LSHRSRQ1 model');
    const [levels, dim, depth] = [8, 12, 16].map((at) => blob.readUInt32LE(at));
    const sizes = Array.from({ length: levels }, (_, l) => blob.readUInt32LE(20 + 4 * l));
    let offset = 20 + 4 * levels;
    if (blob.length !== offset + 4 * dim * sizes.reduce((a, b) => a + b, 0)) throw new Error('LSHRSRQ1 model is truncated');
    if (cfg.model_sha256_16 !== digest16(blob)) throw new Error('RQ model does not match model_sha256_16 in cfg');
    Object.assign(this, { dim, depth, numBands: 1, sigBytes: 2 * depth });
    this.fingerprint = describe('rq', dim, { levels: sizes.join('x'), depth, model: digest16(blob) });
    /** @type {number} */ this.dim; /** @type {number} */ this.depth; /** @type {number} */ this.numBands; /** @type {number} */ this.sigBytes;
    this.books = sizes.map((size) => {
      const book = floats(blob, offset, size * dim);
      offset += 4 * size * dim;
      const halfNorms = Float64Array.from({ length: size }, (_, c) => 0.5 * dot(book, c * dim, book, c * dim, dim));
      return { size, book, halfNorms };
    });
  }

  /** Scores of a residual against a level's codewords, higher is nearer: r . c - |c|^2 / 2. */
  #scores(/** @type {Float64Array} */ r, /** @type {number} */ level) {
    const { size, book, halfNorms } = this.books[level];
    return Float64Array.from({ length: size }, (_, c) => dot(r, 0, book, c * this.dim, this.dim) - halfNorms[c]);
  }

  /** @param {Float64Array} r @param {number} level @param {number} c @returns {Float64Array} r minus codeword c */
  #minus(r, level, c) {
    const { book } = this.books[level];
    return Float64Array.from(r, (v, i) => v - book[c * this.dim + i]);
  }

  /** @param {number[]} prefix @returns {Buffer} the prefix as big-endian uint16s */
  #bytes(prefix) {
    return Buffer.concat(prefix.map((label) => labelBytes(label, 2)));
  }

  /** Greedy code of a vector: at each level the nearest codeword to the residual. @param {Vector} x @returns {number[]} */
  code(x) {
    let r = unit(x);
    return this.books.map((_, level) => {
      const c = topPositions(this.#scores(r, level), 1)[0];
      r = this.#minus(r, level, c);
      return c;
    });
  }

  /** @param {Vector} x @returns {Buffer} the signature: the first `depth` levels of its code */
  signatures(x) {
    return this.#bytes(this.code(x).slice(0, this.depth));
  }

  /**
   * Bucket codes a query reads (RQHasher.probe_codes): a beam search keeping, at each of
   * the `depth` levels, the `beam + extraProbes` extensions with the smallest residual
   * (ties: kept prefix order, then codeword); the query's own prefix first, then the
   * beam's prefixes in order, each once.
   * @param {Vector} x @param {number} beam @param {number} [extraProbes] @returns {Buffer[]}
   */
  probes(x, beam, extraProbes = 0) {
    const width = beam + Math.max(0, extraProbes);
    const own = this.code(x).slice(0, this.depth);
    /** @type {{prefix: number[], r: Float64Array}[]} */
    let kept = [{ prefix: [], r: unit(x) }];
    for (let level = 0; level < this.depth; level++) {
      const { size } = this.books[level];
      const candidates = kept.flatMap(({ r }, parent) => {
        const squared = dot(r, 0, r, 0, this.dim);
        return Array.from(this.#scores(r, level), (score, c) => ({ parent, c, distance: squared - 2 * score, at: parent * size + c }));
      });
      candidates.sort((a, b) => a.distance - b.distance || a.at - b.at);
      kept = candidates.slice(0, width).map(({ parent, c }) => ({
        prefix: [...kept[parent].prefix, c],
        r: this.#minus(kept[parent].r, level, c),
      }));
    }
    const seen = new Set();
    return [own, ...kept.map((k) => k.prefix)]
      .filter((prefix) => !seen.has(prefix.join()) && seen.add(prefix.join()))
      .slice(0, width)
      .map((prefix) => bucketCode(0, this.#bytes(prefix)));
  }
}

/** IVF-PQ (lshrs.ivfpq.IVFPQ): blob LSHRSPQ1. */
export class IvfPq {
  /**
   * @param {Record<string, string>} cfg
   * @param {Buffer} blob "LSHRSPQ1", uint32-le dim, nlist, m, nbits (8), metric (0 l2,
   *   1 ip), normalize; float32-le centroids (nlist, dim); codebooks (m, 256, dim / m)
   */
  constructor(cfg, blob) {
    if (blob.length < 32 || blob.toString('latin1', 0, 8) !== 'LSHRSPQ1') throw new Error('not an LSHRSPQ1 model');
    const [dim, nlist, m, nbits, metric, normalize] = [8, 12, 16, 20, 24, 28].map((at) => blob.readUInt32LE(at));
    if (nbits !== 8 || metric > 1 || m < 1 || dim % m) throw new Error('LSHRSPQ1 model has a bad header');
    if (blob.length !== 32 + 4 * (nlist * dim + CODEWORDS * dim)) throw new Error('LSHRSPQ1 model is truncated');
    if (cfg.model_sha256_16 !== digest16(blob)) throw new Error('IVF-PQ model does not match model_sha256_16 in cfg');
    Object.assign(this, { dim, nlist, m, metric: metric ? 'ip' : 'l2', normalize: normalize === 1 });
    /** @type {number} */ this.dim; /** @type {number} */ this.nlist; /** @type {number} */ this.m;
    /** @type {'ip'|'l2'} */ this.metric; /** @type {boolean} */ this.normalize;
    this.dsub = dim / m;
    this.recordBytes = 8 + m;
    this.fingerprint = describe('ivfpq', dim, { nlist, m, metric: this.metric, normalize: normalize === 1 ? 1 : 0, model: digest16(blob) });
    this.centroids = floats(blob, 32, nlist * dim);
    this.codebooks = floats(blob, 32 + 4 * nlist * dim, CODEWORDS * dim); // [j][k][d] = j*256*dsub + k*dsub + d
    this.bookNorms = new Float64Array(m * CODEWORDS);
    for (let w = 0; w < this.bookNorms.length; w++) {
      this.bookNorms[w] = dot(this.codebooks, w * this.dsub, this.codebooks, w * this.dsub, this.dsub);
    }
    this.halfNorms = new Float64Array(nlist);
    if (this.metric === 'l2') {
      for (let l = 0; l < nlist; l++) this.halfNorms[l] = 0.5 * dot(this.centroids, l * dim, this.centroids, l * dim, dim);
    }
  }

  /** @param {Vector} x @returns {Vector} the vector as the index sees it (unit length if normalize) */
  prepare(x) {
    return this.normalize ? unit(x) : x;
  }

  /** @param {Vector} p prepared @returns {Float64Array} centroid scores, higher is nearer */
  #listScores(p) {
    const scores = new Float64Array(this.nlist);
    for (let l = 0; l < this.nlist; l++) scores[l] = dot(p, 0, this.centroids, l * this.dim, this.dim) - this.halfNorms[l];
    return scores;
  }

  /** @param {Vector} x @param {number} nprobe @returns {number[]} the nearest lists, nearest first */
  probes(x, nprobe) {
    return topPositions(this.#listScores(this.prepare(x)), Math.min(nprobe, this.nlist));
  }

  /**
   * A vector's list (nearest centroid) and code (per subspace, the codeword nearest to
   * its residual; ties to the lower number).
   * @param {Vector} x @returns {{list: number, code: Uint8Array}}
   */
  encode(x) {
    const p = this.prepare(x);
    const list = topPositions(this.#listScores(p), 1)[0];
    const residual = Float64Array.from(p, (v, i) => v - this.centroids[list * this.dim + i]);
    const code = new Uint8Array(this.m);
    for (let j = 0; j < this.m; j++) {
      let best = -Infinity;
      for (let k = 0; k < CODEWORDS; k++) {
        const w = j * CODEWORDS + k;
        const score = dot(residual, j * this.dsub, this.codebooks, w * this.dsub, this.dsub) - 0.5 * this.bookNorms[w];
        if (score > best) [best, code[j]] = [score, k];
      }
    }
    return { list, code };
  }

  /**
   * Approximate scores (higher is nearer) of every record of the probed lists:
   * ip: q . c_l + sum_j T[j][code_j] with T[j][k] = q_j . b_jk;
   * l2: -(|q - c_l|^2 + sum_j (|b_jk|^2 - 2 (q - c_l)_j . b_jk)).
   * @param {Vector} x the query
   * @param {number[]} lists the probed lists
   * @param {Buffer[]} blobs each list's records (ivf_scan's reply)
   * @returns {{ids: number[], scores: Float64Array}}
   */
  score(x, lists, blobs) {
    const q = this.prepare(x);
    const total = blobs.reduce((sum, blob) => sum + blob.length / this.recordBytes, 0);
    const ids = new Array(total);
    const scores = new Float64Array(total);
    const table = new Float64Array(this.m * CODEWORDS);
    if (this.metric === 'ip') this.#innerTable(q, table);
    let at = 0;
    lists.forEach((list, i) => {
      const blob = blobs[i];
      if (!blob || blob.length === 0) return;
      let base;
      if (this.metric === 'ip') {
        base = dot(q, 0, this.centroids, list * this.dim, this.dim);
      } else {
        const residual = Float64Array.from(q, (v, d) => v - this.centroids[list * this.dim + d]);
        this.#innerTable(residual, table);
        for (let w = 0; w < table.length; w++) table[w] = this.bookNorms[w] - 2 * table[w];
        base = dot(residual, 0, residual, 0, this.dim);
      }
      const sign = this.metric === 'ip' ? 1 : -1;
      for (let r = 0; r < blob.length; r += this.recordBytes, at++) {
        ids[at] = Number(blob.readBigInt64LE(r));
        let sum = base;
        for (let j = 0; j < this.m; j++) sum += table[j * CODEWORDS + blob[r + 8 + j]];
        scores[at] = sign * sum;
      }
    });
    return { ids, scores };
  }

  /** table[j][k] = v_j . b_jk */
  #innerTable(/** @type {Vector} */ v, /** @type {Float64Array} */ table) {
    for (let w = 0; w < table.length; w++) {
      const j = Math.floor(w / CODEWORDS);
      table[w] = dot(v, j * this.dsub, this.codebooks, w * this.dsub, this.dsub);
    }
  }
}
