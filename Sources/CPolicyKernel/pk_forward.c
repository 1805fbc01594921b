/*
 * The state (activations carved from the caller's arena), the optional helper thread, and pk_forward, which
 * walks the model's plan. Nothing here allocates after pk_state_init.
 *
 * Threads: with threads = 2 both threads walk the same plan; each operation splits its work by a fixed rule
 * (GEMM tiles, LayerNorm rows, attention heads) and a barrier follows it. Every output element is computed by
 * the same instructions in the same order whichever thread owns it, so the result is bit-identical to one
 * thread on the same path.
 */
#define _GNU_SOURCE
#include "pk_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <sched.h>

#if PK_X86
#include <immintrin.h>
#define PK_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define PK_PAUSE() __asm__ volatile("yield")
#else
#define PK_PAUSE() ((void)0)
#endif

/* Pauses before sleeping in the kernel: tens of microseconds, longer than the usual imbalance between the two
 * threads at a barrier, far shorter than a scheduler quantum. 0 when both threads share one CPU. */
#define PK_SPINS 2000

/* ---- waiting ------------------------------------------------------------------------------------------- */

static void pk_wait_change(_Atomic uint32_t *word, uint32_t value, _Atomic int *sleepers, int spins) {
    for (int i = 0; i < spins; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) != value) return;
        PK_PAUSE();
    }
    atomic_fetch_add(sleepers, 1);
    while (atomic_load(word) == value) {
#if defined(__linux__)
        syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
#else
        sched_yield();
#endif
    }
    atomic_fetch_sub(sleepers, 1);
}

static void pk_wake(_Atomic uint32_t *word, _Atomic int *sleepers) {
#if defined(__linux__)
    if (atomic_load(sleepers) > 0) syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
#else
    (void)word;
    (void)sleepers;
#endif
}

typedef struct pk_barrier {
    _Atomic int arrived;
    _Atomic uint32_t phase;
    _Atomic int sleepers;
    int parties;
    int spins;
} pk_barrier;

static void pk_barrier_wait(pk_barrier *b) {
    uint32_t phase = atomic_load_explicit(&b->phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->arrived, 1, memory_order_acq_rel) == b->parties - 1) {
        atomic_store_explicit(&b->arrived, 0, memory_order_relaxed);
        atomic_store(&b->phase, phase + 1);
        pk_wake(&b->phase, &b->sleepers);
        return;
    }
    pk_wait_change(&b->phase, phase, &b->sleepers, b->spins);
}

/* ---- the state --------------------------------------------------------------------------------------------- */

typedef struct pk_scratch {
    float *kp;      /* packed keys of one head: key panels × dh × nr */
    float *vp;      /* packed values: dh panels × T × nr */
    float *scores;  /* T × ld_scores */
    float *inv_sum; /* T */
} pk_scratch;

struct pk_state {
    const pk_model *model;
    float *buffer[PK_BUF_COUNT];
    size_t ld[PK_BUF_COUNT];
    size_t ld_scores;
    pk_scratch scratch[2];
    float *kp_logits; /* keypoint stem: [C × H·W × K] logits */
    float *kp_points; /* [C·K·2] expected (x, y) per camera and keypoint */
    const pk_input *input;
    int live; /* rows in use this inference: every row but the padding text positions */
    /* threads */
    int threads;
    int thread_started;
    pthread_t thread;
    _Atomic uint32_t go;
    _Atomic int go_sleepers;
    _Atomic int stop;
    pk_barrier barrier;
};

static size_t pk_round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

/* Row stride: padded to 16 floats and then one more cache line, so the MR rows a tile reads never share a
 * cache set (a power-of-two stride would put them all in one). */
static size_t pk_stride(size_t n) { return pk_round_up(n, 16) + 16; }

typedef struct pk_state_layout {
    size_t offset[PK_BUF_COUNT];
    size_t ld[PK_BUF_COUNT];
    size_t kp, vp, scores, inv_sum; /* per thread, relative to the thread's block */
    size_t scratch, scratch_size;
    size_t kp_logits, kp_points;
    size_t ld_scores;
    size_t total;
} pk_state_layout;

static size_t pk_take(size_t *used, size_t bytes) {
    size_t at = pk_round_up(*used, PK_ALIGN);
    *used = at + pk_round_up(bytes, PK_ALIGN);
    return at;
}

static void pk_plan_state(const pk_model *m, pk_state_layout *L) {
    const pk_config *g = &m->config;
    const size_t T = (size_t)m->tokens, d = (size_t)g->width, nr = (size_t)m->kernels->nr;
    const size_t dh = (size_t)m->head_dim;
    memset(L, 0, sizeof *L);
    size_t used = 0;
    pk_take(&used, sizeof(pk_state));
    L->ld[PK_BUF_X] = L->ld[PK_BUF_H] = L->ld[PK_BUF_ATTN] = pk_stride(d);
    L->ld[PK_BUF_QKV] = pk_stride(3 * d);
    L->ld[PK_BUF_MLP] = pk_stride((size_t)g->mlp_width);
    L->ld[PK_BUF_PATCHES] = pk_stride((size_t)m->patch_dim);
    L->ld[PK_BUF_OUT] = (size_t)g->action_dim;
    L->ld[PK_BUF_STATE] = (size_t)g->state_dim;
    L->offset[PK_BUF_X] = pk_take(&used, T * L->ld[PK_BUF_X] * 4);
    L->offset[PK_BUF_H] = pk_take(&used, T * L->ld[PK_BUF_H] * 4);
    L->offset[PK_BUF_QKV] = pk_take(&used, T * L->ld[PK_BUF_QKV] * 4);
    L->offset[PK_BUF_ATTN] = pk_take(&used, T * L->ld[PK_BUF_ATTN] * 4);
    L->offset[PK_BUF_MLP] = pk_take(&used, T * L->ld[PK_BUF_MLP] * 4);
    L->offset[PK_BUF_PATCHES] = pk_take(&used, (size_t)m->image_rows * L->ld[PK_BUF_PATCHES] * 4);
    L->offset[PK_BUF_OUT] = pk_take(&used, (size_t)g->horizon * (size_t)g->action_dim * 4);
    if (g->keypoints > 0) {
        L->kp_logits = pk_take(&used, (size_t)g->cameras * (size_t)g->image_width * (size_t)g->image_height *
                                          (size_t)g->keypoints * 4);
        L->kp_points = pk_take(&used, (size_t)m->kp_features * 4);
    }
    const size_t key_panels = (T + nr - 1) / nr, dh_panels = (dh + nr - 1) / nr;
    L->ld_scores = pk_stride(key_panels * nr);
    size_t s = 0;
    L->kp = pk_take(&s, key_panels * dh * nr * 4);
    L->vp = pk_take(&s, dh_panels * T * nr * 4);
    L->scores = pk_take(&s, T * L->ld_scores * 4);
    L->inv_sum = pk_take(&s, T * 4);
    L->scratch_size = pk_round_up(s, PK_ALIGN);
    L->scratch = pk_take(&used, L->scratch_size * (size_t)m->threads);
    L->total = used + PK_ALIGN; /* slack to align an arbitrary arena */
}

size_t pk_state_arena_size(const pk_model *model) {
    if (!model) return 0;
    pk_state_layout L;
    pk_plan_state(model, &L);
    return L.total;
}

static void pk_run_plan(pk_state *s, int tid);

static void *pk_helper_main(void *argument) {
    pk_state *s = argument;
    uint32_t seen = 0;
    for (;;) {
        pk_wait_change(&s->go, seen, &s->go_sleepers, s->barrier.spins);
        seen = atomic_load(&s->go);
        if (atomic_load(&s->stop)) break;
        pk_run_plan(s, 1);
    }
    return NULL;
}

pk_status pk_state_init(const pk_model *model, void *arena, size_t arena_size, pk_state **out, char *error,
                        size_t error_size) {
    if (error && error_size) error[0] = '\0';
    if (!out) return pk_fail(error, error_size, PK_ERR_ARGUMENT, "state: null output pointer");
    *out = NULL;
    if (!model || !arena) return pk_fail(error, error_size, PK_ERR_ARGUMENT, "state: null model or arena");
    pk_state_layout L;
    pk_plan_state(model, &L);
    if (arena_size < L.total)
        return pk_fail(error, error_size, PK_ERR_ARENA, "state: arena of %zu bytes, this model needs %zu", arena_size,
                       L.total);
    uint8_t *base = (uint8_t *)(((uintptr_t)arena + PK_ALIGN - 1) & ~(uintptr_t)(PK_ALIGN - 1));
    pk_state *s = (pk_state *)base;
    memset(s, 0, sizeof *s);
    s->model = model;
    for (int b = 0; b < PK_BUF_COUNT; b++) {
        s->ld[b] = L.ld[b];
        s->buffer[b] = L.offset[b] ? (float *)(base + L.offset[b]) : NULL;
    }
    /* Zero every activation once: padding columns then hold zeros forever (never NaN garbage). */
    memset(base + L.offset[PK_BUF_X], 0, L.total - PK_ALIGN - L.offset[PK_BUF_X]);
    s->ld_scores = L.ld_scores;
    s->kp_logits = L.kp_logits ? (float *)(base + L.kp_logits) : NULL;
    s->kp_points = L.kp_points ? (float *)(base + L.kp_points) : NULL;
    for (int t = 0; t < model->threads; t++) {
        uint8_t *block = base + L.scratch + (size_t)t * L.scratch_size;
        s->scratch[t].kp = (float *)(block + L.kp);
        s->scratch[t].vp = (float *)(block + L.vp);
        s->scratch[t].scores = (float *)(block + L.scores);
        s->scratch[t].inv_sum = (float *)(block + L.inv_sum);
    }
    s->threads = model->threads;
    s->barrier.parties = s->threads;
    s->barrier.spins = PK_SPINS;
#if defined(__linux__)
    /* Confined to one CPU (taskset, a cgroup): spinning would only burn the other thread's time slice. */
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) < 2) s->barrier.spins = 0;
#endif
    if (s->threads > 1) {
        int e = pthread_create(&s->thread, NULL, pk_helper_main, s);
        if (e != 0)
            return pk_fail(error, error_size, PK_ERR_ARGUMENT, "state: cannot start the helper thread: %s",
                           strerror(e));
        s->thread_started = 1;
    }
    *out = s;
    return PK_OK;
}

void pk_state_release(pk_state *state) {
    if (!state || !state->thread_started) return;
    atomic_store(&state->stop, 1);
    atomic_fetch_add(&state->go, 1);
    pk_wake(&state->go, &state->go_sleepers);
    pthread_join(state->thread, NULL);
    state->thread_started = 0;
}

/* ---- operations ---------------------------------------------------------------------------------------------- */

static inline void pk_share(int total, int tid, int threads, int *begin, int *end) {
    *begin = (int)((int64_t)total * tid / threads);
    *end = (int)((int64_t)total * (tid + 1) / threads);
}

/* Tiles (row block × panel) of C = A · Bᵀ, panel-major, split between threads by a fixed rule. */
typedef struct pk_gemm_call {
    const float *a;
    size_t lda;
    const uint8_t *b;
    size_t panel_bytes;
    size_t ldb; /* f32 B: floats between steps (0 = nr, packed) */
    int panels, k, n; /* n = valid columns from the first panel */
    float *c;
    size_t ldc;
    int rows;
    int epi;
    const float *bias, *scale, *row_scale;
    int btype;
    const uint8_t *next; /* what runs next (the next GEMM's first panel), prefetched by the last panel's tiles */
    size_t next_bytes;
} pk_gemm_call;

static void pk_run_gemm(const pk_kernels *kern, const pk_gemm_call *g, int tid, int threads) {
    const int nr = kern->nr;
    const int blocks = (g->rows + kern->mr_max - 1) / kern->mr_max;
    int t0, t1;
    pk_share(blocks * g->panels, tid, threads, &t0, &t1);
    pk_tile tile;
    tile.lda = g->lda;
    tile.ldc = g->ldc;
    tile.k = g->k;
    tile.epi = g->epi;
    tile.ldb = g->ldb ? g->ldb : (size_t)nr;
    for (int t = t0; t < t1; t++) {
        const int p = t / blocks, blk = t % blocks;
        const int r0 = (int)((int64_t)blk * g->rows / blocks), r1 = (int)((int64_t)(blk + 1) * g->rows / blocks);
        tile.a = g->a + (size_t)r0 * g->lda;
        tile.b = g->b + (size_t)p * g->panel_bytes;
        tile.c = g->c + (size_t)r0 * g->ldc + (size_t)p * (size_t)nr;
        tile.mr = r1 - r0;
        tile.ncols = g->n - p * nr < nr ? g->n - p * nr : nr;
        tile.bias = g->bias ? g->bias + (size_t)p * (size_t)nr : NULL;
        tile.scale = g->scale ? g->scale + (size_t)p * (size_t)nr : NULL;
        tile.row_scale = g->row_scale ? g->row_scale + r0 : NULL;
        /* Tile blk of panel p prefetches its share of panel p + 1 (the first tiles cover all of it), so the
         * next panel streams from memory into L2 while this one computes from L1/L2. */
        {
            const size_t share = (size_t)g->k * 64, at = (size_t)blk * share;
            if (p + 1 < g->panels)
                tile.prefetch = at < g->panel_bytes ? g->b + (size_t)(p + 1) * g->panel_bytes + at : tile.b;
            else
                tile.prefetch = g->next && at < g->next_bytes ? g->next + at : tile.b;
        }
        kern->tile[g->btype](&tile);
    }
}

static void pk_op_gemm(pk_state *s, const pk_op *op, int tid) {
    const pk_model *m = s->model;
    const pk_matrix *w = op->w;
    const int nr = m->kernels->nr;
    pk_gemm_call g = {0};
    const float *a = op->a == PK_BUF_STATE ? s->input->state : s->buffer[op->a];
    g.lda = s->ld[op->a];
    g.a = a + (size_t)op->a_row0 * g.lda;
    g.b = w->data + (size_t)op->p0 * w->panel_bytes;
    g.panel_bytes = w->panel_bytes;
    g.panels = op->p1 - op->p0;
    g.k = w->k;
    g.n = w->n - op->p0 * nr;
    g.ldc = s->ld[op->c];
    g.c = s->buffer[op->c] + (size_t)op->row0 * g.ldc + (size_t)op->c_col + (size_t)op->p0 * (size_t)nr;
    g.rows = (op->live ? s->live : op->row1) - op->row0;
    g.epi = op->epi;
    g.bias = w->bias + (size_t)op->p0 * (size_t)nr;
    g.scale = w->scale ? w->scale + (size_t)op->p0 * (size_t)nr : NULL;
    g.row_scale = NULL;
    g.btype = w->btype;
    g.next = op->next ? op->next->data : NULL;
    g.next_bytes = op->next ? op->next->panel_bytes : 0;
    pk_run_gemm(m->kernels, &g, tid, s->threads);
}

static void pk_op_attention(pk_state *s, const pk_op *op, int tid) {
    const pk_model *m = s->model;
    const pk_kernels *kern = m->kernels;
    /* Keys: the live rows (padding text rows are last and simply absent, so they weigh exactly 0). */
    const int nr = kern->nr, T = s->live, d = m->config.width, dh = m->head_dim;
    const size_t ldq = s->ld[PK_BUF_QKV];
    const int rows = (op->live ? s->live : op->row1) - op->row0;
    const int key_panels = (T + nr - 1) / nr, dh_panels = (dh + nr - 1) / nr;
    const int mask_begin = T, mask_end = T;
    const float scale = 1.0f / sqrtf((float)dh);
    pk_scratch *x = &s->scratch[tid];
    int h0, h1;
    pk_share(m->config.heads, tid, s->threads, &h0, &h1);
    for (int h = h0; h < h1; h++) {
        const float *q = s->buffer[PK_BUF_QKV] + (size_t)op->row0 * ldq + (size_t)h * (size_t)dh;
        const float *k = s->buffer[PK_BUF_QKV] + (size_t)d + (size_t)h * (size_t)dh;
        const float *v = s->buffer[PK_BUF_QKV] + 2 * (size_t)d + (size_t)h * (size_t)dh;
        kern->pack_keys(k, ldq, T, dh, x->kp);
        pk_gemm_call g = {0};
        g.a = q;
        g.lda = ldq;
        g.b = (const uint8_t *)x->kp;
        g.panel_bytes = (size_t)dh * (size_t)nr * 4;
        g.panels = key_panels;
        g.k = dh;
        g.n = T;
        g.c = x->scores;
        g.ldc = s->ld_scores;
        g.rows = rows;
        g.btype = PK_B_F32;
        pk_run_gemm(kern, &g, 0, 1);
        kern->softmax(x->scores, s->ld_scores, rows, T, scale, mask_begin, mask_end, x->inv_sum);
        /* Values: when dh is whole panels, V is read in place (step t = row t, panel p = columns p·nr…);
         * otherwise copied into zero-padded panels. */
        const int direct = dh % nr == 0;
        if (!direct) {
            for (int p = 0; p < dh_panels; p++) {
                float *panel = x->vp + (size_t)p * (size_t)T * (size_t)nr;
                const int cols = dh - p * nr < nr ? dh - p * nr : nr;
                for (int t = 0; t < T; t++) {
                    const float *vr = v + (size_t)t * ldq + (size_t)p * (size_t)nr;
                    float *dst = panel + (size_t)t * (size_t)nr;
                    memcpy(dst, vr, (size_t)cols * 4);
                    if (cols < nr) memset(dst + cols, 0, (size_t)(nr - cols) * 4);
                }
            }
        }
        g.a = x->scores;
        g.lda = s->ld_scores;
        g.b = direct ? (const uint8_t *)v : (const uint8_t *)x->vp;
        g.panel_bytes = direct ? (size_t)nr * 4 : (size_t)T * (size_t)nr * 4;
        g.ldb = direct ? ldq : 0;
        g.panels = dh_panels;
        g.k = T;
        g.n = dh;
        g.ldc = s->ld[PK_BUF_ATTN];
        g.c = s->buffer[PK_BUF_ATTN] + (size_t)op->row0 * g.ldc + (size_t)h * (size_t)dh;
        g.epi = PK_EPI_ROWSCALE;
        g.row_scale = x->inv_sum;
        pk_run_gemm(kern, &g, 0, 1);
    }
}

static void pk_op_pixels(pk_state *s, const pk_op *op, int tid) {
    const pk_model *m = s->model;
    const pk_config *g = &m->config;
    const int P = g->patch_size, per_row = g->image_width / P, Np = m->patches_per_camera;
    const size_t ldp = s->ld[PK_BUF_PATCHES];
    int r0, r1;
    pk_share(op->row1 - op->row0, tid, s->threads, &r0, &r1);
    for (int r = r0; r < r1; r++) {
        const int cam = r / Np, j = r % Np, py = j / per_row, px = j % per_row;
        const uint8_t *image = s->input->images[cam];
        float *dst = s->buffer[PK_BUF_PATCHES] + (size_t)r * ldp;
        for (int dy = 0; dy < P; dy++) {
            const uint8_t *src = image + (((size_t)py * (size_t)P + (size_t)dy) * (size_t)g->image_width +
                                          (size_t)px * (size_t)P) * 3;
            m->kernels->pixels(src, dst + (size_t)dy * (size_t)P * 3, P * 3);
        }
    }
}

/* The spatial soft-argmax stem, one camera per thread (each camera's result is computed by the same
 * instructions whichever thread runs it). Logits z[p][k] = Σ_t W[k][t] · tap_t(p) over the 3×3 neighbourhood of
 * pixel p (zero outside the image), then per keypoint the softmax over the camera's pixels and the expected
 * pixel-centre coordinates x = (2·col + 1)/width − 1, y = (2·row + 1)/height − 1. */
static void pk_op_keypoints(pk_state *s, int tid) {
    const pk_model *m = s->model;
    const pk_config *g = &m->config;
    const int W = g->image_width, Hh = g->image_height, K = g->keypoints;
    const size_t P = (size_t)W * (size_t)Hh;
    float acc[PK_MAX_KEYPOINTS], mx[PK_MAX_KEYPOINTS], sum[PK_MAX_KEYPOINTS], sx[PK_MAX_KEYPOINTS],
        sy[PK_MAX_KEYPOINTS];
    int c0, c1;
    pk_share(g->cameras, tid, s->threads, &c0, &c1);
    for (int cam = c0; cam < c1; cam++) {
        const uint8_t *image = s->input->images[cam];
        float *logits = s->kp_logits + (size_t)cam * P * (size_t)K;
        for (int y = 0; y < Hh; y++) {
            for (int x = 0; x < W; x++) {
                for (int k = 0; k < K; k++) acc[k] = 0.0f;
                for (int dy = 0; dy < 3; dy++) {
                    const int yy = y + dy - 1;
                    if (yy < 0 || yy >= Hh) continue;
                    for (int dx = 0; dx < 3; dx++) {
                        const int xx = x + dx - 1;
                        if (xx < 0 || xx >= W) continue;
                        const uint8_t *px = image + ((size_t)yy * (size_t)W + (size_t)xx) * 3;
                        const float *w = m->kp_conv + (size_t)((dy * 3 + dx) * 3) * (size_t)K;
                        for (int ch = 0; ch < 3; ch++) {
                            const float v = m->pixel_lut[px[ch]];
                            const float *wc = w + (size_t)ch * (size_t)K;
                            for (int k = 0; k < K; k++) acc[k] += v * wc[k];
                        }
                    }
                }
                memcpy(logits + ((size_t)y * (size_t)W + (size_t)x) * (size_t)K, acc, (size_t)K * sizeof(float));
            }
        }
        for (int k = 0; k < K; k++) {
            mx[k] = -INFINITY;
            sum[k] = sx[k] = sy[k] = 0.0f;
        }
        for (size_t p = 0; p < P; p++)
            for (int k = 0; k < K; k++) mx[k] = fmaxf(mx[k], logits[p * (size_t)K + (size_t)k]);
        for (int y = 0; y < Hh; y++) {
            const float fy = (2.0f * (float)y + 1.0f) / (float)Hh - 1.0f;
            float rx[PK_MAX_KEYPOINTS], rs[PK_MAX_KEYPOINTS];
            for (int k = 0; k < K; k++) rx[k] = rs[k] = 0.0f;
            for (int x = 0; x < W; x++) {
                const float fx = (2.0f * (float)x + 1.0f) / (float)W - 1.0f;
                const float *l = logits + ((size_t)y * (size_t)W + (size_t)x) * (size_t)K;
                for (int k = 0; k < K; k++) {
                    const float e = expf(l[k] - mx[k]);
                    rs[k] += e;
                    rx[k] += e * fx;
                }
            }
            for (int k = 0; k < K; k++) {
                sum[k] += rs[k];
                sx[k] += rx[k];
                sy[k] += rs[k] * fy;
            }
        }
        float *out = s->kp_points + (size_t)cam * (size_t)K * 2;
        for (int k = 0; k < K; k++) {
            out[2 * k] = sx[k] / sum[k];
            out[2 * k + 1] = sy[k] / sum[k];
        }
    }
}

/* x[state row] += keypoint.weight · points (after the state token's GEMM wrote the row). */
static void pk_op_keypoint_proj(pk_state *s, const pk_op *op) {
    const pk_model *m = s->model;
    const int d = m->config.width, F = m->kp_features;
    float *row = s->buffer[PK_BUF_X] + (size_t)op->row0 * s->ld[PK_BUF_X];
    for (int j = 0; j < d; j++) {
        const float *w = m->kp_proj + (size_t)j * (size_t)F;
        float acc = 0.0f;
        for (int i = 0; i < F; i++) acc += w[i] * s->kp_points[i];
        row[j] += acc;
    }
}

static void pk_op_layernorm(pk_state *s, const pk_op *op, int tid) {
    int r0, r1;
    pk_share((op->live ? s->live : op->row1) - op->row0, tid, s->threads, &r0, &r1);
    r0 += op->row0;
    r1 += op->row0;
    if (r1 <= r0) return;
    const pk_model *m = s->model;
    m->kernels->layernorm(s->buffer[op->src] + (size_t)r0 * s->ld[op->src], s->ld[op->src],
                          s->buffer[op->dst] + (size_t)r0 * s->ld[op->dst], s->ld[op->dst], r1 - r0,
                          m->config.width, op->ln_w, op->ln_b, m->config.layer_norm_epsilon);
}

static void pk_op_small(pk_state *s, const pk_op *op) {
    const pk_model *m = s->model;
    const size_t d = (size_t)m->config.width, ld = s->ld[PK_BUF_X];
    float *x = s->buffer[PK_BUF_X];
    if (op->code == PK_CODE_POSITIONS) {
        for (int r = op->row0; r < op->row1; r++) memcpy(x + (size_t)r * ld, m->camera_pos + (size_t)r * d, d * 4);
    } else if (op->code == PK_CODE_TEXT) {
        for (int i = 0; i < s->input->token_count; i++) {
            /* Padding positions are never keys and never outputs: they are not computed at all. */
            const int32_t id = s->input->tokens[i];
            const float *e = m->text_embed + (size_t)id * d, *p = m->text_pos + (size_t)i * d;
            float *row = x + (size_t)(m->text_row + i) * ld;
            for (size_t j = 0; j < d; j++) row[j] = e[j] + p[j];
        }
    } else if (op->code == PK_CODE_KEYPOINT_PROJ) {
        pk_op_keypoint_proj(s, op);
    } else if (op->code == PK_CODE_QUERY) {
        for (int r = op->row0; r < op->row1; r++)
            memcpy(x + (size_t)r * ld, m->query + (size_t)(r - op->row0) * d, d * 4);
    }
}

static void pk_run_plan(pk_state *s, int tid) {
    const pk_model *m = s->model;
    for (int i = 0; i < m->op_count; i++) {
        const pk_op *op = &m->ops[i];
        switch (op->code) {
        case PK_CODE_GEMM: pk_op_gemm(s, op, tid); break;
        case PK_CODE_ATTENTION: pk_op_attention(s, op, tid); break;
        case PK_CODE_LAYERNORM: pk_op_layernorm(s, op, tid); break;
        case PK_CODE_PIXELS: pk_op_pixels(s, op, tid); break;
        case PK_CODE_KEYPOINTS: pk_op_keypoints(s, tid); break;
        default:
            if (tid == 0) pk_op_small(s, op);
            break;
        }
        if (s->threads > 1) pk_barrier_wait(&s->barrier);
    }
}

/* ---- pk_forward --------------------------------------------------------------------------------------------- */

pk_status pk_forward(const pk_model *model, pk_state *state, const pk_input *input, float *actions, char *error,
                     size_t error_size) {
    if (error && error_size) error[0] = '\0';
    if (!model || !state || !input || !actions)
        return pk_fail(error, error_size, PK_ERR_ARGUMENT, "forward: null model, state, input or actions");
    if (state->model != model)
        return pk_fail(error, error_size, PK_ERR_ARGUMENT, "forward: the state was made for another model");
    if (state->threads > 1 && !state->thread_started)
        return pk_fail(error, error_size, PK_ERR_ARGUMENT, "forward: the state was released (its helper thread is gone)");
    const pk_config *g = &model->config;
    if (!input->images || !input->tokens || !input->state)
        return pk_fail(error, error_size, PK_ERR_ARGUMENT, "forward: null images, tokens or state");
    for (int c = 0; c < g->cameras; c++)
        if (!input->images[c]) return pk_fail(error, error_size, PK_ERR_ARGUMENT, "forward: image %d is null", c);
    if (input->token_count < 0 || input->token_count > g->max_text_tokens)
        return pk_fail(error, error_size, PK_ERR_ARGUMENT, "forward: token_count %d, expected 0…%d",
                       input->token_count, g->max_text_tokens);
    for (int i = 0; i < input->token_count; i++)
        if (input->tokens[i] < 0 || input->tokens[i] >= g->vocab_size)
            return pk_fail(error, error_size, PK_ERR_ARGUMENT, "forward: token %d is id %d, expected 0…%d", i,
                           (int)input->tokens[i], g->vocab_size - 1);
    for (int i = 0; i < g->state_dim; i++)
        if (!isfinite(input->state[i]))
            return pk_fail(error, error_size, PK_ERR_NONFINITE, "forward: state[%d] is %g", i, (double)input->state[i]);

    state->input = input;
    state->live = model->tokens - (g->max_text_tokens - input->token_count);
    if (state->threads > 1) {
        atomic_fetch_add(&state->go, 1);
        pk_wake(&state->go, &state->go_sleepers);
    }
    pk_run_plan(state, 0);
    state->input = NULL;

    const float *out = state->buffer[PK_BUF_OUT];
    const int n = g->horizon * g->action_dim;
    for (int i = 0; i < n; i++)
        if (!isfinite(out[i]))
            return pk_fail(error, error_size, PK_ERR_NONFINITE, "forward: action %d (row %d, column %d) is %g", i,
                           i / g->action_dim, i % g->action_dim, (double)out[i]);
    memcpy(actions, out, (size_t)n * sizeof(float));
    return PK_OK;
}
