// Lane-wise kernels Swift cannot vectorise for every CPU from one binary: Swift compiles for baseline x86-64
// (SSE2), where its SIMD types spill to the stack. These have an AVX2 + FMA version chosen at run time.
#include "CVectorKernels.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

// eˣ for eight lanes: Cody–Waite reduction and Cephes' degree-6 polynomial (within 2 ulp of expf where softmax
// uses it); 0 below about −87.7, where 2ⁿ leaves the normal floats.
__attribute__((target("avx2,fma"))) static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.0f)), _mm256_set1_ps(88.3762626647949f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(exponent));
}

__attribute__((target("avx2,fma"))) static float horizontal_max(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

__attribute__((target("avx2,fma"))) static float horizontal_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) static void softmax_row_avx2(float *x, int count, int total) {
    int i = 0;
    __m256 lanes = _mm256_set1_ps(-INFINITY);
    for (; i + 8 <= count; i += 8) lanes = _mm256_max_ps(lanes, _mm256_loadu_ps(x + i));
    float maximum = horizontal_max(lanes);
    for (; i < count; i++) maximum = x[i] > maximum ? x[i] : maximum;
    __m256 shift = _mm256_set1_ps(maximum), sums = _mm256_setzero_ps();
    for (i = 0; i + 8 <= count; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), shift));
        _mm256_storeu_ps(x + i, e);
        sums = _mm256_add_ps(sums, e);
    }
    float sum = horizontal_sum(sums);
    for (; i < count; i++) { x[i] = expf(x[i] - maximum); sum += x[i]; }
    __m256 inverse = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= count; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inverse));
    for (; i < count; i++) x[i] *= 1.0f / sum;
    for (i = count; i < total; i++) x[i] = 0;
}

static int has_avx2 = -1;

static int avx2(void) {
    if (has_avx2 < 0) has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return has_avx2;
}
#endif

static void softmax_row_scalar(float *x, int count, int total) {
    float maximum = -INFINITY, sum = 0;
    for (int i = 0; i < count; i++) maximum = x[i] > maximum ? x[i] : maximum;
    for (int i = 0; i < count; i++) { x[i] = expf(x[i] - maximum); sum += x[i]; }
    float inverse = 1.0f / sum;
    for (int i = 0; i < count; i++) x[i] *= inverse;
    for (int i = count; i < total; i++) x[i] = 0;
}

void mneme_softmax_row(float *x, int count, int total) {
#if defined(__x86_64__)
    if (avx2()) { softmax_row_avx2(x, count, total); return; }
#endif
    softmax_row_scalar(x, count, total);
}
