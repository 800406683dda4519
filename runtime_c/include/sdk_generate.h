/* Token generation helpers every model_generate links: the seeded RNG, arg-max, top-k/top-p sampling and the
 * beam-search bookkeeping. C99, no malloc, no globals: the RNG state lives in the caller's parameters and
 * scratch memory comes from the caller's arena. Python mirrors every function (sdk/generate/sampler.py) so a
 * reference loop over onnxruntime draws the same tokens. */
#ifndef SDK_GENERATE_H
#define SDK_GENERATE_H

#include <stddef.h>
#include <stdint.h>
#include "sdk_status.h"

#define SDK_MAX_BEAMS 64

/* Called after every generated step: row b's new token is tokens[b * max_len + pos] (rows already stopped
 * repeat their last token). */
typedef void (*sdk_on_token_fn)(void *user, int64_t pos, const int64_t *tokens, int64_t batch, int64_t max_len);

typedef struct {
  int32_t max_new_tokens;     /* stop after this many new tokens (and when max_len tokens are reached) */
  int32_t do_sample;          /* 0: greedy (arg-max, first index on ties); 1: sample */
  float temperature;          /* sampling: logits / temperature (> 0) */
  int32_t top_k;              /* sampling: keep the k most likely tokens (0: all) */
  float top_p;                /* sampling: then the smallest prefix with this probability mass (1: all) */
  uint64_t rng;               /* sampling: xorshift64* state, non-zero; advanced by every draw */
  const int64_t *stop_tokens; /* a row stops after emitting one of these */
  int32_t num_stop_tokens;
  int32_t num_beams;          /* > 1: beam search over the batch rows (batch == num_beams, one prompt) */
  float length_penalty;       /* beam search: hypotheses ranked by score / generated_length^length_penalty */
  sdk_on_token_fn on_token;   /* optional streaming callback */
  void *user;
} sdk_generate_params;

/* Defaults: greedy, 16 new tokens, temperature 1, no top-k/top-p, seed 1, no stop tokens, no beams. */
sdk_generate_params sdk_generate_defaults(void);

/* xorshift64*: next 64-bit value; *state must be non-zero. */
uint64_t sdk_rng_next(uint64_t *state);

/* Uniform double in [0, 1) from the top 53 bits of the next value. */
double sdk_rng_uniform(uint64_t *state);

/* Index of the largest of x[0..n) (the first one on ties; NaN never wins). */
int64_t sdk_argmax_f32(const float *x, int64_t n);

/* Sort idx[0..n) = 0..n-1 by x descending, index ascending on ties (heapsort: no allocation). */
void sdk_sort_desc_f32(const float *x, int32_t *idx, int64_t n);

/* Draw a token from logits[0..n) with p's temperature, top_k and top_p, advancing *rng. scratch: n int32. */
int64_t sdk_sample_f32(const float *logits, int64_t n, const sdk_generate_params *p, uint64_t *rng,
                       int32_t *scratch);

/* A beam-search hypothesis: the sum of its tokens' log-probabilities, how many tokens it generated and whether it
 * ended with a stop token. Ranked by score / len^length_penalty. */
typedef struct {
  double score;
  int32_t len;
  int32_t done;
} sdk_beam;

/* One beam-search step over beams[0..n): logits [n, vocab] of each beam's last token. The candidates are every live
 * beam extended by every token and every finished beam as it is; the n best by normalised score (candidate
 * j * vocab + v ascending on ties) become the new beams: beams[i] updated, parent[i] its beam, token[i] the token
 * it adds (-1: a finished beam kept). n <= SDK_MAX_BEAMS, vocab >= n. A beam with score -INFINITY that is not done
 * is not started (the first step extends beam 0 only). */
void sdk_beam_step(const float *logits, int64_t vocab, int32_t n, const sdk_generate_params *p, sdk_beam *beams,
                   int32_t *parent, int64_t *token);

/* Rank of beams by normalised score, best first (index ascending on ties): order[0..n). */
void sdk_beam_order(const sdk_beam *beams, int32_t n, float length_penalty, int32_t *order);

/* 1 if tok is one of p's stop tokens. */
int sdk_is_stop_token(const sdk_generate_params *p, int64_t tok);

#endif
