/* WordPiece tokenization with BERT's basic tokenization (Hugging Face's BertNormalizer + BertPreTokenizer +
 * WordPiece + the [CLS] ... [SEP] template): the C twin of sdk/text/wordpiece.py, which gives the same ids.
 * C99, no malloc, no globals: the vocabulary is a const table (a bundle's <name>_vocab.c, written by
 * sdk.text.vocab_c), the Unicode classes and mappings are const tables (sdk_text_tables.c, generated), and the
 * only scratch is one word on the stack (SDK_WORDPIECE_MAX_WORD code points, about 5 bytes each). */
#ifndef SDK_TEXT_H
#define SDK_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include "sdk_status.h"

#ifndef SDK_WORDPIECE_MAX_WORD
#define SDK_WORDPIECE_MAX_WORD 128 /* longest word tokenized (longer words are one unk); >= max_chars_per_word */
#endif

/* Character classes of sdk/text/unicode_classes.py. */
enum { SDK_TEXT_OTHER = 0, SDK_TEXT_CONTROL = 1, SDK_TEXT_SPACE = 2, SDK_TEXT_PUNCT = 3, SDK_TEXT_CJK = 4,
       SDK_TEXT_MARK = 5 };

typedef struct {
  const char *const *tokens;  /* tokens[id]: the token, UTF-8, NUL-terminated */
  const uint32_t *sorted;     /* the ids sorted by their token's bytes (unsigned, shorter first) */
  uint32_t size;              /* number of tokens */
  int64_t unk_id, cls_id, sep_id; /* -1: none (cls/sep are needed for add_special) */
  int32_t lowercase;          /* 1: lower-case and strip accents (BERT uncased) */
  int32_t max_chars_per_word; /* longer words are one unk_id (HF's max_input_chars_per_word, 100) */
} sdk_wordpiece_vocab;

/* Token ids of len bytes of UTF-8 text (invalid bytes are dropped as U+FFFD is). add_special: [CLS] first and
 * [SEP] last. At most max_ids ids are written (the text is truncated, [SEP] kept, as HF's truncation does);
 * *n_ids receives the count. SDK_ERR_BAD_ARG: max_ids < 2 with add_special, a vocab without cls/sep for
 * add_special, or max_chars_per_word > SDK_WORDPIECE_MAX_WORD. */
sdk_status sdk_wordpiece_encode(const sdk_wordpiece_vocab *vocab, const char *text, size_t len, int add_special,
                                int64_t *ids, size_t max_ids, size_t *n_ids);

/* The id of one token (len bytes, with a "##" prefix when continuation != 0), or -1. */
int64_t sdk_wordpiece_lookup(const sdk_wordpiece_vocab *vocab, int continuation, const char *token, size_t len);

/* Class of one code point (SDK_TEXT_*). */
int sdk_text_class(uint32_t cp);

/* Accent-stripped lower-case mapping of one code point into out (up to 3 code points); returns the count. */
int sdk_text_map(uint32_t cp, uint32_t out[3]);

/* Decodes the code point at text[*pos] (len bytes in all) and advances *pos; invalid UTF-8 gives 0xFFFD. */
uint32_t sdk_utf8_next(const char *text, size_t len, size_t *pos);

/* The generated tables (sdk_text_tables.c). */
extern const uint32_t sdk_text_class_ranges[];
extern const uint32_t sdk_text_num_class_ranges;
extern const uint32_t sdk_text_map_from[];
extern const uint32_t sdk_text_map_val[];
extern const uint32_t sdk_text_map_out[];
extern const uint32_t sdk_text_num_maps;

#endif
