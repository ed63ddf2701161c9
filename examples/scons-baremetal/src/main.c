/* Classify the test inputs with both models and print each prediction. */
#include <stdio.h>

#include "digits.h"
#include "gesture.h"
#include "resnet8.h"
#include "samples.h"

static const char *const gestures[] = {"rest", "shake", "circle", "tap"};

/* One arena serves the models: they never run at the same time. */
static union {
    digits_arena_t digits;
    gesture_arena_t gesture;
    resnet8_arena_t resnet8;
} arena;

static void print_probabilities(const float *p, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        printf(" %.6f", (double)p[i]);
    printf("\n");
}

int main(void)
{
    float p[16];

    printf("digits (%s weights, arena %u B), gesture (%s weights, arena %u B)\n",
           DIGITS_WEIGHT_TYPE, DIGITS_ARENA_BYTES, GESTURE_WEIGHT_TYPE, GESTURE_ARENA_BYTES);
    for (int i = 0; i < DIGITS_SAMPLES; i++) {
        digits_predict(digits_inputs[i], p, &arena);
        printf("digits %d: %d  p =", i, digits_argmax(p, DIGITS_OUTPUT_ELEMS));
        print_probabilities(p, DIGITS_OUTPUT_ELEMS);
    }
    for (int i = 0; i < GESTURE_SAMPLES; i++) {
        gesture_predict(gesture_inputs[i], p, &arena);
        printf("gesture %d: %s  p =", i, gestures[gesture_argmax(p, GESTURE_OUTPUT_ELEMS)]);
        print_probabilities(p, GESTURE_OUTPUT_ELEMS);
    }
    printf("resnet8 (arena %u B)\n", RESNET8_ARENA_BYTES);
    for (int i = 0; i < RESNET8_SAMPLES; i++) {
        resnet8_predict(resnet8_inputs[i], p, &arena);
        printf("resnet8 %d: %d  p =", i, resnet8_argmax(p, RESNET8_OUTPUT_ELEMS));
        print_probabilities(p, RESNET8_OUTPUT_ELEMS);
    }
    return 0;
}
