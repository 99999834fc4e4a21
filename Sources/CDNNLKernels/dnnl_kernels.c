// bf16 matrix products through oneDNN (Debian's libdnnl): the weights stay as the checkpoint stores them
// (bf16, PyTorch's out × in layout, read in place through strides), the activations are rounded to bf16, and
// the product accumulates in float. Primitives are cached per shape: creating one costs more than a small product.
// Several threads may multiply at once (evaluation threads, the tuner beside the queries): each call brings its
// own scratchpad (user scratchpad mode), because by default oneDNN shares one between primitives, and two
// products at once then corrupted each other (wrong answers, and a crash reading past a buffer).
#include "CDNNLKernels.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dnnl_engine_t engine;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_status_t engine_status = dnnl_success;

static void make_engine(void) { engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0); }

int mneme_dnnl_bf16_native(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx;
}

const char *mneme_dnnl_version(void) {
    static char text[32];
    const dnnl_version_t *v = dnnl_version();
    snprintf(text, sizeof text, "%d.%d.%d", v->major, v->minor, v->patch);
    return text;
}

// ---- Primitive cache: the last shapes used, least recently used out -------------------------------------
// Rows vary with every batch, so a long-running server meets more shapes than the cache holds: an entry is
// counted while a product runs on it, and an evicted one is destroyed by whoever lets it go last.

enum { CACHE_SIZE = 256 };
typedef struct {
    int64_t m, k, n;
    int int8;  // 0: bf16 × bf16; 1: s8 × s8 with per-column output scales
    dnnl_primitive_t primitive;
    dnnl_memory_desc_t src, weights, dst, scratchpad;
    uint64_t last_use;
    int users;
    int evicted;
} entry_t;

static entry_t *cache[CACHE_SIZE];
static int cache_count = 0;
static uint64_t cache_clock = 0;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t primitives_alive = 0;

int64_t mneme_dnnl_primitives_alive(void) {
    pthread_mutex_lock(&cache_lock);
    int64_t alive = primitives_alive;
    pthread_mutex_unlock(&cache_lock);
    return alive;
}

static dnnl_status_t make_entry(entry_t *e, int64_t m, int64_t k, int64_t n, int int8) {
    dnnl_dims_t src_dims = {m, k}, weight_dims = {k, n}, dst_dims = {m, n};
    dnnl_dims_t src_strides = {k, 1}, weight_strides = {1, k}, dst_strides = {n, 1};
    dnnl_data_type_t type = int8 ? dnnl_s8 : dnnl_bf16;
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_strides(&e->src, 2, src_dims, type, src_strides)) != dnnl_success) return s;
    if ((s = dnnl_memory_desc_init_by_strides(&e->weights, 2, weight_dims, type, weight_strides)) != dnnl_success) return s;
    if ((s = dnnl_memory_desc_init_by_strides(&e->dst, 2, dst_dims, dnnl_f32, dst_strides)) != dnnl_success) return s;
    dnnl_matmul_desc_t desc;
    if ((s = dnnl_matmul_desc_init(&desc, &e->src, &e->weights, NULL, &e->dst)) != dnnl_success) return s;
    dnnl_primitive_attr_t attr;
    if ((s = dnnl_primitive_attr_create(&attr)) != dnnl_success) return s;
    s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success && int8) {
        // One scale per output column (the weight row's), given with each product.
        const float runtime = DNNL_RUNTIME_F32_VAL;
        s = dnnl_primitive_attr_set_output_scales(attr, 1, 1 << 1, &runtime);
    }
    dnnl_primitive_desc_t pd;
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) return s;
    e->scratchpad = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    s = dnnl_primitive_create(&e->primitive, pd);
    dnnl_primitive_desc_destroy(pd);
    e->m = m; e->k = k; e->n = n; e->int8 = int8;
    return s;
}

static void destroy_entry(entry_t *e) {
    dnnl_primitive_destroy(e->primitive);
    free(e);
    primitives_alive--;
}

/// The cached entry for the shape (made if new), counted as in use until `let_go`.
static dnnl_status_t lookup(int64_t m, int64_t k, int64_t n, int int8, entry_t **out) {
    pthread_mutex_lock(&cache_lock);
    entry_t *found = NULL;
    for (int i = 0; i < cache_count; i++) {
        if (cache[i]->m == m && cache[i]->k == k && cache[i]->n == n && cache[i]->int8 == int8) { found = cache[i]; break; }
    }
    if (!found) {
        entry_t *made = calloc(1, sizeof *made);
        dnnl_status_t s = made ? make_entry(made, m, k, n, int8) : dnnl_out_of_memory;
        if (s != dnnl_success) {
            free(made);
            pthread_mutex_unlock(&cache_lock);
            return s;
        }
        primitives_alive++;
        int slot = cache_count;
        if (cache_count == CACHE_SIZE) {
            slot = 0;
            for (int i = 1; i < CACHE_SIZE; i++) if (cache[i]->last_use < cache[slot]->last_use) slot = i;
            entry_t *oldest = cache[slot];
            if (oldest->users == 0) destroy_entry(oldest); else oldest->evicted = 1;
        } else {
            cache_count++;
        }
        cache[slot] = made;
        found = made;
    }
    found->last_use = ++cache_clock;
    found->users++;
    *out = found;
    pthread_mutex_unlock(&cache_lock);
    return dnnl_success;
}

static void let_go(entry_t *e) {
    pthread_mutex_lock(&cache_lock);
    if (--e->users == 0 && e->evicted) destroy_entry(e);
    pthread_mutex_unlock(&cache_lock);
}

// ---- Per-thread state: a stream and the bf16 copy of the activations ------------------------------------
// Freed when its thread ends: products run on pool threads that come and go (Dispatch starts more when the
// CPU is busy), and state kept in plain thread-locals leaked with every thread that ended — a server's memory
// grew by megabytes per query on a loaded machine.

/// A buffer that grows to the largest request made of it, 64-byte aligned (oneDNN's scratchpads want that).
typedef struct {
    void *data;
    size_t bytes;
} buffer_t;

static void *reserve(buffer_t *buffer, size_t bytes) {
    if (buffer->bytes < bytes) {
        free(buffer->data);
        buffer->data = aligned_alloc(64, (bytes + 63) / 64 * 64);
        buffer->bytes = buffer->data ? bytes : 0;
    }
    return buffer->data;
}

typedef struct {
    dnnl_stream_t stream;
    buffer_t source;      // the activations as the product reads them (bf16, or s8)
    buffer_t scratchpad;  // oneDNN's
    buffer_t row_scales;  // s8 products: one scale per activation row
} thread_state_t;

static pthread_key_t state_key;
static pthread_once_t state_once = PTHREAD_ONCE_INIT;

static void free_state(void *pointer) {
    thread_state_t *t = pointer;
    if (t->stream) dnnl_stream_destroy(t->stream);
    free(t->source.data);
    free(t->scratchpad.data);
    free(t->row_scales.data);
    free(t);
}

static void make_state_key(void) { pthread_key_create(&state_key, free_state); }

/// This thread's state with its stream, the engine made first; NULL with `*status` set if either fails.
static thread_state_t *ready_thread(dnnl_status_t *status) {
    pthread_once(&engine_once, make_engine);
    if ((*status = engine_status) != dnnl_success) return NULL;
    pthread_once(&state_once, make_state_key);
    thread_state_t *t = pthread_getspecific(state_key);
    if (!t && (t = calloc(1, sizeof *t)) && pthread_setspecific(state_key, t) != 0) {
        free(t);
        t = NULL;
    }
    if (!t) { *status = dnnl_out_of_memory; return NULL; }
    if (!t->stream && (*status = dnnl_stream_create(&t->stream, engine, dnnl_stream_default_flags)) != dnnl_success) return NULL;
    return t;
}

static inline uint16_t to_bf16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40);  // NaN stays NaN
    bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest, ties to even
    return (uint16_t)(bits >> 16);
}

/// Runs the shape's primitive on `src` (in the thread's `source` buffer), with per-column output `scales` for s8.
static dnnl_status_t run(int64_t m, int64_t k, int64_t n, int int8, thread_state_t *t, const void *weights,
                         const float *scales, float *out) {
    entry_t *e;
    dnnl_status_t s = lookup(m, k, n, int8, &e);
    if (s != dnnl_success) return s;
    void *pad = reserve(&t->scratchpad, dnnl_memory_desc_get_size(&e->scratchpad));
    dnnl_memory_desc_t scale_desc;
    dnnl_dims_t scale_dims = {n};
    if (scales && (s = dnnl_memory_desc_init_by_tag(&scale_desc, 1, scale_dims, dnnl_f32, dnnl_a)) != dnnl_success) {
        let_go(e);
        return s;
    }
    enum { SRC, WEIGHTS, DST, SCRATCHPAD, SCALES, COUNT };
    const int arg[COUNT] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_SCRATCHPAD, DNNL_ARG_ATTR_OUTPUT_SCALES};
    const dnnl_memory_desc_t *desc[COUNT] = {&e->src, &e->weights, &e->dst, &e->scratchpad, &scale_desc};
    void *data[COUNT] = {t->source.data, (void *)weights, out, pad, (void *)scales};
    int count = scales ? COUNT : COUNT - 1;
    dnnl_memory_t memory[COUNT] = {NULL};
    dnnl_exec_arg_t args[COUNT];
    if (!pad && dnnl_memory_desc_get_size(&e->scratchpad) > 0) s = dnnl_out_of_memory;
    for (int i = 0; i < count && s == dnnl_success; i++) {
        s = dnnl_memory_create(&memory[i], desc[i], engine, data[i]);
        args[i] = (dnnl_exec_arg_t){arg[i], memory[i]};
    }
    if (s == dnnl_success) s = dnnl_primitive_execute(e->primitive, t->stream, count, args);
    if (s == dnnl_success) s = dnnl_stream_wait(t->stream);
    for (int i = 0; i < count; i++) if (memory[i]) dnnl_memory_destroy(memory[i]);
    let_go(e);
    return s;
}

int mneme_dnnl_bf16_linear(int64_t m, int64_t k, int64_t n, const float *src, const uint16_t *weights, float *out) {
    dnnl_status_t s;
    thread_state_t *t = ready_thread(&s);
    if (!t) return s;
    size_t count = (size_t)(m * k);
    uint16_t *rounded = reserve(&t->source, count * sizeof(uint16_t));
    if (!rounded) return dnnl_out_of_memory;
    for (size_t i = 0; i < count; i++) rounded[i] = to_bf16(src[i]);
    return run(m, k, n, 0, t, weights, NULL, out);
}

int mneme_dnnl_int8_native(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return isa == dnnl_cpu_isa_avx512_core_vnni || isa == dnnl_cpu_isa_avx512_core_bf16
        || isa == dnnl_cpu_isa_avx512_core_amx || isa == dnnl_cpu_isa_avx2_vnni;
}

int mneme_dnnl_s8_linear(int64_t m, int64_t k, int64_t n, const float *src, const int8_t *weights,
                         const float *weight_scales, float *out) {
    dnnl_status_t s;
    thread_state_t *t = ready_thread(&s);
    if (!t) return s;
    int8_t *quantized = reserve(&t->source, (size_t)(m * k));
    float *row_scales = reserve(&t->row_scales, (size_t)m * sizeof(float));
    if (!quantized || !row_scales) return dnnl_out_of_memory;
    // Each row of the activations to s8 with a scale of its own (its largest magnitude maps to 127).
    for (int64_t i = 0; i < m; i++) {
        const float *row = src + i * k;
        float largest = 0;
        for (int64_t j = 0; j < k; j++) { float a = row[j] < 0 ? -row[j] : row[j]; if (a > largest) largest = a; }
        float scale = largest > 0 ? largest / 127.0f : 1.0f, inverse = 1.0f / scale;
        row_scales[i] = scale;
        int8_t *q = quantized + i * k;
        for (int64_t j = 0; j < k; j++) {
            float v = row[j] * inverse;
            q[j] = (int8_t)(v >= 0 ? (int)(v + 0.5f) : -(int)(-v + 0.5f));
        }
    }
    if ((s = run(m, k, n, 1, t, weights, weight_scales, out)) != dnnl_success) return s;
    for (int64_t i = 0; i < m; i++) {
        float *row = out + i * n;
        for (int64_t j = 0; j < n; j++) row[j] *= row_scales[i];
    }
    return s;
}
