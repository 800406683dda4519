/* Training demo of an sdk bundle built with --train: runs {{name}}_train_step over a dataset in raw files, with the
 * arena and the training state in static memory (the model and its training step never call malloc). Usage:
 *   ./{{name}}_train_demo STEPS LR IN_0.bin ... LABELS.bin [OUT_DIR]
 * Each file holds B batches back to back (raw little-endian data, each batch of the shape the bundle was compiled
 * for, its upper bounds); step s trains on batch s % B. Prints "step S loss L" per step, then writes every trained
 * parameter to OUT_DIR/<k>.bin (raw float32, in {{name}}_train_params order). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "{{name}}_train.h"
{% if pool %}#include "sdk_pool.h"
{% endif %}

static unsigned char arena[{{name_upper}}_ARENA_BYTES + 16] __attribute__((aligned(16)));
static unsigned char state[{{name_upper}}_TRAIN_STATE_BYTES] __attribute__((aligned(16)));

static size_t io_bytes(const {{name}}_io_info *info) {
  size_t n = sdk_dtype_size(info->dtype);
  for (int32_t a = 0; a < info->rank; ++a) n *= (size_t)info->max_dims[a];
  return n;
}

/* the whole file in memory (the demo's own data, not the model's) */
static unsigned char *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  unsigned char *buf;
  long n;
  if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) {
    if (f) fclose(f);
    return NULL;
  }
  buf = (unsigned char *)malloc((size_t)n);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

int main(int argc, char **argv) {
  enum { NIN = {{name_upper}}_TRAIN_NUM_INPUTS };
  unsigned char *data[NIN + 1];
  size_t sizes[NIN + 1], batch_bytes[NIN + 1], batches = 0;
  sdk_tensor in[NIN + 1];
  long steps;
  float lr;
  const char *out_dir = argc > 4 + NIN ? argv[4 + NIN] : NULL;
  sdk_status st;
{% if pool %}
  static sdk_pool pool; /* the kernels' threads ([cpu] threading = "pool"): all cores until --threads; static: its
                         * workers may still read it while the program exits */
  if (sdk_pool_start(&pool, 0) != SDK_OK) fprintf(stderr, "warning: no thread pool: one thread\n");
{% endif %}
  if (argc < 4 + NIN) {
    fprintf(stderr, "usage: %s STEPS LR IN_0.bin ... LABELS.bin [OUT_DIR]\n", argv[0]);
    return 2;
  }
  steps = strtol(argv[1], NULL, 10);
  lr = strtof(argv[2], NULL);
  for (int k = 0; k <= NIN; ++k) { /* the model's inputs, then the labels (the step's input NIN) */
    const {{name}}_io_info *info = &{{name}}_inputs_info[k];
    size_t nb;
    data[k] = read_file(argv[3 + k], &sizes[k]);
    batch_bytes[k] = io_bytes(info);
    if (!data[k] || batch_bytes[k] == 0 || sizes[k] % batch_bytes[k] != 0) {
      fprintf(stderr, "%s: cannot read, or not a whole number of %zu-byte batches\n", argv[3 + k], batch_bytes[k]);
      return 1;
    }
    nb = sizes[k] / batch_bytes[k];
    if (k > 0 && nb != batches) {
      fprintf(stderr, "%s: %zu batches, expected %zu\n", argv[3 + k], nb, batches);
      return 1;
    }
    batches = nb;
    memset(&in[k], 0, sizeof in[k]);
    in[k].dtype = info->dtype;
    in[k].rank = info->rank;
    in[k].size = batch_bytes[k];
    for (int32_t a = 0; a < info->rank; ++a) in[k].dims[a] = info->max_dims[a];
  }
  st = {{name}}_train_init(state, sizeof state);
  if (st != SDK_OK) {
    fprintf(stderr, "train_init: %s\n", sdk_status_str(st));
    return 1;
  }
  for (long s = 0; s < steps; ++s) {
    float loss;
    for (int k = 0; k <= NIN; ++k) in[k].data = data[k] + (size_t)(s % (long)batches) * batch_bytes[k];
    st = {{name}}_train_step(arena, sizeof arena, state, in, &in[NIN], lr, &loss, NULL);
    if (st != SDK_OK) {
      fprintf(stderr, "train_step: %s\n", sdk_status_str(st));
      return 1;
    }
    printf("step %ld loss %.9g\n", s, loss);
  }
  for (int k = 0; out_dir && k < {{name_upper}}_TRAIN_NUM_PARAMS; ++k) {
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%d.bin", out_dir, k);
    f = fopen(path, "wb");
    if (!f || fwrite(state + {{name}}_train_params[k].offset, 1, {{name}}_train_params[k].bytes, f) !=
                  {{name}}_train_params[k].bytes) {
      fprintf(stderr, "cannot write %s\n", path);
      return 1;
    }
    fclose(f);
  }
  for (int k = 0; k <= NIN; ++k) free(data[k]);
  return 0;
}
