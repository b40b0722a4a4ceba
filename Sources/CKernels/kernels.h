// Every kernel, and the table of them that the including file names VARIANT_TABLE.
// Included once per instruction set, each time inside a `#pragma clang attribute`
// region that compiles it for that set.

#include "vector.h"

// BLOCK (4, or 9 with AVX-512, set by the including file): how many pixels or kernel rows share each load,
// as many as the variant's registers hold. It changes only how values are grouped, never the
// order in which any one value is summed.
#ifndef BLOCK
#define BLOCK 4
#endif

#include "conv2d.h"
#include "activation.h"
#include "dense.h"
#include "optimizer.h"

const bp_kernels VARIANT_TABLE = {
    .name = VARIANT_NAME,
    .conv_forward = conv_forward,
    .conv_backward_parameters = conv_backward_parameters,
    .conv_backward_input = conv_backward_input,
    .relu_forward = relu_forward,
    .relu_backward = relu_backward,
    .maxpool_forward = maxpool_forward,
    .maxpool_backward = maxpool_backward,
    .dense_forward = dense_forward,
    .dense_backward = dense_backward,
    .adam_update = adam_update,
};
