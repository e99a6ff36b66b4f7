/* The weight-only int8 and int4 products on an x86 CPU (llama_lab/fast/kernels.py builds and calls them).

   int8:  y[m, n] = scale[n] * sum_k x[m, k] * q[n, k]
   int4:  y[m, n] = sum_k x[m, k] * (q[n, k] - zero[n, k / G]) * scale[n, k / G]    (groups of G columns)

   x: (M, K) float32, y: (M, N) float32, one row of q per output. Decoding multiplies a few rows x by every weight,
   so the time goes into reading q from memory and into turning each weight into a float, which happens in
   registers: q is read once, as stored. The file is built twice, once for CPUs with AVX-512 and once for those
   with AVX2 only; each build compiles the half that its instructions allow.

   Both products work in tiles: a few rows of q against up to four rows of x. A tile's weights are made floats
   once and used for every row of x, and each (row of x, row of q) pair has its own running sum, so that an
   addition need not wait for the one before it. The tiles of q are shared among the cores (OpenMP); the rows of x
   stay in the cores' caches. */

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#define INLINE static inline __attribute__((always_inline))
#define X_ROWS 4  /* rows of x in a tile */
#define Q_ROWS 4  /* rows of q in a tile: four running sums even for one row of x (fewer would wait on each other) */

#if defined(__AVX512F__) && defined(__AVX512BW__)
/* ---------------------------------------------------------------------------------------------- AVX-512 */
#define LANES 16
typedef __m512 floats;
INLINE floats zeros(void) { return _mm512_setzero_ps(); }
INLINE floats load(const float* p) { return _mm512_loadu_ps(p); }
INLINE floats multiply_add(floats a, floats b, floats c) { return _mm512_fmadd_ps(a, b, c); }
INLINE float total(floats v) { return _mm512_reduce_add_ps(v); }
INLINE floats int8_floats(const int8_t* p) {  /* 16 int8 -> 16 float32 */
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)p)));
}
#else
/* ---------------------------------------------------------------------------------------------- AVX2 */
#define LANES 8
typedef __m256 floats;
INLINE floats zeros(void) { return _mm256_setzero_ps(); }
INLINE floats load(const float* p) { return _mm256_loadu_ps(p); }
INLINE floats multiply_add(floats a, floats b, floats c) { return _mm256_fmadd_ps(a, b, c); }
INLINE float total(floats v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
INLINE floats int8_floats(const int8_t* p) {  /* 8 int8 -> 8 float32 */
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)p)));
}
#endif

/* ------------------------------------------------------------------------------------------------ int8 */

/* `rows` rows of q (K apart) times `x_rows` rows of x (K apart): out[i * Q_ROWS + r] = sum_k x[i, k] * q[r, k].
   Called with constant rows and x_rows, so that the loops unroll and the sums stay in registers. */
INLINE void int8_tile(const float* x, const int8_t* q, int64_t K, const int rows, const int x_rows, float* out) {
    floats sums[X_ROWS][Q_ROWS];
    for (int i = 0; i < x_rows; i++)
        for (int r = 0; r < rows; r++) sums[i][r] = zeros();
    int64_t k = 0;
    for (; k + LANES <= K; k += LANES) {
        floats w[Q_ROWS];
        for (int r = 0; r < rows; r++) w[r] = int8_floats(q + r * K + k);
        for (int i = 0; i < x_rows; i++) {
            const floats xi = load(x + i * K + k);
            for (int r = 0; r < rows; r++) sums[i][r] = multiply_add(xi, w[r], sums[i][r]);
        }
    }
    for (int i = 0; i < x_rows; i++)
        for (int r = 0; r < rows; r++) {
            float sum = total(sums[i][r]);
            for (int64_t j = k; j < K; j++) sum += x[i * K + j] * q[r * K + j];  /* K not a multiple of LANES */
            out[i * Q_ROWS + r] = sum;
        }
}

void int8_linear(const float* x, const int8_t* q, const float* scale, float* y, int64_t M, int64_t N, int64_t K) {
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n += Q_ROWS) {
        const int rows = N - n < Q_ROWS ? (int)(N - n) : Q_ROWS;
        for (int64_t m = 0; m < M; m += X_ROWS) {
            const int x_rows = M - m < X_ROWS ? (int)(M - m) : X_ROWS;
            const float* xm = x + m * K;
            const int8_t* qn = q + n * K;
            float out[X_ROWS * Q_ROWS];
            if (rows == Q_ROWS) {
                switch (x_rows) {
                    case 1: int8_tile(xm, qn, K, Q_ROWS, 1, out); break;
                    case 2: int8_tile(xm, qn, K, Q_ROWS, 2, out); break;
                    case 3: int8_tile(xm, qn, K, Q_ROWS, 3, out); break;
                    default: int8_tile(xm, qn, K, Q_ROWS, 4, out);
                }
            } else {  /* the last rows of q, fewer than a tile: one at a time */
                for (int r = 0; r < rows; r++)
                    for (int i = 0; i < x_rows; i++) {
                        float one[X_ROWS * Q_ROWS];
                        int8_tile(xm + i * K, qn + r * K, K, 1, 1, one);
                        out[i * Q_ROWS + r] = one[0];
                    }
            }
            for (int i = 0; i < x_rows; i++)
                for (int r = 0; r < rows; r++) y[(m + i) * N + n + r] = out[i * Q_ROWS + r] * scale[n + r];
        }
    }
}

/* ------------------------------------------------------------------------------------------------ int4

   q: (N, K / 2) bytes, column 2i in the low four bits of byte i and 2i+1 in the high four (packing.pack_int4);
   scale: (N, K / G) float32, zero: (N, K / G) bytes, for groups of G columns (G a multiple of 32). x's columns are
   first split into the even ones (xe) and the odd ones (xo), (M, K / 2) each, so that a byte's low and high halves
   meet their columns without shuffling. */

#if LANES == 16
/* With AVX-512 a register holds 16 floats, every value a 4-bit code can stand for in a group: the group's table
   (c - zero) * scale for c = 0..15, made once per group and row of q. A code becomes its weight by one lookup
   (vpermps reads the low four bits of each lane), so that the weights are exactly those of dequantize(). */
INLINE void int4_tile(const float* xe, const float* xo, int64_t half, int64_t groups, int64_t G, const uint8_t* q,
                      const float* scale, const uint8_t* zero, const int rows, const int x_rows, float* out) {
    const floats codes = _mm512_set_ps(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    floats sums[X_ROWS][Q_ROWS];
    for (int i = 0; i < x_rows; i++)
        for (int r = 0; r < rows; r++) sums[i][r] = zeros();
    for (int64_t g = 0; g < groups; g++) {
        floats table[Q_ROWS];
        for (int r = 0; r < rows; r++)
            table[r] = _mm512_mul_ps(_mm512_sub_ps(codes, _mm512_set1_ps((float)zero[r * groups + g])),
                                     _mm512_set1_ps(scale[r * groups + g]));
        for (int64_t j = g * (G / 2); j < (g + 1) * (G / 2); j += 16) {  /* 16 bytes: 32 weights of each row */
            floats even[Q_ROWS], odd[Q_ROWS];
            for (int r = 0; r < rows; r++) {
                const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)(q + r * half + j)));
                even[r] = _mm512_permutexvar_ps(bytes, table[r]);
                odd[r] = _mm512_permutexvar_ps(_mm512_srli_epi32(bytes, 4), table[r]);
            }
            for (int i = 0; i < x_rows; i++) {
                const floats e = load(xe + i * half + j), o = load(xo + i * half + j);
                for (int r = 0; r < rows; r++)
                    sums[i][r] = multiply_add(o, odd[r], multiply_add(e, even[r], sums[i][r]));
            }
        }
    }
    for (int i = 0; i < x_rows; i++)
        for (int r = 0; r < rows; r++) out[i * Q_ROWS + r] = total(sums[i][r]);
}
#else
/* With AVX2 a code is widened to an int32 and made a float, a group's sum is scaled as a whole, and the zero is
   taken off once per group through the sum of x over the group (xsum):
       sum_k x[k] * (q[k] - zero) * scale  =  scale * (sum_k x[k] * q[k]  -  zero * xsum)                        */
INLINE void int4_tile(const float* xe, const float* xo, const float* xsum, int64_t half, int64_t groups, int64_t G,
                      const uint8_t* q, const float* scale, const uint8_t* zero, const int rows, const int x_rows,
                      float* out) {
    const __m256i low_bits = _mm256_set1_epi32(0x0F);
    floats sums[X_ROWS][Q_ROWS];
    float shifts[X_ROWS][Q_ROWS];
    for (int i = 0; i < x_rows; i++)
        for (int r = 0; r < rows; r++) sums[i][r] = zeros(), shifts[i][r] = 0.0f;
    for (int64_t g = 0; g < groups; g++) {
        floats group[X_ROWS][Q_ROWS];
        for (int i = 0; i < x_rows; i++)
            for (int r = 0; r < rows; r++) group[i][r] = zeros();
        for (int64_t j = g * (G / 2); j < (g + 1) * (G / 2); j += 8) {  /* 8 bytes: 16 weights of each row */
            floats even[Q_ROWS], odd[Q_ROWS];
            for (int r = 0; r < rows; r++) {
                const __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(q + r * half + j)));
                even[r] = _mm256_cvtepi32_ps(_mm256_and_si256(bytes, low_bits));
                odd[r] = _mm256_cvtepi32_ps(_mm256_srli_epi32(bytes, 4));
            }
            for (int i = 0; i < x_rows; i++) {
                const floats e = load(xe + i * half + j), o = load(xo + i * half + j);
                for (int r = 0; r < rows; r++)
                    group[i][r] = multiply_add(o, odd[r], multiply_add(e, even[r], group[i][r]));
            }
        }
        for (int r = 0; r < rows; r++) {
            const float s = scale[r * groups + g], shift = s * (float)zero[r * groups + g];
            for (int i = 0; i < x_rows; i++) {
                sums[i][r] = multiply_add(group[i][r], _mm256_set1_ps(s), sums[i][r]);
                shifts[i][r] += shift * xsum[i * groups + g];
            }
        }
    }
    for (int i = 0; i < x_rows; i++)
        for (int r = 0; r < rows; r++) out[i * Q_ROWS + r] = total(sums[i][r]) - shifts[i][r];
}
#endif

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
            float sum = 0.0f;
            for (int64_t k = g * G; k < (g + 1) * G; k++) sum += x[m * K + k];
            xsum[m * groups + g] = sum;
        }
    }
#if LANES == 16
    (void)xsum;  /* the tables take the zeros in */
#define INT4_TILE(first_x, first_row, ROWS, XROWS, OUT) \
    int4_tile(xe + (first_x) * half, xo + (first_x) * half, half, groups, G, q + (first_row) * half, \
              scale + (first_row) * groups, zero + (first_row) * groups, ROWS, XROWS, OUT)
#else
#define INT4_TILE(first_x, first_row, ROWS, XROWS, OUT) \
    int4_tile(xe + (first_x) * half, xo + (first_x) * half, xsum + (first_x) * groups, half, groups, G, \
              q + (first_row) * half, scale + (first_row) * groups, zero + (first_row) * groups, ROWS, XROWS, OUT)
#endif
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n += Q_ROWS) {
        const int rows = N - n < Q_ROWS ? (int)(N - n) : Q_ROWS;
        for (int64_t m = 0; m < M; m += X_ROWS) {
            const int x_rows = M - m < X_ROWS ? (int)(M - m) : X_ROWS;
            float out[X_ROWS * Q_ROWS];
            if (rows == Q_ROWS) {
                switch (x_rows) {
                    case 1: INT4_TILE(m, n, Q_ROWS, 1, out); break;
                    case 2: INT4_TILE(m, n, Q_ROWS, 2, out); break;
                    case 3: INT4_TILE(m, n, Q_ROWS, 3, out); break;
                    default: INT4_TILE(m, n, Q_ROWS, 4, out);
                }
            } else {  /* the last rows of q, fewer than a tile: one at a time */
                for (int r = 0; r < rows; r++)
                    for (int i = 0; i < x_rows; i++) {
                        float one[X_ROWS * Q_ROWS];
                        INT4_TILE(m + i, n + r, 1, 1, one);
                        out[i * Q_ROWS + r] = one[0];
                    }
            }
            for (int i = 0; i < x_rows; i++)
                for (int r = 0; r < rows; r++) y[(m + i) * N + n + r] = out[i * Q_ROWS + r];
        }
    }
    free(xe);
}
