/* WordPiece tokenization (see sdk_text.h); mirrors sdk/text/wordpiece.py step by step. */
#include "sdk_text.h"

#define HANGUL_FIRST 0xAC00u
#define HANGUL_LAST 0xD7A3u

uint32_t sdk_utf8_next(const char *text, size_t len, size_t *pos) {
  const unsigned char *s = (const unsigned char *)text;
  size_t i = *pos;
  uint32_t c = s[i], min;
  int n;
  if (c < 0x80) { *pos = i + 1; return c; }
  if (c >= 0xC2 && c <= 0xDF) { n = 1; c &= 0x1F; min = 0x80; }
  else if (c >= 0xE0 && c <= 0xEF) { n = 2; c &= 0x0F; min = 0x800; }
  else if (c >= 0xF0 && c <= 0xF4) { n = 3; c &= 0x07; min = 0x10000; }
  else { *pos = i + 1; return 0xFFFDu; }
  for (int k = 1; k <= n; ++k) {
    if (i + (size_t)k >= len || (s[i + k] & 0xC0) != 0x80) { *pos = i + (size_t)k; return 0xFFFDu; }
    c = (c << 6) | (s[i + k] & 0x3Fu);
  }
  *pos = i + (size_t)n + 1;
  if (c < min || c > 0x10FFFFu || (c >= 0xD800u && c <= 0xDFFFu)) return 0xFFFDu;
  return c;
}

int sdk_text_class(uint32_t cp) {
  /* last range whose first code point is <= cp (the first range starts at 0) */
  uint32_t lo = 0, hi = sdk_text_num_class_ranges;
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if ((sdk_text_class_ranges[mid] >> 3) <= cp) lo = mid; else hi = mid;
  }
  return (int)(sdk_text_class_ranges[lo] & 7u);
}

int sdk_text_map(uint32_t cp, uint32_t out[3]) {
  if (cp >= HANGUL_FIRST && cp <= HANGUL_LAST) { /* algorithmic NFD; jamo have no lower case */
    uint32_t s = cp - HANGUL_FIRST;
    out[0] = 0x1100u + s / 588u;
    out[1] = 0x1161u + (s % 588u) / 28u;
    if (s % 28u == 0) return 2;
    out[2] = 0x11A7u + s % 28u;
    return 3;
  }
  uint32_t lo = 0, hi = sdk_text_num_maps;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (sdk_text_map_from[mid] < cp) lo = mid + 1; else hi = mid;
  }
  if (lo < sdk_text_num_maps && sdk_text_map_from[lo] == cp) {
    uint32_t v = sdk_text_map_val[lo], off = v & 0xFFFFu, n = v >> 16;
    for (uint32_t k = 0; k < n; ++k) out[k] = sdk_text_map_out[off + k];
    return (int)n;
  }
  out[0] = cp;
  return 1;
}

/* Compares ("##" if continuation) + key[0..len) with a NUL-terminated token, bytes unsigned. */
static int compare_token(int continuation, const char *key, size_t len, const char *tok) {
  const unsigned char *t = (const unsigned char *)tok;
  size_t total = len + (continuation ? 2u : 0u);
  for (size_t i = 0; i < total; ++i) {
    unsigned char k = continuation ? (i < 2 ? (unsigned char)'#' : (unsigned char)key[i - 2])
                                   : (unsigned char)key[i];
    if (t[i] == 0) return 1; /* the token is a proper prefix of the key */
    if (k != t[i]) return k < t[i] ? -1 : 1;
  }
  return t[total] == 0 ? 0 : -1;
}

int64_t sdk_wordpiece_lookup(const sdk_wordpiece_vocab *v, int continuation, const char *token, size_t len) {
  uint32_t lo = 0, hi = v->size;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2, id = v->sorted[mid];
    int c = compare_token(continuation, token, len, v->tokens[id]);
    if (c == 0) return (int64_t)id;
    if (c < 0) hi = mid; else lo = mid + 1;
  }
  return -1;
}

typedef struct {
  char bytes[4 * SDK_WORDPIECE_MAX_WORD];
  uint16_t starts[SDK_WORDPIECE_MAX_WORD + 1]; /* starts[i]: byte offset of char i; starts[n] = the end */
  int n;                                        /* chars stored */
  int too_long;                                 /* more than max_chars_per_word chars: one unk */
} word_buf;

typedef struct {
  int64_t *ids;
  size_t n, cap; /* ids written; room for the body */
} id_sink;

static void word_push(word_buf *w, uint32_t cp, int max_chars) {
  if (w->too_long) return;
  if (w->n >= max_chars) { w->too_long = 1; return; }
  char *p = w->bytes + w->starts[w->n];
  int k;
  if (cp < 0x80u) { p[0] = (char)cp; k = 1; }
  else if (cp < 0x800u) { p[0] = (char)(0xC0u | (cp >> 6)); p[1] = (char)(0x80u | (cp & 0x3Fu)); k = 2; }
  else if (cp < 0x10000u) {
    p[0] = (char)(0xE0u | (cp >> 12)); p[1] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
    p[2] = (char)(0x80u | (cp & 0x3Fu)); k = 3;
  } else {
    p[0] = (char)(0xF0u | (cp >> 18)); p[1] = (char)(0x80u | ((cp >> 12) & 0x3Fu));
    p[2] = (char)(0x80u | ((cp >> 6) & 0x3Fu)); p[3] = (char)(0x80u | (cp & 0x3Fu)); k = 4;
  }
  w->starts[w->n + 1] = (uint16_t)(w->starts[w->n] + k);
  w->n++;
}

static void sink_push(id_sink *s, size_t at, int64_t id) {
  if (at < s->cap) s->ids[at] = id;
}

/* Greedy longest-match-first pieces of the buffered word; the whole word is one unk when a piece is missing.
 * Ids past the sink's room are dropped (truncation). Empties the word. */
static void word_flush(const sdk_wordpiece_vocab *v, word_buf *w, id_sink *s) {
  if (w->n == 0 && !w->too_long) return;
  size_t k = 0;
  if (w->too_long) {
    sink_push(s, s->n, v->unk_id);
    k = 1;
  } else {
    int start = 0;
    while (start < w->n) {
      int end = w->n;
      int64_t id = -1;
      for (; end > start; --end) {
        id = sdk_wordpiece_lookup(v, start > 0, w->bytes + w->starts[start],
                                  (size_t)(w->starts[end] - w->starts[start]));
        if (id >= 0) break;
      }
      if (id < 0) { sink_push(s, s->n, v->unk_id); k = 1; break; } /* drop the pieces found */
      sink_push(s, s->n + k, id);
      ++k;
      start = end;
    }
  }
  s->n = s->n + k < s->cap ? s->n + k : s->cap;
  w->n = 0;
  w->too_long = 0;
}

sdk_status sdk_wordpiece_encode(const sdk_wordpiece_vocab *v, const char *text, size_t len, int add_special,
                                int64_t *ids, size_t max_ids, size_t *n_ids) {
  if (!v || (!text && len) || !ids || !n_ids) return SDK_ERR_NULL_ARG;
  if (v->max_chars_per_word < 1 || v->max_chars_per_word > SDK_WORDPIECE_MAX_WORD || v->unk_id < 0)
    return SDK_ERR_BAD_ARG;
  if (add_special && (max_ids < 2 || v->cls_id < 0 || v->sep_id < 0)) return SDK_ERR_BAD_ARG;
  word_buf w;
  w.n = 0; w.too_long = 0; w.starts[0] = 0;
  id_sink s;
  s.ids = add_special ? ids + 1 : ids;
  s.n = 0;
  s.cap = add_special ? max_ids - 2 : max_ids;
  size_t pos = 0;
  while (pos < len && s.n < s.cap) {
    uint32_t c = sdk_utf8_next(text, len, &pos), mapped[3];
    int k = sdk_text_class(c);
    if (k == SDK_TEXT_CONTROL || (k == SDK_TEXT_MARK && v->lowercase)) continue;
    if (k == SDK_TEXT_SPACE || k == SDK_TEXT_CJK) {
      word_flush(v, &w, &s);
      if (k == SDK_TEXT_SPACE) continue;
    }
    int n = 1;
    if (v->lowercase) n = sdk_text_map(c, mapped); else mapped[0] = c;
    for (int i = 0; i < n; ++i) {
      int mk = sdk_text_class(mapped[i]);
      if (mk == SDK_TEXT_SPACE) {
        word_flush(v, &w, &s);
      } else if (mk == SDK_TEXT_PUNCT) {
        word_flush(v, &w, &s);
        word_push(&w, mapped[i], v->max_chars_per_word);
        word_flush(v, &w, &s);
      } else {
        word_push(&w, mapped[i], v->max_chars_per_word);
      }
    }
    if (k == SDK_TEXT_CJK) word_flush(v, &w, &s);
  }
  word_flush(v, &w, &s);
  if (add_special) {
    ids[0] = v->cls_id;
    ids[1 + s.n] = v->sep_id;
    *n_ids = s.n + 2;
  } else {
    *n_ids = s.n;
  }
  return SDK_OK;
}
