import CKernels

/// The layers' numeric kernels (Sources/CKernels): the variant for the widest vectors this
/// CPU has, chosen once. Every variant computes the same bits.
var kernels: bp_kernels { bp_kernels_best().pointee }

/// The name of the kernel variant this machine runs: "avx512", "avx2" or "baseline".
public var kernelVariant: String { String(cString: kernels.name) }
