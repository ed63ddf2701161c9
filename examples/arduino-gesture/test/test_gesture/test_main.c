/* `pio test -e emulator`: the gesture model as linked into the firmware, run in QEMU.
 * One line per case for test/test_custom_runner.py, then TESTS DONE. */
#include <stdio.h>
#include <string.h>

#include "gesture.h"
#include "ml4f.h"
#include "../../src/motion_samples.h"

static int cases, failures;

#define CHECK(name, cond, ...)                                                   \
    do {                                                                         \
        cases++;                                                                 \
        if (cond) {                                                              \
            printf("%s:%d:%s:PASS\n", __FILE__, __LINE__, name);                 \
        } else {                                                                 \
            failures++;                                                          \
            printf("%s:%d:%s:FAIL:", __FILE__, __LINE__, name);                  \
            printf(__VA_ARGS__);                                                 \
            printf("\n");                                                        \
        }                                                                        \
    } while (0)

static gesture_arena_t arena;
#define MODEL ((const ml4f_header_t *)gesture_model)

static void test_header_agrees_with_the_object(void)
{
    static const unsigned in_shape[] = GESTURE_INPUT_SHAPE, out_shape[] = GESTURE_OUTPUT_SHAPE;
    const uint32_t *in = ml4f_input_shape(MODEL), *out = ml4f_output_shape(MODEL);
    CHECK("valid_header", ml4f_is_valid_header(MODEL), "bad magic or type");
    CHECK("arena_bytes", MODEL->arena_bytes == GESTURE_ARENA_BYTES, "%lu", (unsigned long)MODEL->arena_bytes);
    CHECK("object_aligned", ((uintptr_t)gesture_model & 15u) == 0, "%p", (const void *)gesture_model);
    CHECK("input_shape", GESTURE_INPUT_RANK == 2 && in[0] == in_shape[0] && in[1] == in_shape[1] && in[2] == 0,
          "%lu x %lu", (unsigned long)in[0], (unsigned long)in[1]);
    CHECK("output_shape", GESTURE_OUTPUT_RANK == 1 && out[0] == out_shape[0] && out[1] == 0,
          "%lu", (unsigned long)out[0]);
    CHECK("elements", ml4f_input_elements(MODEL) == GESTURE_INPUT_ELEMS &&
                      ml4f_output_elements(MODEL) == GESTURE_OUTPUT_ELEMS, "element counts differ");
}

static void test_embedded_vector(void)
{
    int r = ml4f_test(MODEL, (uint8_t *)&arena);
    CHECK("embedded_test_vector", r == 1, "ml4f_test returned %d", r);
}

static void test_recorded_gestures(void)
{
    for (unsigned w = 0; w < MOTION_WINDOWS; w++) {
        const float *x = &motion_samples[w * 50][0];
        float p[GESTURE_OUTPUT_ELEMS], q[GESTURE_OUTPUT_ELEMS];
        gesture_predict(x, p, &arena);
        int by_runtime = ml4f_full_invoke_arena(MODEL, (uint8_t *)&arena, x, q);
        int g = gesture_argmax(p, GESTURE_OUTPUT_ELEMS);
        char name[32];
        snprintf(name, sizeof name, "window_%u_%s", w + 1, gesture_labels[motion_gestures[w]]);
        CHECK(name, g == motion_gestures[w] && by_runtime == ML4F_OK && memcmp(p, q, sizeof p) == 0 &&
                    ml4f_argmax(q, GESTURE_OUTPUT_ELEMS) == g,
              "predicted %s", g >= 0 ? gesture_labels[g] : "nothing");
    }
}

int main(void)
{
    test_header_agrees_with_the_object();
    test_embedded_vector();
    test_recorded_gestures();
    printf("TESTS DONE %d %d\n", cases, failures);
    return 0;
}
