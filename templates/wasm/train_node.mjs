// Train with this bundle in node (built with --train): the compiled training step runs in wasm; the training state
// (parameters, optimiser slots) is kept here and fed back each step.
//   node train_node.mjs STEPS LR IN_0.sdkt ... LABELS.sdkt OUT_DIR
// Each tensor file holds B batches ([B, ...the batch shape]); step s trains on batch s % B. Prints "step S loss L"
// per step and writes every trained parameter to OUT_DIR/<k>.sdkt (in the order of TRAIN.params).
import { readFileSync, mkdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Model } from './{{name}}.mjs';
import { readTensor, writeTensor } from './run_node.mjs';

const TRAIN = /*@TRAIN@*/null;  // {numInputs, optimizer, betas, params: [{name, shape, offset, slots: [names]}]}

export function initState(dir = '.') {
  const blob = readFileSync(`${dir}/{{name}}_train_init.bin`);
  const state = { step: 0 };
  for (const p of TRAIN.params) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const init = new Float32Array(n);
    new Uint8Array(init.buffer).set(blob.subarray(p.offset, p.offset + 4 * n));
    state[p.name] = init;
    for (const s of p.slots) state[s] = new Float32Array(n);
  }
  return state;
}

// One step: feeds {model inputs..., labels}, updates state; returns the loss.
export function trainStep(m, state, feeds, lr) {
  state.step += 1;
  const inputs = { ...feeds, lr: new Float32Array([lr]) };
  if (TRAIN.optimizer === 'adam') {
    const [b1, b2] = TRAIN.betas, t = state.step;
    inputs.adam_c1 = new Float32Array([1 / (1 - b1 ** t)]);
    inputs.adam_c2 = new Float32Array([1 / Math.sqrt(1 - b2 ** t)]);
  }
  for (const p of TRAIN.params) {
    inputs[p.name] = { data: state[p.name], shape: p.shape };
    for (const s of p.slots) inputs[s] = { data: state[s], shape: p.shape };
  }
  const out = m.run(inputs);
  for (const p of TRAIN.params) {
    state[p.name] = out[`${p.name}.next`].slice();
    for (const s of p.slots) state[s] = out[`${s}.next`].slice();
  }
  return out.loss[0];
}

function batch(t, s) {
  const b = s % t.shape[0], shape = t.shape.slice(1), n = shape.reduce((a, c) => a * c, 1);
  return { data: t.data.slice(b * n, (b + 1) * n), shape };
}

async function main() {
  const args = process.argv.slice(2), nin = TRAIN.numInputs;
  if (args.length !== nin + 4) {
    console.error(`usage: node train_node.mjs STEPS LR ${nin} input files LABELS.sdkt OUT_DIR`);
    process.exit(2);
  }
  const steps = parseInt(args[0], 10), lr = Number(args[1]);
  const m = await Model.load(), state = initState();
  const files = args.slice(2, 3 + nin).map(readTensor);
  const names = m.meta.inputs.slice(0, nin + 1).map((t) => t.name);
  for (let s = 0; s < steps; ++s) {
    const feeds = Object.fromEntries(names.map((n, k) => [n, batch(files[k], s)]));
    console.log(`step ${s} loss ${trainStep(m, state, feeds, lr)}`);
  }
  mkdirSync(args[3 + nin], { recursive: true });
  TRAIN.params.forEach((p, k) => {
    const a = state[p.name];
    a.shape = p.shape;
    writeTensor(`${args[3 + nin]}/${k}.sdkt`, a, 1);  // float32
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
