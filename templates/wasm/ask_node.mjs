// Text in, text out with this bundle in node (built with --generate, --vocab and --encoder), the command line of the
// C demo {{name}}_ask (templates/c_project/text_main.c):
//   node ask_node.mjs [--beams B] [--max-len L] [--max-new N] [--sample 0|1 --top-k K --top-p P --temperature T
//        --seed S] [--length-penalty A] "text" ...
// Prints per text a line "text <the generated text>", then workspace_bytes and total_ms.
import { Model } from './{{name}}.mjs';

const args = process.argv.slice(2), opts = {};
const keys = { '--beams': 'numBeams', '--max-len': 'maxLen', '--max-new': 'maxNewTokens', '--top-k': 'topK',
  '--top-p': 'topP', '--temperature': 'temperature', '--length-penalty': 'lengthPenalty' };
while (args.length > 1 && args[0].startsWith('--')) {
  const [k, val] = args.splice(0, 2);
  if (k === '--sample') opts.doSample = val !== '0';
  else if (k === '--seed') opts.seed = BigInt(val);
  else if (k in keys) opts[keys[k]] = Number(val);
  else { console.error(`unknown option ${k}`); process.exit(2); }
}
if (!args.length) {
  console.error('usage: node ask_node.mjs [--beams B] [--max-len L] [options] "text" ...');
  process.exit(2);
}
const m = await Model.load();
opts.maxNewTokens ??= (opts.maxLen ?? m.meta.generate.maxLen) - 1;  // as the C demo
let got;
const t0 = performance.now();
try {
  got = m.generateText(args, opts);
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
const ms = performance.now() - t0;
got.forEach((t) => console.log(`text ${t}`));
console.log(`workspace_bytes ${m.lastGenerateWorkspace}`);
console.log(`total_ms ${ms.toFixed(4)}`);
