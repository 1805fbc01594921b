/*
 * AVX2 + FMA kernels, compiled with per-function target attributes and reached only when pk_cpu.c found
 * the CPU and OS support them.
 *
 * GEMM tile: MR ≤ 6 rows × 16 columns: 12 ymm accumulators, 2 B vectors, one broadcast (15 of 16 registers).
 * B panels: f32 → 16 floats per k; bf16 → 16 bf16 per k as 8 dwords (low halves columns 0…7, high halves
 * 8…15); int8 → 16 bytes per k, the per-column scale applied in the epilogue.
 */
#include "pk_internal.h"

#if PK_X86
#include <immintrin.h>
#include <math.h>

#define PK_T256 __attribute__((target("avx2,fma")))
#define PK_INLINE static inline __attribute__((always_inline))
#define MR_MAX 6

PK_T256 PK_INLINE __m256 pk_exp256(__m256 x) {
    x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* n ∈ [−126, 127] after the clamp, so 2^n is a normal number built in the exponent field. */
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

PK_T256 PK_INLINE __m256 pk_gelu256(__m256 u) {
    __m256 u2 = _mm256_mul_ps(u, u);
    __m256 inner = _mm256_fmadd_ps(_mm256_mul_ps(u2, _mm256_set1_ps(0.044715f)), u, u);
    __m256 e = pk_exp256(_mm256_mul_ps(inner, _mm256_set1_ps(-2.0f * 0.7978845608028654f)));
    /* u / (1 + e): reciprocal estimate (12 bits) and one Newton step. */
    __m256 den = _mm256_add_ps(e, _mm256_set1_ps(1.0f));
    __m256 r = _mm256_rcp_ps(den);
    r = _mm256_mul_ps(r, _mm256_fnmadd_ps(den, r, _mm256_set1_ps(2.0f)));
    return _mm256_mul_ps(u, r);
}

/* Lanes [0, n) set. */
PK_T256 PK_INLINE __m256i pk_mask256(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

PK_T256 PK_INLINE void pk_load_b(const int BT, const uint8_t *b, size_t ldb, int k, __m256 *v) {
    if (BT == PK_B_F32) {
        const float *f = (const float *)b + (size_t)k * ldb;
        v[0] = _mm256_loadu_ps(f);
        v[1] = _mm256_loadu_ps(f + 8);
    } else if (BT == PK_B_BF16) {
        __m256i u = _mm256_load_si256((const __m256i *)(b + (size_t)k * 32));
        v[0] = _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
        v[1] = _mm256_castsi256_ps(_mm256_and_si256(u, _mm256_set1_epi32((int)0xFFFF0000u)));
    } else {
        const uint8_t *q = b + (size_t)k * 16;
        v[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)q)));
        v[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + 8))));
    }
}

PK_T256 PK_INLINE void pk_tile256(const int MR, const int BT, const pk_tile *t) {
    __m256 acc[MR_MAX][2];
    const float *row[MR_MAX];
    for (int i = 0; i < MR; i++) {
        row[i] = t->a + (size_t)i * t->lda;
        acc[i][0] = _mm256_setzero_ps();
        acc[i][1] = _mm256_setzero_ps();
    }
    const uint8_t *b = (const uint8_t *)t->b;
    const char *prefetch = (const char *)t->prefetch;
    const size_t ldb = t->ldb;
    const int K = t->k;
    for (int k = 0; k < K; k++) {
        __m256 v[2];
        if ((k & 3) == 0) _mm_prefetch(prefetch + (size_t)(k >> 2) * 64, _MM_HINT_T1);
        pk_load_b(BT, b, ldb, k, v);
        for (int i = 0; i < MR; i++) {
            __m256 ai = _mm256_broadcast_ss(row[i] + k);
            acc[i][0] = _mm256_fmadd_ps(ai, v[0], acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, v[1], acc[i][1]);
        }
    }
    const int epi = t->epi;
    const int n = t->ncols;
    const __m256i m0 = pk_mask256(n), m1 = pk_mask256(n - 8);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, bias0 = s0, bias1 = s0;
    if (epi & PK_EPI_COLSCALE) {
        s0 = _mm256_loadu_ps(t->scale);
        s1 = _mm256_loadu_ps(t->scale + 8);
    }
    if (epi & PK_EPI_BIAS) {
        bias0 = _mm256_loadu_ps(t->bias);
        bias1 = _mm256_loadu_ps(t->bias + 8);
    }
    for (int i = 0; i < MR; i++) {
        __m256 x0 = acc[i][0], x1 = acc[i][1];
        if (epi & PK_EPI_COLSCALE) {
            x0 = _mm256_mul_ps(x0, s0);
            x1 = _mm256_mul_ps(x1, s1);
        }
        if (epi & PK_EPI_ROWSCALE) {
            __m256 r = _mm256_set1_ps(t->row_scale[i]);
            x0 = _mm256_mul_ps(x0, r);
            x1 = _mm256_mul_ps(x1, r);
        }
        if (epi & PK_EPI_BIAS) {
            x0 = _mm256_add_ps(x0, bias0);
            x1 = _mm256_add_ps(x1, bias1);
        }
        if (epi & PK_EPI_GELU) {
            x0 = pk_gelu256(x0);
            x1 = pk_gelu256(x1);
        }
        float *c = t->c + (size_t)i * t->ldc;
        if (n >= 16) {
            if (epi & PK_EPI_RESIDUAL) {
                x0 = _mm256_add_ps(_mm256_loadu_ps(c), x0);
                x1 = _mm256_add_ps(_mm256_loadu_ps(c + 8), x1);
            }
            _mm256_storeu_ps(c, x0);
            _mm256_storeu_ps(c + 8, x1);
        } else {
            if (epi & PK_EPI_RESIDUAL) {
                x0 = _mm256_add_ps(_mm256_maskload_ps(c, m0), x0);
                x1 = _mm256_add_ps(_mm256_maskload_ps(c + 8, m1), x1);
            }
            _mm256_maskstore_ps(c, m0, x0);
            _mm256_maskstore_ps(c + 8, m1, x1);
        }
    }
}

#define PK_TILE_CASES(BT)                                                                                      \
    switch (t->mr) {                                                                                           \
    case 1: pk_tile256(1, BT, t); break;                                                                       \
    case 2: pk_tile256(2, BT, t); break;                                                                       \
    case 3: pk_tile256(3, BT, t); break;                                                                       \
    case 4: pk_tile256(4, BT, t); break;                                                                       \
    case 5: pk_tile256(5, BT, t); break;                                                                       \
    default: pk_tile256(6, BT, t); break;                                                                      \
    }

PK_T256 static void pk_tile256_f32(const pk_tile *t) { PK_TILE_CASES(PK_B_F32) }
PK_T256 static void pk_tile256_bf16(const pk_tile *t) { PK_TILE_CASES(PK_B_BF16) }
PK_T256 static void pk_tile256_i8(const pk_tile *t) { PK_TILE_CASES(PK_B_I8) }

PK_T256 PK_INLINE float pk_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

PK_T256 PK_INLINE float pk_hmax256(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

PK_T256 static void pk_layernorm256(const float *x, size_t ldx, float *y, size_t ldy, int rows, int d,
                                    const float *w, const float *b, float eps) {
    const int tail = d & 7;
    const __m256i mt = pk_mask256(tail);
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * ldx;
        float *yr = y + (size_t)r * ldy;
        __m256 s = _mm256_setzero_ps();
        int j = 0;
        for (; j + 8 <= d; j += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(xr + j));
        if (tail) s = _mm256_add_ps(s, _mm256_maskload_ps(xr + j, mt));
        float mean = pk_hsum256(s) / (float)d;
        __m256 vm = _mm256_set1_ps(mean);
        __m256 v = _mm256_setzero_ps();
        for (j = 0; j + 8 <= d; j += 8) {
            __m256 t = _mm256_sub_ps(_mm256_loadu_ps(xr + j), vm);
            v = _mm256_fmadd_ps(t, t, v);
        }
        if (tail) {
            __m256 t = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(xr + j, mt), vm), _mm256_castsi256_ps(mt));
            v = _mm256_fmadd_ps(t, t, v);
        }
        float var = pk_hsum256(v) / (float)d;
        __m256 rs = _mm256_set1_ps(1.0f / sqrtf(var + eps));
        for (j = 0; j + 8 <= d; j += 8) {
            __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + j), vm), rs);
            _mm256_storeu_ps(yr + j, _mm256_fmadd_ps(t, _mm256_loadu_ps(w + j), _mm256_loadu_ps(b + j)));
        }
        if (tail) {
            __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(xr + j, mt), vm), rs);
            _mm256_maskstore_ps(yr + j, mt,
                                _mm256_fmadd_ps(t, _mm256_maskload_ps(w + j, mt), _mm256_maskload_ps(b + j, mt)));
        }
    }
}

PK_T256 static float pk_max_range256(const float *s, int begin, int end, float m) {
    __m256 vm = _mm256_set1_ps(m);
    int j = begin;
    for (; j + 8 <= end; j += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(s + j));
    float r = pk_hmax256(vm);
    for (; j < end; j++) r = s[j] > r ? s[j] : r;
    return r;
}

PK_T256 static __m256 pk_exp_range256(float *s, int begin, int end, __m256 vm, __m256 vs, __m256 sum) {
    int j = begin;
    for (; j + 8 <= end; j += 8) {
        __m256 e = pk_exp256(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm), vs));
        _mm256_storeu_ps(s + j, e);
        sum = _mm256_add_ps(sum, e);
    }
    if (j < end) {
        __m256i mt = pk_mask256(end - j);
        __m256 e = pk_exp256(_mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(s + j, mt), vm), vs));
        _mm256_maskstore_ps(s + j, mt, e);
        sum = _mm256_add_ps(sum, _mm256_and_ps(e, _mm256_castsi256_ps(mt)));
    }
    return sum;
}

PK_T256 static void pk_softmax256(float *s, size_t lds, int rows, int n, float scale, int mask_begin, int mask_end,
                                  float *inv_sum) {
    for (int r = 0; r < rows; r++) {
        float *sr = s + (size_t)r * lds;
        float m = pk_max_range256(sr, 0, mask_begin, -INFINITY);
        m = pk_max_range256(sr, mask_end, n, m);
        __m256 vm = _mm256_set1_ps(m), vs = _mm256_set1_ps(scale), sum = _mm256_setzero_ps();
        sum = pk_exp_range256(sr, 0, mask_begin, vm, vs, sum);
        sum = pk_exp_range256(sr, mask_end, n, vm, vs, sum);
        for (int j = mask_begin; j < mask_end; j++) sr[j] = 0.0f;
        inv_sum[r] = 1.0f / pk_hsum256(sum);
    }
}

/* 8×8 transpose in registers: r[i] (row i) becomes column i. */
PK_T256 PK_INLINE void pk_transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
        r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
    }
}

/* Keys of one head as B panels of 16: panel p, step c holds K[16p + j][c] (zero past n); 8×8 blocks
 * transposed in registers. */
PK_T256 static void pk_pack_keys256(const float *k, size_t ldk, int n, int dh, float *out) {
    const int panels = (n + 15) / 16;
    for (int p = 0; p < panels; p++) {
        float *panel = out + (size_t)p * (size_t)dh * 16;
        for (int g = 0; g < 2; g++) {
            const int key0 = p * 16 + g * 8;
            for (int c0 = 0; c0 < dh; c0 += 8) {
                const int cols = dh - c0 < 8 ? dh - c0 : 8;
                const __m256i mc = pk_mask256(cols);
                __m256 r[8];
                for (int i = 0; i < 8; i++)
                    r[i] = key0 + i < n ? _mm256_maskload_ps(k + (size_t)(key0 + i) * ldk + (size_t)c0, mc)
                                        : _mm256_setzero_ps();
                pk_transpose8(r);
                for (int c = 0; c < cols; c++) _mm256_store_ps(panel + (size_t)(c0 + c) * 16 + (size_t)g * 8, r[c]);
            }
        }
    }
}

PK_T256 static void pk_pixels256(const uint8_t *x, float *y, int n) {
    const __m256 d = _mm256_set1_ps(127.5f), one = _mm256_set1_ps(1.0f);
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(x + j))));
        _mm256_storeu_ps(y + j, _mm256_sub_ps(_mm256_div_ps(v, d), one));
    }
    for (; j < n; j++) y[j] = (float)x[j] / 127.5f - 1.0f;
}

const pk_kernels pk_kernels_avx2 = {
    .isa = PK_ISA_AVX2,
    .nr = 16,
    .vec = 8,
    .mr_max = MR_MAX,
    .tile = {pk_tile256_f32, pk_tile256_bf16, pk_tile256_i8},
    .layernorm = pk_layernorm256,
    .softmax = pk_softmax256,
    .pack_keys = pk_pack_keys256,
    .pixels = pk_pixels256,
};
#endif
