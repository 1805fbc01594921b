/*
 * Internal declarations shared by the CPolicyKernel sources (not part of the public API).
 */
#ifndef PK_INTERNAL_H
#define PK_INTERNAL_H

#include "CPolicyKernel.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* x86-64 builds the SIMD paths (each function with its own target attribute); elsewhere, or with
 * -DPK_PORTABLE_ONLY (to check the portable build on x86), only the scalar path exists. */
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(PK_PORTABLE_ONLY)
#define PK_X86 1
#else
#define PK_X86 0
#endif

#define PK_ALIGN 64
#define PK_MAX_RANK 8

/* Limits that keep every size computation far from overflow (checked at load). */
#define PK_LIMIT_DIM 65536        /* width, mlp_width, image sides, vocabulary */
#define PK_LIMIT_TOKENS 8192      /* T = C·Np + L + 1 + H */
#define PK_LIMIT_DEPTH 256
#define PK_LIMIT_HEADER (100u * 1024u * 1024u)
#define PK_MAX_KEYPOINTS 64
#define PK_KEYPOINT_TAPS 27 /* 3×3 neighbourhood × 3 channels, [dy][dx][channel] */

/* ---- messages --------------------------------------------------------------------------------------- */

/** snprintf into the caller's buffer (tolerates NULL / 0); returns `status`. */
pk_status pk_fail(char *error, size_t error_size, pk_status status, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- safetensors files ---------------------------------------------------------------------------------- */

typedef struct pk_tensor_entry {
    char *name;       /* decoded, NUL-terminated */
    pk_dtype dtype;
    int rank;
    int64_t shape[PK_MAX_RANK];
    uint64_t begin, end; /* data_offsets, relative to the data section */
    const uint8_t *data;
} pk_tensor_entry;

typedef struct pk_meta_entry {
    char *key;
    char *value;
} pk_meta_entry;

struct pk_tensor_file {
    void *map;
    size_t map_size;
    uint64_t header_size;
    uint64_t data_size;
    int count;
    pk_tensor_entry *tensors;
    int meta_count;
    pk_meta_entry *meta;
    char *strings; /* backing store of every decoded name/key/value */
};

size_t pk_dtype_size(pk_dtype dtype);

/* ---- JSON (pk_json.c) -------------------------------------------------------------------------------- */

enum { PJ_OBJECT = 1, PJ_ARRAY, PJ_STRING, PJ_NUMBER, PJ_TRUE, PJ_FALSE, PJ_NULL };

typedef struct pj_node {
    int type;
    int first;  /* first child or -1 */
    int next;   /* next sibling or -1 */
    int count;  /* children */
    size_t offset;    /* byte offset of the value in the text */
    const char *key;  /* member name when the parent is an object (decoded, NUL-terminated) */
    size_t key_len;
    const char *str;  /* decoded string (PJ_STRING) */
    size_t str_len;
    uint64_t uint_value; /* PJ_NUMBER: value if is_uint */
    int is_uint;         /* a non-negative integer that fits 2^53 */
} pj_node;

typedef struct pj_doc {
    pj_node *nodes;
    int count;
    char *strings;
} pj_doc;

/** Parses `text[0..length)`; on failure writes "JSON error at byte N: ..." into error. 0 on success. */
int pj_parse(const char *text, size_t length, pj_doc *doc, char *error, size_t error_size);
void pj_free(pj_doc *doc);

/* ---- kernels ------------------------------------------------------------------------------------------ */

/* Epilogue flags of a GEMM tile. */
enum {
    PK_EPI_BIAS = 1,      /* + bias[col] */
    PK_EPI_GELU = 2,      /* GELU (tanh form) after the bias */
    PK_EPI_RESIDUAL = 4,  /* C = C_old + result */
    PK_EPI_COLSCALE = 8,  /* × scale[col] before everything (int8 weights) */
    PK_EPI_ROWSCALE = 16, /* × row_scale[row] before the bias (softmax normalisation) */
};

/* Storage of a packed B operand. */
enum { PK_B_F32 = 0, PK_B_BF16 = 1, PK_B_I8 = 2 };

typedef struct pk_tile {
    const float *a;   /* mr rows of A, K columns, row stride lda */
    size_t lda;
    const void *b;    /* one packed panel: for k in 0..K-1, nr elements */
    size_t ldb;       /* f32 panels: floats between steps k (nr when packed; a row stride to read rows in place) */
    float *c;         /* mr rows × ncols of C, row stride ldc */
    size_t ldc;
    int mr, k, ncols;
    int epi;
    const float *bias;      /* nr entries (zero padded) */
    const float *scale;     /* nr entries (zero padded) */
    const float *row_scale; /* mr entries */
    const void *prefetch;   /* bytes the kernel may prefetch into L2 as it goes (k·64 bytes, or k·16 on AVX2);
                               always a valid address */
} pk_tile;

typedef void (*pk_tile_fn)(const pk_tile *tile);
typedef void (*pk_layernorm_fn)(const float *x, size_t ldx, float *y, size_t ldy, int rows, int d,
                                const float *w, const float *b, float eps);
/* Softmax of `rows` rows of `n` logits in place, scaled by `scale` inside the exponential; keys
 * [mask_begin, mask_end) get exactly 0. Writes 1/sum into inv_sum[row]; the caller multiplies later. */
typedef void (*pk_softmax_fn)(float *s, size_t lds, int rows, int n, float scale, int mask_begin, int mask_end,
                              float *inv_sum);
/* Keys of one head (n rows of dh floats, row stride ldk) as f32 B panels: panel p, step c holds K[p·nr + j][c],
 * zero for keys ≥ n. `out` is 64-byte aligned. */
typedef void (*pk_pack_keys_fn)(const float *k, size_t ldk, int n, int dh, float *out);
/* y[i] = x[i] / 127.5 - 1 for n bytes. */
typedef void (*pk_pixels_fn)(const uint8_t *x, float *y, int n);

typedef struct pk_kernels {
    pk_isa isa;
    int nr;     /* panel width of B */
    int vec;    /* floats per vector: bf16 panels pair column c with c + vec inside each group of 2·vec */
    int mr_max; /* rows per tile */
    pk_tile_fn tile[3]; /* by PK_B_* */
    pk_layernorm_fn layernorm;
    pk_softmax_fn softmax;
    pk_pack_keys_fn pack_keys;
    pk_pixels_fn pixels;
} pk_kernels;

extern const pk_kernels pk_kernels_scalar;
#if PK_X86
extern const pk_kernels pk_kernels_avx2;
extern const pk_kernels pk_kernels_avx512;
#endif
const pk_kernels *pk_kernels_for(pk_isa isa);

/* Scalar helpers shared by every path (exp with the same polynomial as the SIMD ones). */
float pk_expf(float x);
float pk_gelu(float x);

/* ---- the model ---------------------------------------------------------------------------------------- */

/** A weight matrix W [n × k] (out × in) packed in panels of nr output columns. */
typedef struct pk_matrix {
    int n, k;
    int panels;
    int btype;          /* PK_B_* */
    size_t panel_bytes; /* bytes between panels (64-byte multiple) */
    uint8_t *data;
    float *bias;  /* panels·nr, zero padded */
    float *scale; /* panels·nr for int8, else NULL */
} pk_matrix;

/** Operations of the forward pass, in the order they run (the plan). */
typedef enum pk_opcode {
    PK_CODE_PIXELS = 0, /* images → patch rows (normalised) */
    PK_CODE_POSITIONS,  /* x[image rows] = camera.pos */
    PK_CODE_GEMM,       /* C[rows] (epilogue)= A[rows] · Wᵀ, over panels [p0, p1) */
    PK_CODE_TEXT,       /* x[text rows] = embed[id] + pos */
    PK_CODE_QUERY,      /* x[query rows] = query */
    PK_CODE_LAYERNORM,
    PK_CODE_ATTENTION,
    PK_CODE_KEYPOINTS,     /* images → keypoint coordinates (the spatial soft-argmax stem), per camera */
    PK_CODE_KEYPOINT_PROJ, /* x[state row] += keypoint.weight · coordinates */
} pk_opcode;

/* Buffers an operation reads or writes. */
typedef enum pk_buffer {
    PK_BUF_NONE = 0,
    PK_BUF_X,       /* residual stream [T × d] */
    PK_BUF_H,       /* normalised rows [T × d] */
    PK_BUF_QKV,     /* [T × 3d] */
    PK_BUF_ATTN,    /* concatenated heads [T × d] */
    PK_BUF_MLP,     /* [T × m] */
    PK_BUF_PATCHES, /* [C·Np × P·P·3] */
    PK_BUF_STATE,   /* the input state vector (1 × S) */
    PK_BUF_OUT,     /* the head's output [H × A] */
    PK_BUF_COUNT
} pk_buffer;

typedef struct pk_op {
    pk_opcode code;
    int row0, row1; /* rows of the output this op computes */
    int live;       /* row1 is the live row count at run time: T − (L − token_count) (row1 = T in the plan) */
    /* GEMM */
    const pk_matrix *w;
    const pk_matrix *next; /* the next GEMM's weights in the plan, to prefetch */
    int p0, p1;       /* panel range */
    pk_buffer a, c;   /* A and C buffers (rows row0..row1 of each, C column offset = p0·nr) */
    int a_row0;       /* first row of A that maps to row0 of C */
    int c_col;        /* first column of C written (the k/v part of the qkv buffer starts at d) */
    int epi;
    /* LayerNorm */
    const float *ln_w, *ln_b;
    pk_buffer src, dst;
    int layer;
    /* accounting */
    pk_op_class op_class;
    uint64_t flops[PK_OP_CLASS_COUNT]; /* executed, by class */
    uint64_t nominal;                  /* Models/README.md §3 FLOP count of this op's products, as written */
    uint64_t bytes;
} pk_op;

struct pk_model {
    pk_config config;
    pk_isa isa;
    pk_weights weights;
    int threads;
    const pk_kernels *kernels;
    /* derived sizes */
    int patches_per_camera; /* Np */
    int patch_dim;          /* P·P·3 */
    int image_rows;         /* C·Np */
    int state_row, query_row, text_row, tokens; /* first rows (internal order: images, state, queries, text), T */
    int head_dim;
    /* weights */
    pk_matrix patch, state, head;
    pk_matrix *q, *kv, *out, *fc1, *fc2; /* [depth]; q and kv are the file's qkv rows [0, d) and [d, 3d) */
    float *camera_pos, *text_embed, *text_pos, *query;
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b; /* [depth × d] */
    float *final_w, *final_b;
    /* the keypoint stem (config.keypoints > 0) */
    float *kp_conv;   /* [27 × K]: tap-major (the file's [K × 27] transposed) */
    float *kp_conv_file; /* [K × 27] as in the file */
    float *kp_proj;   /* [d × C·K·2] */
    int kp_features;  /* C·K·2 */
    float pixel_lut[256]; /* p / 127.5 − 1 for every byte */
    void *weight_memory;
    size_t weight_memory_size;
    uint64_t parameters;
    uint64_t file_weight_bytes;
    /* the plan */
    pk_op *ops;
    int op_count;
    pk_op_stats stats;
    uint64_t nominal_flops;
};

/* The plan (pk_plan.c). */
pk_status pk_build_plan(pk_model *model, char *error, size_t error_size);

/* CPU features (pk_cpu.c). */
int pk_cpu_has_avx2_fma(void);
int pk_cpu_has_avx512(void);

#endif
