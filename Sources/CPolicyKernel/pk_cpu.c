/*
 * CPU features and the FMA peak. Features come from CPUID, and a SIMD path counts only if the OS saves its
 * registers (XGETBV: XMM|YMM for AVX2, plus opmask|ZMM_Hi256|Hi16_ZMM for AVX-512).
 */
#define _POSIX_C_SOURCE 200809L
#include "pk_internal.h"

#include <time.h>

#if PK_X86
#include <cpuid.h>
#include <immintrin.h>

static uint64_t pk_xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

typedef struct pk_cpu_features {
    int avx2_fma;
    int avx512;
} pk_cpu_features;

static pk_cpu_features pk_detect(void) {
    pk_cpu_features f = {0, 0};
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return f;
    uint64_t xcr0 = pk_xgetbv0();
    int ymm_state = (xcr0 & 0x6) == 0x6;
    int zmm_state = (xcr0 & 0xE6) == 0xE6;
    if (__get_cpuid_max(0, NULL) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1;
    int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    f.avx2_fma = ymm_state && avx2 && fma;
    f.avx512 = f.avx2_fma && zmm_state && avx512f && avx512dq && avx512bw && avx512vl;
    return f;
}

static pk_cpu_features pk_features(void) {
    /* Cached; a benign race (every thread computes the same value). */
    static _Atomic int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        pk_cpu_features f = pk_detect();
        v = f.avx2_fma | (f.avx512 << 1);
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    pk_cpu_features f = {v & 1, (v >> 1) & 1};
    return f;
}

int pk_cpu_has_avx2_fma(void) { return pk_features().avx2_fma; }
int pk_cpu_has_avx512(void) { return pk_features().avx512; }
#else
int pk_cpu_has_avx2_fma(void) { return 0; }
int pk_cpu_has_avx512(void) { return 0; }
#endif

int pk_isa_supported(pk_isa isa) {
    switch (isa) {
    case PK_ISA_SCALAR: return 1;
    case PK_ISA_AVX2: return pk_cpu_has_avx2_fma();
    case PK_ISA_AVX512: return pk_cpu_has_avx512();
    default: return 0;
    }
}

pk_isa pk_best_isa(void) {
    if (pk_cpu_has_avx512()) return PK_ISA_AVX512;
    if (pk_cpu_has_avx2_fma()) return PK_ISA_AVX2;
    return PK_ISA_SCALAR;
}

const char *pk_isa_name(pk_isa isa) {
    switch (isa) {
    case PK_ISA_AUTO: return "auto";
    case PK_ISA_SCALAR: return "scalar";
    case PK_ISA_AVX2: return "avx2";
    case PK_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

const char *pk_weights_name(pk_weights weights) {
    switch (weights) {
    case PK_WEIGHTS_F32: return "f32";
    case PK_WEIGHTS_BF16: return "bf16";
    case PK_WEIGHTS_I8: return "int8";
    }
    return "unknown";
}

const char *pk_status_string(pk_status status) {
    switch (status) {
    case PK_OK: return "ok";
    case PK_ERR_ARGUMENT: return "invalid argument";
    case PK_ERR_CONFIG: return "inconsistent configuration";
    case PK_ERR_IO: return "input/output error";
    case PK_ERR_FORMAT: return "malformed safetensors file";
    case PK_ERR_TENSOR: return "tensor does not match the configuration";
    case PK_ERR_ARENA: return "arena too small";
    case PK_ERR_UNSUPPORTED: return "SIMD path not supported by this CPU";
    case PK_ERR_NONFINITE: return "non-finite value";
    }
    return "unknown status";
}

/* ---- FMA peak -------------------------------------------------------------------------------------------- */

static double pk_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Each loop runs `iterations` × 16 independent FMA chains (covers 4-5 cycles latency × 2 pipes with room);
 * kept out of line so the accumulators stay in registers (a call inside the timed region would spill them). */
#if PK_X86
__attribute__((target("avx512f,fma"), noinline)) static float pk_fma_loop_avx512(long iterations) {
    __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
    __m512 a0 = _mm512_set1_ps(0.f), a1 = _mm512_set1_ps(1.f), a2 = _mm512_set1_ps(2.f), a3 = _mm512_set1_ps(3.f);
    __m512 a4 = _mm512_set1_ps(4.f), a5 = _mm512_set1_ps(5.f), a6 = _mm512_set1_ps(6.f), a7 = _mm512_set1_ps(7.f);
    __m512 a8 = _mm512_set1_ps(8.f), a9 = _mm512_set1_ps(9.f), a10 = _mm512_set1_ps(10.f), a11 = _mm512_set1_ps(11.f);
    __m512 a12 = _mm512_set1_ps(12.f), a13 = _mm512_set1_ps(13.f), a14 = _mm512_set1_ps(14.f),
           a15 = _mm512_set1_ps(15.f);
    for (long i = 0; i < iterations; i++) {
        a0 = _mm512_fmadd_ps(a0, b, c); a1 = _mm512_fmadd_ps(a1, b, c);
        a2 = _mm512_fmadd_ps(a2, b, c); a3 = _mm512_fmadd_ps(a3, b, c);
        a4 = _mm512_fmadd_ps(a4, b, c); a5 = _mm512_fmadd_ps(a5, b, c);
        a6 = _mm512_fmadd_ps(a6, b, c); a7 = _mm512_fmadd_ps(a7, b, c);
        a8 = _mm512_fmadd_ps(a8, b, c); a9 = _mm512_fmadd_ps(a9, b, c);
        a10 = _mm512_fmadd_ps(a10, b, c); a11 = _mm512_fmadd_ps(a11, b, c);
        a12 = _mm512_fmadd_ps(a12, b, c); a13 = _mm512_fmadd_ps(a13, b, c);
        a14 = _mm512_fmadd_ps(a14, b, c); a15 = _mm512_fmadd_ps(a15, b, c);
        __asm__ volatile("" ::: "memory");
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)),
                                       _mm512_add_ps(_mm512_add_ps(a12, a13), _mm512_add_ps(a14, a15))));
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"), noinline)) static float pk_fma_loop_avx2(long iterations) {
    /* 12 accumulators: 16 YMM registers minus the two operands. */
    __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
    __m256 a0 = _mm256_set1_ps(0.f), a1 = _mm256_set1_ps(1.f), a2 = _mm256_set1_ps(2.f), a3 = _mm256_set1_ps(3.f);
    __m256 a4 = _mm256_set1_ps(4.f), a5 = _mm256_set1_ps(5.f), a6 = _mm256_set1_ps(6.f), a7 = _mm256_set1_ps(7.f);
    __m256 a8 = _mm256_set1_ps(8.f), a9 = _mm256_set1_ps(9.f), a10 = _mm256_set1_ps(10.f), a11 = _mm256_set1_ps(11.f);
    for (long i = 0; i < iterations; i++) {
        a0 = _mm256_fmadd_ps(a0, b, c); a1 = _mm256_fmadd_ps(a1, b, c);
        a2 = _mm256_fmadd_ps(a2, b, c); a3 = _mm256_fmadd_ps(a3, b, c);
        a4 = _mm256_fmadd_ps(a4, b, c); a5 = _mm256_fmadd_ps(a5, b, c);
        a6 = _mm256_fmadd_ps(a6, b, c); a7 = _mm256_fmadd_ps(a7, b, c);
        a8 = _mm256_fmadd_ps(a8, b, c); a9 = _mm256_fmadd_ps(a9, b, c);
        a10 = _mm256_fmadd_ps(a10, b, c); a11 = _mm256_fmadd_ps(a11, b, c);
        __asm__ volatile("" ::: "memory");
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float o[8];
    _mm256_storeu_ps(o, s);
    return o[0] + o[7];
}
#endif

/* Scalar: 8 independent chains (the compiler may keep them in scalar registers; this is the scalar path's
 * peak, not a vector one). */
__attribute__((noinline)) static float pk_fma_loop_scalar(long iterations) {
    volatile float bv = 0.999f, cv = 0.001f;
    float b = bv, c = cv;
    float a0 = 0, a1 = 1, a2 = 2, a3 = 3, a4 = 4, a5 = 5, a6 = 6, a7 = 7;
    for (long i = 0; i < iterations; i++) {
        a0 = a0 * b + c; a1 = a1 * b + c; a2 = a2 * b + c; a3 = a3 * b + c;
        a4 = a4 * b + c; a5 = a5 * b + c; a6 = a6 * b + c; a7 = a7 * b + c;
        __asm__ volatile("" ::: "memory");
    }
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

double pk_measure_fma_peak(pk_isa isa, double seconds) {
    if (isa == PK_ISA_AUTO) isa = pk_best_isa();
    if (!pk_isa_supported(isa)) return 0.0;
    if (!(seconds > 0)) seconds = 0.1;
    if (seconds > 60) seconds = 60;
    double flops_per_iteration;
    float (*loop)(long);
    switch (isa) {
#if PK_X86
    case PK_ISA_AVX512: loop = pk_fma_loop_avx512; flops_per_iteration = 16 * 16 * 2; break;
    case PK_ISA_AVX2: loop = pk_fma_loop_avx2; flops_per_iteration = 12 * 8 * 2; break;
#endif
    default: loop = pk_fma_loop_scalar; flops_per_iteration = 8 * 2; break;
    }
    /* Calibrate on a short run, then time repeats of ~1/8 of the budget and keep the best. */
    long iterations = 1 << 16;
    volatile float sink = 0;
    for (;;) {
        double t0 = pk_now();
        sink += loop(iterations);
        double t = pk_now() - t0;
        if (t > 0.01 || iterations > (1L << 40)) break;
        iterations *= 2;
    }
    double best = 0, start = pk_now();
    do {
        double t0 = pk_now();
        sink += loop(iterations);
        double t = pk_now() - t0;
        double rate = (double)iterations * flops_per_iteration / t / 1e9;
        if (rate > best) best = rate;
    } while (pk_now() - start < seconds);
    (void)sink;
    return best;
}
