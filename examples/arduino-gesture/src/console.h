/* console.h - the part of Arduino's API the sketch uses, for builds without an Arduino
 * core (the QEMU environment): Serial prints through printf (semihosting), delay() returns. */
#ifndef CONSOLE_H
#define CONSOLE_H

#include <stdio.h>

struct Console {
    void begin(unsigned long) {}
    void print(const char *text) { fputs(text, stdout); }
    void print(int value) { printf("%d", value); }
    void print(unsigned value) { printf("%u", value); }
    void print(double value, int digits) { printf("%.*f", digits, value); }
    void println(const char *text = "") { printf("%s\n", text); }
};

static Console Serial;

static inline void delay(unsigned long) {}

#endif /* CONSOLE_H */
