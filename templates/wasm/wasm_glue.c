/* JS-facing extras of the {{name}} wasm module. The loader ({{name}}.mjs) places
 * tensors and the arena above the heap base, in memory no C code uses. */
#include <stdint.h>

extern unsigned char __heap_base;

uint32_t {{name}}_heap_base(void) { return (uint32_t)(uintptr_t)&__heap_base; }
{% if generate %}

/* Generation with int32/float arguments only (no int64 at the JS boundary): {{name}}.mjs generate(). */
#include "{{name}}_generate.h"

uint32_t {{name}}_gen_params_size(void) { return (uint32_t)sizeof(sdk_generate_params); }

/* Streaming: the JS host's import, called after every step when gen_params' stream is 1 ({{name}}.mjs
 * generate({onToken})). */
__attribute__((import_module("env"), import_name("{{name}}_on_token")))
void {{name}}_js_on_token(int32_t pos, const int64_t *tokens, int32_t rows, int32_t max_len);

static void {{name}}_stream(void *user, int64_t pos, const int64_t *tokens, int64_t rows, int64_t max_len) {
  (void)user;
  {{name}}_js_on_token((int32_t)pos, tokens, (int32_t)rows, (int32_t)max_len);
}

void {{name}}_gen_params(sdk_generate_params *p, int32_t max_new_tokens, int32_t do_sample, float temperature,
                         int32_t top_k, float top_p, uint32_t seed_lo, uint32_t seed_hi, const int64_t *stops,
                         int32_t num_stops, int32_t num_beams, float length_penalty, int32_t stream) {
  *p = sdk_generate_defaults();
  if (stream) p->on_token = {{name}}_stream;
  p->max_new_tokens = max_new_tokens;
  p->do_sample = do_sample;
  p->temperature = temperature;
  p->top_k = top_k;
  p->top_p = top_p;
  p->rng = ((uint64_t)seed_hi << 32) | seed_lo;
  p->stop_tokens = stops;
  p->num_stop_tokens = num_stops;
  p->num_beams = num_beams;
  p->length_penalty = length_penalty;
}

/* context: the context inputs' tensors in order ({{name}}_generate.h), or NULL when the step has none */
uint32_t {{name}}_gen_workspace(int32_t rows, int32_t max_len, const sdk_tensor *context) {
  size_t n = {{name}}_generate_workspace_size(rows, max_len, context);
  return n == (size_t)-1 ? 0xffffffffu : (uint32_t)n;
}

int32_t {{name}}_gen(void *arena, uint32_t size, const int64_t *prompt, int32_t batch, int32_t prompt_len,
                     int32_t max_len, const sdk_tensor *context, sdk_generate_params *p, int64_t *tokens,
                     int64_t *lengths) {
  return (int32_t){{name}}_generate(arena, size, prompt, batch, prompt_len, max_len, context, p, tokens, lengths);
}
{% endif %}
{% if text %}

/* Text in, text out ({{name}}_text.h): {{name}}.mjs generateText(). */
#include "{{name}}_text.h"

uint32_t {{name}}_gen_text_workspace(int32_t rows, int32_t max_len) {
  size_t n = {{name}}_text_workspace_size(rows, max_len);
  return n == (size_t)-1 ? 0xffffffffu : (uint32_t)n;
}

int32_t {{name}}_gen_text(void *arena, uint32_t size, const char *text, uint32_t len, int32_t max_len,
                          sdk_generate_params *p, char *out, uint32_t out_cap, uint32_t *out_len) {
  size_t n = 0;
  sdk_status st = {{name}}_generate_text(arena, size, text, len, max_len, p, out, out_cap, &n);
  *out_len = (uint32_t)n;
  return (int32_t)st;
}
{% endif %}
