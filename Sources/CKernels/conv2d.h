// Conv2D: stride 1, square kernel, channels last. Kernel (K, K, C, F) as Keras lays it out.

/// The kernel rows that land inside the image for output row `oy`.
INLINE span row_taps(const bp_conv_shape *s, long oy) {
    return (span){max_l(0, s->pad_before - oy), min_l(s->kernel_size, s->height + s->pad_before - oy)};
}

/// The kernel columns that land inside the image for output column `ox`.
INLINE span column_taps(const bp_conv_shape *s, long ox) {
    return (span){max_l(0, s->pad_before - ox), min_l(s->kernel_size, s->width + s->pad_before - ox)};
}

/// The output columns all of whose kernel columns land inside the image (all of them for `valid`).
INLINE span interior_columns(const bp_conv_shape *s) {
    long lo = min_l(s->pad_before, s->out_width);
    return (span){lo, max_l(lo, min_l(s->out_width, s->width + s->pad_before - s->kernel_size + 1))};
}

// MARK: - Forward

/// `count` (1 to BLOCK) neighbouring output pixels whose taps all lie inside the image, 16 filters,
/// sharing each load of the kernel. C and K are the shape's channels and kernel size.
///
/// x: the first pixel's first input value under the first kernel row; w: that kernel row at
/// the first filter. Kernel rows follow each other in memory; input rows are W·C apart.
INLINE void forward_block(const bp_conv_shape *s, long C, long K, const float *x, const float *w, v16 bias,
                          long kernel_rows, int count, v16 *out) {
    v16 sums[BLOCK];
    for (int i = 0; i < count; i++) sums[i] = bias;
    for (long r = 0; r < kernel_rows; r++) {
        for (long j = 0; j < K * C; j++) {
            v16 taps = load(w);
            for (int i = 0; i < count; i++) sums[i] += x[i * C + j] * taps;
            w += s->filters;
        }
        x += s->width * C;
    }
    for (int i = 0; i < count; i++) out[i] = sums[i];
}

/// Output pixel (oy, ox) for 16 filters from `kernel` on, skipping taps outside the image.
INLINE v16 forward_pixel(const bp_conv_shape *s, const float *image, const float *kernel, v16 bias,
                         long oy, long ox, span rows) {
    v16 total = bias;
    span columns = column_taps(s, ox);
    long taps = count_of(columns) * s->channels;
    for (long ky = rows.lo; ky < rows.hi; ky++) {
        const float *x = image + ((oy + ky - s->pad_before) * s->width + ox + columns.lo - s->pad_before) * s->channels;
        const float *w = kernel + (ky * s->kernel_size + columns.lo) * s->channels * s->filters;
        for (long j = 0; j < taps; j++) {
            total += x[j] * load(w);
            w += s->filters;
        }
    }
    return total;
}

/// The same for the one filter at `kernel`.
INLINE float forward_pixel_scalar(const bp_conv_shape *s, const float *image, const float *kernel, float bias,
                                  long oy, long ox, span rows) {
    float total = bias;
    span columns = column_taps(s, ox);
    long taps = count_of(columns) * s->channels;
    for (long ky = rows.lo; ky < rows.hi; ky++) {
        const float *x = image + ((oy + ky - s->pad_before) * s->width + ox + columns.lo - s->pad_before) * s->channels;
        const float *w = kernel + (ky * s->kernel_size + columns.lo) * s->channels * s->filters;
        for (long j = 0; j < taps; j++) {
            total += x[j] * *w;
            w += s->filters;
        }
    }
    return total;
}

/// max(value, 0) (0 for NaN) when `relu` is set, else the value.
INLINE v16 activate(v16 value, int relu) { return relu ? select(value > 0, value, zero()) : value; }
INLINE float activate_scalar(float value, int relu) { return relu && !(value > 0) ? 0 : value; }

/// input: (N, H, W, C); output: (N, OH, OW, F); kernel: (K, K, C, F); bias: (F).
/// With `relu` set, output holds max(value, 0): a ReLU after the convolution, fused.
///
/// Each output value is `bias + Σ x·w` summed over kernel rows, then over the (kx, c) span
/// of each row in memory order, skipping taps outside the image. Filters go 16 at a time;
/// interior pixels go in blocks that share each kernel load; filters beyond a multiple of
/// 16 go one by one, in the same order.
INLINE void conv_forward_with(const bp_conv_shape *s, long C, long K, const float *input, float *output,
                              const float *kernel, const float *bias, int relu, long batch) {
    const long H = s->height, W = s->width, F = s->filters;
    const long OH = s->out_height, OW = s->out_width, pad = s->pad_before;
    span interior = interior_columns(s);
    for (long n = 0; n < batch; n++) {
        const float *image = input + n * H * W * C;
        for (long oy = 0; oy < OH; oy++) {
            span rows = row_taps(s, oy);
            const float *top = image + (oy + rows.lo - pad) * W * C;
            const float *first_kernel_row = kernel + rows.lo * K * C * F;
            float *out = output + (n * OH + oy) * OW * F;
            long co = 0;
            for (; co + LANES <= F; co += LANES) {
                v16 b = load(bias + co);
                // Interior pixels BLOCK, then four, two, one at a time.
                long ox = interior.lo;
                while (ox < interior.hi) {
                    long left = interior.hi - ox;
                    int count = left >= BLOCK ? BLOCK : left >= 4 ? 4 : left >= 2 ? 2 : 1;
                    v16 sums[BLOCK];
                    const float *x = top + (ox - pad) * C;
                    if (count == BLOCK) forward_block(s, C, K, x, first_kernel_row + co, b, count_of(rows), BLOCK, sums);
                    else if (count == 4) forward_block(s, C, K, x, first_kernel_row + co, b, count_of(rows), 4, sums);
                    else if (count == 2) forward_block(s, C, K, x, first_kernel_row + co, b, count_of(rows), 2, sums);
                    else forward_block(s, C, K, x, first_kernel_row + co, b, count_of(rows), 1, sums);
                    for (int i = 0; i < count; i++) store(out + (ox + i) * F + co, activate(sums[i], relu));
                    ox += count;
                }
                // The border.
                for (long ox = 0; ox < interior.lo; ox++)
                    store(out + ox * F + co, activate(forward_pixel(s, image, kernel + co, b, oy, ox, rows), relu));
                for (long ox = interior.hi; ox < OW; ox++)
                    store(out + ox * F + co, activate(forward_pixel(s, image, kernel + co, b, oy, ox, rows), relu));
            }
            for (; co < F; co++) {
                for (long ox = 0; ox < OW; ox++)
                    out[ox * F + co] = activate_scalar(forward_pixel_scalar(s, image, kernel + co, bias[co], oy, ox, rows), relu);
            }
        }
    }
}

static void conv_forward(const bp_conv_shape *s, const float *input, float *output,
                         const float *kernel, const float *bias, int relu, long batch) {
    // A first layer's 3x3 kernel over one channel, with its loops known to the compiler.
    if (s->channels == 1 && s->kernel_size == 3) conv_forward_with(s, 1, 3, input, output, kernel, bias, relu, batch);
    else conv_forward_with(s, s->channels, s->kernel_size, input, output, kernel, bias, relu, batch);
}

// MARK: - Backward

/// One row of the kernel gradient matrix (K·K·C rows by F) seen from one output row: which
/// input value it multiplies for output column ox, and the output columns where that input exists.
typedef struct {
    /// Row number in the kernel gradient: (ky * K + kx) * C + c.
    long index;
    /// The output columns lo..<hi.
    span pixels;
    /// Offset in the image of the value output column 0 would see (outside the image at a
    /// `same` border: only `pixels` are ever read).
    long offset;
    long kx, c;
} tap_row;

INLINE tap_row tap_row_make(const bp_conv_shape *s, long index, long kx, long c, long offset) {
    long first = max_l(0, s->pad_before - kx);
    return (tap_row){index, {first, max_l(first, min_l(s->out_width, s->width + s->pad_before - kx))}, offset, kx, c};
}

/// The first row of kernel row `ky`, seen from output row `oy`.
INLINE tap_row tap_row_first(const bp_conv_shape *s, long ky, long oy) {
    return tap_row_make(s, ky * s->kernel_size * s->channels, 0, 0,
                        ((oy + ky - s->pad_before) * s->width - s->pad_before) * s->channels);
}

/// The row after `r`: the next channel, kernel column, or kernel row.
INLINE tap_row tap_row_next(const bp_conv_shape *s, tap_row r) {
    if (r.c + 1 < s->channels) return tap_row_make(s, r.index + 1, r.kx, r.c + 1, r.offset + 1);
    if (r.kx + 1 < s->kernel_size) return tap_row_make(s, r.index + 1, r.kx + 1, 0, r.offset + 1);
    return tap_row_make(s, r.index + 1, 0, 0, r.offset + 1 + (s->width - s->kernel_size) * s->channels);
}

/// bias_gradient (F) += Σ over the row's pixels of g; g: (OW, F).
INLINE void accumulate_bias_gradient(const bp_conv_shape *s, float *bias_gradient, const float *g) {
    const long F = s->filters, OW = s->out_width;
    long co = 0;
    for (; co + LANES <= F; co += LANES) {
        v16 total = load(bias_gradient + co);
        for (long ox = 0; ox < OW; ox++) total += load(g + ox * F + co);
        store(bias_gradient + co, total);
    }
    for (; co < F; co++) {
        for (long ox = 0; ox < OW; ox++) bias_gradient[co] += g[ox * F + co];
    }
}

/// sums[i] += Σ x_i(ox)·g(ox) for `count` (1 to BLOCK) rows, each over its own pixels in
/// ascending order, sharing each load of g where their pixels overlap.
/// g: the first of 16 filters of output pixel 0.
INLINE void accumulate_rows(const bp_conv_shape *s, long C, const float *image, v16 *sums, const tap_row *rows,
                            int count, const float *g) {
    const long F = s->filters;
    // The pixels every row sees (all but a `same`-padded border).
    long start = rows[0].pixels.lo, end = rows[0].pixels.hi;
    for (int i = 1; i < count; i++) {
        start = max_l(start, rows[i].pixels.lo);
        end = min_l(end, rows[i].pixels.hi);
    }
    span both = {start, max_l(start, end)};
    const float *x[BLOCK];
    for (int i = 0; i < count; i++) {
        for (long ox = rows[i].pixels.lo; ox < min_l(both.lo, rows[i].pixels.hi); ox++)
            sums[i] += image[rows[i].offset + ox * C] * load(g + ox * F);
        x[i] = image + rows[i].offset + both.lo * C;
    }
    const float *gp = g + both.lo * F;
    for (long ox = both.lo; ox < both.hi; ox++) {
        v16 gv = load(gp);
        for (int i = 0; i < count; i++) {
            sums[i] += *x[i] * gv;
            x[i] += C;
        }
        gp += F;
    }
    for (int i = 0; i < count; i++) {
        for (long ox = max_l(both.hi, rows[i].pixels.lo); ox < rows[i].pixels.hi; ox++)
            sums[i] += image[rows[i].offset + ox * C] * load(g + ox * F);
    }
}

/// d[co] += Σ x(ox)·g(ox, co) for the filters first..<F not covered by whole vectors.
INLINE void accumulate_scalar(const bp_conv_shape *s, const float *image, float *d, tap_row row, const float *g, long first) {
    const long F = s->filters, C = s->channels;
    for (long co = first; co < F; co++) {
        for (long ox = row.pixels.lo; ox < row.pixels.hi; ox++) d[co] += image[row.offset + ox * C] * g[ox * F + co];
    }
}

/// kernel_gradient += the contribution of output row `oy` (g: (OW, F)) of one image (H, W, C).
///
/// Row r of the kernel gradient is the sum over pixels of x_r(ox) · g(ox), where x_r(ox) is
/// the input value that tap and channel see from output pixel ox. Rows go in blocks that
/// share each load of g, 16 filters at a time; every row sums its pixels in ascending order.
INLINE void accumulate_kernel_gradient(const bp_conv_shape *s, long C, float *kernel_gradient, const float *image,
                                       const float *g, long oy) {
    const long F = s->filters;
    const long vector_filters = F - F % LANES;
    span valid_rows = row_taps(s, oy);
    tap_row next = tap_row_first(s, valid_rows.lo, oy);
    long remaining = count_of(valid_rows) * s->kernel_size * s->channels;
    while (remaining > 0) {
        int count = remaining >= BLOCK ? BLOCK : remaining >= 4 ? 4 : remaining >= 2 ? 2 : 1;
        tap_row rows[BLOCK];
        for (int i = 0; i < count; i++) {
            rows[i] = next;
            next = tap_row_next(s, next);
        }
        float *d = kernel_gradient + rows[0].index * F;
        for (long co = 0; co < vector_filters; co += LANES) {
            v16 sums[BLOCK];
            for (int i = 0; i < count; i++) sums[i] = load(d + i * F + co);
            if (count == BLOCK) accumulate_rows(s, C, image, sums, rows, BLOCK, g + co);
            else if (count == 4) accumulate_rows(s, C, image, sums, rows, 4, g + co);
            else if (count == 2) accumulate_rows(s, C, image, sums, rows, 2, g + co);
            else accumulate_rows(s, C, image, sums, rows, 1, g + co);
            for (int i = 0; i < count; i++) store(d + i * F + co, sums[i]);
        }
        for (int i = 0; i < count; i++) accumulate_scalar(s, image, d + i * F, rows[i], g, vector_filters);
        remaining -= count;
    }
}

/// kernel_gradient += the contribution of one image (H, W, C) with `valid` padding, whose
/// output gradient g is (OH, OW, F): every tap sees every output pixel.
///
/// The same sums as `accumulate_kernel_gradient` over the image's output rows in order, each
/// row's pixels in order, but a block of kernel-gradient rows stays in registers across all
/// the output rows instead of going back to memory after each.
INLINE void accumulate_kernel_gradient_valid(const bp_conv_shape *s, long C, float *kernel_gradient,
                                             const float *image, const float *g) {
    const long F = s->filters, W = s->width, OH = s->out_height, OW = s->out_width;
    const long vector_filters = F - F % LANES;
    const long rows_total = s->kernel_size * s->kernel_size * C;
    for (long first = 0; first < rows_total;) {
        long left = rows_total - first;
        int count = left >= BLOCK ? BLOCK : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        // Where each row's input value for output pixel (0, 0) sits: row r is tap (ky, kx), channel c.
        long offset[BLOCK];
        for (int i = 0; i < count; i++) {
            long r = first + i, c = r % C, kx = (r / C) % s->kernel_size, ky = r / C / s->kernel_size;
            offset[i] = (ky * W + kx) * C + c;
        }
        float *d = kernel_gradient + first * F;
        for (long co = 0; co < vector_filters; co += LANES) {
            v16 sums[BLOCK];
            for (int i = 0; i < count; i++) sums[i] = load(d + i * F + co);
            for (long oy = 0; oy < OH; oy++) {
                const float *row = image + oy * W * C;
                const float *gp = g + oy * OW * F + co;
#define ACCUMULATE(n)                                                                  \
    for (long ox = 0; ox < OW; ox++) {                                                 \
        v16 gv = load(gp + ox * F);                                                    \
        for (int i = 0; i < n; i++) sums[i] += row[offset[i] + ox * C] * gv;           \
    }
                if (count == BLOCK) { ACCUMULATE(BLOCK) }
                else if (count == 4) { ACCUMULATE(4) }
                else if (count == 2) { ACCUMULATE(2) }
                else { ACCUMULATE(1) }
#undef ACCUMULATE
            }
            for (int i = 0; i < count; i++) store(d + i * F + co, sums[i]);
        }
        for (int i = 0; i < count; i++) {
            for (long co = vector_filters; co < F; co++) {
                float total = d[i * F + co];
                for (long oy = 0; oy < OH; oy++) {
                    for (long ox = 0; ox < OW; ox++)
                        total += image[oy * W * C + offset[i] + ox * C] * g[(oy * OW + ox) * F + co];
                }
                d[i * F + co] = total;
            }
        }
        first += count;
    }
}

/// input: (N, H, W, C); output_gradient: (N, OH, OW, F); kernel_gradient (K, K, C, F) and
/// bias_gradient (F) are added to, summed over pixels in order (sample, row, column).
INLINE void conv_backward_parameters_with(const bp_conv_shape *s, long C, const float *input, const float *output_gradient,
                                          float *kernel_gradient, float *bias_gradient, long batch) {
    const long OH = s->out_height, OW = s->out_width, F = s->filters;
    const int valid = OH == s->height - s->kernel_size + 1 && OW == s->width - s->kernel_size + 1;
    for (long n = 0; n < batch; n++) {
        const float *image = input + n * s->height * s->width * C;
        for (long oy = 0; oy < OH; oy++) {
            const float *g = output_gradient + (n * OH + oy) * OW * F;
            accumulate_bias_gradient(s, bias_gradient, g);
            if (!valid) accumulate_kernel_gradient(s, C, kernel_gradient, image, g, oy);
        }
        if (valid) accumulate_kernel_gradient_valid(s, C, kernel_gradient, image, output_gradient + n * OH * OW * F);
    }
}

static void conv_backward_parameters(const bp_conv_shape *s, const float *input, const float *output_gradient,
                                     float *kernel_gradient, float *bias_gradient, long batch) {
    if (s->channels == 1) conv_backward_parameters_with(s, 1, input, output_gradient, kernel_gradient, bias_gradient, batch);
    else conv_backward_parameters_with(s, s->channels, input, output_gradient, kernel_gradient, bias_gradient, batch);
}

/// output_gradient: (N, OH, OW, F); kernel: (K, K, C, F); input_gradient: (N, H, W, C), overwritten;
/// scratch: K·K·F·C + C floats.
///
/// The input gradient is a convolution of the output gradient (padded by K - 1 - pad_before
/// before) with the kernel turned half a turn and its channels and filters swapped, so it
/// runs through `conv_forward`: each input value is Σ g·w over the taps that saw it, kernel
/// row by row, each row's (tap, filter) span in memory order, from zero.
static void conv_backward_input(const bp_conv_shape *s, const float *output_gradient, const float *kernel,
                                float *input_gradient, float *scratch, long batch) {
    const long C = s->channels, F = s->filters, K = s->kernel_size;
    // turned[ky][kx][f][c] = kernel[K-1-ky][K-1-kx][c][f]; then C zeros, the bias.
    float *turned = scratch;
    for (long ky = 0; ky < K; ky++) {
        for (long kx = 0; kx < K; kx++) {
            const float *from = kernel + ((K - 1 - ky) * K + (K - 1 - kx)) * C * F;
            float *to = turned + (ky * K + kx) * F * C;
            for (long c = 0; c < C; c++) {
                for (long f = 0; f < F; f++) to[f * C + c] = from[c * F + f];
            }
        }
    }
    float *zeros = turned + K * K * F * C;
    __builtin_memset(zeros, 0, sizeof(float) * C);
    bp_conv_shape full = {
        .height = s->out_height, .width = s->out_width, .channels = F,
        .filters = C, .kernel_size = K,
        .out_height = s->height, .out_width = s->width,
        .pad_before = K - 1 - s->pad_before,
    };
    conv_forward(&full, output_gradient, input_gradient, turned, zeros, 0, batch);
}
