#ifndef MNEME_CDNNL_KERNELS_H
#define MNEME_CDNNL_KERNELS_H

#include <stdint.h>

/// 1 when oneDNN multiplies bf16 matrices natively on this CPU (AVX512-BF16 or AMX), else 0.
int mneme_dnnl_bf16_native(void);

/// oneDNN's version, "major.minor.patch".
const char *mneme_dnnl_version(void);

/// out (m × n, row-major, float) = src (m × k, row-major, float, rounded to bf16) · weightsᵀ, with `weights`
/// (n × k, row-major, bf16 bit patterns) as a PyTorch linear layer stores them. Returns 0, or oneDNN's status.
int mneme_dnnl_bf16_linear(int64_t m, int64_t k, int64_t n, const float *src, const uint16_t *weights, float *out);

/// 1 when oneDNN multiplies 8-bit integers natively on this CPU (AVX512-VNNI, AVX2-VNNI or AMX), else 0.
int mneme_dnnl_int8_native(void);

/// out (m × n, float) = src (m × k, float) · weightsᵀ through 8-bit integers: each row of `src` quantized to s8
/// with its own scale (largest magnitude → 127), `weights` (n × k, s8) with one scale per row in
/// `weight_scales` (n), accumulated in int32 and scaled back. Returns 0, or oneDNN's status.
int mneme_dnnl_s8_linear(int64_t m, int64_t k, int64_t n, const float *src, const int8_t *weights,
                         const float *weight_scales, float *out);

/// Primitives alive now (cached, or evicted while a product still ran on them).
int64_t mneme_dnnl_primitives_alive(void);

#endif
