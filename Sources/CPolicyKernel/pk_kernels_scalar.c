/*
 * Portable scalar kernels: always built, always tested, the only path off x86. Same panel layout as the
 * AVX2 path (16 columns; bf16 pairs column c with c + 8), same exp polynomial as the SIMD paths.
 */
#include "pk_internal.h"

#include <math.h>
#include <string.h>

#define NR 16
#define MR_MAX 4

float pk_expf(float x) {
    if (x > 88.0f) x = 88.0f;
    if (x < -87.0f) x = -87.0f;
    float n = rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * (r * r) + (r + 1.0f);
    return ldexpf(y, (int)n);
}

float pk_gelu(float u) {
    float inner = (u * u * 0.044715f) * u + u;
    float e = pk_expf(inner * (-2.0f * 0.7978845608028654f));
    return u / (e + 1.0f);
}

static inline float pk_b_value(int btype, const uint8_t *b, size_t ldb, int k, int j) {
    if (btype == PK_B_F32) return ((const float *)b)[(size_t)k * ldb + (size_t)j];
    if (btype == PK_B_BF16) {
        uint32_t u;
        memcpy(&u, b + ((size_t)k * (NR / 2) + (size_t)(j % (NR / 2))) * 4, 4);
        u = j < NR / 2 ? u << 16 : (u & 0xFFFF0000u);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    return (float)((const int8_t *)b)[(size_t)k * NR + (size_t)j];
}

static void pk_tile_scalar(const pk_tile *t, int btype) {
    float acc[MR_MAX][NR];
    const int mr = t->mr, K = t->k;
    memset(acc, 0, sizeof acc);
    const uint8_t *b = (const uint8_t *)t->b;
    for (int k = 0; k < K; k++) {
        float bv[NR];
        for (int j = 0; j < NR; j++) bv[j] = pk_b_value(btype, b, t->ldb, k, j);
        for (int i = 0; i < mr; i++) {
            float a = t->a[(size_t)i * t->lda + (size_t)k];
            for (int j = 0; j < NR; j++) acc[i][j] += a * bv[j];
        }
    }
    for (int i = 0; i < mr; i++) {
        float *c = t->c + (size_t)i * t->ldc;
        for (int j = 0; j < t->ncols; j++) {
            float x = acc[i][j];
            if (t->epi & PK_EPI_COLSCALE) x *= t->scale[j];
            if (t->epi & PK_EPI_ROWSCALE) x *= t->row_scale[i];
            if (t->epi & PK_EPI_BIAS) x += t->bias[j];
            if (t->epi & PK_EPI_GELU) x = pk_gelu(x);
            if (t->epi & PK_EPI_RESIDUAL) x = c[j] + x;
            c[j] = x;
        }
    }
}

static void pk_tile_scalar_f32(const pk_tile *t) { pk_tile_scalar(t, PK_B_F32); }
static void pk_tile_scalar_bf16(const pk_tile *t) { pk_tile_scalar(t, PK_B_BF16); }
static void pk_tile_scalar_i8(const pk_tile *t) { pk_tile_scalar(t, PK_B_I8); }

static void pk_layernorm_scalar(const float *x, size_t ldx, float *y, size_t ldy, int rows, int d, const float *w,
                                const float *b, float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * ldx;
        float *yr = y + (size_t)r * ldy;
        float s = 0;
        for (int j = 0; j < d; j++) s += xr[j];
        float mean = s / (float)d;
        float v = 0;
        for (int j = 0; j < d; j++) {
            float t = xr[j] - mean;
            v += t * t;
        }
        float rs = 1.0f / sqrtf(v / (float)d + eps);
        for (int j = 0; j < d; j++) yr[j] = ((xr[j] - mean) * rs) * w[j] + b[j];
    }
}

static void pk_softmax_scalar(float *s, size_t lds, int rows, int n, float scale, int mask_begin, int mask_end,
                              float *inv_sum) {
    for (int r = 0; r < rows; r++) {
        float *sr = s + (size_t)r * lds;
        float m = -INFINITY;
        for (int j = 0; j < n; j++)
            if ((j < mask_begin || j >= mask_end) && sr[j] > m) m = sr[j];
        float sum = 0;
        for (int j = 0; j < n; j++) {
            float e = (j >= mask_begin && j < mask_end) ? 0.0f : pk_expf((sr[j] - m) * scale);
            sr[j] = e;
            sum += e;
        }
        inv_sum[r] = 1.0f / sum;
    }
}

static void pk_pack_keys_scalar(const float *k, size_t ldk, int n, int dh, float *out) {
    const int panels = (n + NR - 1) / NR;
    for (int p = 0; p < panels; p++) {
        float *panel = out + (size_t)p * (size_t)dh * NR;
        for (int j = 0; j < NR; j++) {
            const int key = p * NR + j;
            for (int c = 0; c < dh; c++) panel[(size_t)c * NR + (size_t)j] = key < n ? k[(size_t)key * ldk + (size_t)c] : 0.0f;
        }
    }
}

static void pk_pixels_scalar(const uint8_t *x, float *y, int n) {
    for (int j = 0; j < n; j++) y[j] = (float)x[j] / 127.5f - 1.0f;
}

const pk_kernels pk_kernels_scalar = {
    .isa = PK_ISA_SCALAR,
    .nr = NR,
    .vec = NR / 2,
    .mr_max = MR_MAX,
    .tile = {pk_tile_scalar_f32, pk_tile_scalar_bf16, pk_tile_scalar_i8},
    .layernorm = pk_layernorm_scalar,
    .softmax = pk_softmax_scalar,
    .pack_keys = pk_pack_keys_scalar,
    .pixels = pk_pixels_scalar,
};

const pk_kernels *pk_kernels_for(pk_isa isa) {
#if PK_X86
    if (isa == PK_ISA_AVX512) return &pk_kernels_avx512;
    if (isa == PK_ISA_AVX2) return &pk_kernels_avx2;
#endif
    (void)isa;
    return &pk_kernels_scalar;
}
