// WordPiece tokenizer with BERT's basic tokenization: the JS twin of sdk/text/wordpiece.py and
// runtime_c/src/sdk_text.c (the same ids). No dependencies; works in browsers and node.
//   import { WordPiece } from "./wordpiece.mjs";
//   const tok = WordPiece.fromVocabText(await (await fetch("vocab.txt")).text());
//   tok.encode("Héllo, world!");          // [101, 7592, 1010, 2088, 999, 102] with BERT's uncased vocab
import { CLASS_STARTS, CLASSES, MAP_FROM, MAP_TO } from "./unicode_tables.mjs";

const OTHER = 0, CONTROL = 1, SPACE = 2, PUNCT = 3, CJK = 4, MARK = 5;
const HANGUL_FIRST = 0xac00, HANGUL_LAST = 0xd7a3;
let mapTable = null; // code point -> array of code points, built on first use

export function charClass(cp) {
  let lo = 0, hi = CLASS_STARTS.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (CLASS_STARTS[mid] <= cp) lo = mid; else hi = mid;
  }
  return CLASSES.charCodeAt(lo) - 48;
}

export function charMap(cp) {
  if (cp >= HANGUL_FIRST && cp <= HANGUL_LAST) {
    const s = cp - HANGUL_FIRST, out = [0x1100 + Math.floor(s / 588), 0x1161 + Math.floor((s % 588) / 28)];
    if (s % 28) out.push(0x11a7 + (s % 28));
    return out;
  }
  if (mapTable === null) {
    mapTable = new Map();
    const to = MAP_TO.split(",");
    MAP_FROM.forEach((c, i) => mapTable.set(c, to[i] === "" ? [] : to[i].split(".").map(Number)));
  }
  return mapTable.get(cp) ?? [cp];
}

export class WordPiece {
  // vocab: token strings (id = index); options as in Python's WordPiece.
  constructor(vocab, { lowercase = true, unk = "[UNK]", cls = "[CLS]", sep = "[SEP]", maxCharsPerWord = 100 } = {}) {
    this.vocab = vocab;
    this.ids = new Map(vocab.map((t, i) => [t, i]));
    if (!this.ids.has(unk)) throw new Error(`WordPiece vocab has no unknown token ${unk}`);
    this.lowercase = lowercase;
    this.maxCharsPerWord = maxCharsPerWord;
    this.unkId = this.ids.get(unk);
    this.clsId = this.ids.get(cls) ?? -1;
    this.sepId = this.ids.get(sep) ?? -1;
  }

  // vocab.txt text: one token a line.
  static fromVocabText(text, options) {
    const lines = text.split("\n").map((t) => (t.endsWith("\r") ? t.slice(0, -1) : t)); // LF or CRLF lines
    if (lines.length && lines[lines.length - 1] === "") lines.pop();
    return new WordPiece(lines, options);
  }

  // Basic tokenization: the normalized words and punctuation marks (each an array of code points).
  words(text) {
    const words = [];
    let cur = [];
    const flush = () => { if (cur.length) { words.push(cur); cur = []; } };
    for (const ch of text) {
      const c = ch.codePointAt(0), k = charClass(c);
      if (k === CONTROL || (k === MARK && this.lowercase)) continue;
      if (k === SPACE || k === CJK) {
        flush();
        if (k === SPACE) continue;
      }
      for (const m of this.lowercase ? charMap(c) : [c]) {
        const mk = charClass(m);
        if (mk === SPACE) flush();
        else if (mk === PUNCT) { flush(); words.push([m]); }
        else cur.push(m);
      }
      if (k === CJK) flush();
    }
    flush();
    return words;
  }

  // Greedy longest-match-first pieces of one word (an array of code points).
  wordIds(word) {
    if (word.length > this.maxCharsPerWord) return [this.unkId];
    const out = [];
    let start = 0;
    while (start < word.length) {
      let end = word.length, id;
      for (; end > start; --end) {
        const piece = String.fromCodePoint(...word.slice(start, end));
        id = this.ids.get(start === 0 ? piece : "##" + piece);
        if (id !== undefined) break;
      }
      if (id === undefined) return [this.unkId];
      out.push(id);
      start = end;
    }
    return out;
  }

  // Token ids; addSpecialTokens: [CLS] ... [SEP]; maxLength truncates (the [SEP] kept).
  encode(text, { addSpecialTokens = true, maxLength = null } = {}) {
    let ids = [];
    for (const w of this.words(text)) ids.push(...this.wordIds(w));
    if (!addSpecialTokens) return maxLength === null ? ids : ids.slice(0, maxLength);
    if (this.clsId < 0 || this.sepId < 0) throw new Error("WordPiece vocab has no [CLS]/[SEP]");
    if (maxLength !== null) ids = ids.slice(0, Math.max(0, maxLength - 2));
    return [this.clsId, ...ids, this.sepId];
  }

  // Tokens joined by spaces, "##" pieces glued to the previous one.
  decode(ids, { skipSpecialTokens = true } = {}) {
    let out = "";
    for (const i of ids) {
      if (skipSpecialTokens && (i === this.clsId || i === this.sepId || this.vocab[i] === "[PAD]")) continue;
      const t = this.vocab[i];
      out += t.startsWith("##") && out ? t.slice(2) : (out ? " " + t : t);
    }
    return out;
  }
}
