/* The weight-only int8 product on an x86 CPU with AVX2 (llama_lab/fast/kernels.py builds and calls it).

   y[m, n] = scale[n] * sum_k x[m, k] * q[n, k]
   x: (M, K) float32, q: (N, K) int8 (one row per output), scale: (N,) float32, y: (M, N) float32.

   Decoding multiplies a few rows x by every weight, so the time goes into reading q from memory: a quarter of the
   bytes of a float32 weight. Eight weights at a time are loaded as 8 bytes, widened to eight int32 and then to
   eight floats in registers, and multiplied into four running sums (four, so that an addition need not wait for
   the one before it); with several rows of x, four of them at a time share each widening. The rows of q are
   shared among the cores (OpenMP); a row is read from memory once for all of x's rows. */

#include <immintrin.h>
#include <stdint.h>

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
