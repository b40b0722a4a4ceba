#ifndef BACKPROP_CKERNELS_H
#define BACKPROP_CKERNELS_H

// The numeric kernels of NeuralNet's layers, compiled once per x86-64 vector width and
// chosen at run time for the machine they run on.
//
// Every variant runs the same code on 16-lane vectors with multiplies and adds kept apart
// (no fused multiply-add) and sums in an order fixed by the code alone, so all variants
// produce the same bits: a worker with AVX-512 and one with SSE2 compute the same gradient.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma clang assume_nonnull begin

/// A stride-1 convolution with a square kernel, channels last; kernel (k, k, channels, filters).
typedef struct {
    long height, width, channels;
    long filters, kernel_size;
    long out_height, out_width;
    /// Zero rows/columns before the image (0 for `valid` padding).
    long pad_before;
} bp_conv_shape;

/// Non-overlapping size x size max pooling, channels last.
typedef struct {
    long height, width, channels;
    long size, out_height, out_width;
} bp_pool_shape;

/// One variant of every kernel. Shapes of tensor arguments are in the comments of
/// the kernels' definitions (kernels.inc); N is the batch.
typedef struct {
    /// The variant's name: "avx512", "avx2" or "baseline".
    const char *name;

    void (*conv_forward)(const bp_conv_shape *shape, const float *input, float *output,
                         const float *kernel, const float *bias, int relu, long batch);
    void (*conv_backward_parameters)(const bp_conv_shape *shape, const float *input, const float *output_gradient,
                                     float *kernel_gradient, float *bias_gradient, long batch);
    /// scratch: kernel_size² · channels · filters + channels floats.
    void (*conv_backward_input)(const bp_conv_shape *shape, const float *output_gradient, const float *kernel,
                                float *input_gradient, float *scratch, long batch);

    void (*relu_forward)(const float *input, float *output, long count);
    void (*relu_backward)(const float *output, const float *output_gradient, float *input_gradient, long count);

    void (*maxpool_forward)(const bp_pool_shape *shape, const float *input, float *output, long batch);
    void (*maxpool_backward)(const bp_pool_shape *shape, const float *input, const float *output,
                             const float *output_gradient, float *input_gradient, int relu, long batch);

    void (*dense_forward)(long inputs, long units, const float *input, float *output,
                          const float *kernel, const float *bias, long batch);
    void (*dense_backward)(long inputs, long units, const float *input, const float *output_gradient,
                           float *_Nullable input_gradient, const float *kernel, float *kernel_gradient,
                           float *bias_gradient, long batch);

    void (*adam_update)(float *parameters, const float *gradients, float *m, float *v, long count,
                        float alpha, float one_minus_beta1, float one_minus_beta2, float epsilon);
} bp_kernels;

typedef enum { BP_BASELINE = 0, BP_AVX2 = 1, BP_AVX512 = 2 } bp_instruction_set;

/// The variant for `set`, or NULL when this CPU (or build) cannot run it.
const bp_kernels *_Nullable bp_kernels_for(bp_instruction_set set);

/// The widest variant this CPU runs: the one the layers use.
const bp_kernels *bp_kernels_best(void);

#pragma clang assume_nonnull end

#ifdef __cplusplus
}
#endif

#endif
