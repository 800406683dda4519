/* Training demo of an sdk CUDA bundle built with --train: copies the batches to the GPU once, runs STEPS steps of
 * {{name}}_train_step (step s trains on batch s % B), prints one line per step and writes the trained parameters.
 *   ./{{name}}_train_demo STEPS LR IN_0.sdkt ... LABELS.sdkt [OUT_DIR]
 * Each tensor file holds B batches ([B, ...the batch shape]); a line: "step S loss L scale X taken T ms M". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>
#include "{{name}}_train.h"

static int read_tensor(const char *path, sdk_tensor *t) {
  FILE *f = fopen(path, "rb");
  char magic[4];
  uint32_t version;
  size_t n = 1;
  if (!f) return -1;
  memset(t, 0, sizeof(*t));
  if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "SDKT", 4) != 0 || fread(&version, 4, 1, f) != 1 ||
      version != 1 || fread(&t->dtype, 4, 1, f) != 1 || fread(&t->rank, 4, 1, f) != 1 || t->rank < 1 ||
      t->rank > SDK_MAX_RANK || fread(t->dims, 8, (size_t)t->rank, f) != (size_t)t->rank) {
    fclose(f);
    return -1;
  }
  for (int32_t a = 0; a < t->rank; ++a) {
    if (t->dims[a] < 0) { fclose(f); return -1; }
    n *= (size_t)t->dims[a];
  }
  t->size = n * sdk_dtype_size(t->dtype);
  t->data = malloc(t->size ? t->size : 1);
  if (!t->data || fread(t->data, 1, t->size, f) != t->size) { fclose(f); return -1; }
  fclose(f);
  return 0;
}

static int write_f32(const char *path, const void *data, size_t bytes) {
  FILE *f = fopen(path, "wb");
  uint32_t version = 1;
  int32_t dtype = SDK_F32, rank = 1;
  int64_t n = (int64_t)(bytes / 4);
  if (!f) return -1;
  fwrite("SDKT", 1, 4, f);
  fwrite(&version, 4, 1, f);
  fwrite(&dtype, 4, 1, f);
  fwrite(&rank, 4, 1, f);
  fwrite(&n, 8, 1, f);
  if (fwrite(data, 1, bytes, f) != bytes) { fclose(f); return -1; }
  return fclose(f);
}

#define CHECK_CUDA(x)                                                              \
  do {                                                                             \
    cudaError_t e_ = (x);                                                          \
    if (e_ != cudaSuccess) {                                                       \
      fprintf(stderr, "error: CUDA: %s (%s)\n", cudaGetErrorString(e_), #x);       \
      return 4;                                                                    \
    }                                                                              \
  } while (0)

int main(int argc, char **argv) {
  const int nin = {{NAME}}_TRAIN_NUM_INPUTS;
  sdk_tensor files[{{NAME}}_TRAIN_NUM_INPUTS + 1], batch[{{NAME}}_TRAIN_NUM_INPUTS + 1];
  std::vector<void *> dev(nin + 1);
  void *weights = NULL, *arena = NULL, *state = NULL;
  {{name}}_ctx ctx;
  {{name}}_train_host host;
  cudaStream_t stream;
  cudaEvent_t t0, t1;
  if (argc != nin + 4 && argc != nin + 5) {
    fprintf(stderr, "usage: %s STEPS LR IN_0.sdkt ... LABELS.sdkt [OUT_DIR]\n", argv[0]);
    return 2;
  }
  int steps = atoi(argv[1]);
  float lr = (float)atof(argv[2]);
  for (int k = 0; k <= nin; ++k) {
    if (read_tensor(argv[3 + k], &files[k]) != 0) {
      fprintf(stderr, "error: cannot read %s\n", argv[3 + k]);
      return 3;
    }
    CHECK_CUDA(cudaMalloc(&dev[k], files[k].size));
    CHECK_CUDA(cudaMemcpy(dev[k], files[k].data, files[k].size, cudaMemcpyHostToDevice));
    batch[k] = files[k];  /* one batch: the dims after the first */
    batch[k].rank = files[k].rank - 1;
    for (int32_t a = 0; a < batch[k].rank; ++a) batch[k].dims[a] = files[k].dims[a + 1];
    batch[k].size = files[k].size / (size_t)files[k].dims[0];
  }
  size_t need = {{NAME}}_ARENA_BYTES;  /* the step's arena at the bounds: any batch within them fits */
  CHECK_CUDA(cudaMalloc(&weights, {{NAME}}_WEIGHTS_BYTES > 0 ? {{NAME}}_WEIGHTS_BYTES : 1));
  CHECK_CUDA(cudaMalloc(&arena, need ? need : 1));
  CHECK_CUDA(cudaMalloc(&state, {{NAME}}_TRAIN_STATE_BYTES));
  CHECK_CUDA(cudaStreamCreate(&stream));
  CHECK_CUDA(cudaEventCreate(&t0));
  CHECK_CUDA(cudaEventCreate(&t1));
  sdk_status st = {{name}}_init(&ctx, weights, {{NAME}}_WEIGHTS_BYTES);
  if (st == SDK_OK) st = {{name}}_train_init(state, {{NAME}}_TRAIN_STATE_BYTES, &host);
  for (int s = 0; st == SDK_OK && s < steps; ++s) {
    float loss = 0.0f, ms = 0.0f, scale = host.loss_scale;
    int taken = 0;
    for (int k = 0; k <= nin; ++k)
      batch[k].data = (unsigned char *)dev[k] + (size_t)(s % files[k].dims[0]) * batch[k].size;
    CHECK_CUDA(cudaEventRecord(t0, stream));
    st = {{name}}_train_step(&ctx, arena, need, state, &host, batch, &batch[nin], lr, &loss, &taken, NULL, stream);
    CHECK_CUDA(cudaEventRecord(t1, stream));
    CHECK_CUDA(cudaEventSynchronize(t1));
    CHECK_CUDA(cudaEventElapsedTime(&ms, t0, t1));
    if (st == SDK_OK) printf("step %d loss %.7g scale %g taken %d ms %.4f\n", s, loss, scale, taken, ms);
  }
  if (st != SDK_OK) {
    fprintf(stderr, "error: %s\n", sdk_cuda_status_str(st));
    return 1;
  }
  printf("steps_taken %lld skipped %lld final_scale %g\n", (long long)host.step, (long long)host.skipped,
         host.loss_scale);
  if (argc == nin + 5) {
    for (int k = 0; k < {{NAME}}_TRAIN_NUM_PARAMS; ++k) {
      std::vector<unsigned char> buf({{name}}_train_params[k].bytes);
      char path[4096];
      CHECK_CUDA(cudaMemcpy(buf.data(), (unsigned char *)state + {{name}}_train_params[k].offset, buf.size(),
                            cudaMemcpyDeviceToHost));
      snprintf(path, sizeof path, "%s/%d.sdkt", argv[nin + 4], k);
      if (write_f32(path, buf.data(), buf.size()) != 0) {
        fprintf(stderr, "error: cannot write %s\n", path);
        return 3;
      }
    }
  }
  return 0;
}
