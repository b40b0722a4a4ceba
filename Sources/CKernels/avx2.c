// The kernels for x86-64-v3 CPUs (AVX2).
#include <stdint.h>
#include "CKernels.h"

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("arch=x86-64-v3"))), apply_to = function)
#define VARIANT_TABLE bp_kernels_avx2
#define VARIANT_NAME "avx2"
#define DENSE_FORWARD_SAMPLES 4
#include "kernels.h"
#pragma clang attribute pop
#endif
