/* cm4_semihost.h - Arm semihosting calls for firmware run in QEMU (-semihosting-config enable=on). */
#ifndef CM4_SEMIHOST_H
#define CM4_SEMIHOST_H

#include <stdint.h>

static inline uint32_t cm4_semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* Write a NUL-terminated string to the host (SYS_WRITE0). */
static inline void cm4_puts(const char *s)
{
    cm4_semihost(0x04, s);
}

/* Stop the emulator with this exit code (SYS_EXIT_EXTENDED, ADP_Stopped_ApplicationExit). */
static inline void cm4_exit(int code)
{
    volatile uint32_t block[2] = {0x20026, (uint32_t)code};
    cm4_semihost(0x20, (const void *)block);
    for (;;) {
    }
}

#endif /* CM4_SEMIHOST_H */
