/* Polled driver for the Arm CMSDK APB UART (MPS2 boards; qemu models it). */
#include "fw.h"

#ifndef UART_BASE
#define UART_BASE 0x40004000u
#endif
#define UART_DATA (*(volatile uint32_t *)(UART_BASE + 0x0u))
#define UART_STATE (*(volatile uint32_t *)(UART_BASE + 0x4u)) /* bit0 TX full, bit1 RX full */
#define UART_CTRL (*(volatile uint32_t *)(UART_BASE + 0x8u))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART_BASE + 0x10u))

void uart_init(uint32_t clock_hz, uint32_t baud) {
  UART_BAUDDIV = clock_hz / baud;
  UART_CTRL = 3u; /* TX and RX on */
}

void uart_write(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    while (UART_STATE & 1u) {
    }
    UART_DATA = p[i];
  }
}

int uart_read_byte(uint8_t *c, uint32_t timeout_ms) {
  uint32_t t0 = fw_millis();
  while ((UART_STATE & 2u) == 0) {
    if (timeout_ms != 0xFFFFFFFFu && fw_millis() - t0 >= timeout_ms) return 0;
  }
  *c = (uint8_t)UART_DATA;
  return 1;
}
