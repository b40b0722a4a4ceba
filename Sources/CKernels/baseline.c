// The kernels for any x86-64 (SSE2) or other CPU.
#include <stdint.h>
#include "CKernels.h"

#define VARIANT_TABLE bp_kernels_baseline
#define VARIANT_NAME "baseline"
#include "kernels.h"
