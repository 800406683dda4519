/* Token generation demo of an sdk bundle: reads a prompt (int64 [batch, prompt_len] tensor file), generates with
 * {{name}}_generate, writes the tokens (int64 [batch, max_len]) and their lengths (int64 [batch]). Usage:
 *   ./{{name}}_generate --max-len L [--max-new N] [--sample 0|1] [--temperature T] [--top-k K] [--top-p P]
 *                       [--seed S] [--stop TOKEN]... [--beams B] [--length-penalty A] [--context FILE]...
 *                       [--repeat N] PROMPT.sdkt TOKENS.sdkt LENGTHS.sdkt
 * With --beams B > 1 (one prompt), TOKENS and LENGTHS hold the B beams, best first. --context: the context
 * inputs' tensor files in order ({{name}}_generate.h), e.g. an encoder's states.
 * Prints workspace_bytes, first_token_ms (prompt + first new token), total_ms and new_tokens. --repeat N: generate N
 * times in this process (the same tokens: the seed is reset each time); first_token_ms and total_ms are then the
 * medians, cold_first_token_ms and cold_total_ms the first run's (weights not yet in memory or caches), cpu_total_ms
 * the median CPU time of the process per generation (what a shared machine's other load does not add). The demo
 * uses malloc for its own buffers; generation itself never does. */
#define main {{name}}_run_demo_main /* the tensor file reader and writer of the run demo, without its main */
#include "main.c"
#undef main
#include "{{name}}_generate.h"

#define MAX_STOP 64

typedef struct {
  double start, first;
  int64_t calls;
} timing;

/* CPU time of this process (0 where the clock is missing): on a shared machine, time the process actually ran */
static double cpu_s(void) {
#ifdef CLOCK_PROCESS_CPUTIME_ID
  struct timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0) return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
  return 0.0;
}

static void on_token(void *user, int64_t pos, const int64_t *tokens, int64_t batch, int64_t max_len) {
  timing *t = (timing *)user;
  (void)pos; (void)tokens; (void)batch; (void)max_len;
  if (t->calls++ == 0) t->first = now_s();
}

int main(int argc, char **argv) {
  sdk_generate_params p = sdk_generate_defaults();
  int64_t stops[MAX_STOP], max_len = 0, batch, prompt_len, rows, *lengths;
  sdk_tensor prompt, tokens, lens, context[{{name|upper}}_NUM_CONTEXT + 1];
  int num_context = 0;
  timing tm = {0, 0, 0};
  int a = 1, repeat = 1;
  sdk_status st;
{% if pool %}
  static sdk_pool pool; /* the kernels' threads ([cpu] threading = "pool"): all cores until --threads; static: its
                         * workers may still read it while the program exits */
  if (sdk_pool_start(&pool, 0) != SDK_OK) fprintf(stderr, "warning: no thread pool: one thread\n");
{% endif %}
  for (; a + 1 < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
    const char *k = argv[a], *v = argv[a + 1];
    if (strcmp(k, "--max-len") == 0) max_len = atoll(v);
    else if (strcmp(k, "--max-new") == 0) p.max_new_tokens = atoi(v);
    else if (strcmp(k, "--sample") == 0) p.do_sample = atoi(v);
    else if (strcmp(k, "--temperature") == 0) p.temperature = (float)atof(v);
    else if (strcmp(k, "--top-k") == 0) p.top_k = atoi(v);
    else if (strcmp(k, "--top-p") == 0) p.top_p = (float)atof(v);
    else if (strcmp(k, "--seed") == 0) p.rng = strtoull(v, NULL, 10);
    else if (strcmp(k, "--beams") == 0) p.num_beams = atoi(v);
    else if (strcmp(k, "--length-penalty") == 0) p.length_penalty = (float)atof(v);
    else if (strcmp(k, "--repeat") == 0) repeat = atoi(v) > 0 ? atoi(v) : 1;
    else if (strcmp(k, "--context") == 0 && num_context < {{name|upper}}_NUM_CONTEXT) {
      if (read_tensor(v, &context[num_context++]) != 0) {
        fprintf(stderr, "error: cannot read tensor file %s\n", v);
        return 2;
      }
    } else if (strcmp(k, "--stop") == 0 && p.num_stop_tokens < MAX_STOP) stops[p.num_stop_tokens++] = atoll(v);
    else {
      fprintf(stderr, "error: unknown option %s\n", k);
      return 2;
    }
  }
  p.stop_tokens = stops;
  p.on_token = on_token;
  p.user = &tm;
  if (argc - a != 3 || max_len < 1 || num_context != {{name|upper}}_NUM_CONTEXT) {
    fprintf(stderr, "usage: %s --max-len L [options] %s PROMPT.sdkt TOKENS.sdkt LENGTHS.sdkt\n", argv[0],
            {{name|upper}}_NUM_CONTEXT ? "--context FILE (one per context input)" : "");
    return 2;
  }
  if (read_tensor(argv[a], &prompt) != 0 || prompt.dtype != SDK_I64 || prompt.rank != 2) {
    fprintf(stderr, "error: %s: expected an int64 [batch, prompt_len] tensor file\n", argv[a]);
    return 2;
  }
  batch = prompt.dims[0];
  prompt_len = prompt.dims[1];
  rows = p.num_beams > 1 ? p.num_beams : batch; /* beam search: one prompt, num_beams rows out */
  {
    size_t need = {{name}}_generate_workspace_size(rows, max_len, context);
    void *arena;
    if (need == (size_t)-1) {
      fprintf(stderr, "error: batch %lld, max_len %lld: %s\n", (long long)batch, (long long)max_len,
              sdk_status_str(SDK_ERR_DIM_OUT_OF_BOUNDS));
      return 3;
    }
    arena = malloc(need ? need : 1); /* exactly the workspace: ASan catches any access past it */
    tokens.data = calloc((size_t)(rows * max_len), sizeof(int64_t));
    lengths = malloc(sizeof(int64_t) * (size_t)rows);
    if (!arena || !tokens.data || !lengths) {
      fprintf(stderr, "error: cannot allocate %zu bytes\n", need);
      return 2;
    }
    double *total = malloc(sizeof(double) * 3 * (size_t)repeat), *first = total + repeat, *cpu = first + repeat,
           cold_total = 0, cold_first = 0;
    const uint64_t seed = p.rng;
    if (!total) {
      fprintf(stderr, "error: cannot allocate the timings\n");
      return 2;
    }
    for (int r = 0; r < repeat; ++r) {
      p.rng = seed;
      tm.calls = 0;
      cpu[r] = cpu_s();
      tm.start = now_s();
      st = {{name}}_generate(arena, need, (const int64_t *)prompt.data, batch, prompt_len, max_len, context, &p,
                             (int64_t *)tokens.data, lengths);
      total[r] = now_s() - tm.start;
      cpu[r] = cpu_s() - cpu[r];
      first[r] = tm.first - tm.start;
      if (st != SDK_OK) {
        fprintf(stderr, "error: %s\n", sdk_status_str(st));
        return 3;
      }
      if (r == 0) {
        cold_total = total[0];
        cold_first = first[0];
      }
    }
    qsort(total, (size_t)repeat, sizeof(double), cmp_double);
    qsort(first, (size_t)repeat, sizeof(double), cmp_double);
    qsort(cpu, (size_t)repeat, sizeof(double), cmp_double);
    printf("workspace_bytes %zu\n", need);
    printf("first_token_ms %.6f\n", 1e3 * first[repeat / 2]);
    printf("total_ms %.6f\n", 1e3 * total[repeat / 2]);
    printf("cold_first_token_ms %.6f\n", 1e3 * cold_first);
    printf("cold_total_ms %.6f\n", 1e3 * cold_total);
    printf("cpu_total_ms %.6f\n", 1e3 * cpu[repeat / 2]); /* the process's CPU time, median */
    free(total);
    printf("new_tokens %lld\n", (long long)tm.calls);
    tokens.dtype = SDK_I64;
    tokens.rank = 2;
    tokens.dims[0] = rows;
    tokens.dims[1] = max_len;
    lens.data = lengths;
    lens.dtype = SDK_I64;
    lens.rank = 1;
    lens.dims[0] = rows;
    if (write_tensor(argv[a + 1], &tokens) != 0 || write_tensor(argv[a + 2], &lens) != 0) {
      fprintf(stderr, "error: cannot write the outputs\n");
      return 2;
    }
    free(arena);
    free(tokens.data);
    free(lengths);
    free(prompt.data);
    for (int c = 0; c < num_context; ++c) free(context[c].data);
  }
  return 0;
}
