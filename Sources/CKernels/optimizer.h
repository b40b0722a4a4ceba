// Adam's update, Keras's form.

/// parameters, gradients, m, v: (count). For each value: m ← m + (g - m)(1 - β1),
/// v ← v + (g² - v)(1 - β2), θ ← θ - α·m / (√v + ε), each operation rounded as written.
static void adam_update(float *parameters, const float *gradients, float *m, float *v, long count,
                        float alpha, float one_minus_beta1, float one_minus_beta2, float epsilon) {
    long i = 0;
    for (; i + LANES <= count; i += LANES) {
        v16 g = load(gradients + i), mi = load(m + i), vi = load(v + i);
        mi += (g - mi) * one_minus_beta1;
        vi += (g * g - vi) * one_minus_beta2;
        store(m + i, mi);
        store(v + i, vi);
        store(parameters + i, load(parameters + i) - alpha * mi / (__builtin_elementwise_sqrt(vi) + epsilon));
    }
    for (; i < count; i++) {
        float g = gradients[i];
        m[i] += (g - m[i]) * one_minus_beta1;
        v[i] += (g * g - v[i]) * one_minus_beta2;
        parameters[i] -= alpha * m[i] / (__builtin_sqrtf(v[i]) + epsilon);
    }
}
