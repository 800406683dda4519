// Web Worker of the question generator page: loads the two wasm bundles and the tokenizer, then for every
// {sentence, beams} message: tokenize, run the encoder, generate with the decoder (streaming every step back to
// the page as {kind: 'token', text}), and finish with {kind: 'done', greedy, beams, ms}. A Worker, so the page
// paints each token while the C loop runs.
import { Model as Encoder } from './enc/qenc.mjs';
import { Model as Decoder } from './dec/qdec.mjs';

const MAX_SRC = 80;
const ready = (async () => {
  const [enc, dec, tok] = await Promise.all([Encoder.load(), Decoder.load(), Encoder.tokenizer()]);
  return { enc, dec, tok };
})();

self.onmessage = async (e) => {
  try {
    const { enc, dec, tok } = await ready;
    if (e.data.kind === 'warmup') { self.postMessage({ kind: 'ready' }); return; }
    const t0 = performance.now();
    const ids = tok.encode(e.data.sentence, { maxLength: MAX_SRC });
    const states = enc.run({ src: BigInt64Array.from(ids, BigInt) }, { batch: 1 }).enc;
    const stop = { stopTokens: [tok.sepId], maxNewTokens: dec.meta.generate.maxLen - 1, context: { enc: states } };
    const greedy = dec.generate([tok.clsId], {
      ...stop, onToken: (pos, rows) => self.postMessage({ kind: 'token', pos, text: tok.decode(rows[0]) }) });
    const ms = performance.now() - t0;
    const beams = e.data.beams > 1 ? dec.generate([tok.clsId], { ...stop, numBeams: e.data.beams }) : [];
    self.postMessage({ kind: 'done', ids: greedy[0], greedy: tok.decode(greedy[0]), beams: beams.map((b) => tok.decode(b)), ms });
  } catch (err) {
    self.postMessage({ kind: 'error', message: String(err && err.message || err) });
  }
};
