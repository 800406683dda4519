// Semantic search in the page: WordPiece ids (wordpiece.mjs) -> sentence embedding (the sdk-compiled model's
// .wasm) -> top-k passages from the compressed index (sdk_vq.wasm through vq.mjs). Written by sdk.vq.web.
import { WordPiece } from './wordpiece.mjs';
import { VqIndex } from './vq.mjs';

const $ = (id) => document.getElementById(id);
const text = async (url) => { const r = await fetch(url); if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`); return r.text(); };

async function start() {
  const cfg = JSON.parse(await text('page.json'));
  const { Model } = await import(`./${cfg.module}`);
  const [tok, index, model, passages] = await Promise.all([
    text('vocab.txt').then((v) => WordPiece.fromVocabText(v)), VqIndex.load(cfg.index), Model.load(),
    text('passages.json').then(JSON.parse)]);
  if (index.ntotal !== passages.length) throw new Error(`index has ${index.ntotal} items, passages.json ${passages.length}`);

  function embed(query) {
    const ids = tok.encode(query, { maxLength: cfg.maxTokens });
    const n = ids.length;
    const out = model.run({ [cfg.ids]: BigInt64Array.from(ids, BigInt), [cfg.mask]: new BigInt64Array(n).fill(1n) },
                          { [cfg.batchSym]: 1, [cfg.seqSym]: n });
    return { ids, emb: out[cfg.output] };
  }

  function search(query, k = cfg.k) {
    const t0 = performance.now();
    const { ids, emb } = embed(query);
    const t1 = performance.now();
    const r = index.search(emb, k);
    const t2 = performance.now();
    // unit-length embeddings: ||q - x||^2 = 2 - 2 cos, so the ADC distance gives a cosine estimate
    const hits = Array.from(r.ids, (id, i) => ({ id, dist: r.dist[i], score: 1 - r.dist[i] / 2 }));
    const res = { query, tokens: ids.length, embedMs: t1 - t0, searchMs: t2 - t1, hits, embedding: Array.from(emb) };
    window.demo.last = res;
    return res;
  }

  function show(res) {
    $('latency').textContent = `embed ${res.embedMs.toFixed(1)} ms (${res.tokens} tokens) + search ` +
      `${res.searchMs.toFixed(2)} ms over ${index.ntotal.toLocaleString('en')} passages`;
    $('results').replaceChildren(...res.hits.map((h) => {
      const li = document.createElement('li'), s = document.createElement('div'), body = document.createElement('div');
      s.className = 'score';
      s.textContent = h.score.toFixed(3);
      const p = passages[h.id], src = document.createElement('div');
      src.className = 'src';
      src.textContent = `#${h.id} · ${p[1]}`;
      body.append(document.createTextNode(p[0]), src);
      li.dataset.id = h.id;
      li.append(s, body);
      return li;
    }));
  }

  window.demo = { search, embed, index, model, tok, cfg };
  $('form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = $('query').value.trim();
    if (!q) return;
    try { show(search(q)); $('status').textContent = 'ok'; } catch (err) { $('status').textContent = String(err); }
  });
  $('about').textContent = `${index.ntotal.toLocaleString('en')} passages · ${cfg.modelName} in WebAssembly ` +
    `(${(cfg.modelBytes / 1e6).toFixed(1)} MB) · ${cfg.method} index ${index.stages}×${Math.log2(index.ksub)} bits ` +
    `(${(index.bytes / 1e6).toFixed(2)} MB) · all on this device`;
  $('search').disabled = false;
  document.body.dataset.ready = '1';
}

start().catch((e) => { $('status').textContent = `failed: ${e.message}`; document.body.dataset.ready = 'error'; throw e; });
