/*
 * The plan: the forward pass as a table of operations, built once at load. pk_forward executes exactly this
 * table, and the FLOP and byte counts are attached to its entries here, so the counts describe what runs:
 * each entry carries the work it executes (by class, for pk_model_op_stats) and the work the network as
 * written assigns to it (Models/README.md §3 "FLOP count", for pk_model_flops).
 */
#include "pk_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct pk_planner {
    pk_model *m;
    pk_op *ops;
    int count;
} pk_planner;

static pk_op *pk_add(pk_planner *p, pk_opcode code, int row0, int row1) {
    pk_op *op = &p->ops[p->count++];
    memset(op, 0, sizeof *op);
    op->code = code;
    op->row0 = row0;
    op->row1 = row1;
    return op;
}

static const size_t pk_element_bytes[] = {4, 2, 1};

/* C[row0..row1) over panels [p0, p1) of w, A rows from a_row0. */
static pk_op *pk_gemm(pk_planner *p, const pk_matrix *w, pk_buffer a, int a_row0, pk_buffer c, int row0, int row1,
                      int p0, int p1, int epi, int nominal_rows) {
    const int nr = p->m->kernels->nr;
    pk_op *op = pk_add(p, PK_CODE_GEMM, row0, row1);
    op->w = w;
    op->a = a;
    op->a_row0 = a_row0;
    op->c = c;
    op->p0 = p0;
    op->p1 = p1;
    if (w->btype == PK_B_I8) epi |= PK_EPI_COLSCALE;
    op->epi = epi;
    const uint64_t M = (uint64_t)(row1 - row0), K = (uint64_t)w->k;
    const int col_end = p1 * nr < w->n ? p1 * nr : w->n;
    const uint64_t N = (uint64_t)(col_end - p0 * nr);
    op->op_class = PK_OP_MATMUL;
    op->flops[PK_OP_MATMUL] = 2 * M * N * K;
    op->nominal = 2 * (uint64_t)nominal_rows * N * K;
    uint64_t per_output = 0;
    if (epi & PK_EPI_COLSCALE) per_output += 1;
    if (epi & PK_EPI_BIAS) per_output += 1;
    if (epi & PK_EPI_GELU) per_output += 8;
    if (epi & PK_EPI_RESIDUAL) per_output += 1;
    op->flops[PK_OP_ELEMENTWISE] = per_output * M * N;
    op->bytes = M * K * 4 + N * K * pk_element_bytes[w->btype] + M * N * 4;
    if (epi & PK_EPI_BIAS) op->bytes += N * 4;
    if (epi & PK_EPI_COLSCALE) op->bytes += N * 4;
    if (epi & PK_EPI_RESIDUAL) op->bytes += M * N * 4;
    return op;
}

static pk_op *pk_layernorm(pk_planner *p, const float *w, const float *b, pk_buffer src, pk_buffer dst, int row0,
                           int row1) {
    pk_op *op = pk_add(p, PK_CODE_LAYERNORM, row0, row1);
    op->ln_w = w;
    op->ln_b = b;
    op->src = src;
    op->dst = dst;
    const uint64_t rows = (uint64_t)(row1 - row0), d = (uint64_t)p->m->config.width;
    op->op_class = PK_OP_NORM;
    op->flops[PK_OP_NORM] = 8 * rows * d + 3 * rows;
    op->bytes = 2 * rows * d * 4 + 2 * d * 4;
    return op;
}

pk_status pk_build_plan(pk_model *m, char *error, size_t error_size) {
    const pk_config *g = &m->config;
    const int T = m->tokens, d = g->width, H = g->horizon;
    pk_planner p = {m, calloc((size_t)(18 + 12 * g->depth), sizeof(pk_op)), 0};
    if (!p.ops) return pk_fail(error, error_size, PK_ERR_IO, "out of memory");
    const uint64_t C = (uint64_t)g->cameras, Np = (uint64_t)m->patches_per_camera, ud = (uint64_t)d;
    const uint64_t pixels = C * Np * (uint64_t)m->patch_dim;

    pk_op *op = pk_add(&p, PK_CODE_PIXELS, 0, m->image_rows);
    op->op_class = PK_OP_ELEMENTWISE;
    op->flops[PK_OP_ELEMENTWISE] = 2 * pixels;
    op->bytes = pixels + pixels * 4;

    op = pk_add(&p, PK_CODE_POSITIONS, 0, m->image_rows);
    op->op_class = PK_OP_ELEMENTWISE;
    op->bytes = 2 * C * Np * ud * 4;

    pk_gemm(&p, &m->patch, PK_BUF_PATCHES, 0, PK_BUF_X, 0, m->image_rows, 0, m->patch.panels,
            PK_EPI_BIAS | PK_EPI_RESIDUAL, m->image_rows);

    op = pk_add(&p, PK_CODE_TEXT, m->text_row, T);
    op->op_class = PK_OP_ELEMENTWISE;
    op->flops[PK_OP_ELEMENTWISE] = (uint64_t)g->max_text_tokens * ud;
    op->bytes = 3 * (uint64_t)g->max_text_tokens * ud * 4;

    pk_gemm(&p, &m->state, PK_BUF_STATE, 0, PK_BUF_X, m->state_row, m->query_row, 0, m->state.panels, PK_EPI_BIAS, 1);

    if (g->keypoints > 0) {
        /* The stem: convolution (taps inside the image only), spatial softmax, weighted coordinates. */
        const uint64_t K = (uint64_t)g->keypoints, W = (uint64_t)g->image_width, Hh = (uint64_t)g->image_height;
        const uint64_t inside = (3 * W - 2) * (3 * Hh - 2) * 3; /* Σ over pixels of the in-image taps */
        op = pk_add(&p, PK_CODE_KEYPOINTS, 0, 0);
        op->op_class = PK_OP_MATMUL;
        op->flops[PK_OP_MATMUL] = C * (2 * inside * K + 2 * W * Hh * K + 2 * Hh * K);
        op->flops[PK_OP_ELEMENTWISE] = C * (4 * W * Hh * K + 3 * K);
        op->nominal = 2 * C * W * Hh * PK_KEYPOINT_TAPS * K;
        op->bytes = C * (W * Hh * 3 + 2 * W * Hh * K * 4 + K * 2 * 4) + K * PK_KEYPOINT_TAPS * 4;
        const uint64_t F = (uint64_t)m->kp_features;
        op = pk_add(&p, PK_CODE_KEYPOINT_PROJ, m->state_row, m->state_row + 1);
        op->op_class = PK_OP_MATMUL;
        op->flops[PK_OP_MATMUL] = 2 * F * ud;
        op->flops[PK_OP_ELEMENTWISE] = ud;
        op->nominal = 2 * F * ud;
        op->bytes = F * ud * 4 + F * 4 + 2 * ud * 4;
    }

    op = pk_add(&p, PK_CODE_QUERY, m->query_row, m->text_row);
    op->op_class = PK_OP_ELEMENTWISE;
    op->bytes = 2 * (uint64_t)H * ud * 4;

    for (int l = 0; l < g->depth; l++) {
        const size_t o = (size_t)l * (size_t)d;
        /* Rows [0, live) run, live = T − (L − n) at run time (padding text rows are last and never needed;
         * the plan counts the worst case n = L). The last block: only the query rows feed the output, so after
         * the keys and values (every live row) the rest runs on those rows alone. */
        const int last = l == g->depth - 1;
        const int r0 = last ? m->query_row : 0, r1 = last ? m->text_row : T;
        pk_layernorm(&p, m->ln1_w + o, m->ln1_b + o, PK_BUF_X, PK_BUF_H, 0, T)->live = 1;
        pk_op *kv = pk_gemm(&p, &m->kv[l], PK_BUF_H, 0, PK_BUF_QKV, 0, T, 0, m->kv[l].panels, PK_EPI_BIAS, T);
        kv->c_col = d;
        kv->live = 1;
        pk_gemm(&p, &m->q[l], PK_BUF_H, r0, PK_BUF_QKV, r0, r1, 0, m->q[l].panels, PK_EPI_BIAS, T)->live = !last;
        op = pk_add(&p, PK_CODE_ATTENTION, r0, r1);
        op->live = !last;
        op->layer = l;
        op->op_class = PK_OP_ATTENTION;
        {
            const uint64_t tq = (uint64_t)(r1 - r0), tk = (uint64_t)T, dh = (uint64_t)m->head_dim;
            const uint64_t heads = (uint64_t)g->heads;
            op->flops[PK_OP_ATTENTION] = heads * (2 * tq * tk * dh + 5 * tq * tk + tq + 2 * tq * tk * dh + tq * dh);
            op->nominal = heads * 4 * tk * tk * dh; /* as written: every row queries */
            op->bytes = (tq * ud + 2 * tk * ud + tq * ud) * 4;
        }
        pk_gemm(&p, &m->out[l], PK_BUF_ATTN, r0, PK_BUF_X, r0, r1, 0, m->out[l].panels, PK_EPI_BIAS | PK_EPI_RESIDUAL, T)
            ->live = !last;
        pk_layernorm(&p, m->ln2_w + o, m->ln2_b + o, PK_BUF_X, PK_BUF_H, r0, r1)->live = !last;
        pk_gemm(&p, &m->fc1[l], PK_BUF_H, r0, PK_BUF_MLP, r0, r1, 0, m->fc1[l].panels, PK_EPI_BIAS | PK_EPI_GELU, T)
            ->live = !last;
        pk_gemm(&p, &m->fc2[l], PK_BUF_MLP, r0, PK_BUF_X, r0, r1, 0, m->fc2[l].panels, PK_EPI_BIAS | PK_EPI_RESIDUAL, T)
            ->live = !last;
    }
    pk_layernorm(&p, m->final_w, m->final_b, PK_BUF_X, PK_BUF_H, m->query_row, m->text_row);
    pk_gemm(&p, &m->head, PK_BUF_H, m->query_row, PK_BUF_OUT, 0, H, 0, m->head.panels, PK_EPI_BIAS, H);

    m->ops = p.ops;
    m->op_count = p.count;
    const pk_matrix *next = NULL;
    for (int i = p.count - 1; i >= 0; i--)
        if (p.ops[i].code == PK_CODE_GEMM) {
            p.ops[i].next = next;
            next = p.ops[i].w;
        }
    memset(&m->stats, 0, sizeof m->stats);
    for (int i = 0; i < p.count; i++) {
        for (int c = 0; c < PK_OP_CLASS_COUNT; c++) m->stats.flops[c] += p.ops[i].flops[c];
        m->stats.bytes[p.ops[i].op_class] += p.ops[i].bytes;
        m->nominal_flops += p.ops[i].nominal;
    }
    m->stats.operations = p.count;
    return PK_OK;
}
