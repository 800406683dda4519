// Generate with this bundle in node (built with --generate), the same command line as the C demo program:
//   node generate_node.mjs --max-len L [--max-new N] [--sample 0|1] [--temperature T] [--top-k K] [--top-p P]
//        [--seed S] [--stop TOKEN]... [--beams B] [--length-penalty A] [--context FILE]...
//        [--repeat N] PROMPT.sdkt TOKENS.sdkt LENGTHS.sdkt
// --context: the step's context inputs' tensor files, in order (an encoder's states).
// Prints workspace_bytes, total_ms (with --repeat N: the median of N runs) and new_tokens.
import { Model } from './{{name}}.mjs';
import { readTensor, writeTensor } from './run_node.mjs';

const args = process.argv.slice(2), opts = { stopTokens: [] }, contexts = [];
let repeat = 1;
const keys = { '--max-len': 'maxLen', '--max-new': 'maxNewTokens', '--temperature': 'temperature', '--top-k': 'topK',
  '--top-p': 'topP', '--beams': 'numBeams', '--length-penalty': 'lengthPenalty' };
while (args[0] && args[0].startsWith('--')) {
  const [k, val] = args.splice(0, 2);
  if (k === '--stop') opts.stopTokens.push(Number(val));
  else if (k === '--context') contexts.push(readTensor(val));
  else if (k === '--sample') opts.doSample = val !== '0';
  else if (k === '--seed') opts.seed = BigInt(val);
  else if (k === '--repeat') repeat = Math.max(1, Number(val));
  else if (k in keys) opts[keys[k]] = Number(val);
  else { console.error(`unknown option ${k}`); process.exit(2); }
}
if (args.length !== 3) {
  console.error('usage: node generate_node.mjs --max-len L [options] PROMPT.sdkt TOKENS.sdkt LENGTHS.sdkt');
  process.exit(2);
}
const m = await Model.load(), p = readTensor(args[0]);
if (contexts.length) opts.context = Object.fromEntries(m.meta.generate.context.map((n, k) => [n, contexts[k]]));
const prompts = [];
for (let b = 0; b < p.shape[0]; ++b) prompts.push(Array.from(p.data.slice(b * p.shape[1], (b + 1) * p.shape[1]), Number));
let rows;
const times = [];
for (let r = 0; r < repeat; ++r) {
  const t0 = performance.now();
  try {
    rows = m.generate(prompts, opts);
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
  times.push(performance.now() - t0);
}
times.sort((x, y) => x - y);
const ms = times[repeat >> 1], maxLen = opts.maxLen ?? m.meta.generate.maxLen;
const tokens = new BigInt64Array(rows.length * maxLen), lengths = new BigInt64Array(rows.length);
rows.forEach((r, b) => { lengths[b] = BigInt(r.length); r.forEach((t, k) => { tokens[b * maxLen + k] = BigInt(t); }); });
Object.defineProperty(tokens, 'shape', { value: [rows.length, maxLen] });
Object.defineProperty(lengths, 'shape', { value: [rows.length] });
writeTensor(args[1], tokens, 7);
writeTensor(args[2], lengths, 7);
console.log(`workspace_bytes ${m.lastGenerateWorkspace}`);
console.log(`total_ms ${ms.toFixed(4)}`);
console.log(`new_tokens ${Math.max(...rows.map((r) => r.length)) - p.shape[1]}`);
