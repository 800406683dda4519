// The fine-tuning demo's logic: draw shapes on canvases, fine-tune the classifier of a compiled model (its training
// step in WebAssembly, ./shapes/train.mjs) on them, and measure the accuracy on other drawn shapes before and after.
import { Model } from './shapes/shapes.mjs';
import { loadState, trainStep, predict } from './shapes/train.mjs';

export const NAMES = ['circle', 'square', 'triangle', 'cross'];
export const SIZE = 28, BATCH = 16;

/** A seeded generator in [0, 1) (mulberry32): the same shapes on every load. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n shapes [kind, cx, cy, r, angle], the classes in turn (the geometry of examples/finetune/shapes.py). */
export function randomShapes(rand, n) {
  const u = (lo, hi) => lo + (hi - lo) * rand();
  return Array.from({ length: n }, (_, k) => [k % 4, u(9, 19), u(9, 19), u(6, 10), u(0, 2 * Math.PI)]);
}

/** Draw one shape, white on black, on a 28x28 2D context. */
export function drawShape(ctx, [kind, cx, cy, r, angle]) {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, SIZE, SIZE);
  ctx.fillStyle = '#fff';
  ctx.translate(cx, cy);
  ctx.rotate(angle);
  ctx.beginPath();
  if (kind === 0) {
    ctx.arc(0, 0, 0.9 * r, 0, 2 * Math.PI);
  } else if (kind === 1) {
    ctx.rect(-0.75 * r, -0.75 * r, 1.5 * r, 1.5 * r);
  } else if (kind === 2) {
    for (let k = 0; k < 3; ++k) ctx.lineTo(r * Math.cos(2 * Math.PI * k / 3), r * Math.sin(2 * Math.PI * k / 3));
    ctx.closePath();
  } else {
    const w = 0.22 * r;
    ctx.rect(-r, -w, 2 * r, 2 * w);
    ctx.rect(-w, -r, 2 * w, 2 * r);
  }
  ctx.fill('nonzero');
  ctx.setTransform(1, 0, 0, 1, 0, 0);
}

/** Draw shapes on canvases (appended to ``parent`` when given); returns {images: Float32Array [n,1,28,28],
 * labels: BigInt64Array, canvases}. */
export function drawSet(shapes, parent = null) {
  const images = new Float32Array(shapes.length * SIZE * SIZE), labels = new BigInt64Array(shapes.length);
  const canvases = shapes.map((s, i) => {
    const c = document.createElement('canvas');
    c.width = c.height = SIZE;
    const ctx = c.getContext('2d', { willReadFrequently: true });
    drawShape(ctx, s);
    const px = ctx.getImageData(0, 0, SIZE, SIZE).data;
    for (let p = 0; p < SIZE * SIZE; ++p) images[i * SIZE * SIZE + p] = px[4 * p] / 255;
    labels[i] = BigInt(s[0]);
    if (parent) parent.append(c);
    return c;
  });
  return { images, labels, canvases };
}

function batch(set, b) {
  const n = SIZE * SIZE;
  return {
    image: { data: set.images.subarray(b * BATCH * n, (b + 1) * BATCH * n), shape: [BATCH, 1, SIZE, SIZE] },
    labels: { data: set.labels.subarray(b * BATCH, (b + 1) * BATCH), shape: [BATCH] },
  };
}

/** Predicted classes of a set (batches of 16) and the accuracy per class and overall. */
export function evaluate(m, state, set) {
  const n = set.labels.length, pred = new Int32Array(n);
  for (let b = 0; b < n / BATCH; ++b) {
    const logits = predict(m, state, { image: batch(set, b).image });
    for (let i = 0; i < BATCH; ++i) {
      const row = logits.subarray(i * 4, i * 4 + 4);
      pred[b * BATCH + i] = row.indexOf(Math.max(...row));
    }
  }
  const perClass = NAMES.map((_, k) => {
    let hit = 0, all = 0;
    for (let i = 0; i < n; ++i) if (Number(set.labels[i]) === k) { all += 1; hit += pred[i] === k; }
    return hit / all;
  });
  let hit = 0;
  for (let i = 0; i < n; ++i) hit += pred[i] === Number(set.labels[i]);
  return { pred: Array.from(pred), perClass, overall: hit / n };
}

/** Load the model and its initial training state. */
export async function load() {
  const m = await Model.load();
  return { m, state: await loadState() };
}

/** ``steps`` SGD steps over the training set's batches in turn; ``onStep(s, loss)`` after each (awaited: the
 * page repaints). Returns the losses. */
export async function fineTune(m, state, set, steps, lr, onStep = async () => {}) {
  const losses = [], nb = set.labels.length / BATCH;
  for (let s = 0; s < steps; ++s) {
    const { image, labels } = batch(set, s % nb);
    losses.push(trainStep(m, state, { image, labels }, lr));
    await onStep(s, losses[s]);
  }
  return losses;
}
