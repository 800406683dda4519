/* Firmware services: board clock/timer, serial line. No malloc anywhere. */
#ifndef FW_H
#define FW_H
#include <stddef.h>
#include <stdint.h>

/* Timer kinds reported to the host. */
#define FW_TIMER_DWT 1     /* DWT CYCCNT: real core cycles */
#define FW_TIMER_SYSTICK 2 /* SysTick on the core clock (1 ms reload, counted in an interrupt) */

void fw_timer_init(uint32_t clock_hz);
uint32_t fw_timer_kind(void);
uint64_t fw_cycles(void);   /* core cycles since boot on the chosen timer */
uint32_t fw_millis(void);   /* milliseconds since boot (SysTick) */
void fw_systick_handler(void);
void fw_fault(void);        /* report a CPU fault on the serial line, then stop */

void uart_init(uint32_t clock_hz, uint32_t baud);
void uart_write(const uint8_t *p, size_t n);
int uart_read_byte(uint8_t *c, uint32_t timeout_ms); /* 1: got a byte, 0: timed out */
#endif
