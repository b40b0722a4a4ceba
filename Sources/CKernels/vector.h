// 16-lane float vectors for the kernels: one AVX-512 register, two AVX2 or four SSE ones.
//
// Products and sums stay separate operations (no contraction into fused multiply-adds),
// and a horizontal sum is always the same tree, so each lane's result is the same IEEE
// arithmetic whatever the width of the machine's registers.
#pragma clang fp contract(off)
// Every function taking or returning a vector is inlined, so no vector crosses a call boundary.
#pragma clang diagnostic ignored "-Wpsabi"

#define INLINE static inline __attribute__((always_inline))
#define LANES 16
/// Before a loop over a tile's registers: unrolled, its vectors stay in registers (SwiftPM builds C with -O2, which would not).
#define UNROLL _Pragma("clang loop unroll(full)")

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t m16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));
typedef float v2 __attribute__((vector_size(8)));

/// The 16 floats at `p`, any alignment.
INLINE v16 load(const float *p) {
    v16 v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

/// Writes the 16 lanes of `v` at `p`, any alignment.
INLINE void store(float *p, v16 v) { __builtin_memcpy(p, &v, sizeof v); }

INLINE v16 zero(void) { return (v16){0}; }

/// `a` where `mask` is set, `b` elsewhere, lane by lane.
INLINE v16 select(m16 mask, v16 a, v16 b) { return (v16)((mask & (m16)a) | (~mask & (m16)b)); }

/// The sum of the 16 lanes, always as the same tree: halves, quarters, eighths, then the pair.
INLINE float sum(v16 v) {
    v8 eight = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7)
             + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    v4 four = __builtin_shufflevector(eight, eight, 0, 1, 2, 3) + __builtin_shufflevector(eight, eight, 4, 5, 6, 7);
    v2 two = __builtin_shufflevector(four, four, 0, 1) + __builtin_shufflevector(four, four, 2, 3);
    return two[0] + two[1];
}

/// Lanes 0..<lanes hold the floats at `p`; the others hold what follows `p` when that lies
/// before `end`, zero otherwise. Callers use only the first `lanes` lanes.
INLINE v16 load_partial(const float *p, long lanes, const float *end) {
    if (lanes == LANES || end - p >= LANES) return load(p);
    v16 v = zero();
    for (long lane = 0; lane < lanes; lane++) v[lane] = p[lane];
    return v;
}

/// Writes lanes 0..<lanes of `v` at `p`.
INLINE void store_partial(float *p, v16 v, long lanes) {
    if (lanes == LANES) {
        store(p, v);
    } else {
        for (long lane = 0; lane < lanes; lane++) p[lane] = v[lane];
    }
}

INLINE long max_l(long a, long b) { return a > b ? a : b; }
INLINE long min_l(long a, long b) { return a < b ? a : b; }

/// The half-open range lo..<hi.
typedef struct { long lo, hi; } span;

INLINE long count_of(span s) { return s.hi - s.lo; }

/// Transposes the 16×16 matrix whose rows are `m`'s vectors: row i, lane l becomes row l,
/// lane i. Four stages swap the off-diagonal blocks of 8, 4, 2, then 1; moves only, no arithmetic.
INLINE void transpose16(v16 m[LANES]) {
    UNROLL for (long i = 0; i < 8; i++) {
        v16 a = m[i], c = m[i + 8];
        m[i] = __builtin_shufflevector(a, c, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        m[i + 8] = __builtin_shufflevector(a, c, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    }
    UNROLL for (long i = 0; i < LANES; i++) {
        if (i & 4) continue;
        v16 a = m[i], c = m[i + 4];
        m[i] = __builtin_shufflevector(a, c, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
        m[i + 4] = __builtin_shufflevector(a, c, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    }
    UNROLL for (long i = 0; i < LANES; i++) {
        if (i & 2) continue;
        v16 a = m[i], c = m[i + 2];
        m[i] = __builtin_shufflevector(a, c, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
        m[i + 2] = __builtin_shufflevector(a, c, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    }
    UNROLL for (long i = 0; i < LANES; i += 2) {
        v16 a = m[i], c = m[i + 1];
        m[i] = __builtin_shufflevector(a, c, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
        m[i + 1] = __builtin_shufflevector(a, c, 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
    }
}
