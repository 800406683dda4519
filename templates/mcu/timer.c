/* Cycle counting: DWT CYCCNT where the core has it and it counts (real
 * silicon), else SysTick on the core clock (qemu implements no DWT). */
#include "fw.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)

static volatile uint32_t ms_ticks;   /* firmware state, not model state */
static uint32_t reload, timer_kind;
static uint32_t dwt_hi, dwt_last;

void fw_systick_handler(void) { ms_ticks++; }

void fw_timer_init(uint32_t clock_hz) {
  reload = clock_hz / 1000u;
  SYST_RVR = reload - 1u;
  SYST_CVR = 0;
  SYST_CSR = 7u; /* core clock, interrupt, enable */
  timer_kind = FW_TIMER_SYSTICK;
  DEMCR |= (1u << 24); /* TRCENA */
  if ((DWT_CTRL & (1u << 25)) == 0) { /* NOCYCCNT clear: the counter exists */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
    for (volatile int i = 0; i < 100; ++i) {
    }
    if (DWT_CYCCNT != 0) timer_kind = FW_TIMER_DWT;
  }
}

uint32_t fw_timer_kind(void) { return timer_kind; }

uint32_t fw_millis(void) { return ms_ticks; }

uint64_t fw_cycles(void) {
  if (timer_kind == FW_TIMER_DWT) { /* extend the 32-bit counter; called often enough (each run) */
    uint32_t now = DWT_CYCCNT;
    if (now < dwt_last) dwt_hi++;
    dwt_last = now;
    return ((uint64_t)dwt_hi << 32) | now;
  }
  for (;;) {
    uint32_t m0 = ms_ticks, v = SYST_CVR, m1 = ms_ticks;
    if (m0 == m1) return (uint64_t)m0 * reload + (reload - 1u - v);
  }
}
