/*
 * CPolicyKernel: EdgeCell's inference engine for its VLA-style policy (Models/README.md is the contract).
 *
 * Conventions follow MuJoCo's C API and ggml: a const model (`pk_model`: the memory-mapped weights, packed
 * copies made once at load, the configuration and the chosen SIMD path) and a mutable state (`pk_state`:
 * every activation buffer) carved from an arena the caller owns. Nothing is allocated after load:
 * `pk_forward` touches only the model and the state. Every function returns a `pk_status`; failures write a
 * message naming what was wrong (the tensor, the field, the value) into the caller's buffer. Every symbol
 * is prefixed `pk_`. Plain C11; SIMD paths (AVX-512, AVX2+FMA) are compiled with per-function target
 * attributes and chosen at run time from CPUID; the portable scalar path is always built.
 */
#ifndef CPOLICYKERNEL_H
#define CPOLICYKERNEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Most cameras a model may take. */
#define PK_MAX_CAMERAS 4

/** Result codes. */
typedef enum pk_status {
    PK_OK = 0,
    PK_ERR_ARGUMENT = 1, /**< a null pointer, a bad option, an input out of range (token id, count) */
    PK_ERR_CONFIG = 2,   /**< the configuration is inconsistent (width not divisible by heads, ...) */
    PK_ERR_IO = 3,       /**< the file cannot be opened, read or mapped */
    PK_ERR_FORMAT = 4,   /**< not a valid safetensors file: truncated, bad header JSON, offsets out of bounds */
    PK_ERR_TENSOR = 5,   /**< a tensor is missing, extra, of the wrong dtype or shape */
    PK_ERR_ARENA = 6,    /**< the caller's arena is too small or misaligned */
    PK_ERR_UNSUPPORTED = 7, /**< the requested SIMD path is not available on this CPU */
    PK_ERR_NONFINITE = 8 /**< an input or the output holds NaN or infinity */
} pk_status;

/** SIMD paths. */
typedef enum pk_isa {
    PK_ISA_AUTO = 0,  /**< the best this CPU supports */
    PK_ISA_SCALAR = 1,
    PK_ISA_AVX2 = 2,  /**< AVX2 + FMA */
    PK_ISA_AVX512 = 3 /**< AVX-512F (+ BW/VL/DQ) */
} pk_isa;

/** Weight storage of the file loaded. */
typedef enum pk_weights {
    PK_WEIGHTS_F32 = 0,
    PK_WEIGHTS_BF16 = 1, /**< weight-only bf16 matrices */
    PK_WEIGHTS_I8 = 2    /**< weight-only int8 matrices with per-output-row fp32 scales */
} pk_weights;

/** The architecture (Models/README.md §1 `architecture`; vocab_size = the vocabulary's length). */
typedef struct pk_config {
    int cameras;
    int image_width;
    int image_height;
    int patch_size;
    int vocab_size;
    int max_text_tokens;
    int state_dim;
    int action_dim;
    int horizon;
    int width;
    int depth;
    int heads;
    int mlp_width;
    float layer_norm_epsilon;
    /** Keypoints per camera of the spatial soft-argmax stem (Models/README.md §3), 0…64; 0 = no stem. */
    int keypoints;
} pk_config;

/** Load options; zero-initialised fields take the defaults in brackets. */
typedef struct pk_options {
    int isa;     /**< a pk_isa [PK_ISA_AUTO] */
    int threads; /**< 1 or 2 [0 = 1]: with 2, pk_state_init starts one helper thread that shares the GEMMs */
} pk_options;

/** Options with isa = PK_ISA_AUTO and one thread. */
pk_options pk_default_options(void);

/** The weights, packed weights, configuration and SIMD path. Read-only after load; shareable. */
typedef struct pk_model pk_model;

/** Activations of one inference stream, carved from a caller-owned arena. One thread at a time. */
typedef struct pk_state pk_state;

/** One observation. */
typedef struct pk_input {
    /** `cameras` pointers, each image_height × image_width × 3 uint8 RGB, row-major, top row first. */
    const uint8_t *const *images;
    /** max_text_tokens token ids (ids ≥ token_count are ignored; each used id < vocab_size). */
    const int32_t *tokens;
    /** Tokens in use, 0…max_text_tokens. */
    int token_count;
    /** state_dim floats, normalised (Models/README.md §1). */
    const float *state;
} pk_input;

/**
 * Memory-maps a safetensors file, validates its header and every tensor against `config` (names, dtypes,
 * shapes, offsets, bounds, overflow), and packs the weight matrices for the chosen SIMD path.
 * On failure `*model` is NULL and `error` says what and where (e.g. "tensor 'blocks.3.attn.qkv.weight': shape
 * [768, 255], expected [768, 256]").
 */
pk_status pk_model_load(const char *path, const pk_config *config, const pk_options *options, pk_model **model,
                        char *error, size_t error_size);

/** Unmaps and frees a model (NULL is ignored). States made from it must be gone first. */
void pk_model_free(pk_model *model);

/** Bytes of arena one state needs (includes alignment slack). */
size_t pk_state_arena_size(const pk_model *model);

/**
 * Carves a state out of `arena` (`arena_size` ≥ pk_state_arena_size; any alignment). With threads = 2 this
 * also starts the helper thread (the only thread the kernel ever creates). The arena must outlive the state;
 * a state is released (pk_state_release) before its arena is reused or its model freed.
 */
pk_status pk_state_init(const pk_model *model, void *arena, size_t arena_size, pk_state **state, char *error,
                        size_t error_size);

/** Stops the state's helper thread, if any (the arena stays the caller's). NULL is ignored. */
void pk_state_release(pk_state *state);

/**
 * Runs the network: `actions` receives horizon × action_dim normalised actions, row-major.
 * Allocates nothing. Deterministic: bit-identical output for a given input and SIMD path, whatever the thread
 * count. The work (and time) grows with token_count (padding text rows are skipped); token_count =
 * max_text_tokens is the worst case. Refuses (PK_ERR_ARGUMENT) a token id outside 0…vocab_size−1 among the
 * first token_count, a token_count outside 0…max_text_tokens, null pointers; PK_ERR_NONFINITE for a NaN or
 * infinite state entry or output.
 */
pk_status pk_forward(const pk_model *model, pk_state *state, const pk_input *input, float *actions, char *error,
                     size_t error_size);

/* --- Introspection ------------------------------------------------------------------------------------- */

/** The configuration the model was loaded with. */
const pk_config *pk_model_config(const pk_model *model);
/** The SIMD path in use. */
pk_isa pk_model_isa(const pk_model *model);
/** The weight storage of the file. */
pk_weights pk_model_weights(const pk_model *model);
/** Parameters (elements of all tensors except int8 scales). */
uint64_t pk_model_parameter_count(const pk_model *model);
/** Bytes of tensor data in the file. */
uint64_t pk_model_file_weight_bytes(const pk_model *model);
/** Bytes of weight memory the model holds after load: the packed matrices (bf16/int8 kept compact) plus the
 *  aligned copies of every other tensor (the file itself is unmapped at the end of pk_model_load). */
uint64_t pk_model_packed_bytes(const pk_model *model);
/**
 * FLOPs of one forward pass as Models/README.md §3 "FLOP count" defines them, for comparison with every other
 * implementation: 2 × the multiply-adds of the matrix products as written (every block on all T rows,
 * attention over all T keys), element-wise work not counted, no credit for work this kernel skips. Summed
 * over the same plan of operations pk_forward executes (each entry carries its share), not from a separate
 * formula. What actually runs, element-wise work included, is in pk_model_op_stats.
 */
uint64_t pk_model_flops(const pk_model *model);

/** Operation classes for pk_model_op_stats. */
typedef enum pk_op_class {
    PK_OP_MATMUL = 0,      /**< the weight GEMMs (2·M·N·K) */
    PK_OP_ATTENTION = 1,   /**< scores, softmax, weighted values */
    PK_OP_NORM = 2,        /**< LayerNorm */
    PK_OP_ELEMENTWISE = 3, /**< GEMM epilogues (bias, GELU, residual, int8 scale), pixels, embeddings */
    PK_OP_CLASS_COUNT = 4
} pk_op_class;

/**
 * Work pk_forward executes, per operation class, counted on the plan it walks. Conventions: a multiply-add
 * is 2; an add, subtract, multiply, divide, compare/max, exp, tanh or square root is 1.
 *   GEMM [M×K]·[K×N]: 2·M·N·K (matmul); its epilogue: bias M·N, residual add M·N, int8 column scale M·N,
 *     GELU 8·M·N (elementwise);
 *   attention per head with Tq query rows, T keys, dh: Q·Kᵀ 2·Tq·T·dh; softmax 5·Tq·T (max, subtract,
 *     scale, exp, sum); 1/sum Tq; P·V 2·Tq·T·dh; output normalisation Tq·dh (attention);
 *   LayerNorm: 8 per element (mean 1, variance 3, normalise 4) + 3 per row (norm);
 *   pixels 2 per byte (divide, subtract); text embedding + position 1 per element (elementwise);
 *   keypoint stem per camera with P = width·height pixels and K keypoints: convolution 2·(taps inside the
 *     image)·K (matmul); softmax 4·P·K (max, subtract, exp, sum) + 3·K (two divides, one add) (elementwise);
 *     weighted coordinates 2·P·K + 2·height·K (matmul); projection 2·F·d with F = C·K·2 (matmul) and its add
 *     d (elementwise).
 * Counted for the worst case, token_count = max_text_tokens: pk_forward runs only the live rows (padding
 * text positions are never keys and never outputs, so they are skipped and less text means less work). The
 * last block runs its attention queries, output projection, MLP and the final LayerNorm only for the H query
 * rows (the only rows the output reads; keys and values still come from every row), so executed matmul +
 * attention work is below pk_model_flops.
 */
typedef struct pk_op_stats {
    uint64_t flops[PK_OP_CLASS_COUNT];
    /** Bytes each class moves to and from memory, by a simple model: every operand read once and every
     *  result written once per operation (packed weights at their stored size: 4, 2 or 1 byte per element;
     *  activations 4 bytes), caches ignored. A GEMM's bytes (including its epilogue's) go to its class. */
    uint64_t bytes[PK_OP_CLASS_COUNT];
    /** Operations in the plan. */
    int operations;
} pk_op_stats;

/** The per-class FLOPs and bytes pk_forward executes. */
pk_status pk_model_op_stats(const pk_model *model, pk_op_stats *stats);
/** The helper threads the model's states use (1 or 2). */
int pk_model_threads(const pk_model *model);

/** Whether this CPU (and OS) can run a SIMD path. PK_ISA_SCALAR is always available. */
int pk_isa_supported(pk_isa isa);
/** The best supported path. */
pk_isa pk_best_isa(void);
/** "scalar", "avx2", "avx512". */
const char *pk_isa_name(pk_isa isa);
/** "f32", "bf16", "int8". */
const char *pk_weights_name(pk_weights weights);
/** A static description of a status code. */
const char *pk_status_string(pk_status status);

/**
 * Measures this core's fp32 FMA throughput on a SIMD path for about `seconds` (register-resident,
 * independent FMA chains): the peak against which achieved GFLOP/s are reported. Returns GFLOP/s, or 0 if the
 * path is unsupported.
 */
double pk_measure_fma_peak(pk_isa isa, double seconds);

/* --- safetensors files (the same strict reader pk_model_load uses; for golden vectors and tools) ---------- */

/** Element types of safetensors. */
typedef enum pk_dtype {
    PK_DTYPE_UNKNOWN = 0,
    PK_DTYPE_F64, PK_DTYPE_F32, PK_DTYPE_F16, PK_DTYPE_BF16,
    PK_DTYPE_I64, PK_DTYPE_I32, PK_DTYPE_I16, PK_DTYPE_I8,
    PK_DTYPE_U64, PK_DTYPE_U32, PK_DTYPE_U16, PK_DTYPE_U8,
    PK_DTYPE_BOOL
} pk_dtype;

/** An open, validated, memory-mapped safetensors file. */
typedef struct pk_tensor_file pk_tensor_file;

/** One tensor of a file. `data` points into the mapping (no alignment guarantee), valid until close. */
typedef struct pk_tensor_info {
    const char *name;
    pk_dtype dtype;
    int rank;
    int64_t shape[8];
    const void *data;
    uint64_t bytes;
} pk_tensor_info;

/**
 * Maps and validates a safetensors file: header length, strict JSON, every entry's dtype/shape/data_offsets
 * (in bounds, size = elements × dtype size, no overlaps, no gaps). Errors as for pk_model_load.
 */
pk_status pk_tensor_file_open(const char *path, pk_tensor_file **file, char *error, size_t error_size);
/** Unmaps (NULL is ignored). */
void pk_tensor_file_close(pk_tensor_file *file);
/** Tensors in the file, in header order. */
int pk_tensor_file_count(const pk_tensor_file *file);
/** The index-th tensor (0 ≤ index < count), or PK_ERR_ARGUMENT. */
pk_status pk_tensor_file_at(const pk_tensor_file *file, int index, pk_tensor_info *info);
/** The tensor called `name`, or PK_ERR_TENSOR if there is none. */
pk_status pk_tensor_file_find(const pk_tensor_file *file, const char *name, pk_tensor_info *info);
/** The `__metadata__` value of `key`, or NULL. */
const char *pk_tensor_file_metadata(const pk_tensor_file *file, const char *key);
/** "F32", "BF16", ... */
const char *pk_dtype_name(pk_dtype dtype);

#ifdef __cplusplus
}
#endif

#endif /* CPOLICYKERNEL_H */
