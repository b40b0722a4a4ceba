// Every kernel, and the table of them that the including file names VARIANT_TABLE.
// Included once per instruction set, each time inside a `#pragma clang attribute`
// region that compiles it for that set.

#include "vector.h"
#include "conv2d.h"
#include "activation.h"
#include "dense.h"

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
};
