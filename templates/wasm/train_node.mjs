// Train with this bundle in node (built with --train): the compiled training step runs in wasm (train.mjs: the step
// and the training state, also for browsers).
//   node train_node.mjs STEPS LR IN_0.sdkt ... LABELS.sdkt OUT_DIR
// Each tensor file holds B batches ([B, ...the batch shape]); step s trains on batch s % B. Prints "step S loss L"
// per step and writes every trained parameter to OUT_DIR/<k>.sdkt (in the order of TRAIN.params).
import { readFileSync, mkdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Model } from './{{name}}.mjs';
import { readTensor, writeTensor } from './run_node.mjs';
import { TRAIN, stateFrom, trainStep, predict } from './train.mjs';

export { trainStep, predict };

export function initState(dir = '.') {
  return stateFrom(readFileSync(`${dir}/{{name}}_train_init.bin`));
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
