/*
 * The subset of wasmtime's C API (major version 50) the data plane uses.
 *
 * The wasmtime wheel ships the library (wasmtime/linux-x86_64/_libwasmtime.so)
 * but no headers, so the types below are declared from the C API docs and
 * checked against the wheel's generated ctypes bindings (_bindings.py).
 * Struct layouts are ABI: pyproject pins wasmtime to 50.x for that reason.
 *
 * The library is not linked: eh_wasmtime_bind() dlopen()s the very file
 * wasmtime-py already loaded (same handle, same globals) and fills EH_WT, a
 * table of function pointers. Call sites use EH_WT.name(...).
 */
#ifndef EH_WASMTIME_C_H
#define EH_WASMTIME_C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wasm_engine_t wasm_engine_t;
typedef struct wasm_config_t wasm_config_t;
typedef struct wasmtime_store wasmtime_store_t;
typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_module wasmtime_module_t;
typedef struct wasmtime_linker wasmtime_linker_t;
typedef struct wasmtime_instance_pre wasmtime_instance_pre_t;
typedef struct wasmtime_error wasmtime_error_t;
typedef struct wasm_trap_t wasm_trap_t;
typedef struct wasmtime_caller wasmtime_caller_t;
typedef struct wasm_functype_t wasm_functype_t;
typedef struct wasm_valtype_t wasm_valtype_t;
typedef struct wasmtime_pooling_allocation_config_t wasmtime_pooling_allocation_config_t;

typedef struct wasm_byte_vec_t { size_t size; char *data; } wasm_byte_vec_t;
typedef wasm_byte_vec_t wasm_name_t;
typedef wasm_byte_vec_t wasm_message_t;
typedef struct wasm_valtype_vec_t { size_t size; wasm_valtype_t **data; } wasm_valtype_vec_t;

typedef struct wasmtime_func { uint64_t store_id; void *__private; } wasmtime_func_t;
typedef struct wasmtime_instance { uint64_t store_id; size_t __private; } wasmtime_instance_t;
typedef struct wasmtime_memory {
    struct { uint64_t store_id; uint32_t __private1; } _anon;
    uint32_t __private2;
} wasmtime_memory_t;
typedef struct wasmtime_global {
    uint64_t store_id; uint32_t __private1, __private2, __private3;
} wasmtime_global_t;

typedef union wasmtime_extern_union {
    wasmtime_func_t func;
    wasmtime_global_t global;
    wasmtime_memory_t memory;
    void *sharedmemory;
} wasmtime_extern_union_t;

typedef struct wasmtime_extern {
    uint8_t kind;
    wasmtime_extern_union_t of;
} wasmtime_extern_t;

#define WASMTIME_EXTERN_FUNC 0
#define WASMTIME_EXTERN_GLOBAL 1
#define WASMTIME_EXTERN_MEMORY 3

/* wasmtime_val_t: a kind byte, then a union whose largest members (the
 * reference types: store id, two u32, a pointer) are 24 bytes. Only the
 * numeric kinds are read here (snapshots of i32/i64/f32/f64 globals). */
typedef struct wasmtime_val {
    uint8_t kind;
    union {
        int32_t i32;
        int64_t i64;
        float f32;
        double f64;
        uint8_t v128[16];
        struct { uint64_t store_id; uint32_t p1, p2; void *p3; } ref;
    } of;
} wasmtime_val_t;
enum { WASMTIME_I32 = 0, WASMTIME_I64 = 1, WASMTIME_F32 = 2, WASMTIME_F64 = 3 };

typedef union wasmtime_val_raw {
    int32_t i32;
    int64_t i64;
    float f32;
    double f64;
    uint8_t v128[16];
    uint32_t anyref;
    uint32_t externref;
    uint32_t exnref;
    void *funcref;
} wasmtime_val_raw_t;

_Static_assert(sizeof(wasmtime_extern_t) == 32, "wasmtime_extern_t layout (v50)");
_Static_assert(sizeof(wasmtime_val_raw_t) == 16, "wasmtime_val_raw_t layout (v50)");
_Static_assert(sizeof(wasmtime_val_t) == 32, "wasmtime_val_t layout (v50)");

enum { WASM_I32 = 0, WASM_I64 = 1, WASM_F32 = 2, WASM_F64 = 3 };

typedef uint8_t wasmtime_trap_code_t;
enum {
    WASMTIME_TRAP_CODE_STACK_OVERFLOW = 0,
    WASMTIME_TRAP_CODE_MEMORY_OUT_OF_BOUNDS = 1,
    WASMTIME_TRAP_CODE_INTERRUPT = 10,
    WASMTIME_TRAP_CODE_OUT_OF_FUEL = 11,
};

typedef wasm_trap_t *(*wasmtime_func_unchecked_callback_t)(
    void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args_and_results, size_t num);

typedef uint8_t wasmtime_update_deadline_kind_t;
enum { WASMTIME_UPDATE_DEADLINE_CONTINUE = 0, WASMTIME_UPDATE_DEADLINE_YIELD = 1 };
typedef wasmtime_error_t *(*wasmtime_epoch_cb_t)(wasmtime_context_t *ctx, void *env,
                                                 uint64_t *epoch_deadline_delta,
                                                 wasmtime_update_deadline_kind_t *kind);

/* X(return type, name, (parameters)) for every function we resolve. */
#define EH_WASMTIME_FUNCTIONS(X)                                                              \
    X(void, wasm_byte_vec_delete, (wasm_byte_vec_t *))                                        \
    X(void, wasmtime_error_message, (const wasmtime_error_t *, wasm_name_t *))               \
    X(void, wasmtime_error_delete, (wasmtime_error_t *))                                      \
    X(wasmtime_error_t *, wasmtime_error_new, (const char *))                                 \
    X(void, wasm_trap_message, (const wasm_trap_t *, wasm_message_t *))                       \
    X(bool, wasmtime_trap_code, (const wasm_trap_t *, wasmtime_trap_code_t *))                \
    X(void, wasm_trap_delete, (wasm_trap_t *))                                                \
    X(wasm_trap_t *, wasmtime_trap_new, (const char *, size_t))                               \
    X(wasm_valtype_t *, wasm_valtype_new, (uint8_t))                                          \
    X(void, wasm_valtype_vec_new, (wasm_valtype_vec_t *, size_t, wasm_valtype_t *const *))    \
    X(wasm_functype_t *, wasm_functype_new, (wasm_valtype_vec_t *, wasm_valtype_vec_t *))     \
    X(void, wasm_functype_delete, (wasm_functype_t *))                                        \
    X(void, wasmtime_config_epoch_interruption_set, (wasm_config_t *, bool))                  \
    X(void, wasmtime_config_consume_fuel_set, (wasm_config_t *, bool))                        \
    X(wasmtime_pooling_allocation_config_t *, wasmtime_pooling_allocation_config_new, (void)) \
    X(void, wasmtime_pooling_allocation_config_delete, (wasmtime_pooling_allocation_config_t *)) \
    X(void, wasmtime_pooling_allocation_config_total_memories_set,                            \
      (wasmtime_pooling_allocation_config_t *, uint32_t))                                     \
    X(void, wasmtime_pooling_allocation_config_total_core_instances_set,                      \
      (wasmtime_pooling_allocation_config_t *, uint32_t))                                     \
    X(void, wasmtime_pooling_allocation_config_total_tables_set,                              \
      (wasmtime_pooling_allocation_config_t *, uint32_t))                                     \
    X(void, wasmtime_pooling_allocation_config_total_stacks_set,                              \
      (wasmtime_pooling_allocation_config_t *, uint32_t))                                     \
    X(void, wasmtime_pooling_allocation_config_max_memory_size_set,                           \
      (wasmtime_pooling_allocation_config_t *, size_t))                                       \
    X(void, wasmtime_pooling_allocation_config_max_memories_per_module_set,                   \
      (wasmtime_pooling_allocation_config_t *, uint32_t))                                     \
    X(void, wasmtime_pooling_allocation_config_max_unused_warm_slots_set,                     \
      (wasmtime_pooling_allocation_config_t *, uint32_t))                                     \
    X(void, wasmtime_pooling_allocation_config_linear_memory_keep_resident_set,               \
      (wasmtime_pooling_allocation_config_t *, size_t))                                       \
    X(void, wasmtime_pooling_allocation_config_table_keep_resident_set,                       \
      (wasmtime_pooling_allocation_config_t *, size_t))                                       \
    X(void, wasmtime_pooling_allocation_strategy_set,                                         \
      (wasm_config_t *, const wasmtime_pooling_allocation_config_t *))                        \
    X(void, wasmtime_engine_increment_epoch, (wasm_engine_t *))                               \
    X(wasmtime_linker_t *, wasmtime_linker_new, (wasm_engine_t *))                            \
    X(void, wasmtime_linker_delete, (wasmtime_linker_t *))                                    \
    X(wasmtime_error_t *, wasmtime_linker_define_func_unchecked,                              \
      (wasmtime_linker_t *, const char *, size_t, const char *, size_t,                       \
       const wasm_functype_t *, wasmtime_func_unchecked_callback_t, void *,                   \
       void (*)(void *)))                                                                     \
    X(wasmtime_error_t *, wasmtime_linker_instantiate_pre,                                    \
      (const wasmtime_linker_t *, const wasmtime_module_t *, wasmtime_instance_pre_t **))     \
    X(void, wasmtime_instance_pre_delete, (wasmtime_instance_pre_t *))                        \
    X(wasmtime_error_t *, wasmtime_instance_pre_instantiate,                                  \
      (const wasmtime_instance_pre_t *, wasmtime_context_t *, wasmtime_instance_t *,          \
       wasm_trap_t **))                                                                       \
    X(wasmtime_store_t *, wasmtime_store_new, (wasm_engine_t *, void *, void (*)(void *)))    \
    X(void, wasmtime_store_delete, (wasmtime_store_t *))                                      \
    X(wasmtime_context_t *, wasmtime_store_context, (wasmtime_store_t *))                     \
    X(void, wasmtime_store_limiter,                                                           \
      (wasmtime_store_t *, int64_t, int64_t, int64_t, int64_t, int64_t))                      \
    X(void, wasmtime_store_epoch_deadline_callback,                                           \
      (wasmtime_store_t *, wasmtime_epoch_cb_t, void *, void (*)(void *)))                    \
    X(void *, wasmtime_context_get_data, (const wasmtime_context_t *))                        \
    X(void, wasmtime_context_set_epoch_deadline, (wasmtime_context_t *, uint64_t))            \
    X(wasmtime_error_t *, wasmtime_context_set_fuel, (wasmtime_context_t *, uint64_t))        \
    X(wasmtime_error_t *, wasmtime_context_get_fuel, (const wasmtime_context_t *, uint64_t *)) \
    X(wasmtime_context_t *, wasmtime_caller_context, (wasmtime_caller_t *))                   \
    X(bool, wasmtime_instance_export_get,                                                     \
      (wasmtime_context_t *, const wasmtime_instance_t *, const char *, size_t,               \
       wasmtime_extern_t *))                                                                  \
    X(void, wasmtime_extern_delete, (wasmtime_extern_t *))                                    \
    X(void, wasmtime_global_get,                                                              \
      (wasmtime_context_t *, const wasmtime_global_t *, wasmtime_val_t *))                    \
    X(wasmtime_error_t *, wasmtime_global_set,                                                \
      (wasmtime_context_t *, const wasmtime_global_t *, const wasmtime_val_t *))              \
    X(uint8_t *, wasmtime_memory_data, (const wasmtime_context_t *, const wasmtime_memory_t *)) \
    X(size_t, wasmtime_memory_data_size,                                                      \
      (const wasmtime_context_t *, const wasmtime_memory_t *))                                \
    X(wasmtime_error_t *, wasmtime_func_call_unchecked,                                       \
      (wasmtime_context_t *, const wasmtime_func_t *, wasmtime_val_raw_t *, size_t,           \
       wasm_trap_t **))

#define EH_WT_FIELD(ret, name, params) ret(*name) params;
typedef struct eh_wasmtime_api {
    EH_WASMTIME_FUNCTIONS(EH_WT_FIELD)
} eh_wasmtime_api;
#undef EH_WT_FIELD

extern eh_wasmtime_api EH_WT;

/* Resolve every function in the library at `path`. 0 on success; on failure
 * -1 with the missing symbol or dlerror() text in err. Idempotent. */
int eh_wasmtime_bind(const char *path, char *err, size_t errlen);

#endif
