/* Firmware of the {{name}} bundle for {{target}}: serves the model over the
 * serial protocol of proto.h. All memory is static: the model's arena
 * ({{NAME}}_ARENA_BYTES, planned at the dims' upper bounds), one buffer per
 * input and output at its upper bound, and one receive buffer. */
#include <string.h>
#include "fw.h"
#include "proto.h"
#include "{{name}}.h"
{% if generate %}#include "{{name}}_generate.h"
{% endif %}{% if text %}#include "{{name}}_text.h"
{% endif %}{% if train %}#include "{{name}}_train.h"
{% endif %}
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

{% if generate or text %}/* the decoding options GENERATE and GENERATE_TEXT both carry, 36 bytes from b: max_new_tokens, do_sample,
 * temperature, top_k, top_p, the 64-bit seed (low word first), num_beams, length_penalty */
static void rd_gen_params(const uint8_t *b, sdk_generate_params *p) {
  p->max_new_tokens = (int32_t)rd32(b);
  p->do_sample = (int32_t)rd32(b + 4);
  memcpy(&p->temperature, b + 8, 4);
  p->top_k = (int32_t)rd32(b + 12);
  memcpy(&p->top_p, b + 16, 4);
  p->rng = (uint64_t)rd32(b + 20) | ((uint64_t)rd32(b + 24) << 32);
  p->num_beams = (int32_t)rd32(b + 28);
  memcpy(&p->length_penalty, b + 32, 4);
}

{% endif %}{% if generate %}/* GENERATE: {{name}}_generate on the device. The context inputs ({{ctx_names}}) come first with SET_INPUT;
 * the workspace is the RAM left after the static sections (linker symbols _sfree.._efree, within the RAM budget).
 * Request: batch, prompt_len, max_len u32 | max_new i32 | do_sample i32 | temperature f32 | top_k i32 |
 * top_p f32 | seed u64 | num_beams i32 | length_penalty f32 | num_stop u32 | pad u32 | stops i64[num_stop] |
 * prompt i64[batch * prompt_len]. Reply: rows, max_len, workspace, new_tokens u32 | first_token_cycles u64 |
 * total_cycles u64 | lengths i64[rows] | tokens i64[rows * max_len]. */
#define GEN_HEADER 56u
#define GEN_MAX_STOP 64u
#define GEN_ROWS {{NAME}}_MAX_BATCH
extern uint8_t _sfree[], _efree[];
static int64_t gen_prompt[GEN_ROWS * {{NAME}}_MAX_LEN], gen_stops[GEN_MAX_STOP];
static int64_t gen_tokens[GEN_ROWS * {{NAME}}_MAX_LEN], gen_lengths[GEN_ROWS];
static const int ctx_index[{{NAME}}_NUM_CONTEXT + 1] = { {% for k in ctx_index %}{{k}}, {% endfor %}-1};

typedef struct {
  uint64_t first;
  uint32_t calls;
} gen_timing;

static void gen_on_token(void *user, int64_t pos, const int64_t *tokens, int64_t batch, int64_t max_len) {
  gen_timing *t = (gen_timing *)user;
  (void)pos; (void)tokens; (void)batch; (void)max_len;
  if (t->calls++ == 0) t->first = fw_cycles();
}

static void on_generate(const proto_frame *f) {
  sdk_generate_params p = sdk_generate_defaults();
  sdk_tensor context[{{NAME}}_NUM_CONTEXT + 1];
  uint32_t batch, prompt_len, max_len, nstop, rows, res[4];
  uint64_t t0, total, first;
  gen_timing tm = {0, 0};
  size_t need, have = (size_t)(_efree - _sfree);
  sdk_status st;
  if (f->len < GEN_HEADER) { proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "short GENERATE"); return; }
  batch = rd32(rx);
  prompt_len = rd32(rx + 4);
  max_len = rd32(rx + 8);
  rd_gen_params(rx + 12, &p);
  nstop = rd32(rx + 48);
  rows = p.num_beams > 1 ? (uint32_t)p.num_beams : batch;
  if (batch < 1 || batch > GEN_ROWS || rows > GEN_ROWS || max_len < 2 || max_len > {{NAME}}_MAX_LEN ||
      prompt_len < 1 || prompt_len >= max_len || nstop > GEN_MAX_STOP ||
      f->len != GEN_HEADER + 8u * (nstop + batch * prompt_len)) {
    proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "GENERATE: bad sizes (batch, beams, max_len, stops)");
    return;
  }
  for (int j = 0; j < {{NAME}}_NUM_CONTEXT; ++j) {
    if (!(inputs_set & (1u << ctx_index[j]))) {
      proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "GENERATE: a context input was not set");
      return;
    }
    context[j] = inputs[ctx_index[j]];
  }
  memcpy(gen_stops, rx + GEN_HEADER, 8u * nstop);
  memcpy(gen_prompt, rx + GEN_HEADER + 8u * nstop, 8u * batch * prompt_len);
  p.stop_tokens = gen_stops;
  p.num_stop_tokens = (int32_t)nstop;
  p.on_token = gen_on_token;
  p.user = &tm;
  need = {{name}}_generate_workspace_size(rows, max_len, context);
  if (need == (size_t)-1) {
    proto_send_error(f->seq, f->type, PROTO_E_MODEL, SDK_ERR_DIM_OUT_OF_BOUNDS, "GENERATE: dims outside the bounds");
    return;
  }
  if (need > have) {
    proto_send_error(f->seq, f->type, PROTO_E_MODEL, SDK_ERR_ARENA_TOO_SMALL,
                     "GENERATE: the workspace is larger than the free RAM");
    return;
  }
  have_outputs = 0;
  t0 = fw_cycles();
  st = {{name}}_generate(_sfree, need, gen_prompt, batch, prompt_len, max_len, context, &p, gen_tokens, gen_lengths);
  total = fw_cycles() - t0;
  if (st != SDK_OK) {
    proto_send_error(f->seq, f->type, PROTO_E_MODEL, (uint16_t)st, sdk_status_str(st));
    return;
  }
  first = tm.calls ? tm.first - t0 : 0;
  res[0] = rows;
  res[1] = max_len;
  res[2] = (uint32_t)need;
  res[3] = tm.calls;
  {
    const void *parts[5] = {res, &first, &total, gen_lengths, gen_tokens};
    uint32_t lens[5] = {sizeof(res), 8, 8, 8u * rows, 8u * rows * max_len};
    reply(f, parts, lens, 5);
  }
}

{% endif %}{% if text %}/* GENERATE_TEXT: {{name}}_generate_text on the device (tokenizer, encoder and loop; the
 * workspace in the free RAM as for GENERATE). Request: max_len u32 | max_new i32 | do_sample i32 | temperature f32 |
 * top_k i32 | top_p f32 | seed u64 | num_beams i32 | length_penalty f32 | text_len u32 | text bytes.
 * Reply: workspace, out_len u32 | total_cycles u64 | the generated text (out_len bytes). */
#define TEXT_HEADER 44u
#define TEXT_OUT_BYTES {{text_out_bytes}}u /* the longest text: max_len of the longest tokens, spaces, a NUL */
static char text_out[TEXT_OUT_BYTES];

static void on_generate_text(const proto_frame *f) {
  sdk_generate_params p = sdk_generate_defaults();
  uint32_t max_len, text_len, res[2];
  uint64_t t0, total;
  size_t need, have = (size_t)(_efree - _sfree), n = 0;
  sdk_status st;
  if (f->len < TEXT_HEADER) {
    proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "short GENERATE_TEXT");
    return;
  }
  max_len = rd32(rx);
  rd_gen_params(rx + 4, &p);
  text_len = rd32(rx + 40);
  if (f->len != TEXT_HEADER + text_len || p.num_beams < 1 || p.num_beams > GEN_ROWS) {
    proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "GENERATE_TEXT: bad sizes (text, beams)");
    return;
  }
  need = {{name}}_text_workspace_size(p.num_beams, max_len);
  if (need == (size_t)-1) {
    proto_send_error(f->seq, f->type, PROTO_E_MODEL, SDK_ERR_DIM_OUT_OF_BOUNDS,
                     "GENERATE_TEXT: dims outside the bounds");
    return;
  }
  if (need > have) {
    proto_send_error(f->seq, f->type, PROTO_E_MODEL, SDK_ERR_ARENA_TOO_SMALL,
                     "GENERATE_TEXT: the workspace is larger than the free RAM");
    return;
  }
  have_outputs = 0;
  t0 = fw_cycles();
  st = {{name}}_generate_text(_sfree, need, (const char *)rx + TEXT_HEADER, text_len, max_len, &p, text_out,
                              sizeof text_out, &n);
  total = fw_cycles() - t0;
  if (st != SDK_OK) {
    proto_send_error(f->seq, f->type, PROTO_E_MODEL, (uint16_t)st, sdk_status_str(st));
    return;
  }
  res[0] = (uint32_t)need;
  res[1] = (uint32_t)n;
  {
    const void *parts[3] = {res, &total, text_out};
    uint32_t lens[3] = {sizeof(res), 8, (uint32_t)n};
    reply(f, parts, lens, 3);
  }
}

{% endif %}{% if train %}/* TRAIN: {{name}}_train_step on the batch in inputs 0..{{NAME}}_TRAIN_NUM_INPUTS (the model's inputs, then the
 * labels; sent with SET_INPUT). The training state lives in static RAM, initialised at the first TRAIN (or when
 * asked). Request: lr f32 | reset u32. Reply: loss f32 | state bytes u32 | arena bytes u32 | steps u32 |
 * cycles u64. */
static uint8_t train_state[{{NAME}}_TRAIN_STATE_BYTES] __attribute__((aligned(16)));
static int train_ready;

static void on_train(const proto_frame *f) {
  float lr, loss = 0.0f;
  uint32_t res[4], need = (1u << ({{NAME}}_TRAIN_NUM_INPUTS + 1)) - 1u;
  uint64_t t0, cycles;
  sdk_status st;
  if (f->len < 8) { proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "short TRAIN"); return; }
  if ((inputs_set & need) != need) {
    proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "TRAIN: the batch or its labels were not set");
    return;
  }
  memcpy(&lr, rx, 4);
  if (!train_ready || rd32(rx + 4)) {
    st = {{name}}_train_init(train_state, sizeof(train_state));
    if (st != SDK_OK) { proto_send_error(f->seq, f->type, PROTO_E_MODEL, (uint16_t)st, sdk_status_str(st)); return; }
    train_ready = 1;
  }
  t0 = fw_cycles();
  st = {{name}}_train_step(arena, sizeof(arena), train_state, inputs, &inputs[{{NAME}}_TRAIN_NUM_INPUTS], lr, &loss,
                           0);
  cycles = fw_cycles() - t0;
  if (st != SDK_OK) { proto_send_error(f->seq, f->type, PROTO_E_MODEL, (uint16_t)st, sdk_status_str(st)); return; }
  memcpy(&res[0], &loss, 4);
  res[1] = {{NAME}}_TRAIN_STATE_BYTES;
  res[2] = {{NAME}}_ARENA_BYTES;
  res[3] = (uint32_t)*(const int64_t *)train_state;
  {
    const void *parts[2] = {res, &cycles};
    uint32_t lens[2] = {sizeof(res), 8};
    reply(f, parts, lens, 2);
  }
}

/* GET_STATE: offset u32 | length u32 -> those bytes of the training state ({{name}}_train_params[] places each
 * parameter). */
static void on_get_state(const proto_frame *f) {
  uint32_t off, len;
  if (f->len < 8) { proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "short GET_STATE"); return; }
  off = rd32(rx);
  len = rd32(rx + 4);
  if (!train_ready || off > {{NAME}}_TRAIN_STATE_BYTES || len > {{NAME}}_TRAIN_STATE_BYTES - off) {
    proto_send_error(f->seq, f->type, PROTO_E_BAD_PAYLOAD, 0, "GET_STATE: no TRAIN yet, or outside the state");
    return;
  }
  {
    const void *parts[1] = {train_state + off};
    reply(f, parts, &len, 1);
  }
}

{% endif %}static void on_get_output(const proto_frame *f) {
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
{% if generate %}      case PROTO_GENERATE: on_generate(&f); break;
{% endif %}{% if text %}      case PROTO_GENERATE_TEXT: on_generate_text(&f); break;
{% endif %}{% if train %}      case PROTO_TRAIN: on_train(&f); break;
      case PROTO_GET_STATE: on_get_state(&f); break;
{% endif %}      default: proto_send_error(f.seq, f.type, PROTO_E_UNKNOWN, 0, msgs[PROTO_E_UNKNOWN]);
    }
  }
}

void fw_fault(void) {
  proto_send_error(0, 0, PROTO_E_FAULT, 0, "CPU fault: the device stopped");
  for (;;) {
  }
}
