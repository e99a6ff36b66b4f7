/* The weight-only int8, int4 and NF4 products on an x86 CPU (llama_lab/fast/kernels.py builds and calls them).

   int8:  y[m, n] = scale[n] * sum_k x[m, k] * q[n, k]
   int4:  y[m, n] = sum_k x[m, k] * (q[n, k] - zero[n, k / G]) * scale[n, k / G]    (groups of G columns)
   NF4:   y[m, n] = sum_k x[m, k] * levels[q[n, k]] * absmax[n, k / G]               (blocks of G = 64 columns)

   x: (M, K) float32, y: (M, N) float32, one row of q per output. Decoding multiplies a few rows x by every weight,
   so the time goes into reading q from memory and into turning each weight into a float, which happens in
   registers: q is read once, as stored. The file is built twice, once for CPUs with AVX-512 and once for those
   with AVX2 only; each build compiles the half that its instructions allow.

   The products work in tiles: four rows of q against up to four rows of x. A tile's weights are made floats once
   and used for every row of x, and each (row of x, row of q) pair has its own running sum, so that an addition
   need not wait for the one before it. The tiles of q are shared among the cores (OpenMP); the rows of x stay in
   the cores' caches. (int8 with one row of x reads a row of q at a time instead: see int8_row.) */

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#define INLINE static inline __attribute__((always_inline))
#define X_ROWS 4  /* rows of x in a tile */
#define Q_ROWS 4  /* rows of q in a tile: four running sums even for one row of x (fewer would wait on each other) */
/* The weights stream from memory, and the cores' prefetchers do not see far enough ahead in four rows read side by
   side: each read asks for the same place in the next tile's rows (or, one row at a time, 4 KiB further on), so
   that it is in the cache when its turn comes. The 50M model's int8 step, 37 MB: 1.5 -> 1.0 ms; at eight rows of x
   4.8 -> 3.5 ms (two cores). */
#define AHEAD 4096
INLINE void prefetch(const void* p) { _mm_prefetch((const char*)p, _MM_HINT_T0); }

#if defined(__AVX512F__) && defined(__AVX512BW__)
/* ---------------------------------------------------------------------------------------------- AVX-512 */
#define LANES 16
typedef __m512 floats;
INLINE floats zeros(void) { return _mm512_setzero_ps(); }
INLINE floats load(const float* p) { return _mm512_loadu_ps(p); }
INLINE floats multiply_add(floats a, floats b, floats c) { return _mm512_fmadd_ps(a, b, c); }
INLINE float total(floats v) { return _mm512_reduce_add_ps(v); }
INLINE floats add(floats a, floats b) { return _mm512_add_ps(a, b); }
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
INLINE floats add(floats a, floats b) { return _mm256_add_ps(a, b); }
INLINE floats int8_floats(const int8_t* p) {  /* 8 int8 -> 8 float32 */
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)p)));
}
#endif

/* Every tile of y (M x N): TILE(first row of x, first row of q, rows of q, rows of x, out) fills
   out[i * Q_ROWS + r] for the tile, and y takes it times SCALE(n + r). The tiles of q are shared among the cores;
   the last rows of q, fewer than a tile, go one at a time. `rows` and `x_rows` reach TILE as constants, so that
   its loops unroll and its sums stay in registers. */
#define EACH_TILE(TILE, SCALE)                                                                                 \
    _Pragma("omp parallel for schedule(static)")                                                               \
    for (int64_t n = 0; n < N; n += Q_ROWS) {                                                                  \
        const int rows = N - n < Q_ROWS ? (int)(N - n) : Q_ROWS;                                               \
        for (int64_t m = 0; m < M; m += X_ROWS) {                                                              \
            const int x_rows = M - m < X_ROWS ? (int)(M - m) : X_ROWS;                                         \
            float out[X_ROWS * Q_ROWS];                                                                        \
            if (rows == Q_ROWS) {                                                                              \
                switch (x_rows) {                                                                              \
                    case 1: TILE(m, n, Q_ROWS, 1, out); break;                                                 \
                    case 2: TILE(m, n, Q_ROWS, 2, out); break;                                                 \
                    case 3: TILE(m, n, Q_ROWS, 3, out); break;                                                 \
                    default: TILE(m, n, Q_ROWS, 4, out);                                                       \
                }                                                                                              \
            } else {                                                                                           \
                for (int r = 0; r < rows; r++)                                                                 \
                    for (int i = 0; i < x_rows; i++) {                                                         \
                        float one[X_ROWS * Q_ROWS];                                                            \
                        TILE(m + i, n + r, 1, 1, one);                                                         \
                        out[i * Q_ROWS + r] = one[0];                                                          \
                    }                                                                                          \
            }                                                                                                  \
            for (int i = 0; i < x_rows; i++)                                                                   \
                for (int r = 0; r < rows; r++) y[(m + i) * N + n + r] = out[i * Q_ROWS + r] * (SCALE(n + r));  \
        }                                                                                                      \
    }

/* ------------------------------------------------------------------------------------------------ int8 */

/* `rows` rows of q (K apart) times `x_rows` rows of x (K apart): out[i * Q_ROWS + r] = sum_k x[i, k] * q[r, k]. */
INLINE void int8_tile(const float* x, const int8_t* q, int64_t K, const int rows, const int x_rows, float* out) {
    floats sums[X_ROWS][Q_ROWS];
    for (int i = 0; i < x_rows; i++)
        for (int r = 0; r < rows; r++) sums[i][r] = zeros();
    int64_t k = 0;
    for (; k + LANES <= K; k += LANES) {
        floats w[Q_ROWS];
        if (k % 64 == 0)  /* once per cache line */
            for (int r = 0; r < rows; r++) prefetch(q + (r + Q_ROWS) * K + k);
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

/* One row of q times the one row of x, with four running sums over k. With a single row of x the weights stream
   from memory, and are read a row at a time from start to end: the tiles' four rows side by side streamed at less
   than half the speed (26 against 10 GB/s for the 50M model's int8 weights on two cores, before prefetching). */
INLINE float int8_row(const float* x, const int8_t* q, int64_t K) {
    floats s0 = zeros(), s1 = zeros(), s2 = zeros(), s3 = zeros();
    int64_t k = 0;
    for (; k + 4 * LANES <= K; k += 4 * LANES) {
        prefetch(q + k + AHEAD);
        s0 = multiply_add(load(x + k), int8_floats(q + k), s0);
        s1 = multiply_add(load(x + k + LANES), int8_floats(q + k + LANES), s1);
        s2 = multiply_add(load(x + k + 2 * LANES), int8_floats(q + k + 2 * LANES), s2);
        s3 = multiply_add(load(x + k + 3 * LANES), int8_floats(q + k + 3 * LANES), s3);
    }
    for (; k + LANES <= K; k += LANES) s0 = multiply_add(load(x + k), int8_floats(q + k), s0);
    float sum = total(add(add(s0, s1), add(s2, s3)));
    for (; k < K; k++) sum += x[k] * q[k];  /* K not a multiple of LANES */
    return sum;
}

void int8_linear(const float* x, const int8_t* q, const float* scale, float* y, int64_t M, int64_t N, int64_t K) {
    if (M == 1) {
        #pragma omp parallel for schedule(static)
        for (int64_t n = 0; n < N; n++) y[n] = int8_row(x, q + n * K, K) * scale[n];
        return;
    }
#define INT8_TILE(m, n, ROWS, XROWS, OUT) int8_tile(x + (m) * K, q + (n) * K, K, ROWS, XROWS, OUT)
#define ROW_SCALE(n) scale[n]
    EACH_TILE(INT8_TILE, ROW_SCALE)
}

/* ------------------------------------------------------------------------------------------------ 4 bits

   q: (N, K / 2) bytes, column 2i in the low four bits of byte i and 2i+1 in the high four (packing.pack_int4),
   with per group of G columns (G a multiple of 32) a scale (N, K / G) float32 and, for int4, a zero (N, K / G)
   bytes. x's columns are first split into the even ones (xe) and the odd ones (xo), (M, K / 2) each, so that a
   byte's low and high halves meet their columns without shuffling.

   A code stands for (levels[c] - zero) * scale in its group: int4's levels are 0..15, NF4's its 16 levels (and its
   zero 0). The group's 16 weights are made once per group and row of q, a table, and each code becomes its weight
   by a lookup, so that the weights are exactly those of dequantize(). */

typedef struct {
    const float *xe, *xo;  /* x's even and odd columns, (M, K / 2) each */
    const uint8_t* q;
    const float* scale;
    const uint8_t* zero;  /* NULL: every zero is 0 */
    const float* levels;  /* 16 floats */
    int64_t half, groups, G;
} FourBits;

INLINE float zero_of(const FourBits* w, int64_t at) { return w->zero ? (float)w->zero[at] : 0.0f; }

#if LANES == 16
/* With AVX-512 a register holds 16 floats, the whole table; vpermps looks each code up (it reads the low four
   bits of each lane). */
INLINE void table_tile(const FourBits* w, int64_t m, int64_t n, const int rows, const int x_rows, float* out) {
    const floats levels = load(w->levels);
    const int64_t half = w->half, groups = w->groups;
    const uint8_t* q = w->q + n * half;
    floats sums[X_ROWS][Q_ROWS];
    for (int i = 0; i < x_rows; i++)
        for (int r = 0; r < rows; r++) sums[i][r] = zeros();
    for (int64_t g = 0; g < groups; g++) {
        floats table[Q_ROWS];
        for (int r = 0; r < rows; r++) {
            const int64_t at = (n + r) * groups + g;
            table[r] = _mm512_mul_ps(_mm512_sub_ps(levels, _mm512_set1_ps(zero_of(w, at))),
                                     _mm512_set1_ps(w->scale[at]));
        }
        for (int64_t j = g * (w->G / 2); j < (g + 1) * (w->G / 2); j += 16) {  /* 16 bytes: 32 weights a row */
            floats even[Q_ROWS], odd[Q_ROWS];
            if (j % 64 == 0)
                for (int r = 0; r < rows; r++) prefetch(q + (r + Q_ROWS) * half + j);
            for (int r = 0; r < rows; r++) {
                const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)(q + r * half + j)));
                even[r] = _mm512_permutexvar_ps(bytes, table[r]);
                odd[r] = _mm512_permutexvar_ps(_mm512_srli_epi32(bytes, 4), table[r]);
            }
            for (int i = 0; i < x_rows; i++) {
                const floats e = load(w->xe + (m + i) * half + j), o = load(w->xo + (m + i) * half + j);
                for (int r = 0; r < rows; r++)
                    sums[i][r] = multiply_add(o, odd[r], multiply_add(e, even[r], sums[i][r]));
            }
        }
    }
    for (int i = 0; i < x_rows; i++)
        for (int r = 0; r < rows; r++) out[i * Q_ROWS + r] = total(sums[i][r]);
}
#else
/* With AVX2 a register holds 8 floats: the table is two, and a code is looked up in both and the one its fourth
   bit names is kept (blendv reads each lane's top bit, where the code's fourth bit is shifted). */
INLINE floats look_up(__m256i codes, floats low_table, floats high_table) {
    const floats low = _mm256_permutevar8x32_ps(low_table, codes), high = _mm256_permutevar8x32_ps(high_table, codes);
    return _mm256_blendv_ps(low, high, _mm256_castsi256_ps(_mm256_slli_epi32(codes, 28)));
}

INLINE void table_tile(const FourBits* w, int64_t m, int64_t n, const int rows, const int x_rows, float* out) {
    const floats low_levels = load(w->levels), high_levels = load(w->levels + 8);
    const int64_t half = w->half, groups = w->groups;
    const uint8_t* q = w->q + n * half;
    floats sums[X_ROWS][Q_ROWS];
    for (int i = 0; i < x_rows; i++)
        for (int r = 0; r < rows; r++) sums[i][r] = zeros();
    for (int64_t g = 0; g < groups; g++) {
        floats low_table[Q_ROWS], high_table[Q_ROWS];
        for (int r = 0; r < rows; r++) {
            const int64_t at = (n + r) * groups + g;
            const floats zero = _mm256_set1_ps(zero_of(w, at)), scale = _mm256_set1_ps(w->scale[at]);
            low_table[r] = _mm256_mul_ps(_mm256_sub_ps(low_levels, zero), scale);
            high_table[r] = _mm256_mul_ps(_mm256_sub_ps(high_levels, zero), scale);
        }
        for (int64_t j = g * (w->G / 2); j < (g + 1) * (w->G / 2); j += 8) {  /* 8 bytes: 16 weights a row */
            floats even[Q_ROWS], odd[Q_ROWS];
            if (j % 64 == 0)
                for (int r = 0; r < rows; r++) prefetch(q + (r + Q_ROWS) * half + j);
            for (int r = 0; r < rows; r++) {
                const __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(q + r * half + j)));
                even[r] = look_up(bytes, low_table[r], high_table[r]);  /* the byte's upper bits are not read */
                odd[r] = look_up(_mm256_srli_epi32(bytes, 4), low_table[r], high_table[r]);
            }
            for (int i = 0; i < x_rows; i++) {
                const floats e = load(w->xe + (m + i) * half + j), o = load(w->xo + (m + i) * half + j);
                for (int r = 0; r < rows; r++)
                    sums[i][r] = multiply_add(o, odd[r], multiply_add(e, even[r], sums[i][r]));
            }
        }
    }
    for (int i = 0; i < x_rows; i++)
        for (int r = 0; r < rows; r++) out[i * Q_ROWS + r] = total(sums[i][r]);
}

/* int4's levels are 0..15, so that with AVX2 a code can instead be made a float directly (fewer instructions than
   two lookups), a group's sum scaled as a whole, and the zero taken off once per group through the sum of x over
   the group (xsum):
       sum_k x[k] * (q[k] - zero) * scale  =  scale * (sum_k x[k] * q[k]  -  zero * xsum)
   The same numbers as the table's, summed in another order. */
INLINE void int4_tile(const FourBits* w, const float* xsum, int64_t m, int64_t n, const int rows, const int x_rows,
                      float* out) {
    const __m256i low_bits = _mm256_set1_epi32(0x0F);
    const int64_t half = w->half, groups = w->groups;
    const uint8_t* q = w->q + n * half;
    floats sums[X_ROWS][Q_ROWS];
    float shifts[X_ROWS][Q_ROWS];
    for (int i = 0; i < x_rows; i++)
        for (int r = 0; r < rows; r++) sums[i][r] = zeros(), shifts[i][r] = 0.0f;
    for (int64_t g = 0; g < groups; g++) {
        floats group[X_ROWS][Q_ROWS];
        for (int i = 0; i < x_rows; i++)
            for (int r = 0; r < rows; r++) group[i][r] = zeros();
        for (int64_t j = g * (w->G / 2); j < (g + 1) * (w->G / 2); j += 8) {  /* 8 bytes: 16 weights a row */
            floats even[Q_ROWS], odd[Q_ROWS];
            if (j % 64 == 0)
                for (int r = 0; r < rows; r++) prefetch(q + (r + Q_ROWS) * half + j);
            for (int r = 0; r < rows; r++) {
                const __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(q + r * half + j)));
                even[r] = _mm256_cvtepi32_ps(_mm256_and_si256(bytes, low_bits));
                odd[r] = _mm256_cvtepi32_ps(_mm256_srli_epi32(bytes, 4));
            }
            for (int i = 0; i < x_rows; i++) {
                const floats e = load(w->xe + (m + i) * half + j), o = load(w->xo + (m + i) * half + j);
                for (int r = 0; r < rows; r++)
                    group[i][r] = multiply_add(o, odd[r], multiply_add(e, even[r], group[i][r]));
            }
        }
        for (int r = 0; r < rows; r++) {
            const int64_t at = (n + r) * groups + g;
            const float s = w->scale[at], shift = s * zero_of(w, at);
            for (int i = 0; i < x_rows; i++) {
                sums[i][r] = multiply_add(group[i][r], _mm256_set1_ps(s), sums[i][r]);
                shifts[i][r] += shift * xsum[(m + i) * groups + g];
            }
        }
    }
    for (int i = 0; i < x_rows; i++)
        for (int r = 0; r < rows; r++) out[i * Q_ROWS + r] = total(sums[i][r]) - shifts[i][r];
}
#endif

/* x's even and odd columns, and each group's sum of x: M * (K + K / G) numbers, made once for all N rows of q;
   free the returned block. */
static float* split_columns(const float* x, int64_t M, int64_t K, int64_t G) {
    const int64_t half = K / 2, groups = K / G;
    float* xe = malloc(sizeof(float) * (M * K + M * groups));
    float *xo = xe + M * half, *xsum = xe + M * K;
    for (int64_t m = 0; m < M; m++) {
        for (int64_t i = 0; i < half; i++) xe[m * half + i] = x[m * K + 2 * i], xo[m * half + i] = x[m * K + 2 * i + 1];
        for (int64_t g = 0; g < groups; g++) {
            float sum = 0.0f;
            for (int64_t k = g * G; k < (g + 1) * G; k++) sum += x[m * K + k];
            xsum[m * groups + g] = sum;
        }
    }
    return xe;
}

#define ONE(n) 1.0f

void int4_linear(const float* x, const uint8_t* q, const float* scale, const uint8_t* zero, float* y, int64_t M,
                 int64_t N, int64_t K, int64_t G) {
    static const float codes[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    float* xe = split_columns(x, M, K, G);
    const float* xsum = xe + M * K;
    const FourBits w = {xe, xe + M * (K / 2), q, scale, zero, codes, K / 2, K / G, G};
    (void)xsum;  /* AVX-512's tables take the zeros in */
#if LANES == 16
#define INT4(m, n, ROWS, XROWS, OUT) table_tile(&w, m, n, ROWS, XROWS, OUT)
#else
#define INT4(m, n, ROWS, XROWS, OUT) int4_tile(&w, xsum, m, n, ROWS, XROWS, OUT)
#endif
    EACH_TILE(INT4, ONE)
    free(xe);
}

void nf4_linear(const float* x, const uint8_t* q, const float* absmax, const float* levels, float* y, int64_t M,
                int64_t N, int64_t K, int64_t G) {
    float* xe = split_columns(x, M, K, G);
    const FourBits w = {xe, xe + M * (K / 2), q, absmax, NULL, levels, K / 2, K / G, G};
#define NF4(m, n, ROWS, XROWS, OUT) table_tile(&w, m, n, ROWS, XROWS, OUT)
    EACH_TILE(NF4, ONE)
    free(xe);
}
