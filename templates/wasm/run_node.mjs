// Run this bundle in node: node run_node.mjs [--repeat N] IN_0.sdkt ... OUT_0.sdkt ...
// Tensor file: "SDKT", u32 version (1), i32 dtype, i32 rank, i64 dims[rank], data (little endian).
// Prints "median_ms X" after the runs, like the host demo program. readTensor/writeTensor are exported for
// generate_node.mjs (bundles built with --generate).
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Model } from './{{name}}.mjs';

const ARRAYS = /*@ARRAYS@*/null;  // {dtype code: TypedArray}, from sdk/ir/dtypes.py TABLE (half types: their 16-bit patterns)

export function readTensor(path) {
  const b = readFileSync(path), v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.toString('latin1', 0, 4) !== 'SDKT' || v.getUint32(4, true) !== 1) throw new Error(`${path}: not a tensor file`);
  const dtype = v.getInt32(8, true), rank = v.getInt32(12, true), shape = [];
  for (let a = 0; a < rank; ++a) shape.push(Number(v.getBigInt64(16 + 8 * a, true)));
  const A = ARRAYS[dtype], n = shape.reduce((x, y) => x * y, 1), off = 16 + 8 * rank;
  const data = new A(n);
  new Uint8Array(data.buffer).set(b.subarray(off, off + n * A.BYTES_PER_ELEMENT));
  return { data, shape };
}

export function writeTensor(path, arr, dtype) {
  const head = Buffer.alloc(16 + 8 * arr.shape.length), v = new DataView(head.buffer);
  head.write('SDKT', 0, 'latin1');
  v.setUint32(4, 1, true);
  v.setInt32(8, dtype, true);
  v.setInt32(12, arr.shape.length, true);
  arr.shape.forEach((d, a) => v.setBigInt64(16 + 8 * a, BigInt(d), true));
  writeFileSync(path, Buffer.concat([head, Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength)]));
}

async function main() {
  const args = process.argv.slice(2);
  let repeat = 1;
  while (args[0] && args[0].startsWith('--')) {
    if (args[0] === '--repeat') repeat = Math.max(1, parseInt(args[1], 10));
    args.splice(0, 2);
  }
  const m = await Model.load();
  const nin = m.meta.inputs.length, nout = m.meta.outputs.length;
  if (args.length !== nin + nout) {
    console.error(`usage: node run_node.mjs [--repeat N] ${nin} inputs ${nout} outputs (.sdkt files)`);
    process.exit(2);
  }
  const inputs = {};
  m.meta.inputs.forEach((t, k) => { inputs[t.name] = readTensor(args[k]); });
  let out;
  const times = [];
  try {
    for (let r = 0; r < repeat; ++r) {
      const t0 = performance.now();
      out = m.run(inputs);
      times.push(performance.now() - t0);
    }
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
  m.meta.outputs.forEach((t, k) => writeTensor(args[nin + k], out[t.name], t.dtype));
  times.sort((a, b) => a - b);
  console.log(`median_ms ${times[times.length >> 1].toFixed(4)}`);
  console.log(`workspace_bytes ${m.workspaceSize(m._inferDims(inputs, {}))}`);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
