/* Text generation demo of an sdk bundle: one {{name}}_generate_text call per text (tokenizer, encoder, the
 * generation loop, detokenizer; {{name}}_text.h). Usage:
 *   ./{{name}}_ask [--beams B] [--max-len L] [--sample 1 --top-k K --top-p P --temperature T --seed S] "text" ...
 * Prints per text a line "text <the generated text>", then workspace_bytes and total_ms. The demo allocates the
 * arena with malloc (exactly {{name}}_text_workspace_size); the call itself never does. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "{{name}}_text.h"
{% if pool %}#include "sdk_pool.h"
{% endif %}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  sdk_generate_params p = sdk_generate_defaults();
  int64_t max_len = {{name_upper}}_MAX_LEN;
  int a = 1, new_set = 0;
{% if pool %}
  static sdk_pool pool; /* the kernels' threads ([cpu] threading = "pool"): all cores until --threads; static: its
                         * workers may still read it while the program exits */
  if (sdk_pool_start(&pool, 0) != SDK_OK) fprintf(stderr, "warning: no thread pool: one thread\n");
{% endif %}
  for (; a + 1 < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
    const char *k = argv[a], *v = argv[a + 1];
    if (strcmp(k, "--beams") == 0) p.num_beams = atoi(v);
    else if (strcmp(k, "--max-len") == 0) max_len = atoll(v);
    else if (strcmp(k, "--max-new") == 0) { p.max_new_tokens = atoi(v); new_set = 1; }
    else if (strcmp(k, "--sample") == 0) p.do_sample = atoi(v);
    else if (strcmp(k, "--top-k") == 0) p.top_k = atoi(v);
    else if (strcmp(k, "--top-p") == 0) p.top_p = (float)atof(v);
    else if (strcmp(k, "--temperature") == 0) p.temperature = (float)atof(v);
    else if (strcmp(k, "--seed") == 0) p.rng = strtoull(v, NULL, 10);
    else if (strcmp(k, "--length-penalty") == 0) p.length_penalty = (float)atof(v);
    else {
      fprintf(stderr, "error: unknown option %s\n", k);
      return 2;
    }
  }
  if (!new_set) p.max_new_tokens = (int32_t)(max_len - 1);
  if (a >= argc) {
    fprintf(stderr, "usage: %s [--beams B] [--max-len L] [options] \"text\" ...\n", argv[0]);
    return 2;
  }
  size_t need = {{name}}_text_workspace_size(p.num_beams > 1 ? p.num_beams : 1, max_len);
  if (need == (size_t)-1) {
    fprintf(stderr, "error: beams %d, max_len %lld: out of the compiled bounds\n", p.num_beams, (long long)max_len);
    return 2;
  }
  void *arena = malloc(need);
  char out[4096];
  if (!arena) return 1;
  double t0 = now_s();
  for (; a < argc; ++a) {
    size_t n = 0;
    sdk_status st = {{name}}_generate_text(arena, need, argv[a], strlen(argv[a]), max_len, &p, out, sizeof out, &n);
    if (st != SDK_OK) {
      fprintf(stderr, "error: %s\n", sdk_status_str(st));
      free(arena);
      return 3;
    }
    printf("text %s\n", out);
  }
  printf("workspace_bytes %zu\n", need);
  printf("total_ms %.6f\n", 1e3 * (now_s() - t0));
  free(arena);
  return 0;
}
