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

/// input: (N, inputs); output: (N, units); kernel: (inputs, units); bias: (units).
///
/// One unit: a dot product per sample. Several units: `bias + Σ_i x_i · kernel_i` with
/// units 16 to a vector, inputs in ascending order, two samples sharing each kernel load.
static void dense_forward(long inputs, long units, const float *input, float *output,
                          const float *kernel, const float *bias, long batch) {
    if (units == 1) {
        for (long n = 0; n < batch; n++) output[n] = bias[0] + dot(input + n * inputs, kernel, inputs);
        return;
    }
    // Rows of the kernel in tiles that stay in cache while every sample passes over them.
    long tile = max_l(1, 65536 / units);
    const float *kernel_end = kernel + inputs * units;
    const float *output_end = output + batch * units;
    for (long n = 0; n < batch; n++) __builtin_memcpy(output + n * units, bias, sizeof(float) * units);
    for (long start = 0; start < inputs; start += tile) {
        long end = min_l(start + tile, inputs);
        for (long unit = 0; unit < units; unit += LANES) {
            long lanes = min_l(LANES, units - unit);
            long n = 0;
            while (n < batch) {
                const float *x0 = input + n * inputs;
                float *y0 = output + n * units + unit;
                const float *w = kernel + start * units + unit;
                if (n + 1 < batch) {
                    const float *x1 = x0 + inputs;
                    float *y1 = y0 + units;
                    v16 s0 = load_partial(y0, lanes, output_end), s1 = load_partial(y1, lanes, output_end);
                    for (long i = start; i < end; i++) {
                        v16 row = load_partial(w, lanes, kernel_end);
                        s0 += x0[i] * row;
                        s1 += x1[i] * row;
                        w += units;
                    }
                    store_partial(y0, s0, lanes);
                    store_partial(y1, s1, lanes);
                    n += 2;
                } else {
                    v16 s0 = load_partial(y0, lanes, output_end);
                    for (long i = start; i < end; i++) {
                        s0 += x0[i] * load_partial(w, lanes, kernel_end);
                        w += units;
                    }
                    store_partial(y0, s0, lanes);
                    n += 1;
                }
            }
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

/// The backward pass for 2 to 16 units. x: (N, inputs); g: (N, units).
///
/// Inputs go 16 at a time: each 16-row block of the kernel (and of its gradient) goes
/// through a 1 KB transposing buffer so that a vector holds one unit of 16 consecutive
/// inputs. kernel_gradient_iu += Σ_n x_ni · g_nu (the sum over samples from zero, then
/// added); input_gradient_ni = Σ_u kernel_iu · g_nu, units in order. Rows past the last
/// whole block are summed one by one in the same order.
INLINE void dense_backward_narrow(long inputs, long units, const float *x, const float *g, float *input_gradient,
                                  const float *kernel, float *kernel_gradient, long batch) {
    // (units, 16): unit u of the block's rows 0..<16 at u * 16.
    float block[LANES * LANES];
    long i = 0;
    for (; i + LANES <= inputs; i += LANES) {
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
            store(block + u * LANES, s0);
            store(block + (u + 1) * LANES, s1);
        }
        if (u < units) {
            v16 s0 = zero();
            const float *xn = x + i, *gn = g + u;
            for (long n = 0; n < batch; n++) {
                s0 += gn[0] * load(xn);
                xn += inputs;
                gn += units;
            }
            store(block + u * LANES, s0);
        }
        for (long r = 0; r < LANES; r++) {
            float *row = kernel_gradient + (i + r) * units;
            for (long u = 0; u < units; u++) row[u] += block[u * LANES + r];
        }
        if (input_gradient) {
            for (long r = 0; r < LANES; r++) {
                const float *row = kernel + (i + r) * units;
                for (long u = 0; u < units; u++) block[u * LANES + r] = row[u];
            }
            const float *gn = g;
            float *dx = input_gradient + i;
            for (long n = 0; n < batch; n++) {
                v16 total = gn[0] * load(block);
                for (long u = 1; u < units; u++) total += gn[u] * load(block + u * LANES);
                store(dx, total);
                gn += units;
                dx += inputs;
            }
        }
    }
    for (; i < inputs; i++) {
        for (long u = 0; u < units; u++) {
            float total = 0;
            for (long n = 0; n < batch; n++) total += g[n * units + u] * x[n * inputs + i];
            kernel_gradient[i * units + u] += total;
        }
        if (!input_gradient) continue;
        for (long n = 0; n < batch; n++) {
            float total = g[n * units] * kernel[i * units];
            for (long u = 1; u < units; u++) total += g[n * units + u] * kernel[i * units + u];
            input_gradient[n * inputs + i] = total;
        }
    }
}

/// More than 16 units: kernel_gradient (inputs, units) += Σ_n x_n ⊗ g_n, samples in order,
/// two kernel rows sharing each load of g.
INLINE void dense_kernel_gradient_wide(long inputs, long units, const float *x, const float *g,
                                       float *kernel_gradient, long batch) {
    const float *end = kernel_gradient + inputs * units;
    const float *g_end = g + batch * units;
    for (long unit = 0; unit < units; unit += LANES) {
        long lanes = min_l(LANES, units - unit);
        long i = 0;
        while (i < inputs) {
            float *d0 = kernel_gradient + i * units + unit;
            if (i + 1 < inputs) {
                float *d1 = d0 + units;
                v16 s0 = load_partial(d0, lanes, end), s1 = load_partial(d1, lanes, end);
                for (long n = 0; n < batch; n++) {
                    v16 gn = load_partial(g + n * units + unit, lanes, g_end);
                    s0 += x[n * inputs + i] * gn;
                    s1 += x[n * inputs + i + 1] * gn;
                }
                store_partial(d0, s0, lanes);
                store_partial(d1, s1, lanes);
                i += 2;
            } else {
                v16 s0 = load_partial(d0, lanes, end);
                for (long n = 0; n < batch; n++)
                    s0 += x[n * inputs + i] * load_partial(g + n * units + unit, lanes, g_end);
                store_partial(d0, s0, lanes);
                i += 1;
            }
        }
    }
}

/// More than 16 units: input_gradient (N, inputs), row i of the kernel dotted with g_n, units
/// 16 lanes at a time, then one fixed-order sum of the lanes; two samples share each kernel load.
INLINE void dense_input_gradient_wide(long inputs, long units, const float *g, const float *kernel,
                                      float *input_gradient, long batch) {
    const float *kernel_end = kernel + inputs * units;
    const float *g_end = g + batch * units;
    // Lanes of the last, partial block of units that hold units (the others are masked off).
    m16 index = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    m16 partial = index < (int32_t)(units % LANES);
    for (long i = 0; i < inputs; i++) {
        const float *row = kernel + i * units;
        for (long n = 0; n < batch; n += 2) {
            const float *g0 = g + n * units;
            const float *g1 = n + 1 < batch ? g0 + units : g0;
            v16 s0 = zero(), s1 = zero();
            long unit = 0;
            for (; unit + LANES <= units; unit += LANES) {
                v16 w = load(row + unit);
                s0 += w * load(g0 + unit);
                s1 += w * load(g1 + unit);
            }
            if (unit < units) {
                long lanes = units - unit;
                v16 w = load_partial(row + unit, lanes, kernel_end);
                s0 += select(partial, w * load_partial(g0 + unit, lanes, g_end), zero());
                s1 += select(partial, w * load_partial(g1 + unit, lanes, g_end), zero());
            }
            input_gradient[n * inputs + i] = sum(s0);
            if (n + 1 < batch) input_gradient[(n + 1) * inputs + i] = sum(s1);
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
    } else if (units <= LANES) {
        dense_backward_narrow(inputs, units, input, output_gradient, input_gradient, kernel, kernel_gradient, batch);
    } else {
        dense_kernel_gradient_wide(inputs, units, input, output_gradient, kernel_gradient, batch);
        if (input_gradient) dense_input_gradient_wide(inputs, units, output_gradient, kernel, input_gradient, batch);
    }
}
