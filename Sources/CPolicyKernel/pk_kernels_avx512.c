/*
 * AVX-512 kernels (F + BW/VL/DQ), compiled with per-function target attributes and reached only when
 * pk_cpu.c found the CPU and OS support them.
 *
 * GEMM tile: MR ≤ 6 rows × 64 columns: 24 zmm accumulators, A broadcast from memory, 4 B vectors per k
 * (measured on Zen 5: 6×64 with row-major A reaches ~235 GFLOP/s of a 250 peak; 12×32 needs A packed).
 * B panels (packed at load): f32 → 64 floats per k; bf16 → 64 bf16 per k as two groups of 16 dwords whose
 * low halves are columns 0…15 (32…47) and high halves 16…31 (48…63): one shift and one and per vector;
 * int8 → 64 bytes per k, widened and converted in registers, the per-column scale applied in the epilogue.
 */
#include "pk_internal.h"

#if PK_X86
#include <immintrin.h>
#include <math.h>

#define PK_T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define PK_INLINE static inline __attribute__((always_inline))
#define MR_MAX 6

PK_T512 PK_INLINE __m512 pk_exp512(__m512 x) {
    x = _mm512_min_ps(x, _mm512_set1_ps(88.0f));
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 y = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}

/* GELU(u) = 0.5·u·(1 + tanh(z)) = u / (1 + exp(−2z)), z = sqrt(2/π)·(u + 0.044715·u³). */
PK_T512 PK_INLINE __m512 pk_gelu512(__m512 u) {
    __m512 u2 = _mm512_mul_ps(u, u);
    __m512 inner = _mm512_fmadd_ps(_mm512_mul_ps(u2, _mm512_set1_ps(0.044715f)), u, u);
    __m512 e = pk_exp512(_mm512_mul_ps(inner, _mm512_set1_ps(-2.0f * 0.7978845608028654f)));
    /* u / (1 + e) with a reciprocal estimate and one Newton step (~1 ulp; a division costs 3× more here). */
    __m512 den = _mm512_add_ps(e, _mm512_set1_ps(1.0f));
    __m512 r = _mm512_rcp14_ps(den);
    r = _mm512_mul_ps(r, _mm512_fnmadd_ps(den, r, _mm512_set1_ps(2.0f)));
    return _mm512_mul_ps(u, r);
}

/* The first NV of the 4 B vectors of step k (64 columns; a tail panel needs fewer). */
PK_T512 PK_INLINE void pk_load_b(const int BT, const int NV, const uint8_t *b, size_t ldb, int k, __m512 *v) {
    if (BT == PK_B_F32) {
        const float *f = (const float *)b + (size_t)k * ldb;
        for (int j = 0; j < NV; j++) v[j] = _mm512_loadu_ps(f + 16 * j);
    } else if (BT == PK_B_BF16) {
        const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
        __m512i u = _mm512_load_si512((const void *)(b + (size_t)k * 128));
        v[0] = _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
        if (NV > 1) v[1] = _mm512_castsi512_ps(_mm512_and_si512(u, high));
        if (NV > 2) {
            __m512i w = _mm512_load_si512((const void *)(b + (size_t)k * 128 + 64));
            v[2] = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
            if (NV > 3) v[3] = _mm512_castsi512_ps(_mm512_and_si512(w, high));
        }
    } else {
        const uint8_t *q = b + (size_t)k * 64;
        for (int j = 0; j < NV; j++)
            v[j] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(q + 16 * j))));
    }
}

/* MR rows × 64 columns. A rows through MR row pointers with a shared index k, so the loop needs no address
 * arithmetic (a single base pointer with i·lda offsets made the compiler chain address computations). */
PK_T512 PK_INLINE void pk_tile512(const int MR, const int NV, const int BT, const pk_tile *t) {
    __m512 acc[MR_MAX][4];
    const float *row[MR_MAX];
    for (int i = 0; i < MR; i++) {
        row[i] = t->a + (size_t)i * t->lda;
        for (int j = 0; j < NV; j++) acc[i][j] = _mm512_setzero_ps();
    }
    const uint8_t *b = (const uint8_t *)t->b;
    const char *prefetch = (const char *)t->prefetch;
    const size_t ldb = t->ldb;
    const int K = t->k;
    for (int k = 0; k < K; k++) {
        __m512 v[4];
        /* One line per step of the panel the next tiles will need (the caller points it there). */
        _mm_prefetch(prefetch + (size_t)k * 64, _MM_HINT_T1);
        pk_load_b(BT, NV, b, ldb, k, v);
        for (int i = 0; i < MR; i++) {
            __m512 ai = _mm512_set1_ps(row[i][k]);
            for (int j = 0; j < NV; j++) acc[i][j] = _mm512_fmadd_ps(ai, v[j], acc[i][j]);
        }
    }
    const int epi = t->epi;
    __mmask16 mask[4];
    for (int j = 0; j < 4; j++) {
        int n = t->ncols - 16 * j;
        mask[j] = n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
    }
    __m512 scale[4], bias[4];
    for (int j = 0; j < NV; j++) {
        scale[j] = (epi & PK_EPI_COLSCALE) ? _mm512_loadu_ps(t->scale + 16 * j) : _mm512_setzero_ps();
        bias[j] = (epi & PK_EPI_BIAS) ? _mm512_loadu_ps(t->bias + 16 * j) : _mm512_setzero_ps();
    }
    for (int i = 0; i < MR; i++) {
        float *c = t->c + (size_t)i * t->ldc;
        const __m512 r = (epi & PK_EPI_ROWSCALE) ? _mm512_set1_ps(t->row_scale[i]) : _mm512_setzero_ps();
        for (int j = 0; j < NV; j++) {
            if (!mask[j]) break;
            __m512 x = acc[i][j];
            if (epi & PK_EPI_COLSCALE) x = _mm512_mul_ps(x, scale[j]);
            if (epi & PK_EPI_ROWSCALE) x = _mm512_mul_ps(x, r);
            if (epi & PK_EPI_BIAS) x = _mm512_add_ps(x, bias[j]);
            if (epi & PK_EPI_GELU) x = pk_gelu512(x);
            if (epi & PK_EPI_RESIDUAL) x = _mm512_add_ps(_mm512_maskz_loadu_ps(mask[j], c + 16 * j), x);
            _mm512_mask_storeu_ps(c + 16 * j, mask[j], x);
        }
    }
}

#define PK_TILE_ROWS(NV, BT)                                                                                   \
    switch (t->mr) {                                                                                           \
    case 1: pk_tile512(1, NV, BT, t); break;                                                                   \
    case 2: pk_tile512(2, NV, BT, t); break;                                                                   \
    case 3: pk_tile512(3, NV, BT, t); break;                                                                   \
    case 4: pk_tile512(4, NV, BT, t); break;                                                                   \
    case 5: pk_tile512(5, NV, BT, t); break;                                                                   \
    default: pk_tile512(6, NV, BT, t); break;                                                                  \
    }
#define PK_TILE_CASES(BT)                                                                                      \
    switch ((t->ncols + 15) / 16) {                                                                            \
    case 1: PK_TILE_ROWS(1, BT) break;                                                                         \
    case 2: PK_TILE_ROWS(2, BT) break;                                                                         \
    case 3: PK_TILE_ROWS(3, BT) break;                                                                         \
    default: PK_TILE_ROWS(4, BT) break;                                                                        \
    }

PK_T512 static void pk_tile512_f32(const pk_tile *t) { PK_TILE_CASES(PK_B_F32) }
PK_T512 static void pk_tile512_bf16(const pk_tile *t) { PK_TILE_CASES(PK_B_BF16) }
PK_T512 static void pk_tile512_i8(const pk_tile *t) { PK_TILE_CASES(PK_B_I8) }

PK_T512 static float pk_sum512(__m512 v) { return _mm512_reduce_add_ps(v); }

PK_T512 static void pk_layernorm512(const float *x, size_t ldx, float *y, size_t ldy, int rows, int d,
                                    const float *w, const float *b, float eps) {
    const int tail = d & 15;
    const __mmask16 mt = (__mmask16)((1u << tail) - 1u);
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * ldx;
        float *yr = y + (size_t)r * ldy;
        __m512 s = _mm512_setzero_ps();
        int j = 0;
        for (; j + 16 <= d; j += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(xr + j));
        if (tail) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(mt, xr + j));
        float mean = pk_sum512(s) / (float)d;
        __m512 vm = _mm512_set1_ps(mean);
        __m512 v = _mm512_setzero_ps();
        for (j = 0; j + 16 <= d; j += 16) {
            __m512 t = _mm512_sub_ps(_mm512_loadu_ps(xr + j), vm);
            v = _mm512_fmadd_ps(t, t, v);
        }
        if (tail) {
            __m512 t = _mm512_maskz_sub_ps(mt, _mm512_maskz_loadu_ps(mt, xr + j), vm);
            v = _mm512_fmadd_ps(t, t, v);
        }
        float var = pk_sum512(v) / (float)d;
        __m512 rs = _mm512_set1_ps(1.0f / sqrtf(var + eps));
        for (j = 0; j + 16 <= d; j += 16) {
            __m512 t = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(xr + j), vm), rs);
            _mm512_storeu_ps(yr + j, _mm512_fmadd_ps(t, _mm512_loadu_ps(w + j), _mm512_loadu_ps(b + j)));
        }
        if (tail) {
            __m512 t = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mt, xr + j), vm), rs);
            _mm512_mask_storeu_ps(yr + j, mt,
                                  _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(mt, w + j), _mm512_maskz_loadu_ps(mt, b + j)));
        }
    }
}

PK_T512 static float pk_max_range512(const float *s, int begin, int end, float m) {
    __m512 vm = _mm512_set1_ps(m);
    int j = begin;
    for (; j + 16 <= end; j += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(s + j));
    if (j < end) {
        __mmask16 mt = (__mmask16)((1u << (end - j)) - 1u);
        vm = _mm512_mask_max_ps(vm, mt, vm, _mm512_maskz_loadu_ps(mt, s + j));
    }
    return _mm512_reduce_max_ps(vm);
}

/* exp((s − m)·scale) over [begin, end) in place; returns the partial sum. */
PK_T512 static __m512 pk_exp_range512(float *s, int begin, int end, __m512 vm, __m512 vs, __m512 sum) {
    int j = begin;
    for (; j + 16 <= end; j += 16) {
        __m512 e = pk_exp512(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(s + j), vm), vs));
        _mm512_storeu_ps(s + j, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (j < end) {
        __mmask16 mt = (__mmask16)((1u << (end - j)) - 1u);
        __m512 e = pk_exp512(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mt, s + j), vm), vs));
        _mm512_mask_storeu_ps(s + j, mt, e);
        sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(mt, e));
    }
    return sum;
}

PK_T512 static void pk_softmax512(float *s, size_t lds, int rows, int n, float scale, int mask_begin, int mask_end,
                                  float *inv_sum) {
    for (int r = 0; r < rows; r++) {
        float *sr = s + (size_t)r * lds;
        float m = pk_max_range512(sr, 0, mask_begin, -INFINITY);
        m = pk_max_range512(sr, mask_end, n, m);
        __m512 vm = _mm512_set1_ps(m), vs = _mm512_set1_ps(scale), sum = _mm512_setzero_ps();
        sum = pk_exp_range512(sr, 0, mask_begin, vm, vs, sum);
        sum = pk_exp_range512(sr, mask_end, n, vm, vs, sum);
        for (int j = mask_begin; j < mask_end; j++) sr[j] = 0.0f;
        inv_sum[r] = 1.0f / _mm512_reduce_add_ps(sum);
    }
}

/* 16×16 transpose in registers: r[i] (row i) becomes column i. */
PK_T512 PK_INLINE void pk_transpose16(__m512 r[16]) {
    __m512 t[16], u[16], v[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        v[i] = _mm512_shuffle_f32x4(u[i], u[4 + i], 0x88);
        v[4 + i] = _mm512_shuffle_f32x4(u[i], u[4 + i], 0xDD);
        v[8 + i] = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0x88);
        v[12 + i] = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0xDD);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(v[i], v[8 + i], 0x88);
        r[8 + i] = _mm512_shuffle_f32x4(v[i], v[8 + i], 0xDD);
    }
}

/* Keys of one head as B panels of 64: panel p, step c holds K[64p + j][c] (zero past n); 16×16 blocks
 * transposed in registers (gathers are microcoded and slow on some cores). */
PK_T512 static void pk_pack_keys512(const float *k, size_t ldk, int n, int dh, float *out) {
    const int panels = (n + 63) / 64;
    for (int p = 0; p < panels; p++) {
        float *panel = out + (size_t)p * (size_t)dh * 64;
        for (int g = 0; g < 4; g++) {
            const int key0 = p * 64 + g * 16;
            for (int c0 = 0; c0 < dh; c0 += 16) {
                const int cols = dh - c0 < 16 ? dh - c0 : 16;
                const __mmask16 mc = (__mmask16)(cols == 16 ? 0xFFFFu : (1u << cols) - 1u);
                __m512 r[16];
                for (int i = 0; i < 16; i++)
                    r[i] = key0 + i < n ? _mm512_maskz_loadu_ps(mc, k + (size_t)(key0 + i) * ldk + (size_t)c0)
                                        : _mm512_setzero_ps();
                pk_transpose16(r);
                for (int c = 0; c < cols; c++) _mm512_store_ps(panel + (size_t)(c0 + c) * 64 + (size_t)g * 16, r[c]);
            }
        }
    }
}

PK_T512 static void pk_pixels512(const uint8_t *x, float *y, int n) {
    const __m512 d = _mm512_set1_ps(127.5f), one = _mm512_set1_ps(1.0f);
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(x + j))));
        _mm512_storeu_ps(y + j, _mm512_sub_ps(_mm512_div_ps(v, d), one));
    }
    for (; j < n; j++) y[j] = (float)x[j] / 127.5f - 1.0f;
}

const pk_kernels pk_kernels_avx512 = {
    .isa = PK_ISA_AVX512,
    .nr = 64,
    .vec = 16,
    .mr_max = MR_MAX,
    .tile = {pk_tile512_f32, pk_tile512_bf16, pk_tile512_i8},
    .layernorm = pk_layernorm512,
    .softmax = pk_softmax512,
    .pack_keys = pk_pack_keys512,
    .pixels = pk_pixels512,
};
#endif
