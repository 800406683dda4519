/* Firmware of the {{name}} bundle for {{target}}: serves the model over the
 * serial protocol of proto.h. All memory is static: the model's arena
 * ({{NAME}}_ARENA_BYTES, planned at the dims' upper bounds), one buffer per
 * input and output at its upper bound, and one receive buffer. */
#include <string.h>
#include "fw.h"
#include "proto.h"
#include "{{name}}.h"

#define CLOCK_HZ {{clock_hz}}u
#define BAUD {{baud}}u
#define FRAME_TIMEOUT_MS {{frame_timeout_ms}}u
#define RX_BYTES {{rx_bytes}}u /* largest SET_INPUT payload: header + input at its bounds */
#define MAX_REPEAT 1000u /* RUN's repeat count (found by bench/fuzz.py: 2^32 runs hung the device) */
#define N_IN {{NAME}}_NUM_INPUTS
#define N_OUT {{NAME}}_NUM_OUTPUTS

static uint8_t arena[{{NAME}}_ARENA_BYTES + 16u] __attribute__((aligned(16)));
static uint8_t rx[RX_BYTES] __attribute__((aligned(16)));
{% for b in in_bytes %}static uint8_t in{{loop.index0}}[{{b}}u] __attribute__((aligned(16)));
{% endfor %}{% for b in out_bytes %}static uint8_t out{{loop.index0}}[{{b}}u] __attribute__((aligned(16)));
{% endfor %}
static uint8_t *const in_data[N_IN + 1] = { {% for b in in_bytes %}in{{loop.index0}}, {% endfor %}0};
static const uint32_t in_cap[N_IN + 1] = { {% for b in in_bytes %}{{b}}u, {% endfor %}0};
static uint8_t *const out_data[N_OUT + 1] = { {% for b in out_bytes %}out{{loop.index0}}, {% endfor %}0};
static const uint32_t out_cap[N_OUT + 1] = { {% for b in out_bytes %}{{b}}u, {% endfor %}0};
static sdk_tensor inputs[N_IN + 1], outputs[N_OUT + 1];
static uint32_t inputs_set; /* bit k: input k received since boot */
static int have_outputs;

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void reply(const proto_frame *f, const void *const *parts, const uint32_t *lens, int n) {
  proto_send((uint8_t)(f->type | PROTO_REPLY), f->seq, parts, lens, n);
}

static void on_ping(const proto_frame *f) {
  uint32_t info[7] = {PROTO_VERSION, N_IN, N_OUT, {{NAME}}_ARENA_BYTES, RX_BYTES, fw_timer_kind(), CLOCK_HZ};
  const void *parts[2] = {info, "{{name}}"};
  uint32_t lens[2] = {sizeof(info), {{name|length}}u};
  reply(f, parts, lens, 2);
}

static void on_set_input(const proto_frame *f) {
  uint32_t k, rank, hdr, n = 1;
  size_t esize;
  sdk_tensor *t;
  if (f->len < 4) { proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "short SET_INPUT"); return; }
  k = rx[0];
  rank = rx[2];
  hdr = 4u + 4u * rank;
  esize = sdk_dtype_size(rx[1]);
  if (k >= N_IN || rank > SDK_MAX_RANK || esize == 0 || f->len < hdr) {
    proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "bad input index, dtype or rank");
    return;
  }
  have_outputs = 0; /* outputs belong to the inputs of the last RUN: a new input invalidates them */
  t = &inputs[k];
  for (uint32_t a = 0; a < rank; ++a) {
    uint32_t d = rd32(rx + 4 + 4 * a);
    if (d > 0x7FFFFFFFu || (d != 0 && n > 0x7FFFFFFFu / d)) n = 0xFFFFFFFFu;
    else n *= d;
    t->dims[a] = (int64_t)d;
  }
  if (n == 0xFFFFFFFFu || (uint64_t)n * esize != f->len - hdr || (uint64_t)n * esize > in_cap[k]) {
    inputs_set &= ~(1u << k);
    proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "input size does not match its dims or capacity");
    return;
  }
  memcpy(in_data[k], rx + hdr, f->len - hdr);
  t->data = in_data[k];
  t->size = f->len - hdr;
  t->dtype = rx[1];
  t->rank = (int32_t)rank;
  inputs_set |= 1u << k;
  reply(f, 0, 0, 0);
}

static void on_run(const proto_frame *f) {
  uint32_t repeat = f->len >= 4 ? rd32(rx) : 1u;
  uint64_t best = ~(uint64_t)0, total = 0;
  sdk_status st = SDK_OK;
  {{name}}_dims dims;
  uint32_t res[4];
  if (inputs_set != (N_IN >= 32 ? 0xFFFFFFFFu : (1u << N_IN) - 1u)) {
    proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "not every input was set");
    return;
  }
  if (repeat == 0) repeat = 1;
  if (repeat > MAX_REPEAT) { /* a corrupt or hostile count must not stall the device for hours */
    proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "repeat count above 1000");
    return;
  }
  for (int k = 0; k < N_OUT; ++k) {
    outputs[k].data = out_data[k];
    outputs[k].size = out_cap[k];
  }
  have_outputs = 0;
  for (uint32_t r = 0; r < repeat && st == SDK_OK; ++r) {
    uint64_t t0 = fw_cycles(), dt;
    st = {{name}}_run(arena, sizeof(arena), inputs, outputs);
    dt = fw_cycles() - t0;
    total += dt;
    if (dt < best) best = dt;
  }
  if (st != SDK_OK) {
    proto_send_error(f->seq, f->type, PROTO_E_MODEL, (uint16_t)st, sdk_status_str(st));
    return;
  }
  have_outputs = 1;
  res[0] = fw_timer_kind();
  res[1] = repeat;
  res[2] = {{name}}_bind_dims(inputs, &dims) == SDK_OK ? (uint32_t){{name}}_workspace_size(&dims) : 0u;
  res[3] = 0;
  {
    const void *parts[3] = {res, &best, &total};
    uint32_t lens[3] = {sizeof(res), 8, 8};
    reply(f, parts, lens, 3);
  }
}

static void on_get_output(const proto_frame *f) {
  uint32_t k = f->len >= 1 ? rx[0] : 0xFFu, head[1 + SDK_MAX_RANK], n;
  sdk_tensor *t;
  if (k >= N_OUT || !have_outputs) {
    proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "no such output (or no RUN since the last SET_INPUT)");
    return;
  }
  t = &outputs[k];
  n = (uint32_t)sdk_dtype_size(t->dtype);
  head[0] = (uint32_t)t->dtype | ((uint32_t)t->rank << 16);
  for (int32_t a = 0; a < t->rank; ++a) {
    head[1 + a] = (uint32_t)t->dims[a];
    n *= (uint32_t)t->dims[a];
  }
  {
    const void *parts[2] = {head, t->data};
    uint32_t lens[2] = {4u + 4u * (uint32_t)t->rank, n};
    reply(f, parts, lens, 2);
  }
}

int main(void) {
  static const char *const msgs[] = {"", "bad CRC: frame dropped", "frame longer than the receive buffer",
                                     "timeout inside a frame: dropped", "unknown message type"};
  fw_timer_init(CLOCK_HZ);
  uart_init(CLOCK_HZ, BAUD);
  for (;;) {
    proto_frame f;
    int e = proto_recv(&f, rx, RX_BYTES, FRAME_TIMEOUT_MS);
    if (e) {
      proto_send_error(f.seq, f.type, (uint8_t)e, 0, msgs[e]);
      continue;
    }
    switch (f.type) {
      case PROTO_PING: on_ping(&f); break;
      case PROTO_SET_INPUT: on_set_input(&f); break;
      case PROTO_RUN: on_run(&f); break;
      case PROTO_GET_OUTPUT: on_get_output(&f); break;
      default: proto_send_error(f.seq, f.type, PROTO_E_UNKNOWN, 0, msgs[PROTO_E_UNKNOWN]);
    }
  }
}

void fw_fault(void) {
  proto_send_error(0, 0, PROTO_E_FAULT, 0, "CPU fault: the device stopped");
  for (;;) {
  }
}
