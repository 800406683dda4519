/* libFuzzer harness: the bundle demo's tensor file reader (templates/c_project/main.c), then the
 * model's own dims/dtype checks and a run on what it accepted. Built by bench/fuzz.py against a
 * generated bundle (-I BUNDLE, its sources linked). */
#define _GNU_SOURCE /* fmemopen */
#define main sdk_demo_main
#include "main.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t arena[1 << 20] __attribute__((aligned(16)));
  static float out_buf[1 << 16];
  sdk_tensor in[1], out[1];
  model_dims dims;
  FILE *f;
  if (size == 0) return 0;
  f = fmemopen((void *)data, size, "rb");
  if (!f) return 0;
  if (read_tensor_file(f, &in[0]) == 0) {
    if (model_bind_dims(in, &dims) == SDK_OK) {
      size_t need = model_workspace_size(&dims);
      out[0].data = out_buf;
      out[0].size = sizeof(out_buf);
      if (need <= sizeof(arena)) (void)model_run(arena, need, in, out);
    }
    free(in[0].data);
  }
  fclose(f);
  return 0;
}
