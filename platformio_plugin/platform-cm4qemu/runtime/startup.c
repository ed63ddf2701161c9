/* Start-up for Cortex-M4F firmware in QEMU: vector table, FPU enable, .data/.bss,
 * newlib semihosting (printf reaches the host), main()'s return value as QEMU's exit code. */
#include <stdint.h>
#include <stdlib.h>

#include "cm4_semihost.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);

void Reset_Handler(void);
void Default_Handler(void);
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

__attribute__((section(".isr_vector"), used))
const void *const cm4_vector_table[16] = {
    &_estack, Reset_Handler, NMI_Handler, HardFault_Handler, MemManage_Handler,
    BusFault_Handler, UsageFault_Handler, 0, 0, 0, 0, SVC_Handler, DebugMon_Handler, 0,
    PendSV_Handler, SysTick_Handler,
};

/* -nostartfiles: no crti/crtn, so provide the hooks __libc_init_array calls */
__attribute__((weak)) void _init(void) {}
__attribute__((weak)) void _fini(void) {}

/* Any fault ends the emulation with exit code 99 instead of hanging. */
void Default_Handler(void)
{
    cm4_exit(99);
}

void Reset_Handler(void)
{
#ifndef CM4RT_NO_FPU_ENABLE
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
