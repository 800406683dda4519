/* Startup for Cortex-M (ARMv7-M / ARMv7E-M): vector table, reset handler that
 * enables the FPU and sets up .data/.bss, and a fault handler that reports on
 * the serial line instead of hanging silently. */
#include <stdint.h>
#include "fw.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void Reset_Handler(void);
void Fault_Handler(void);
void Default_Handler(void);

__attribute__((section(".isr_vector"), used)) static void (*const vectors[16 + 32])(void) = {
    (void (*)(void))(&_estack), Reset_Handler,
    Default_Handler,  /* NMI */
    Fault_Handler,    /* HardFault */
    Fault_Handler,    /* MemManage */
    Fault_Handler,    /* BusFault */
    Fault_Handler,    /* UsageFault */
    0, 0, 0, 0,
    Default_Handler,  /* SVC */
    Default_Handler,  /* DebugMon */
    0,
    Default_Handler,  /* PendSV */
    fw_systick_handler,
    /* 32 external interrupts: none used (the UART is polled) */
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler};

void Reset_Handler(void) {
#if defined(__ARM_FP)
  /* CPACR: full access to CP10/CP11 before any floating-point instruction runs */
  *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
  __asm volatile("dsb\n\tisb" ::: "memory");
#endif
  for (uint32_t *s = &_sidata, *d = &_sdata; d < &_edata;) *d++ = *s++;
  for (uint32_t *d = &_sbss; d < &_ebss;) *d++ = 0;
  /* Usage faults for divide by zero; unaligned accesses stay allowed (packed frames) */
  *(volatile uint32_t *)0xE000ED14u |= (1u << 4);
  main();
  for (;;) {
  }
}

void Fault_Handler(void) {
  fw_fault();
}

void Default_Handler(void) {
  for (;;) {
  }
}
