// The kernels for x86-64-v4 CPUs (AVX-512).
#include <stdint.h>
#include "CKernels.h"

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("arch=x86-64-v4"))), apply_to = function)
#define VARIANT_TABLE bp_kernels_avx512
#define VARIANT_NAME "avx512"
#define BLOCK 9
#define DENSE_GRADIENT_ROWS 4
#define DENSE_GRADIENT_BLOCKS 4
#define DENSE_INPUT_ROWS 16
#define DENSE_FORWARD_SAMPLES 8
#include "kernels.h"
#pragma clang attribute pop
#endif
