/* ml4f.c - C runtime for ML4F objects; see ml4f.h. */
#include "ml4f.h"

#include <string.h>

#ifdef ML4F_WITH_MALLOC
#include <stdlib.h>
#endif

/* The object's code is Thumb: call its entry with the low address bit set. */
typedef void (*ml4f_entry_t)(const ml4f_header_t *model, uint8_t *arena);

int ml4f_is_valid_header(const ml4f_header_t *header)
{
    return header != 0 && header->magic0 == ML4F_MAGIC0 && header->magic1 == ML4F_MAGIC1 &&
           header->input_type == ML4F_TYPE_FLOAT32 && header->output_type == ML4F_TYPE_FLOAT32;
}

#if defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'
#define ML4F_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define ML4F_CP10_CP11_FULL (0xFu << 20)

void ml4f_enable_fpu(void)
{
    ML4F_CPACR |= ML4F_CP10_CP11_FULL;
    __asm__ volatile("dsb\n\tisb" ::: "memory");   /* in effect before the next instruction */
}

int ml4f_fpu_enabled(void)
{
    return (ML4F_CPACR & ML4F_CP10_CP11_FULL) == ML4F_CP10_CP11_FULL;
}
#else
void ml4f_enable_fpu(void) {}
int ml4f_fpu_enabled(void) { return 1; }
#endif

int ml4f_invoke(const ml4f_header_t *model, uint8_t *arena)
{
    if (!ml4f_is_valid_header(model))
        return ML4F_ERR_HEADER;
#ifndef NDEBUG
    if (!ml4f_fpu_enabled())
        return ML4F_ERR_FPU;      /* the first VLDR/VMUL would be a UsageFault (NOCP) */
#endif
    ml4f_entry_t entry = (ml4f_entry_t)((uintptr_t)model + model->header_size + 1u);
    entry(model, arena);
    return ML4F_OK;
}

const uint32_t *ml4f_input_shape(const ml4f_header_t *model)
{
    return model->input_shape;
}

const uint32_t *ml4f_output_shape(const ml4f_header_t *model)
{
    const uint32_t *dim = model->input_shape;
    while (*dim)
        dim++;
    return dim + 1;
}

uint32_t ml4f_shape_elements(const uint32_t *shape)
{
    uint32_t n = 1;
    while (*shape)
        n *= *shape++;
    return n;
}

uint32_t ml4f_shape_size(const uint32_t *shape, uint32_t type)
{
    return type == ML4F_TYPE_FLOAT32 ? 4u * ml4f_shape_elements(shape) : 0u;
}

uint32_t ml4f_input_elements(const ml4f_header_t *model)
{
    return ml4f_shape_elements(ml4f_input_shape(model));
}

uint32_t ml4f_output_elements(const ml4f_header_t *model)
{
    return ml4f_shape_elements(ml4f_output_shape(model));
}

int ml4f_argmax(const float *data, uint32_t size)
{
    if (size == 0)
        return -1;
    uint32_t best = 0;
    for (uint32_t i = 1; i < size; i++)
        if (data[i] > data[best])
            best = i;
    return (int)best;
}

static int close_enough(float a, float b)
{
    /* the tolerance of ML4F's runtimes: 2e-5 absolute or relative */
    float d = a > b ? a - b : b - a;
    float scale = (a < 0 ? -a : a) + (b < 0 ? -b : b);
    return d < 2e-5f || d < 2e-5f * scale;
}

int ml4f_test(const ml4f_header_t *model, uint8_t *arena)
{
    if (!ml4f_is_valid_header(model))
        return ML4F_ERR_HEADER;
    if (model->test_input_offset == 0 || model->test_output_offset == 0)
        return 0;
    const uint8_t *base = (const uint8_t *)model;
    memcpy(arena + model->input_offset, base + model->test_input_offset,
           ml4f_shape_size(ml4f_input_shape(model), model->input_type));
    int status = ml4f_invoke(model, arena);
    if (status != ML4F_OK)
        return status;
    /* the offsets are word aligned: the object format guarantees it */
    const float *expected = (const float *)(const void *)(base + model->test_output_offset);
    const float *actual = (const float *)(const void *)(arena + model->output_offset);
    uint32_t n = ml4f_output_elements(model);
    for (uint32_t i = 0; i < n; i++)
        if (!close_enough(actual[i], expected[i]))
            return ML4F_ERR_MISMATCH;
    return 1;
}

int ml4f_full_invoke_arena(const ml4f_header_t *model, uint8_t *arena, const float *input,
                           float *output)
{
    if (!ml4f_is_valid_header(model))
        return ML4F_ERR_HEADER;
    memcpy(arena + model->input_offset, input,
           ml4f_shape_size(ml4f_input_shape(model), model->input_type));
    int status = ml4f_invoke(model, arena);
    if (status != ML4F_OK)
        return status;
    memcpy(output, arena + model->output_offset,
           ml4f_shape_size(ml4f_output_shape(model), model->output_type));
    return ML4F_OK;
}

int ml4f_full_invoke_argmax_arena(const ml4f_header_t *model, uint8_t *arena,
                                  const float *input)
{
    if (!ml4f_is_valid_header(model))
        return ML4F_ERR_HEADER;
    memcpy(arena + model->input_offset, input,
           ml4f_shape_size(ml4f_input_shape(model), model->input_type));
    int status = ml4f_invoke(model, arena);
    if (status != ML4F_OK)
        return status;
    return ml4f_argmax((const float *)(const void *)(arena + model->output_offset),
                       ml4f_output_elements(model));
}

#ifdef ML4F_WITH_MALLOC
static uint8_t *new_arena(const ml4f_header_t *model)
{
    /* malloc's alignment (8) satisfies the object's word alignment */
    return ml4f_is_valid_header(model) ? (uint8_t *)malloc(model->arena_bytes) : 0;
}

int ml4f_full_invoke(const ml4f_header_t *model, const float *input, float *output)
{
    uint8_t *arena = new_arena(model);
    if (!arena)
        return ML4F_ERR_HEADER;
    int r = ml4f_full_invoke_arena(model, arena, input, output);
    free(arena);
    return r;
}

int ml4f_full_invoke_argmax(const ml4f_header_t *model, const float *input)
{
    uint8_t *arena = new_arena(model);
    if (!arena)
        return ML4F_ERR_HEADER;
    int r = ml4f_full_invoke_argmax_arena(model, arena, input);
    free(arena);
    return r;
}
#endif
