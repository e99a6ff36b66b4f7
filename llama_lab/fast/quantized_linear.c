/* The weight-only int8 and int4 products on an x86 CPU with AVX2 (llama_lab/fast/kernels.py builds and calls them).

   y[m, n] = scale[n] * sum_k x[m, k] * q[n, k]
   x: (M, K) float32, q: (N, K) int8 (one row per output), scale: (N,) float32, y: (M, N) float32.

   Decoding multiplies a few rows x by every weight, so the time goes into reading q from memory: a quarter of the
   bytes of a float32 weight. Eight weights at a time are loaded as 8 bytes, widened to eight int32 and then to
   eight floats in registers, and multiplied into four running sums (four, so that an addition need not wait for
   the one before it); with several rows of x, four of them at a time share each widening. The rows of q are
   shared among the cores (OpenMP); a row is read from memory once for all of x's rows. */

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

static inline __m256 widen8(const int8_t* p) {  /* 8 int8 -> 8 float32 */
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)p)));
}

static inline float sum8(__m256 v) {  /* the sum of the 8 lanes */
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One row of q times one row of x: four running sums over k. */
static inline float dot_one(const float* xm, const int8_t* row, int64_t K) {
    __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
    __m256 sum2 = _mm256_setzero_ps(), sum3 = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
        sum0 = _mm256_fmadd_ps(_mm256_loadu_ps(xm + k), widen8(row + k), sum0);
        sum1 = _mm256_fmadd_ps(_mm256_loadu_ps(xm + k + 8), widen8(row + k + 8), sum1);
        sum2 = _mm256_fmadd_ps(_mm256_loadu_ps(xm + k + 16), widen8(row + k + 16), sum2);
        sum3 = _mm256_fmadd_ps(_mm256_loadu_ps(xm + k + 24), widen8(row + k + 24), sum3);
    }
    for (; k + 8 <= K; k += 8)
        sum0 = _mm256_fmadd_ps(_mm256_loadu_ps(xm + k), widen8(row + k), sum0);
    float total = sum8(_mm256_add_ps(_mm256_add_ps(sum0, sum1), _mm256_add_ps(sum2, sum3)));
    for (; k < K; k++) total += xm[k] * row[k];
    return total;
}

/* One row of q times four rows of x: each 8 weights widened once and used four times. */
static inline void dot_four(const float* x, int64_t K, const int8_t* row, float* out) {
    __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
    __m256 sum2 = _mm256_setzero_ps(), sum3 = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 w = widen8(row + k);
        sum0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), w, sum0);
        sum1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + K + k), w, sum1);
        sum2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 2 * K + k), w, sum2);
        sum3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 3 * K + k), w, sum3);
    }
    out[0] = sum8(sum0), out[1] = sum8(sum1), out[2] = sum8(sum2), out[3] = sum8(sum3);
    for (; k < K; k++)
        for (int i = 0; i < 4; i++) out[i] += x[i * K + k] * row[k];
}

void int8_linear(const float* x, const int8_t* q, const float* scale, float* y, int64_t M, int64_t N, int64_t K) {
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const int8_t* row = q + n * K;
        int64_t m = 0;
        for (; m + 4 <= M; m += 4) {
            float out[4];
            dot_four(x + m * K, K, row, out);
            for (int i = 0; i < 4; i++) y[(m + i) * N + n] = out[i] * scale[n];
        }
        for (; m < M; m++) y[m * N + n] = dot_one(x + m * K, row, K) * scale[n];
    }
}


/* The int4 product, groupwise (llama_lab.quantize's int4 scheme):

   y[m, n] = sum_g scale[n, g] * sum_{k in g} x[m, k] * (q[n, k] - zero[n, g])
           = sum_g scale[n, g] * (sum_{k in g} x[m, k] * q[n, k]  -  zero[n, g] * xsum[m, g])

   q: (N, K / 2) bytes, column 2i in the low four bits of byte i and 2i+1 in the high four (packing.pack_int4);
   scale: (N, K / G) float32, zero: (N, K / G) bytes, for groups of G columns (G a multiple of 32).
   x's columns are first split into the even ones (xe) and the odd ones (xo), (M, K / 2) each, so that a byte's
   low and high halves meet their columns without shuffling, and each group's sum of x is taken (xsum, (M, K / G)).
   A step reads half a byte per weight (and a scale and a zero per group): eight bytes at a time are widened to
   eight int32, split into their low and high halves, made floats and multiplied into a group's sum; the group's
   sum is scaled into the row's running total as a vector, so that one horizontal sum ends each row. */

static inline __m256i widen8u(const uint8_t* p) {  /* 8 bytes -> 8 int32 */
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)p));
}

/* One row of q times one row of x: four running sums per group (the even and the odd columns of two 8-byte
   loads), so that an addition need not wait for the one before it. */
static inline float int4_one(const float* xe, const float* xo, const float* xsum, int64_t groups,
                             const uint8_t* row, const float* scale, const uint8_t* zero, int64_t G) {
    const __m256i low_bits = _mm256_set1_epi32(0x0F);
    __m256 total = _mm256_setzero_ps();
    float correction = 0.0f;
    for (int64_t g = 0; g < groups; g++) {
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        const int64_t first = g * (G / 2), end = first + G / 2;
        for (int64_t j = first; j < end; j += 16) {
            __m256i w0 = widen8u(row + j), w1 = widen8u(row + j + 8);
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(xe + j), _mm256_cvtepi32_ps(_mm256_and_si256(w0, low_bits)), s0);
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(xo + j), _mm256_cvtepi32_ps(_mm256_srli_epi32(w0, 4)), s1);
            s2 = _mm256_fmadd_ps(_mm256_loadu_ps(xe + j + 8), _mm256_cvtepi32_ps(_mm256_and_si256(w1, low_bits)), s2);
            s3 = _mm256_fmadd_ps(_mm256_loadu_ps(xo + j + 8), _mm256_cvtepi32_ps(_mm256_srli_epi32(w1, 4)), s3);
        }
        const __m256 sum = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
        total = _mm256_fmadd_ps(sum, _mm256_set1_ps(scale[g]), total);
        correction += scale[g] * (float)zero[g] * xsum[g];
    }
    return sum8(total) - correction;
}

/* One row of q times four rows of x (rows `half` floats apart): each 8 weights widened once and used four times,
   one running sum per row. */
static inline void int4_four(const float* xe, const float* xo, const float* xsum, int64_t half, int64_t groups,
                             const uint8_t* row, const float* scale, const uint8_t* zero, int64_t G, float* out) {
    const __m256i low_bits = _mm256_set1_epi32(0x0F);
    __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps(), t2 = _mm256_setzero_ps(), t3 = _mm256_setzero_ps();
    float c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f;
    for (int64_t g = 0; g < groups; g++) {
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        const int64_t first = g * (G / 2);
        for (int64_t j = first; j < first + G / 2; j += 8) {
            __m256i w = widen8u(row + j);
            __m256 even = _mm256_cvtepi32_ps(_mm256_and_si256(w, low_bits));
            __m256 odd = _mm256_cvtepi32_ps(_mm256_srli_epi32(w, 4));
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(xo + j), odd, _mm256_fmadd_ps(_mm256_loadu_ps(xe + j), even, s0));
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(xo + half + j), odd,
                                 _mm256_fmadd_ps(_mm256_loadu_ps(xe + half + j), even, s1));
            s2 = _mm256_fmadd_ps(_mm256_loadu_ps(xo + 2 * half + j), odd,
                                 _mm256_fmadd_ps(_mm256_loadu_ps(xe + 2 * half + j), even, s2));
            s3 = _mm256_fmadd_ps(_mm256_loadu_ps(xo + 3 * half + j), odd,
                                 _mm256_fmadd_ps(_mm256_loadu_ps(xe + 3 * half + j), even, s3));
        }
        const __m256 s = _mm256_set1_ps(scale[g]);
        const float shift = scale[g] * (float)zero[g];
        t0 = _mm256_fmadd_ps(s0, s, t0), c0 += shift * xsum[g];
        t1 = _mm256_fmadd_ps(s1, s, t1), c1 += shift * xsum[groups + g];
        t2 = _mm256_fmadd_ps(s2, s, t2), c2 += shift * xsum[2 * groups + g];
        t3 = _mm256_fmadd_ps(s3, s, t3), c3 += shift * xsum[3 * groups + g];
    }
    out[0] = sum8(t0) - c0, out[1] = sum8(t1) - c1, out[2] = sum8(t2) - c2, out[3] = sum8(t3) - c3;
}

void int4_linear(const float* x, const uint8_t* q, const float* scale, const uint8_t* zero, float* y, int64_t M,
                 int64_t N, int64_t K, int64_t G) {
    const int64_t half = K / 2, groups = K / G;
    /* x's even and odd columns, and each group's sum: M * (K + K / G) numbers, made once for all N rows of q */
    float* xe = malloc(sizeof(float) * (M * K + M * groups));
    float* xo = xe + M * half;
    float* xsum = xe + M * K;
    for (int64_t m = 0; m < M; m++) {
        for (int64_t i = 0; i < half; i++) xe[m * half + i] = x[m * K + 2 * i], xo[m * half + i] = x[m * K + 2 * i + 1];
        for (int64_t g = 0; g < groups; g++) {
            float total = 0.0f;
            for (int64_t k = g * G; k < (g + 1) * G; k++) total += x[m * K + k];
            xsum[m * groups + g] = total;
        }
    }
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const uint8_t* row = q + n * half;
        int64_t m = 0;
        for (; m + 4 <= M; m += 4) {
            float out[4];
            int4_four(xe + m * half, xo + m * half, xsum + m * groups, half, groups, row, scale + n * groups,
                      zero + n * groups, G, out);
            for (int i = 0; i < 4; i++) y[(m + i) * N + n] = out[i];
        }
        for (; m < M; m++)
            y[m * N + n] = int4_one(xe + m * half, xo + m * half, xsum + m * groups, groups, row, scale + n * groups,
                                    zero + n * groups, G);
    }
    free(xe);
}
