// Train with this bundle (built with --train), in a browser or in node: the compiled training step runs in wasm;
// the training state (parameters, optimiser slots) lives in JS typed arrays and is fed back each step.
//   import { Model } from './{{name}}.mjs';
//   import { loadState, trainStep, predict } from './train.mjs';
//   const m = await Model.load(), state = await loadState();
//   const loss = trainStep(m, state, { x: {data, shape}, labels: {data, shape} }, 0.05);
//   const out = predict(m, state, { x: {data, shape} });      // the model output, state unchanged
export const TRAIN = /*@TRAIN@*/null;  // {numInputs, optimizer, betas, params: [{name, shape, offset, slots: [names]}]}

/** The initial state from the bytes of {{name}}_train_init.bin (each parameter's float32 values; slots zero). */
export function stateFrom(bytes) {
  const blob = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes.buffer ?? bytes, bytes.byteOffset ?? 0);
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

/** The initial state, fetched from {{name}}_train_init.bin next to this module (browser). */
export async function loadState(src = new URL('{{name}}_train_init.bin', import.meta.url)) {
  const r = await fetch(src);
  if (!r.ok) throw new Error(`${src}: HTTP ${r.status}`);
  return stateFrom(new Uint8Array(await r.arrayBuffer()));
}

function stepInputs(state, feeds, lr, t) {
  const inputs = { ...feeds, lr: new Float32Array([lr]) };
  if (TRAIN.optimizer === 'adam') {
    const [b1, b2] = TRAIN.betas;
    inputs.adam_c1 = new Float32Array([1 / (1 - b1 ** t)]);
    inputs.adam_c2 = new Float32Array([1 / Math.sqrt(1 - b2 ** t)]);
  }
  for (const p of TRAIN.params) {
    inputs[p.name] = { data: state[p.name], shape: p.shape };
    for (const s of p.slots) inputs[s] = { data: state[s], shape: p.shape };
  }
  return inputs;
}

/** One step: feeds {model inputs..., labels}, updates state; returns the loss. */
export function trainStep(m, state, feeds, lr) {
  state.step += 1;
  const out = m.run(stepInputs(state, feeds, lr, state.step));
  for (const p of TRAIN.params) {
    state[p.name] = out[`${p.name}.next`].slice();
    for (const s of p.slots) state[s] = out[`${s}.next`].slice();
  }
  return out.loss[0];
}

/** The model output for feeds {model inputs: {data, shape}} with the state's parameters (the step run with lr 0 and
 * zero labels; its updates are dropped, the state is unchanged). */
export function predict(m, state, feeds) {
  const lab = m.meta.inputs[TRAIN.numInputs], first = feeds[m.inputNames[0]];
  // cross-entropy: int64 labels [N] (N: the batch the feeds have); mse: the output's shape (static)
  const shape = lab.dtypeName === 'int64' ? [first.shape[0]] : lab.shape;
  if (shape.some((d) => typeof d !== 'number')) throw new Error('predict: pass labels for a symbolic mse output');
  const n = shape.reduce((a, b) => a * b, 1);
  const labels = { data: lab.dtypeName === 'int64' ? new BigInt64Array(n) : new Float32Array(n), shape };
  const out = m.run(stepInputs(state, { ...feeds, [lab.name]: labels }, 0, 1));
  return out[m.outputNames[1]];
}
