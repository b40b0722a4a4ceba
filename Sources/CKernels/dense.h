// Dense: output = input · kernel + bias, kernel (inputs, units) as Keras lays it out.

/// Σ a_i · b_i over `count` values: 16-lane partial sums in order, `sum` of the lanes, then
/// the values beyond a multiple of 16 in order.
INLINE float dot(const float *a, const float *b, long count) {
    v16 lanes = zero();
    long i = 0;
    for (; i + LANES <= count; i += LANES) lanes += load(a + i) * load(b + i);
    float total = sum(lanes);
    for (; i < count; i++) total += a[i] * b[i];
    return total;
}

#ifndef DENSE_FORWARD_SAMPLES
#define DENSE_FORWARD_SAMPLES 2
#endif

/// samples (1..DENSE_FORWARD_SAMPLES) rows of `y` (lanes units from there) += Σ_i x_i · w_i over
/// `count` kernel rows from `w`, in ascending order: every sample shares each load of the kernel.
INLINE void dense_forward_tile(long samples, long inputs, long units, long lanes, const float *x, const float *w,
                               float *y, long count, const float *kernel_end, const float *output_end) {
    v16 sums[DENSE_FORWARD_SAMPLES];
    UNROLL for (long n = 0; n < samples; n++) sums[n] = load_partial(y + n * units, lanes, output_end);
    for (long i = 0; i < count; i++) {
        // Kernel rows lie a row apart: a few rows ahead, so they are in cache when they are summed.
        __builtin_prefetch(w + 8 * units);
        v16 row = load_partial(w, lanes, kernel_end);
        UNROLL for (long n = 0; n < samples; n++) sums[n] += x[n * inputs + i] * row;
        w += units;
    }
    UNROLL for (long n = 0; n < samples; n++) store_partial(y + n * units, sums[n], lanes);
}

/// input: (N, inputs); output: (N, units); kernel: (inputs, units); bias: (units).
///
/// One unit: a dot product per sample. Several units: `bias + Σ_i x_i · kernel_i` with
/// units 16 to a vector and inputs in ascending order; a tile of samples shares each kernel load.
static void dense_forward(long inputs, long units, const float *input, float *output,
                          const float *kernel, const float *bias, long batch) {
    if (units == 1) {
        for (long n = 0; n < batch; n++) output[n] = bias[0] + dot(input + n * inputs, kernel, inputs);
        return;
    }
    // Rows of the kernel in tiles, so the samples' inputs for a tile stay in cache across the units.
    long tile = max_l(1, 65536 / units);
    const float *kernel_end = kernel + inputs * units;
    const float *output_end = output + batch * units;
    for (long n = 0; n < batch; n++) __builtin_memcpy(output + n * units, bias, sizeof(float) * units);
    for (long start = 0; start < inputs; start += tile) {
        long count = min_l(start + tile, inputs) - start;
        for (long unit = 0; unit < units; unit += LANES) {
            long lanes = min_l(LANES, units - unit);
            const float *w = kernel + start * units + unit;
            long n = 0;
            for (; n + DENSE_FORWARD_SAMPLES <= batch; n += DENSE_FORWARD_SAMPLES)
                dense_forward_tile(DENSE_FORWARD_SAMPLES, inputs, units, lanes, input + n * inputs + start, w,
                                   output + n * units + unit, count, kernel_end, output_end);
            for (; n < batch; n++)
                dense_forward_tile(1, inputs, units, lanes, input + n * inputs + start, w,
                                   output + n * units + unit, count, kernel_end, output_end);
        }
    }
}

/// The backward pass for one unit, inputs 16 at a time. x: (N, inputs); g: (N, 1).
///
/// kernel_gradient_i += g_0 · x_0i + g_1 · x_1i + …, samples in order; input_gradient_ni = g_n · kernel_i.
INLINE void dense_backward_single(long inputs, const float *x, const float *g, float *input_gradient,
                                  const float *kernel, float *kernel_gradient, long batch) {
    long i = 0;
    for (; i + LANES <= inputs; i += LANES) {
        v16 total = load(kernel_gradient + i);
        for (long n = 0; n < batch; n++) total += g[n] * load(x + n * inputs + i);
        store(kernel_gradient + i, total);
    }
    for (; i < inputs; i++) {
        for (long n = 0; n < batch; n++) kernel_gradient[i] += g[n] * x[n * inputs + i];
    }
    if (!input_gradient) return;
    for (long n = 0; n < batch; n++) {
        float *dx = input_gradient + n * inputs;
        long i = 0;
        for (; i + LANES <= inputs; i += LANES) store(dx + i, g[n] * load(kernel + i));
        for (; i < inputs; i++) dx[i] = g[n] * kernel[i];
    }
}

/// The kernel gradient for 2 to 16 units. x: (N, inputs); g: (N, units).
///
/// Inputs go 16 at a time: a vector holds one unit of 16 consecutive inputs. The block is
/// transposed in registers into 16 rows, which lie back to back in the kernel gradient.
/// kernel_gradient_iu += Σ_n x_ni · g_nu (the sum over samples from zero, then added). Rows
/// past the last whole block are summed one by one in the same order.
INLINE void dense_kernel_gradient_narrow(long inputs, long units, const float *x, const float *g,
                                         float *kernel_gradient, long batch) {
    // 16 rows of the kernel gradient, units · 16 floats: each row is stored whole, one after
    // another, so a row's lanes past `units` are overwritten by the next one.
    float rows[LANES * LANES + LANES];
    long i = 0;
    for (; i + LANES <= inputs; i += LANES) {
        v16 block[LANES];
        // Units in pairs sharing each load of x, then the odd one out.
        long u = 0;
        for (; u + 1 < units; u += 2) {
            v16 s0 = zero(), s1 = zero();
            const float *xn = x + i, *gn = g + u;
            for (long n = 0; n < batch; n++) {
                v16 values = load(xn);
                s0 += gn[0] * values;
                s1 += gn[1] * values;
                xn += inputs;
                gn += units;
            }
            block[u] = s0;
            block[u + 1] = s1;
        }
        if (u < units) {
            v16 s0 = zero();
            const float *xn = x + i, *gn = g + u;
            for (long n = 0; n < batch; n++) {
                s0 += gn[0] * load(xn);
                xn += inputs;
                gn += units;
            }
            block[u] = s0;
            u++;
        }
        for (; u < LANES; u++) block[u] = zero();
        transpose16(block);
        for (long r = 0; r < LANES; r++) store(rows + r * units, block[r]);
        float *dw = kernel_gradient + i * units;
        for (long k = 0; k < units * LANES; k += LANES) store(dw + k, load(dw + k) + load(rows + k));
    }
    for (; i < inputs; i++) {
        for (long u = 0; u < units; u++) {
            float total = 0;
            for (long n = 0; n < batch; n++) total += g[n * units + u] * x[n * inputs + i];
            kernel_gradient[i * units + u] += total;
        }
    }
}

// Tiles of the backward pass, as many values as the variant's registers hold (set by the
// including file). They change only how values are grouped, never the order of any one sum.
#ifndef DENSE_GRADIENT_ROWS
#define DENSE_GRADIENT_ROWS 2
#endif
#ifndef DENSE_GRADIENT_BLOCKS
#define DENSE_GRADIENT_BLOCKS 2
#endif
#ifndef DENSE_INPUT_ROWS
#define DENSE_INPUT_ROWS 4
#endif
/// Units whose output gradients are transposed at a time (16 KB on the stack).
#define DENSE_UNIT_CHUNK 256

/// rows (1..DENSE_GRADIENT_ROWS) kernel-gradient rows from `dw`, blocks (1..DENSE_GRADIENT_BLOCKS)
/// whole 16-unit blocks from `g`: dw_ru += x_0r · g_0u, then x_1r · g_1u, … in sample order, in registers.
INLINE void kernel_gradient_tile(long rows, long blocks, long inputs, long units, const float *x, const float *g,
                                 float *dw, long batch) {
    v16 sums[DENSE_GRADIENT_ROWS][DENSE_GRADIENT_BLOCKS];
    UNROLL for (long r = 0; r < rows; r++)
        UNROLL for (long b = 0; b < blocks; b++) sums[r][b] = load(dw + r * units + b * LANES);
    // The same units of the next rows, a line at a time, while these are summed.
    const float *next = dw + rows * units;
    for (long n = 0; n < batch; n++) {
        __builtin_prefetch(next + (n % rows) * units + (n / rows % blocks) * LANES, 1);
        v16 gn[DENSE_GRADIENT_BLOCKS];
        UNROLL for (long b = 0; b < blocks; b++) gn[b] = load(g + n * units + b * LANES);
        const float *xn = x + n * inputs;
        UNROLL for (long r = 0; r < rows; r++) {
            float xr = xn[r];
            UNROLL for (long b = 0; b < blocks; b++) sums[r][b] += xr * gn[b];
        }
    }
    UNROLL for (long r = 0; r < rows; r++)
        UNROLL for (long b = 0; b < blocks; b++) store(dw + r * units + b * LANES, sums[r][b]);
}

/// One kernel-gradient row's last `lanes` (< 16) units, in the same order as a tile.
INLINE void kernel_gradient_partial(long lanes, long inputs, long units, const float *x, const float *g,
                                    float *dw, long batch) {
    v16 total = zero();
    for (long lane = 0; lane < lanes; lane++) total[lane] = dw[lane];
    for (long n = 0; n < batch; n++) {
        v16 gn = zero();
        for (long lane = 0; lane < lanes; lane++) gn[lane] = g[n * units + lane];
        total += x[n * inputs] * gn;
    }
    store_partial(dw, total, lanes);
}

/// `rows` (1..DENSE_GRADIENT_ROWS) kernel-gradient rows from `dw`, across all units: tiles of
/// whole 16-unit blocks, then the last partial block row by row.
INLINE void kernel_gradient_rows(long rows, long inputs, long units, const float *x, const float *g, float *dw, long batch) {
    const long whole = units / LANES * LANES;
    const long step = DENSE_GRADIENT_BLOCKS * LANES;
    long unit = 0;
    for (; unit + step <= whole; unit += step)
        kernel_gradient_tile(rows, DENSE_GRADIENT_BLOCKS, inputs, units, x, g + unit, dw + unit, batch);
    for (; unit < whole; unit += LANES) kernel_gradient_tile(rows, 1, inputs, units, x, g + unit, dw + unit, batch);
    for (long r = 0; r < rows && whole < units; r++)
        kernel_gradient_partial(units - whole, inputs, units, x + r, g + whole, dw + r * units + whole, batch);
}

/// More than 16 units: kernel_gradient (inputs, units) += Σ_n x_n ⊗ g_n, each value summed in
/// sample order onto what it held. Tiles of rows × blocks share each load of x and of g.
INLINE void dense_kernel_gradient_wide(long inputs, long units, const float *x, const float *g,
                                       float *kernel_gradient, long batch) {
    long i = 0;
    for (; i + DENSE_GRADIENT_ROWS <= inputs; i += DENSE_GRADIENT_ROWS)
        kernel_gradient_rows(DENSE_GRADIENT_ROWS, inputs, units, x + i, g, kernel_gradient + i * units, batch);
    for (; i < inputs; i++) kernel_gradient_rows(1, inputs, units, x + i, g, kernel_gradient + i * units, batch);
}

/// rows (1..DENSE_INPUT_ROWS) input-gradient values per sample of a group of up to 16 (one per
/// lane): kernel rows `w` times the group's transposed output gradients `gt` (count units,
/// 16 lanes each). The first units' chunk starts from the first product; later chunks go on from
/// the sums the earlier ones wrote to `dx` (sample n's row at n · inputs). A whole tile of 16
/// rows goes to and from `dx` transposed in registers, a vector per sample.
INLINE void input_gradient_tile(long rows, long units, const float *w, const float *gt, long count, int first,
                                float *dx, long inputs, long lanes) {
    v16 sums[LANES];  // DENSE_INPUT_ROWS ≤ 16 of them
    long u = 0;
    if (first) {
        v16 g0 = load(gt);
        UNROLL for (long r = 0; r < rows; r++) sums[r] = w[r * units] * g0;
        u = 1;
    } else if (rows == LANES) {
        // Sample n's 16 values are a row of dx: read as vectors and transposed.
        UNROLL for (long n = 0; n < LANES; n++) sums[n] = n < lanes ? load(dx + n * inputs) : zero();
        transpose16(sums);
    } else {
        UNROLL for (long r = 0; r < rows; r++) {
            sums[r] = zero();
            for (long lane = 0; lane < lanes; lane++) sums[r][lane] = dx[lane * inputs + r];
        }
    }
    // The next tile's rows, a line at a time: read column by column, they would reach the cache late.
    const float *next = w + rows * units;
    for (; u < count; u++) {
        __builtin_prefetch(next + u * rows);
        v16 gu = load(gt + u * LANES);
        UNROLL for (long r = 0; r < rows; r++) sums[r] += w[r * units + u] * gu;
    }
    if (rows == LANES) {
        transpose16(sums);
        for (long n = 0; n < lanes; n++) store(dx + n * inputs, sums[n]);
        return;
    }
    float out[DENSE_INPUT_ROWS * LANES];
    UNROLL for (long r = 0; r < rows; r++) store(out + r * LANES, sums[r]);
    for (long lane = 0; lane < lanes; lane++) {
        // Plain moves: vectorised, this loop becomes scatters, which are slower.
#pragma clang loop vectorize(disable)
        for (long r = 0; r < rows; r++) dx[lane * inputs + r] = out[r * LANES + lane];
    }
}

/// Two or more units: input_gradient_ni = Σ_u kernel_iu · g_nu, units in order. Samples go 16
/// to a vector, so no sum crosses lanes; the output gradients are transposed once per group
/// of samples and chunk of units.
INLINE void dense_input_gradient(long inputs, long units, const float *g, const float *kernel,
                                 float *input_gradient, long batch) {
    float gt[DENSE_UNIT_CHUNK * LANES];
    for (long s = 0; s < batch; s += LANES) {
        long lanes = min_l(LANES, batch - s);
        float *dx = input_gradient + s * inputs;
        for (long start = 0; start < units; start += DENSE_UNIT_CHUNK) {
            long count = min_l(DENSE_UNIT_CHUNK, units - start);
            for (long u = 0; u < count; u++) {
                for (long lane = 0; lane < LANES; lane++)
                    gt[u * LANES + lane] = lane < lanes ? g[(s + lane) * units + start + u] : 0;
            }
            const float *w = kernel + start;
            int first = start == 0;
            long i = 0;
            for (; i + DENSE_INPUT_ROWS <= inputs; i += DENSE_INPUT_ROWS)
                input_gradient_tile(DENSE_INPUT_ROWS, units, w + i * units, gt, count, first, dx + i, inputs, lanes);
            for (; i < inputs; i++) input_gradient_tile(1, units, w + i * units, gt, count, first, dx + i, inputs, lanes);
        }
    }
}

/// input: (N, inputs); output_gradient: (N, units); kernel: (inputs, units). Adds into
/// kernel_gradient (inputs, units) and bias_gradient (units), samples in order; overwrites
/// input_gradient (N, inputs) with kernel · g per sample when it is not NULL.
static void dense_backward(long inputs, long units, const float *input, const float *output_gradient,
                           float *input_gradient, const float *kernel, float *kernel_gradient,
                           float *bias_gradient, long batch) {
    for (long n = 0; n < batch; n++) {
        for (long u = 0; u < units; u++) bias_gradient[u] += output_gradient[n * units + u];
    }
    if (units == 1) {
        dense_backward_single(inputs, input, output_gradient, input_gradient, kernel, kernel_gradient, batch);
        return;
    }
    if (units <= LANES) {
        dense_kernel_gradient_narrow(inputs, units, input, output_gradient, kernel_gradient, batch);
    } else {
        dense_kernel_gradient_wide(inputs, units, input, output_gradient, kernel_gradient, batch);
    }
    if (input_gradient) dense_input_gradient(inputs, units, output_gradient, kernel, input_gradient, batch);
}
