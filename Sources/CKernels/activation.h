// ReLU and max pooling.

/// input, output: (count).  output = input where input > 0, else 0 (also for NaN).
static void relu_forward(const float *input, float *output, long count) {
    long i = 0;
    for (; i + LANES <= count; i += LANES) {
        v16 x = load(input + i);
        store(output + i, select(x > 0, x, zero()));
    }
    for (; i < count; i++) output[i] = input[i] > 0 ? input[i] : 0;
}

/// output, output_gradient, input_gradient: (count). The gradient passes where the output is positive.
static void relu_backward(const float *output, const float *output_gradient, float *input_gradient, long count) {
    long i = 0;
    for (; i + LANES <= count; i += LANES)
        store(input_gradient + i, select(load(output + i) > 0, load(output_gradient + i), zero()));
    for (; i < count; i++) input_gradient[i] = output[i] > 0 ? output_gradient[i] : 0;
}

INLINE void maxpool_forward_sized(const bp_pool_shape *s, long P, const float *input, float *output, long batch) {
    const long H = s->height, W = s->width, C = s->channels;
    for (long n = 0; n < batch; n++) {
        for (long oy = 0; oy < s->out_height; oy++) {
            for (long ox = 0; ox < s->out_width; ox++) {
                float *out = output + ((n * s->out_height + oy) * s->out_width + ox) * C;
                const float *window = input + ((n * H + oy * P) * W + ox * P) * C;
                long c = 0;
                for (; c + LANES <= C; c += LANES) {
                    v16 best = load(window + c);
                    for (long dy = 0; dy < P; dy++) {
                        for (long dx = 0; dx < P; dx++) {
                            v16 value = load(window + (dy * W + dx) * C + c);
                            best = select(value > best, value, best);
                        }
                    }
                    store(out + c, best);
                }
                for (; c < C; c++) {
                    float best = window[c];
                    for (long dy = 0; dy < P; dy++) {
                        for (long dx = 0; dx < P; dx++) {
                            float value = window[(dy * W + dx) * C + c];
                            if (value > best) best = value;
                        }
                    }
                    out[c] = best;
                }
            }
        }
    }
}

/// input: (N, H, W, C); output: (N, H/size, W/size, C), the maximum of each window.
static void maxpool_forward(const bp_pool_shape *s, const float *input, float *output, long batch) {
    if (s->size == 2) maxpool_forward_sized(s, 2, input, output, batch);
    else maxpool_forward_sized(s, s->size, input, output, batch);
}

INLINE void maxpool_backward_sized(const bp_pool_shape *s, long P, const float *input, const float *output,
                                   const float *output_gradient, float *input_gradient, int relu, long batch) {
    const long H = s->height, W = s->width, C = s->channels;
    const long OH = s->out_height, OW = s->out_width;
    for (long n = 0; n < batch; n++) {
        for (long oy = 0; oy < OH; oy++) {
            for (long ox = 0; ox < OW; ox++) {
                long pooled = ((n * OH + oy) * OW + ox) * C;
                const float *maximum = output + pooled;
                const float *g = output_gradient + pooled;
                long start = ((n * H + oy * P) * W + ox * P) * C;
                const float *window = input + start;
                float *dx = input_gradient + start;
                long c = 0;
                for (; c + LANES <= C; c += LANES) {
                    v16 best = load(maximum + c), gradient = load(g + c);
                    if (relu) gradient = select(best > 0, gradient, zero());
                    m16 found = (m16){0};
                    for (long dy = 0; dy < P; dy++) {
                        for (long dxx = 0; dxx < P; dxx++) {
                            long offset = (dy * W + dxx) * C + c;
                            m16 first = (load(window + offset) == best) & ~found;
                            found |= first;
                            store(dx + offset, select(first, gradient, zero()));
                        }
                    }
                }
                for (; c < C; c++) {
                    int found = 0;
                    for (long dy = 0; dy < P; dy++) {
                        for (long dxx = 0; dxx < P; dxx++) {
                            long offset = (dy * W + dxx) * C + c;
                            int first = window[offset] == maximum[c] && !found;
                            found = found || first;
                            dx[offset] = first && (!relu || maximum[c] > 0) ? g[c] : 0;
                        }
                    }
                }
            }
        }
        // The bottom rows and right columns no window covers.
        float *image = input_gradient + n * H * W * C;
        long covered_width = OW * P, covered_height = OH * P;
        for (long y = 0; y < covered_height && covered_width < W; y++)
            __builtin_memset(image + (y * W + covered_width) * C, 0, sizeof(float) * (W - covered_width) * C);
        __builtin_memset(image + covered_height * W * C, 0, sizeof(float) * (H - covered_height) * W * C);
    }
}

/// input: (N, H, W, C) and output: (N, H/size, W/size, C), what the forward pass read and
/// wrote; output_gradient like output; input_gradient like input, every value written: the
/// window's gradient at the first position (row-major) holding the window's maximum, 0
/// elsewhere and where no window reaches. With `relu` set, the input is a ReLU's output and
/// the gradient goes on through that ReLU too: it is kept only where the maximum is positive.
static void maxpool_backward(const bp_pool_shape *s, const float *input, const float *output,
                             const float *output_gradient, float *input_gradient, int relu, long batch) {
    if (s->size == 2) maxpool_backward_sized(s, 2, input, output, output_gradient, input_gradient, relu, batch);
    else maxpool_backward_sized(s, s->size, input, output, output_gradient, input_gradient, relu, batch);
}
