/* libFuzzer harness: the firmware's serial side (templates/mcu/proto.c frame parser and the
 * message handlers of templates/mcu/main.c) on arbitrary bytes, built for the host against an MCU
 * bundle. The UART reads from the fuzz input; when it runs dry, a read that would wait forever
 * ends the input (longjmp), a read with a timeout times out. Replies go nowhere. */
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#define main fw_main
#include "main.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *in_p;
static size_t in_left;
static jmp_buf done;

int uart_read_byte(uint8_t *c, uint32_t timeout_ms) {
  if (in_left == 0) {
    if (timeout_ms == 0xFFFFFFFFu) longjmp(done, 1);
    return 0;
  }
  *c = *in_p++;
  in_left--;
  return 1;
}
void uart_write(const uint8_t *p, size_t n) {
  volatile uint8_t sink = 0;
  for (size_t i = 0; i < n; i++) sink ^= p[i]; /* reads every byte sent: ASan checks the reply's bounds */
  (void)sink;
}
void uart_init(uint32_t clock_hz, uint32_t baud) { (void)clock_hz; (void)baud; }
void fw_timer_init(uint32_t clock_hz) { (void)clock_hz; }
uint32_t fw_timer_kind(void) { return FW_TIMER_SYSTICK; }
uint64_t fw_cycles(void) { return 0; }
uint32_t fw_millis(void) { return 0; }
void fw_systick_handler(void) {}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  in_p = data;
  in_left = size;
  inputs_set = 0;
  have_outputs = 0;
  if (setjmp(done)) return 0;
  for (;;) { /* the body of the firmware's main loop */
    proto_frame f;
    int e = proto_recv(&f, rx, RX_BYTES, FRAME_TIMEOUT_MS);
    if (e) {
      proto_send_error(f.seq, f.type, (uint8_t)e, 0, "error");
      continue;
    }
    switch (f.type) {
      case PROTO_PING: on_ping(&f); break;
      case PROTO_SET_INPUT: on_set_input(&f); break;
      case PROTO_RUN: on_run(&f); break;
      case PROTO_GET_OUTPUT: on_get_output(&f); break;
      default: proto_send_error(f.seq, f.type, PROTO_E_UNKNOWN, 0, "unknown");
    }
  }
}
