/* Token generation helpers (see sdk_generate.h). */
#include <math.h>
#include "sdk_generate.h"
#include "sdk_math.h"

sdk_generate_params sdk_generate_defaults(void) {
  sdk_generate_params p;
  p.max_new_tokens = 16;
  p.do_sample = 0;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.rng = 1;
  p.stop_tokens = NULL;
  p.num_stop_tokens = 0;
  p.num_beams = 1;
  p.length_penalty = 1.0f;
  p.on_token = NULL;
  p.user = NULL;
  return p;
}

uint64_t sdk_rng_next(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

double sdk_rng_uniform(uint64_t *state) {
  return (double)(sdk_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

int64_t sdk_argmax_f32(const float *x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i])) best = i;
  return best;
}

/* a comes before b: larger value first, then smaller index */
static int before(const float *x, int32_t a, int32_t b) {
  return x[a] > x[b] || (x[a] == x[b] && a < b);
}

static void sift_down(const float *x, int32_t *idx, int64_t root, int64_t n) {
  for (;;) {
    int64_t c = 2 * root + 1;
    if (c >= n) return;
    /* a heap whose root comes last in the order, so the sorted array ends up in order */
    if (c + 1 < n && before(x, idx[c], idx[c + 1])) ++c;
    if (!before(x, idx[root], idx[c])) return;
    int32_t t = idx[root];
    idx[root] = idx[c];
    idx[c] = t;
    root = c;
  }
}

void sdk_sort_desc_f32(const float *x, int32_t *idx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) idx[i] = (int32_t)i;
  for (int64_t i = n / 2 - 1; i >= 0; --i) sift_down(x, idx, i, n);
  for (int64_t end = n - 1; end > 0; --end) {
    int32_t t = idx[0];
    idx[0] = idx[end];
    idx[end] = t;
    sift_down(x, idx, 0, end);
  }
}

int64_t sdk_sample_f32(const float *logits, int64_t n, const sdk_generate_params *p, uint64_t *rng,
                       int32_t *scratch) {
  int64_t k = (p->top_k > 0 && p->top_k < n) ? p->top_k : n;
  double t = p->temperature > 0 ? (double)p->temperature : 1.0, m, total = 0, acc = 0, u;
  sdk_sort_desc_f32(logits, scratch, n);
  m = (double)logits[scratch[0]];
  /* unnormalised probabilities, summed in the sorted order (the Python mirror sums the same way) */
  for (int64_t j = 0; j < k; ++j) total += exp(((double)logits[scratch[j]] - m) / t);
  if (p->top_p < 1.0f) {
    double target = (double)p->top_p * total, cum = 0;
    for (int64_t j = 0; j < k; ++j) {
      cum += exp(((double)logits[scratch[j]] - m) / t);
      if (cum >= target) {
        k = j + 1;
        break;
      }
    }
    total = cum;
  }
  u = sdk_rng_uniform(rng) * total;
  for (int64_t j = 0; j < k; ++j) {
    acc += exp(((double)logits[scratch[j]] - m) / t);
    if (u < acc) return scratch[j];
  }
  return scratch[k - 1];
}

int sdk_is_stop_token(const sdk_generate_params *p, int64_t tok) {
  for (int32_t i = 0; i < p->num_stop_tokens; ++i)
    if (p->stop_tokens[i] == tok) return 1;
  return 0;
}

static double beam_norm(double score, int32_t len, float length_penalty) {
  return len > 0 ? score / pow((double)len, (double)length_penalty) : score;
}

/* insert candidate (norm, c) into the sorted best[0..*count) of capacity n (strictly better only: earlier
   candidates win ties) */
typedef struct {
  double norm, score;
  int64_t token;
  int32_t parent, len, done;
} beam_cand;

static void beam_insert(beam_cand *best, int32_t *count, int32_t n, beam_cand c) {
  int32_t i = *count < n ? (*count)++ : n;
  if (i == n && !(c.norm > best[n - 1].norm)) return;
  if (i == n) i = n - 1;
  while (i > 0 && c.norm > best[i - 1].norm) {
    best[i] = best[i - 1];
    --i;
  }
  best[i] = c;
}

/* x[sdk_argmax_f32(x, n)]: the largest value that is not NaN (x[0] when there is none), in eight lanes that
   compilers vectorise */
static float max_f32(const float *x, int64_t n) {
  float lane[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY}, mx;
  int64_t v = 0;
  for (; v + 8 <= n; v += 8)
    for (int k = 0; k < 8; ++k) lane[k] = x[v + k] > lane[k] ? x[v + k] : lane[k];
  for (int k = 0; v < n; ++v, ++k) lane[k] = x[v] > lane[k] ? x[v] : lane[k];
  mx = lane[0];
  for (int k = 1; k < 8; ++k) mx = lane[k] > mx ? lane[k] : mx;
  return mx == -INFINITY ? x[sdk_argmax_f32(x, n)] : mx; /* all -inf or NaN: as the arg-max decides */
}

/* sum over v of exp(x[v] - m), in double: eight running sums (a fixed order on every target) over a vectorisable
   exp (libm's exp per element was most of a beam step: 2000 of them per beam for the question generator) */
static double sum_exp_shifted(const float *x, int64_t n, double m) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, s;
  int64_t v = 0;
  for (; v + 8 <= n; v += 8)
    for (int k = 0; k < 8; ++k) acc[k] += sdk_exp_f64((double)x[v + k] - m);
  for (int k = 0; v < n; ++v, ++k) acc[k] += sdk_exp_f64((double)x[v] - m);
  s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
  return s;
}

void sdk_beam_step(const float *logits, int64_t vocab, int32_t n, const sdk_generate_params *p, sdk_beam *beams,
                   int32_t *parent, int64_t *token) {
  beam_cand best[SDK_MAX_BEAMS];
  int32_t count = 0;
  for (int32_t j = 0; j < n; ++j) {
    const float *x = logits + (int64_t)j * vocab;
    double m, lse = 0;
    if (beams[j].done) {
      beam_cand c = {beam_norm(beams[j].score, beams[j].len, p->length_penalty), beams[j].score, -1, j,
                     beams[j].len, 1};
      beam_insert(best, &count, n, c);
      continue;
    }
    if (beams[j].score == -INFINITY) continue; /* not started (the first step extends beam 0 only) */
    m = (double)max_f32(x, vocab);
    lse = log(sum_exp_shifted(x, vocab, m));
    /* every extension of beam j has the same length, so one divisor (pow is most of a candidate's cost otherwise);
       a candidate is built only when it beats the n-th best so far (beam_insert's own test, done first). The norm
       never decreases with the logit and the n-th best never decreases, so once the n places are taken a logit
       <= one already turned away (skip; -inf: always turned away then) is turned away too, without its norm. */
    const double d = pow((double)(beams[j].len + 1), (double)p->length_penalty);
    float skip = -INFINITY;
    for (int64_t v = 0; v < vocab; ++v) {
      if (count == n && x[v] <= skip) continue;
      const double score = beams[j].score + (((double)x[v] - m) - lse), norm = score / d;
      if (count == n && !(norm > best[n - 1].norm)) {
        skip = x[v] > skip ? x[v] : skip;
        continue;
      }
      beam_cand c = {norm, score, v, j, beams[j].len + 1, sdk_is_stop_token(p, v)};
      beam_insert(best, &count, n, c);
    }
  }
  for (int32_t i = 0; i < n; ++i) {
    if (i < count) {
      parent[i] = best[i].parent;
      token[i] = best[i].token;
      beams[i].score = best[i].score;
      beams[i].len = best[i].len;
      beams[i].done = best[i].done;
    } else { /* fewer candidates than beams: an empty beam that never wins */
      parent[i] = 0;
      token[i] = -1;
      beams[i].score = -INFINITY;
      beams[i].len = 0;
      beams[i].done = 1;
    }
  }
}

void sdk_beam_order(const sdk_beam *beams, int32_t n, float length_penalty, int32_t *order) {
  for (int32_t i = 0; i < n; ++i) {
    int32_t k = i;
    double ni = beam_norm(beams[i].score, beams[i].len, length_penalty);
    while (k > 0 && ni > beam_norm(beams[order[k - 1]].score, beams[order[k - 1]].len, length_penalty)) {
      order[k] = order[k - 1];
      --k;
    }
    order[k] = i;
  }
}
