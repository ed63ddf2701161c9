/* Start-up for the STM32F405 (and QEMU's netduinoplus2): vector table, FPU enable,
 * .data/.bss, newlib semihosting, main()'s return value as the exit code. */
#include <stdint.h>
#include <stdlib.h>

#include "cm4_semihost.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);

void Reset_Handler(void);
void Fault_Handler(void);

__attribute__((section(".isr_vector"), used))
const void *const vector_table[16] = {
    &_estack, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0,
    Fault_Handler, Fault_Handler,
};

/* -nostartfiles: no crti/crtn, so provide the hooks __libc_init_array calls */
void _init(void) {}
void _fini(void) {}

/* A fault ends the emulation with exit code 99 instead of hanging. */
void Fault_Handler(void)
{
    cm4_exit(99);
}

void Reset_Handler(void)
{
#ifndef STARTUP_NO_FPU_ENABLE   /* (defined only by a test of what happens without it) */
    /* CP10/CP11 full access before the first floating-point instruction */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb");
#endif
    for (uint32_t *s = &_sidata, *d = &_sdata; d < &_edata;)
        *d++ = *s++;
    for (uint32_t *d = &_sbss; d < &_ebss;)
        *d++ = 0;
    initialise_monitor_handles();
    __libc_init_array();
    exit(main());     /* flushes stdio, then newlib's _exit passes the code to QEMU */
}
