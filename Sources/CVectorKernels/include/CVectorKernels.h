#ifndef MNEME_CVECTOR_KERNELS_H
#define MNEME_CVECTOR_KERNELS_H

/// In place: x[0 ..< count] = softmax(x[0 ..< count]), x[count ..< total] = 0. Eight lanes at a time with AVX2 and
/// FMA where the CPU has them (checked once), else libm's expf.
void mneme_softmax_row(float *x, int count, int total);

#endif
