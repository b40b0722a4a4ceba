// Chooses the kernel variant a CPU can run.
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "CKernels.h"

extern const bp_kernels bp_kernels_baseline;
#if defined(__x86_64__)
extern const bp_kernels bp_kernels_avx2;
extern const bp_kernels bp_kernels_avx512;
#endif

const bp_kernels *bp_kernels_for(bp_instruction_set set) {
    switch (set) {
    case BP_BASELINE:
        return &bp_kernels_baseline;
#if defined(__x86_64__)
    case BP_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("x86-64-v3") ? &bp_kernels_avx2 : NULL;
    case BP_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("x86-64-v4") ? &bp_kernels_avx512 : NULL;
#endif
    default:
        return NULL;
    }
}

const bp_kernels *bp_kernels_best(void) {
    static _Atomic(const bp_kernels *) chosen;
    const bp_kernels *kernels = atomic_load_explicit(&chosen, memory_order_acquire);
    if (kernels) return kernels;
    kernels = bp_kernels_for(BP_AVX512);
    if (!kernels) kernels = bp_kernels_for(BP_AVX2);
    if (!kernels) kernels = bp_kernels_for(BP_BASELINE);
    atomic_store_explicit(&chosen, kernels, memory_order_release);
    return kernels;
}
