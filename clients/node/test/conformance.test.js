// The conformance vectors of docs/computing-codes.md, reproduced from the models alone.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { Hyperplane, IvfPq, KMeans, RQ } from '../src/index.js';

const fixture = JSON.parse(readFileSync(new URL('../../../docs/conformance.json', import.meta.url), 'utf8'));
const hex = (buffers) => buffers.map((b) => b.toString('hex'));

for (const c of fixture.cases) {
  test(`conformance: ${c.name}`, () => {
    const model = Buffer.from(c.model_base64, 'base64');
    if (c.name === 'ivfpq') {
      const ivf = new IvfPq(c.cfg, model);
      c.vectors.forEach((vector, i) => {
        const { list, code } = ivf.encode(vector);
        assert.equal(list, c.lists[i]);
        assert.equal(Buffer.from(code).toString('hex'), c.codes_hex[i]);
      });
      const probed = ivf.probes(c.vectors[0], Number(c.cfg.nprobe));
      assert.deepEqual(probed, c.probed_lists);
      const records = c.records_hex.map((r) => Buffer.from(r, 'hex'));
      const blobs = probed.map((list) => Buffer.concat(records.filter((_, i) => c.lists[i] === list)));
      const { ids, scores } = ivf.score(c.vectors[0], probed, blobs);
      assert.deepEqual(ids.map(String).sort(), Object.keys(c.scores).sort());
      ids.forEach((id, i) => assert.ok(Math.abs(scores[i] - c.scores[String(id)]) < 1e-4, `score of ${id}`));
      return;
    }
    const hasher = { kmeans: KMeans, rq: RQ }[c.name] ?? Hyperplane;
    const scheme = new hasher(c.cfg, model);
    c.vectors.forEach((vector, i) => {
      assert.equal(scheme.signatures(vector).toString('hex'), c.signatures_hex[i], `signatures of vector ${i}`);
      const probes =
        scheme instanceof KMeans ? scheme.probes(vector, c.nprobe, c.extra_probes)
        : scheme instanceof RQ ? scheme.probes(vector, c.beam, c.extra_probes)
        : scheme.probes(vector, c.extra_probes);
      assert.deepEqual(hex(probes), c.probes_hex[i], `probes of vector ${i}`);
    });
  });
}
