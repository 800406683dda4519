/* Demo program of an sdk CUDA bundle: reads input tensors from files, copies them to the GPU, runs the model
 * on a stream, copies the outputs back and writes them. Usage:
 *   ./{{name}}_main [--arena BYTES] [--repeat N] [--graph 0|1] IN_0.sdkt ... OUT_0.sdkt ...
 * Tensor file: "SDKT", u32 version (1), i32 dtype, i32 rank, i64 dims[rank], data.
 * Prints workspace_bytes, median_ms (CUDA events around each run) and graph_runs. --graph: the bundle's CUDA graphs
 * ({{name}}_set_graphs; 1, the default: the dims and buffers repeat, so the second run captures the launches and
 * the later runs replay them, one launch a run; 0: every run launches its kernels). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <algorithm>
#include <vector>
#include "{{name}}.h"

static int read_tensor(const char *path, sdk_tensor *t) {
  FILE *f = fopen(path, "rb");
  char magic[4];
  uint32_t version;
  size_t n = 1;
  if (!f) return -1;
  memset(t, 0, sizeof(*t));
  if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "SDKT", 4) != 0 || fread(&version, 4, 1, f) != 1 ||
      version != 1 || fread(&t->dtype, 4, 1, f) != 1 || fread(&t->rank, 4, 1, f) != 1 || t->rank < 0 ||
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

static int write_tensor(const char *path, const sdk_tensor *t, const void *data) {
  FILE *f = fopen(path, "wb");
  uint32_t version = 1;
  size_t n = sdk_dtype_size(t->dtype);
  if (!f) return -1;
  for (int32_t a = 0; a < t->rank; ++a) n *= (size_t)t->dims[a];
  fwrite("SDKT", 1, 4, f);
  fwrite(&version, 4, 1, f);
  fwrite(&t->dtype, 4, 1, f);
  fwrite(&t->rank, 4, 1, f);
  fwrite(t->dims, 8, (size_t)t->rank, f);
  if (fwrite(data, 1, n, f) != n) { fclose(f); return -1; }
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
  sdk_tensor in[{{num_inputs}} + 1], din[{{num_inputs}} + 1], out[{{num_outputs}} + 1];
  {{name}}_dims dims;
  {{name}}_ctx ctx;
  long long arena_bytes = -1;
  int repeat = 1, a = 1, k, ndev = 0, graph = 1;
  sdk_status st;
  for (; a < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
    if (a + 1 >= argc) break;
    if (strcmp(argv[a], "--arena") == 0) arena_bytes = atoll(argv[a + 1]);
    else if (strcmp(argv[a], "--repeat") == 0) repeat = std::max(1, atoi(argv[a + 1]));
    else if (strcmp(argv[a], "--graph") == 0) graph = atoi(argv[a + 1]);
  }
  if (argc - a != {{num_inputs}} + {{num_outputs}}) {
    fprintf(stderr, "usage: %s [--arena BYTES] [--repeat N] [--graph 0|1] %d inputs %d outputs (.sdkt files)\n",
            argv[0], {{num_inputs}}, {{num_outputs}});
    return 2;
  }
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
    fprintf(stderr, "error: no CUDA GPU on this machine\n");
    return 5;
  }
  for (k = 0; k < {{num_inputs}}; ++k)
    if (read_tensor(argv[a + k], &in[k]) != 0) {
      fprintf(stderr, "error: cannot read tensor file %s\n", argv[a + k]);
      return 2;
    }
  st = {{name}}_bind_dims(in, &dims);
  if (st != SDK_OK) {
    fprintf(stderr, "error: %s\n", sdk_cuda_status_str(st));
    return 3;
  }
  if (arena_bytes < 0) arena_bytes = (long long){{name}}_workspace_size(&dims);
  cudaStream_t stream;
  cudaEvent_t ev0, ev1;
  void *arena = NULL, *weights = NULL;
  std::vector<float> times((size_t)repeat);
  CHECK_CUDA(cudaStreamCreate(&stream));
  CHECK_CUDA(cudaEventCreate(&ev0));
  CHECK_CUDA(cudaEventCreate(&ev1));
  CHECK_CUDA(cudaMalloc(&arena, arena_bytes > 0 ? (size_t)arena_bytes : 1));
  for (k = 0; k < {{num_inputs}}; ++k) {
    din[k] = in[k];
    CHECK_CUDA(cudaMalloc(&din[k].data, in[k].size ? in[k].size : 1));
    CHECK_CUDA(cudaMemcpy(din[k].data, in[k].data, in[k].size, cudaMemcpyHostToDevice));
  }
  for (k = 0; k < {{num_outputs}}; ++k) {
    size_t n = sdk_dtype_size({{name}}_outputs_info[k].dtype);
    for (int32_t d = 0; d < {{name}}_outputs_info[k].rank; ++d) n *= (size_t){{name}}_outputs_info[k].max_dims[d];
    out[k].size = n;
    CHECK_CUDA(cudaMalloc(&out[k].data, n ? n : 1));
  }
  CHECK_CUDA(cudaMalloc(&weights, {{name|upper}}_WEIGHTS_BYTES > 0 ? {{name|upper}}_WEIGHTS_BYTES : 1));
  st = {{name}}_init(&ctx, weights, {{name|upper}}_WEIGHTS_BYTES);
  if (st == SDK_OK && !graph) st = {{name}}_set_graphs(&ctx, 0);
  for (int r = 0; r < repeat && st == SDK_OK; ++r) {
    CHECK_CUDA(cudaEventRecord(ev0, stream));
    st = {{name}}_run(&ctx, arena, (size_t)arena_bytes, din, out, stream);
    CHECK_CUDA(cudaEventRecord(ev1, stream));
    CHECK_CUDA(cudaEventSynchronize(ev1));
    CHECK_CUDA(cudaEventElapsedTime(&times[(size_t)r], ev0, ev1));
  }
  if (st != SDK_OK) {
    fprintf(stderr, "error: %s%s%s\n", sdk_cuda_status_str(st), st == SDK_ERR_CUDA ? ": " : "",
            st == SDK_ERR_CUDA ? cudaGetErrorString(cudaGetLastError()) : "");
    return 3;
  }
  CHECK_CUDA(cudaStreamSynchronize(stream));
  if ({{name}}_release(&ctx) != SDK_OK) {
    fprintf(stderr, "error: CUDA: %s (releasing the graph)\n", cudaGetErrorString(cudaGetLastError()));
    return 4;
  }
  std::sort(times.begin(), times.end());
  printf("workspace_bytes %zu\n", {{name}}_workspace_size(&dims));
  printf("median_ms %.6f\n", (double)times[(size_t)repeat / 2]);
  printf("graph_runs %lld\n", (long long)ctx.graph_runs);
  for (k = 0; k < {{num_outputs}}; ++k) {
    std::vector<unsigned char> host(out[k].size ? out[k].size : 1);
    CHECK_CUDA(cudaMemcpy(host.data(), out[k].data, out[k].size, cudaMemcpyDeviceToHost));
    if (write_tensor(argv[a + {{num_inputs}} + k], &out[k], host.data()) != 0) {
      fprintf(stderr, "error: cannot write %s\n", argv[a + {{num_inputs}} + k]);
      return 2;
    }
    CHECK_CUDA(cudaFree(out[k].data));
  }
  for (k = 0; k < {{num_inputs}}; ++k) {
    CHECK_CUDA(cudaFree(din[k].data));
    free(in[k].data);
  }
  CHECK_CUDA(cudaFree(arena));
  CHECK_CUDA(cudaFree(weights));
  CHECK_CUDA(cudaStreamDestroy(stream));
  return 0;
}
