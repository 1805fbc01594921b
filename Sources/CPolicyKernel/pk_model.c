/*
 * pk_model_load: configuration checks, the tensor contract of Models/README.md §4 (names, dtypes, shapes for
 * the file's variant), packing of the seven weight matrices into the chosen path's panels, copies of every
 * other tensor into aligned memory, and the plan of operations. The file is unmapped before returning.
 */
#define _POSIX_C_SOURCE 200809L
#include "pk_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "CPolicyKernel reads little-endian safetensors in place: big-endian hosts are not supported"
#endif

pk_options pk_default_options(void) {
    pk_options o = {PK_ISA_AUTO, 1};
    return o;
}

/* ---- configuration ---------------------------------------------------------------------------------- */

static pk_status pk_check_config(const pk_config *c, char *error, size_t error_size) {
#define PK_RANGE(field, lo, hi)                                                                                \
    if (c->field < (lo) || c->field > (hi))                                                                    \
        return pk_fail(error, error_size, PK_ERR_CONFIG, "config: " #field " = %d, expected %d…%d", c->field,   \
                       (int)(lo), (int)(hi));
    PK_RANGE(cameras, 1, PK_MAX_CAMERAS)
    PK_RANGE(image_width, 1, PK_LIMIT_DIM)
    PK_RANGE(image_height, 1, PK_LIMIT_DIM)
    PK_RANGE(patch_size, 1, 256)
    PK_RANGE(vocab_size, 1, 1 << 22)
    PK_RANGE(max_text_tokens, 1, PK_LIMIT_TOKENS)
    PK_RANGE(state_dim, 1, PK_LIMIT_DIM)
    PK_RANGE(action_dim, 1, PK_LIMIT_DIM)
    PK_RANGE(horizon, 1, PK_LIMIT_TOKENS)
    PK_RANGE(width, 1, PK_LIMIT_DIM)
    PK_RANGE(depth, 1, PK_LIMIT_DEPTH)
    PK_RANGE(heads, 1, PK_LIMIT_DIM)
    PK_RANGE(mlp_width, 1, 4 * PK_LIMIT_DIM)
    PK_RANGE(keypoints, 0, PK_MAX_KEYPOINTS)
#undef PK_RANGE
    if (c->image_width % c->patch_size || c->image_height % c->patch_size)
        return pk_fail(error, error_size, PK_ERR_CONFIG,
                       "config: image %d×%d is not a multiple of patch_size %d", c->image_width, c->image_height,
                       c->patch_size);
    if (c->width % c->heads)
        return pk_fail(error, error_size, PK_ERR_CONFIG, "config: width %d is not divisible by heads %d", c->width,
                       c->heads);
    if (!(c->layer_norm_epsilon > 0) || !isfinite(c->layer_norm_epsilon))
        return pk_fail(error, error_size, PK_ERR_CONFIG, "config: layer_norm_epsilon = %g, expected a positive number",
                       (double)c->layer_norm_epsilon);
    int64_t np = (int64_t)(c->image_width / c->patch_size) * (c->image_height / c->patch_size);
    int64_t tokens = (int64_t)c->cameras * np + c->max_text_tokens + 1 + c->horizon;
    if (tokens > PK_LIMIT_TOKENS)
        return pk_fail(error, error_size, PK_ERR_CONFIG, "config: %lld tokens, more than the limit of %d",
                       (long long)tokens, PK_LIMIT_TOKENS);
    if ((int64_t)c->patch_size * c->patch_size * 3 > 4 * PK_LIMIT_DIM)
        return pk_fail(error, error_size, PK_ERR_CONFIG, "config: patch_size %d too large", c->patch_size);
    return PK_OK;
}

/* ---- the tensor contract ------------------------------------------------------------------------------- */

typedef enum pk_role {
    PK_ROLE_VECTOR, /* copied to an aligned float buffer */
    PK_ROLE_MATRIX, /* packed */
    PK_ROLE_SCALE,  /* int8 scales of a matrix */
    PK_ROLE_BIAS,   /* bias of a matrix (kept with it, zero padded to whole panels) */
} pk_role;

typedef struct pk_expected {
    char name[64];
    pk_dtype dtype;
    int rank;
    int64_t shape[3];
    pk_role role;
    void *target; /* float ** (vector) or pk_matrix * */
    void *target2; /* the attention's k/v matrix: the file's qkv rows [d, 3d) go there, rows [0, d) to target */
    int layer;    /* row of a per-block vector (LayerNorm parameters) */
    const pk_tensor_entry *found;
} pk_expected;

typedef struct pk_contract {
    pk_expected *items;
    int count, capacity;
} pk_contract;

static pk_expected *pk_expect(pk_contract *c, const char *name, pk_dtype dtype, int rank, int64_t d0, int64_t d1,
                              int64_t d2, pk_role role, void *target) {
    pk_expected *e = &c->items[c->count++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->dtype = dtype;
    e->rank = rank;
    e->shape[0] = d0;
    e->shape[1] = d1;
    e->shape[2] = d2;
    e->role = role;
    e->target = target;
    return e;
}

static void pk_expect_matrix(pk_contract *c, const char *name, pk_weights variant, int64_t out, int64_t in,
                             pk_matrix *m, const char *bias_name, pk_matrix *second) {
    static const pk_dtype dtypes[] = {PK_DTYPE_F32, PK_DTYPE_BF16, PK_DTYPE_I8};
    pk_expect(c, name, dtypes[variant], 2, out, in, 0, PK_ROLE_MATRIX, m)->target2 = second;
    if (variant == PK_WEIGHTS_I8) {
        char scale[64];
        snprintf(scale, sizeof scale, "%s.scale", name);
        pk_expect(c, scale, PK_DTYPE_F32, 1, out, 0, 0, PK_ROLE_SCALE, m)->target2 = second;
    }
    pk_expect(c, bias_name, PK_DTYPE_F32, 1, out, 0, 0, PK_ROLE_BIAS, m)->target2 = second;
}

/* Every tensor of §4 in the table's order (the order errors are reported in). Vector targets are filled
 * in later (pk_assign) once memory exists; matrices are addressed through the model. */
static pk_status pk_build_contract(pk_model *m, pk_contract *c) {
    const pk_config *g = &m->config;
    const int64_t d = g->width, mw = g->mlp_width;
    c->capacity = 18 + 16 * g->depth;
    c->items = calloc((size_t)c->capacity, sizeof(pk_expected));
    if (!c->items) return PK_ERR_IO;
    char name[64], bias[64];
    pk_weights v = m->weights;
    pk_expect_matrix(c, "patch.weight", v, d, (int64_t)g->patch_size * g->patch_size * 3, &m->patch, "patch.bias", NULL);
    pk_expect(c, "camera.pos", PK_DTYPE_F32, 3, g->cameras, m->patches_per_camera, d, PK_ROLE_VECTOR, &m->camera_pos);
    pk_expect(c, "text.embed", PK_DTYPE_F32, 2, g->vocab_size, d, 0, PK_ROLE_VECTOR, &m->text_embed);
    pk_expect(c, "text.pos", PK_DTYPE_F32, 2, g->max_text_tokens, d, 0, PK_ROLE_VECTOR, &m->text_pos);
    pk_expect_matrix(c, "state.weight", v, d, g->state_dim, &m->state, "state.bias", NULL);
    if (g->keypoints > 0) {
        /* Small and precision-sensitive (the softmax is sharp): fp32 in every variant. */
        pk_expect(c, "keypoint.conv.weight", PK_DTYPE_F32, 2, g->keypoints, PK_KEYPOINT_TAPS, 0, PK_ROLE_VECTOR,
                  &m->kp_conv_file);
        pk_expect(c, "keypoint.weight", PK_DTYPE_F32, 2, d, (int64_t)g->cameras * g->keypoints * 2, 0,
                  PK_ROLE_VECTOR, &m->kp_proj);
    }
    pk_expect(c, "query", PK_DTYPE_F32, 2, g->horizon, d, 0, PK_ROLE_VECTOR, &m->query);
    for (int l = 0; l < g->depth; l++) {
        snprintf(name, sizeof name, "blocks.%d.ln1.weight", l);
        pk_expect(c, name, PK_DTYPE_F32, 1, d, 0, 0, PK_ROLE_VECTOR, &m->ln1_w)->layer = l;
        snprintf(name, sizeof name, "blocks.%d.ln1.bias", l);
        pk_expect(c, name, PK_DTYPE_F32, 1, d, 0, 0, PK_ROLE_VECTOR, &m->ln1_b)->layer = l;
        snprintf(name, sizeof name, "blocks.%d.attn.qkv.weight", l);
        snprintf(bias, sizeof bias, "blocks.%d.attn.qkv.bias", l);
        pk_expect_matrix(c, name, v, 3 * d, d, &m->q[l], bias, &m->kv[l]);
        snprintf(name, sizeof name, "blocks.%d.attn.out.weight", l);
        snprintf(bias, sizeof bias, "blocks.%d.attn.out.bias", l);
        pk_expect_matrix(c, name, v, d, d, &m->out[l], bias, NULL);
        snprintf(name, sizeof name, "blocks.%d.ln2.weight", l);
        pk_expect(c, name, PK_DTYPE_F32, 1, d, 0, 0, PK_ROLE_VECTOR, &m->ln2_w)->layer = l;
        snprintf(name, sizeof name, "blocks.%d.ln2.bias", l);
        pk_expect(c, name, PK_DTYPE_F32, 1, d, 0, 0, PK_ROLE_VECTOR, &m->ln2_b)->layer = l;
        snprintf(name, sizeof name, "blocks.%d.mlp.fc1.weight", l);
        snprintf(bias, sizeof bias, "blocks.%d.mlp.fc1.bias", l);
        pk_expect_matrix(c, name, v, mw, d, &m->fc1[l], bias, NULL);
        snprintf(name, sizeof name, "blocks.%d.mlp.fc2.weight", l);
        snprintf(bias, sizeof bias, "blocks.%d.mlp.fc2.bias", l);
        pk_expect_matrix(c, name, v, d, mw, &m->fc2[l], bias, NULL);
    }
    pk_expect(c, "final_ln.weight", PK_DTYPE_F32, 1, d, 0, 0, PK_ROLE_VECTOR, &m->final_w);
    pk_expect(c, "final_ln.bias", PK_DTYPE_F32, 1, d, 0, 0, PK_ROLE_VECTOR, &m->final_b);
    pk_expect_matrix(c, "head.weight", v, g->action_dim, d, &m->head, "head.bias", NULL);
    return PK_OK;
}

static void pk_shape_text(char *out, size_t size, const int64_t *shape, int rank) {
    size_t used = (size_t)snprintf(out, size, "[");
    for (int i = 0; i < rank && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < size) snprintf(out + used, size - used, "]");
}

static int pk_compare_entry_names(const void *a, const void *b) {
    const pk_tensor_entry *x = *(pk_tensor_entry *const *)a, *y = *(pk_tensor_entry *const *)b;
    return strcmp(x->name, y->name);
}

static int pk_find_entry(const void *key, const void *element) {
    const pk_tensor_entry *e = *(pk_tensor_entry *const *)element;
    return strcmp((const char *)key, e->name);
}

/* Matches the file against the contract: first disagreement in table order, then extra tensors. */
static pk_status pk_match(const pk_tensor_file *file, pk_contract *c, char *error, size_t error_size) {
    pk_tensor_entry **sorted = malloc((size_t)(file->count ? file->count : 1) * sizeof *sorted);
    unsigned char *used = calloc((size_t)(file->count ? file->count : 1), 1);
    if (!sorted || !used) {
        free(sorted);
        free(used);
        return pk_fail(error, error_size, PK_ERR_IO, "out of memory");
    }
    for (int i = 0; i < file->count; i++) sorted[i] = &file->tensors[i];
    qsort(sorted, (size_t)file->count, sizeof *sorted, pk_compare_entry_names);
    pk_status status = PK_OK;
    for (int i = 0; i < c->count && status == PK_OK; i++) {
        pk_expected *e = &c->items[i];
        pk_tensor_entry **hit = bsearch(e->name, sorted, (size_t)file->count, sizeof *sorted, pk_find_entry);
        if (!hit) {
            status = pk_fail(error, error_size, PK_ERR_TENSOR, "missing tensor '%s'", e->name);
            break;
        }
        const pk_tensor_entry *t = *hit;
        used[t - file->tensors] = 1;
        if (t->dtype != e->dtype) {
            status = pk_fail(error, error_size, PK_ERR_TENSOR, "tensor '%s': dtype %s, expected %s", e->name,
                             pk_dtype_name(t->dtype), pk_dtype_name(e->dtype));
            break;
        }
        int same = t->rank == e->rank;
        for (int k = 0; same && k < e->rank; k++) same = t->shape[k] == e->shape[k];
        if (!same) {
            char got[128], want[128];
            pk_shape_text(got, sizeof got, t->shape, t->rank);
            pk_shape_text(want, sizeof want, e->shape, e->rank);
            status = pk_fail(error, error_size, PK_ERR_TENSOR, "tensor '%s': shape %s, expected %s", e->name, got, want);
            break;
        }
        e->found = t;
    }
    for (int i = 0; i < file->count && status == PK_OK; i++)
        if (!used[i])
            status = pk_fail(error, error_size, PK_ERR_TENSOR,
                             "unexpected tensor '%.100s' (not part of a model with this configuration and variant)",
                             file->tensors[i].name);
    free(sorted);
    free(used);
    return status;
}

/* Every float of a tensor must be finite (a NaN weight would only show up as NaN actions later). */
static pk_status pk_check_finite(const pk_tensor_entry *t, char *error, size_t error_size) {
    uint64_t n = (t->end - t->begin) / pk_dtype_size(t->dtype);
    for (uint64_t i = 0; i < n; i++) {
        int bad;
        if (t->dtype == PK_DTYPE_F32) {
            uint32_t u;
            memcpy(&u, t->data + i * 4, 4);
            bad = (u & 0x7F800000u) == 0x7F800000u;
        } else if (t->dtype == PK_DTYPE_BF16) {
            uint16_t u;
            memcpy(&u, t->data + i * 2, 2);
            bad = (u & 0x7F80u) == 0x7F80u;
        } else {
            return PK_OK;
        }
        if (bad)
            return pk_fail(error, error_size, PK_ERR_TENSOR, "tensor '%s': element %llu is not finite", t->name,
                           (unsigned long long)i);
    }
    return PK_OK;
}

/* ---- memory and packing ---------------------------------------------------------------------------------- */

typedef struct pk_carver {
    uint8_t *base; /* NULL while measuring */
    size_t used;
} pk_carver;

static void *pk_carve(pk_carver *c, size_t bytes) {
    c->used = (c->used + PK_ALIGN - 1) & ~(size_t)(PK_ALIGN - 1);
    void *p = c->base ? c->base + c->used : NULL;
    c->used += bytes;
    return p;
}

static void pk_layout_matrix(pk_carver *c, pk_matrix *m, int n, int k, int btype, int nr) {
    static const size_t element[] = {4, 2, 1};
    m->n = n;
    m->k = k;
    m->btype = btype;
    m->panels = (n + nr - 1) / nr;
    m->panel_bytes = ((size_t)k * (size_t)nr * element[btype] + PK_ALIGN - 1) & ~(size_t)(PK_ALIGN - 1);
    m->data = pk_carve(c, (size_t)m->panels * m->panel_bytes);
    m->bias = pk_carve(c, (size_t)m->panels * (size_t)nr * sizeof(float));
    m->scale = btype == PK_B_I8 ? pk_carve(c, (size_t)m->panels * (size_t)nr * sizeof(float)) : NULL;
}

static void pk_layout(pk_model *m, pk_carver *c) {
    const pk_config *g = &m->config;
    const int nr = m->kernels->nr;
    const int bt = m->weights == PK_WEIGHTS_F32 ? PK_B_F32 : m->weights == PK_WEIGHTS_BF16 ? PK_B_BF16 : PK_B_I8;
    const size_t d = (size_t)g->width, depth = (size_t)g->depth;
    pk_layout_matrix(c, &m->patch, g->width, g->patch_size * g->patch_size * 3, bt, nr);
    pk_layout_matrix(c, &m->state, g->width, g->state_dim, bt, nr);
    pk_layout_matrix(c, &m->head, g->action_dim, g->width, bt, nr);
    for (int l = 0; l < g->depth; l++) {
        pk_layout_matrix(c, &m->q[l], g->width, g->width, bt, nr);
        pk_layout_matrix(c, &m->kv[l], 2 * g->width, g->width, bt, nr);
        pk_layout_matrix(c, &m->out[l], g->width, g->width, bt, nr);
        pk_layout_matrix(c, &m->fc1[l], g->mlp_width, g->width, bt, nr);
        pk_layout_matrix(c, &m->fc2[l], g->width, g->mlp_width, bt, nr);
    }
    m->camera_pos = pk_carve(c, (size_t)g->cameras * (size_t)m->patches_per_camera * d * sizeof(float));
    m->text_embed = pk_carve(c, (size_t)g->vocab_size * d * sizeof(float));
    m->text_pos = pk_carve(c, (size_t)g->max_text_tokens * d * sizeof(float));
    m->query = pk_carve(c, (size_t)g->horizon * d * sizeof(float));
    m->ln1_w = pk_carve(c, depth * d * sizeof(float));
    m->ln1_b = pk_carve(c, depth * d * sizeof(float));
    m->ln2_w = pk_carve(c, depth * d * sizeof(float));
    m->ln2_b = pk_carve(c, depth * d * sizeof(float));
    m->final_w = pk_carve(c, d * sizeof(float));
    m->final_b = pk_carve(c, d * sizeof(float));
    if (g->keypoints > 0) {
        const size_t k = (size_t)g->keypoints;
        m->kp_conv_file = pk_carve(c, k * PK_KEYPOINT_TAPS * sizeof(float));
        m->kp_conv = pk_carve(c, k * PK_KEYPOINT_TAPS * sizeof(float));
        m->kp_proj = pk_carve(c, d * (size_t)g->cameras * k * 2 * sizeof(float));
    }
}

/* Rows [first, first + n) of W (row-major [out × k], the variant's dtype) into panels of nr columns. */
static void pk_pack_matrix(pk_matrix *m, const pk_tensor_entry *t, int first, int nr, int vec) {
    const int n = m->n, k = m->k;
    memset(m->data, 0, (size_t)m->panels * m->panel_bytes);
    for (int p = 0; p < m->panels; p++) {
        uint8_t *panel = m->data + (size_t)p * m->panel_bytes;
        for (int j = 0; j < nr; j++) {
            int col = p * nr + j;
            if (col >= n) break;
            const uint8_t *src = t->data + (size_t)(first + col) * (size_t)k * pk_dtype_size(t->dtype);
            if (m->btype == PK_B_F32) {
                float *dst = (float *)panel;
                for (int kk = 0; kk < k; kk++) memcpy(&dst[(size_t)kk * nr + j], src + (size_t)kk * 4, 4);
            } else if (m->btype == PK_B_BF16) {
                /* Dword lane (group g, lane l) holds column g·2vec + l (low half) and g·2vec + vec + l (high). */
                int g = j / (2 * vec), jj = j % (2 * vec), lane = jj % vec, half = jj / vec;
                uint16_t *dst = (uint16_t *)panel;
                for (int kk = 0; kk < k; kk++) {
                    size_t dword = (size_t)kk * (size_t)(nr / 2) + (size_t)g * (size_t)vec + (size_t)lane;
                    memcpy(&dst[dword * 2 + (size_t)half], src + (size_t)kk * 2, 2);
                }
            } else {
                int8_t *dst = (int8_t *)panel;
                for (int kk = 0; kk < k; kk++) dst[(size_t)kk * nr + j] = (int8_t)src[kk];
            }
        }
    }
}

/* Entries [first, first + n) of a vector into a zero-padded buffer. */
static void pk_copy_padded(float *dst, size_t padded, const pk_tensor_entry *t, int first, int n) {
    memset(dst, 0, padded * sizeof(float));
    memcpy(dst, t->data + (size_t)first * 4, (size_t)n * 4);
}

static pk_status pk_fill(pk_model *m, pk_contract *c, char *error, size_t error_size) {
    const int nr = m->kernels->nr, vec = m->kernels->vec;
    const size_t d = (size_t)m->config.width;
    for (int i = 0; i < c->count; i++) {
        pk_expected *e = &c->items[i];
        const pk_tensor_entry *t = e->found;
        pk_status s = pk_check_finite(t, error, error_size);
        if (s != PK_OK) return s;
        /* A matrix, its scales and bias go to e->target, or split between target (the first d rows: q) and
         * target2 (the rest: k and v). */
        pk_matrix *parts[2] = {e->target, e->target2};
        int first = 0;
        for (int part = 0; part < 2 && e->role != PK_ROLE_VECTOR; part++) {
            pk_matrix *mat = parts[part];
            if (!mat) break;
            const size_t padded = (size_t)mat->panels * (size_t)nr;
            if (e->role == PK_ROLE_MATRIX) {
                pk_pack_matrix(mat, t, first, nr, vec);
            } else if (e->role == PK_ROLE_SCALE) {
                pk_copy_padded(mat->scale, padded, t, first, mat->n);
                for (int j = 0; j < mat->n; j++)
                    if (!(mat->scale[j] > 0))
                        return pk_fail(error, error_size, PK_ERR_TENSOR, "tensor '%s': scale %d is %g, expected > 0",
                                       e->name, first + j, (double)mat->scale[j]);
            } else {
                pk_copy_padded(mat->bias, padded, t, first, mat->n);
            }
            first += mat->n;
        }
        if (e->role == PK_ROLE_VECTOR) {
            float **slot = e->target;
            memcpy(*slot + (size_t)e->layer * d, t->data, (size_t)(t->end - t->begin));
        }
        m->parameters += e->role == PK_ROLE_SCALE ? 0 : (t->end - t->begin) / pk_dtype_size(t->dtype);
    }
    return PK_OK;
}

/* ---- load ------------------------------------------------------------------------------------------------- */

void pk_model_free(pk_model *model) {
    if (!model) return;
    free(model->weight_memory);
    free(model->q);
    free(model->ops);
    free(model);
}

pk_status pk_model_load(const char *path, const pk_config *config, const pk_options *options, pk_model **out,
                        char *error, size_t error_size) {
    if (error && error_size) error[0] = '\0';
    if (!out) return pk_fail(error, error_size, PK_ERR_ARGUMENT, "load: null model pointer");
    *out = NULL;
    if (!path || !config) return pk_fail(error, error_size, PK_ERR_ARGUMENT, "load: null path or configuration");
    pk_options o = options ? *options : pk_default_options();
    if (o.threads == 0) o.threads = 1;
    if (o.threads < 1 || o.threads > 2)
        return pk_fail(error, error_size, PK_ERR_ARGUMENT, "options: threads = %d, expected 1 or 2", o.threads);
    if (o.isa < PK_ISA_AUTO || o.isa > PK_ISA_AVX512)
        return pk_fail(error, error_size, PK_ERR_ARGUMENT, "options: isa = %d is not a pk_isa", o.isa);
    pk_isa isa = o.isa == PK_ISA_AUTO ? pk_best_isa() : (pk_isa)o.isa;
    if (!pk_isa_supported(isa))
        return pk_fail(error, error_size, PK_ERR_UNSUPPORTED, "options: the %s path is not supported by this CPU",
                       pk_isa_name(isa));
    pk_status status = pk_check_config(config, error, error_size);
    if (status != PK_OK) return status;

    pk_tensor_file *file = NULL;
    status = pk_tensor_file_open(path, &file, error, error_size);
    if (status != PK_OK) return status;

    pk_model *m = calloc(1, sizeof *m);
    pk_contract contract = {0};
    if (!m) {
        pk_tensor_file_close(file);
        return pk_fail(error, error_size, PK_ERR_IO, "out of memory");
    }
    m->config = *config;
    m->isa = isa;
    m->threads = o.threads;
    m->kernels = pk_kernels_for(isa);
    const pk_config *g = &m->config;
    m->patches_per_camera = (g->image_width / g->patch_size) * (g->image_height / g->patch_size);
    m->patch_dim = g->patch_size * g->patch_size * 3;
    m->image_rows = g->cameras * m->patches_per_camera;
    /* Internal row order: images, state, queries, then text, so that the rows a forward pass needs (every
     * row but the padding text positions, which are never keys and never outputs) are a prefix. Attention
     * does not depend on the order of its keys; Models/README.md's order is only a numbering. */
    m->state_row = m->image_rows;
    m->query_row = m->state_row + 1;
    m->text_row = m->query_row + g->horizon;
    m->tokens = m->text_row + g->max_text_tokens;
    m->head_dim = g->width / g->heads;
    m->file_weight_bytes = file->data_size;

    /* __metadata__: format, version, variant. */
    const char *format = pk_tensor_file_metadata(file, "format");
    const char *version = pk_tensor_file_metadata(file, "format_version");
    const char *variant = pk_tensor_file_metadata(file, "variant");
    if (!format || strcmp(format, "edgecell-vla") != 0) {
        status = pk_fail(error, error_size, PK_ERR_FORMAT, "metadata: format %s%.60s%s, expected 'edgecell-vla'",
                         format ? "'" : "", format ? format : "missing", format ? "'" : "");
        goto fail;
    }
    if (!version || strcmp(version, "1") != 0) {
        status = pk_fail(error, error_size, PK_ERR_FORMAT, "metadata: format_version %s%.60s%s, expected '1'",
                         version ? "'" : "", version ? version : "missing", version ? "'" : "");
        goto fail;
    }
    if (variant && strcmp(variant, "fp32") == 0) m->weights = PK_WEIGHTS_F32;
    else if (variant && strcmp(variant, "bf16") == 0) m->weights = PK_WEIGHTS_BF16;
    else if (variant && strcmp(variant, "int8") == 0) m->weights = PK_WEIGHTS_I8;
    else {
        status = pk_fail(error, error_size, PK_ERR_FORMAT, "metadata: variant %s%.60s%s, expected fp32, bf16 or int8",
                         variant ? "'" : "", variant ? variant : "missing", variant ? "'" : "");
        goto fail;
    }

    m->q = calloc((size_t)g->depth * 5, sizeof(pk_matrix));
    if (!m->q) {
        status = pk_fail(error, error_size, PK_ERR_IO, "out of memory");
        goto fail;
    }
    m->kv = m->q + g->depth;
    m->out = m->kv + g->depth;
    m->fc1 = m->out + g->depth;
    m->fc2 = m->fc1 + g->depth;
    if (pk_build_contract(m, &contract) != PK_OK) {
        status = pk_fail(error, error_size, PK_ERR_IO, "out of memory");
        goto fail;
    }
    status = pk_match(file, &contract, error, error_size);
    if (status != PK_OK) {
        /* Name the variant when a dtype disagrees: the file's metadata and its tensors contradict each other. */
        if (status == PK_ERR_TENSOR && error && strstr(error, ": dtype ")) {
            size_t used = strlen(error);
            if (used + 1 < error_size) snprintf(error + used, error_size - used, " (variant '%s')", variant);
        }
        goto fail;
    }

    pk_carver carver = {NULL, 0};
    pk_layout(m, &carver);
    size_t bytes = (carver.used + PK_ALIGN - 1) & ~(size_t)(PK_ALIGN - 1);
    if (posix_memalign(&m->weight_memory, PK_ALIGN, bytes) != 0) {
        m->weight_memory = NULL;
        status = pk_fail(error, error_size, PK_ERR_IO, "out of memory (%zu bytes of weights)", bytes);
        goto fail;
    }
    m->weight_memory_size = bytes;
    carver.base = m->weight_memory;
    carver.used = 0;
    pk_layout(m, &carver);
    status = pk_fill(m, &contract, error, error_size);
    if (status != PK_OK) goto fail;
    if (g->keypoints > 0) {
        const int k = g->keypoints;
        for (int j = 0; j < k; j++)
            for (int t = 0; t < PK_KEYPOINT_TAPS; t++) m->kp_conv[t * k + j] = m->kp_conv_file[j * PK_KEYPOINT_TAPS + t];
    }
    m->kp_features = g->cameras * g->keypoints * 2;
    for (int b = 0; b < 256; b++) m->pixel_lut[b] = (float)b / 127.5f - 1.0f;
    status = pk_build_plan(m, error, error_size);
    if (status != PK_OK) goto fail;

    free(contract.items);
    pk_tensor_file_close(file);
    *out = m;
    return PK_OK;
fail:
    free(contract.items);
    pk_tensor_file_close(file);
    pk_model_free(m);
    return status;
}

/* ---- introspection ------------------------------------------------------------------------------------------ */

const pk_config *pk_model_config(const pk_model *model) { return model ? &model->config : NULL; }
pk_isa pk_model_isa(const pk_model *model) { return model ? model->isa : PK_ISA_AUTO; }
pk_weights pk_model_weights(const pk_model *model) { return model ? model->weights : PK_WEIGHTS_F32; }
uint64_t pk_model_parameter_count(const pk_model *model) { return model ? model->parameters : 0; }
uint64_t pk_model_file_weight_bytes(const pk_model *model) { return model ? model->file_weight_bytes : 0; }
uint64_t pk_model_packed_bytes(const pk_model *model) { return model ? model->weight_memory_size : 0; }
int pk_model_threads(const pk_model *model) { return model ? model->threads : 0; }

uint64_t pk_model_flops(const pk_model *model) { return model ? model->nominal_flops : 0; }

pk_status pk_model_op_stats(const pk_model *model, pk_op_stats *stats) {
    if (!model || !stats) return PK_ERR_ARGUMENT;
    *stats = model->stats;
    return PK_OK;
}
