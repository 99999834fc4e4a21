#include <cblas.h>

/* LAPACK's divide-and-conquer SVD and symmetric eigensolver, from the same OpenBLAS library (its Fortran
   interface; the trailing size_t arguments are gfortran's hidden lengths of the character arguments). */
#include <stddef.h>
void sgesdd_(const char *jobz, const int *m, const int *n, float *a, const int *lda, float *s, float *u,
             const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork, int *iwork, int *info,
             size_t jobz_length);
void ssyevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda, float *w, float *work,
             const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_length, size_t uplo_length);
