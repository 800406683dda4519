// The vq search runtime (runtime_c/src/sdk_vq.c built as sdk_vq.wasm) for browsers and node, no emscripten glue.
//   import { VqIndex } from './vq.mjs';
//   const index = await VqIndex.load('index.svq');          // sdk_vq.wasm is fetched next to this module
//   const { ids, dist } = index.search(query, 10);          // query: Float32Array(dim); exhaustive ADC
//   index.search(query, 10, { nprobe: 16, budget: 2000 });  // tree search (indexes built with a tree)
//   index.search(query, 10, { margin: 0.3 });               // tree search, adaptive stop (sdk_vq_params.margin)
// Failures throw Error with the runtime's status text; e.status is the numeric sdk_status.
const isNode = typeof process !== 'undefined' && !!(process.versions && process.versions.node);
const align = (n, a) => Math.ceil(n / a) * a;

async function fetchBytes(src) {
  if (src instanceof ArrayBuffer || ArrayBuffer.isView(src)) return src;
  const url = src instanceof URL ? src : new URL(String(src), isNode ? 'file://' + process.cwd() + '/' : location.href);
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return readFile(url);
  }
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.arrayBuffer();
}

export class VqIndex {
  /** Fetch (or take) the index blob and the runtime; the blob is validated by sdk_vq_open. */
  static async load(index, wasm = new URL('sdk_vq.wasm', import.meta.url)) {
    const [blob, code] = await Promise.all([fetchBytes(index), fetchBytes(wasm)]);
    const { instance } = await WebAssembly.instantiate(code, {});
    return new VqIndex(instance, new Uint8Array(blob.buffer ?? blob, blob.byteOffset ?? 0, blob.byteLength));
  }

  constructor(instance, blob) {
    this.x = instance.exports;
    if (this.x._initialize) this.x._initialize();
    this.memory = this.x.memory;
    this.blobAt = align(this.x.sdk_vq_heap_base(), 16);
    this.idxAt = align(this.blobAt + blob.byteLength, 16);
    this.paramsAt = align(this.idxAt + this.x.sdk_vq_index_bytes(), 16);
    this.freeAt = align(this.paramsAt + 20, 16);
    this._reserve(this.freeAt);
    new Uint8Array(this.memory.buffer).set(blob, this.blobAt);
    this._check('open', this.x.sdk_vq_open(this.idxAt, this.blobAt, blob.byteLength));
    const v = new DataView(this.memory.buffer);
    // the view's first fields: dim, stages, ksub, code_bytes, n, method, tree_kind, n_trees (u32 each)
    [this.dim, this.stages, this.ksub, this.codeBytes, this.ntotal, this.method, this.treeKind, this.nTrees] =
      [0, 1, 2, 3, 4, 5, 6, 7].map((k) => v.getUint32(this.idxAt + 4 * k, true));
    this.bytes = blob.byteLength;
  }

  _reserve(end) {
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / 65536));
  }

  _check(what, st) {
    if (!st) return;
    const mem = new Uint8Array(this.memory.buffer);
    let p = this.x.sdk_status_str(st) >>> 0, s = '';
    while (mem[p]) s += String.fromCharCode(mem[p++]);
    const e = new Error(`vq: ${what}: ${s}`);
    e.status = st;
    throw e;
  }

  /** k nearest items of one query (Float32Array of dim): {ids: Uint32Array, dist: Float32Array}, ascending
   *  ADC distance. opts: {nprobe, budget, margin} search the index's tree (0 / left out: unlimited; margin > 0:
   *  adaptive stop, see sdk_vq.h); useTree: false scans. */
  search(query, k = 10, opts = {}) {
    if (!(query instanceof Float32Array) || query.length !== this.dim)
      throw new Error(`vq: search: query must be a Float32Array of ${this.dim} values`);
    const useTree = this.nTrees > 0 && (opts.useTree ?? (opts.nprobe !== undefined || opts.budget !== undefined || opts.margin !== undefined));
    let v = new DataView(this.memory.buffer);
    [k, useTree ? 1 : 0, opts.nprobe ?? 0, opts.budget ?? 0].forEach((w, i) => v.setUint32(this.paramsAt + 4 * i, w, true));
    v.setFloat32(this.paramsAt + 16, opts.margin ?? 0, true);
    const sizeAt = this.freeAt, qAt = align(sizeAt + 8, 16), dAt = align(qAt + 4 * this.dim, 16);
    const iAt = align(dAt + 4 * k, 16), cAt = align(iAt + 4 * k, 16), scratch = align(cAt + 8, 16);
    this._reserve(scratch);
    this._check('scratch size', this.x.sdk_vq_scratch_size(this.idxAt, this.paramsAt, sizeAt));
    const need = new DataView(this.memory.buffer).getUint32(sizeAt, true);
    this._reserve(scratch + need);
    new Float32Array(this.memory.buffer, qAt, this.dim).set(query);
    this._check('search', this.x.sdk_vq_search(this.idxAt, qAt, this.paramsAt, scratch, need, dAt, iAt, cAt));
    v = new DataView(this.memory.buffer);
    const n = v.getUint32(cAt, true);
    return { ids: new Uint32Array(this.memory.buffer.slice(iAt, iAt + 4 * n)),
             dist: new Float32Array(this.memory.buffer.slice(dAt, dAt + 4 * n)) };
  }
}

export default VqIndex;
