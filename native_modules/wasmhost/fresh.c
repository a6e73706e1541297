/* `instance = "fresh"` without a new instance per request: a used instance
 * of a write-tracking module (host/reload/write_tracking.py) is put back in
 * the state a new one starts in, in place.
 *
 * The tenant holds the image a new instance starts from: the snapshot's
 * whole linear memory and the values of its mutable globals (exported by
 * the rewrite). Every write to linear memory marks its 4 KiB pages in the
 * instance's dirty map -- the module's own stores by the rewrite, the host's
 * writes (request body, kv reads, kernel output) by eh_fresh_mark() -- so
 * the reset copies back only those pages, clears their marks and sets the
 * globals. Invariant: after eh_fresh_reset() returned 0 and before any code
 * of the instance runs, eh_fresh_restore() runs, and then its memory equals
 * the image byte for byte (but for a range the caller overwrites next), its
 * globals equal the image's, and its map is all zero. Whatever the marks
 * cannot vouch for makes eh_fresh_reset() return -1 and the instance is
 * replaced by a new one: a memory that grew, a map or a global the instance
 * lacks. (Kernels write only their output range, which the host API marks:
 * a KVM guest sees the memory read-only and the monitor copies its output.) */
#include <stdlib.h>
#include <string.h>
#include "wasmhost/ffi.h"
#include "wasmhost/hostapi.h"

#define PAGE (1u << EH_DIRTY_PAGE_SHIFT)

struct eh_fresh_image {
    uint8_t *memory;
    uint64_t len;              /* a whole number of PAGEs (wasm pages are 64 KiB) */
    uint8_t *zero;             /* per PAGE: all zero in the image (memset, not memcpy) */
    char *map_export;
    uint32_t nglobals;
    char **global_names;
    uint64_t *global_bits;
};

void eh_fresh_image_free(eh_fresh_image *img)
{
    if (!img)
        return;
    for (uint32_t i = 0; i < img->nglobals; i++)
        free(img->global_names[i]);
    free(img->global_names);
    free(img->global_bits);
    free(img->map_export);
    free(img->zero);
    free(img->memory);
    free(img);
}

int eh_tenant_set_fresh_image(eh_tenant *t, const uint8_t *memory, uint64_t len,
                              const char *map_export, uint32_t nglobals,
                              const char *const *global_names, const uint64_t *global_bits)
{
    if (len % PAGE || len > (1ull << 32))
        return -1;
    eh_fresh_image *img = calloc(1, sizeof *img);
    if (!img)
        return -1;
    /* calloc: a large block comes zeroed from the kernel, untouched; only
     * the image's non-zero pages are copied in (zero ones are memset at
     * restore and never read here), so an image costs what it holds. */
    img->memory = calloc(len ? len : 1, 1);
    img->zero = calloc(len / PAGE + 1, 1);
    img->map_export = strdup(map_export);
    img->global_names = calloc(nglobals ? nglobals : 1, sizeof *img->global_names);
    img->global_bits = calloc(nglobals ? nglobals : 1, sizeof *img->global_bits);
    if (!img->memory || !img->zero || !img->map_export || !img->global_names ||
        !img->global_bits) {
        eh_fresh_image_free(img);
        return -1;
    }
    img->len = len;
    static const uint8_t zeros[PAGE];
    for (uint64_t i = 0; i < len / PAGE; i++)
        if (!(img->zero[i] = !memcmp(memory + i * PAGE, zeros, PAGE)))
            memcpy(img->memory + i * PAGE, memory + i * PAGE, PAGE);
    for (uint32_t i = 0; i < nglobals; i++) {
        if (!(img->global_names[i] = strdup(global_names[i]))) {
            eh_fresh_image_free(img);
            return -1;
        }
        img->global_bits[i] = global_bits[i];
        img->nglobals = i + 1;
    }
    eh_fresh_image_free(t->fresh);
    t->fresh = img;
    return 0;
}

/* The instance's map and globals, found once after instantiation. Without
 * them the instance simply cannot be reset (inst->dirty stays NULL). */
void eh_fresh_bind(eh_instance *inst)
{
    const eh_fresh_image *img = inst->tenant->fresh;
    if (!img)
        return;
    wasmtime_extern_t ext;
    if (!EH_WT.wasmtime_instance_export_get(inst->ctx, &inst->instance, img->map_export,
                                            strlen(img->map_export), &ext))
        return;
    if (ext.kind != WASMTIME_EXTERN_MEMORY) {
        EH_WT.wasmtime_extern_delete(&ext);
        return;
    }
    wasmtime_memory_t map = ext.of.memory;
    /* A byte per page of 4 GiB and one past it (the rewrite's 16-bit mark
     * of the last page also marks the next). */
    if (EH_WT.wasmtime_memory_data_size(inst->ctx, &map) <
        (1ull << (32 - EH_DIRTY_PAGE_SHIFT)) + 1)
        return;
    wasmtime_global_t *g = calloc(img->nglobals ? img->nglobals : 1, sizeof *g);
    uint8_t *kinds = calloc(img->nglobals ? img->nglobals : 1, 1);
    if (!g || !kinds)
        goto fail;
    for (uint32_t i = 0; i < img->nglobals; i++) {
        const char *name = img->global_names[i];
        if (!EH_WT.wasmtime_instance_export_get(inst->ctx, &inst->instance, name, strlen(name),
                                                &ext))
            goto fail;
        if (ext.kind != WASMTIME_EXTERN_GLOBAL) {
            EH_WT.wasmtime_extern_delete(&ext);
            goto fail;
        }
        wasmtime_val_t v;
        memset(&v, 0, sizeof v);
        EH_WT.wasmtime_global_get(inst->ctx, &ext.of.global, &v);
        if (v.kind > WASMTIME_F64)
            goto fail; /* numeric only (write_tracking exports no other) */
        g[i] = ext.of.global;
        kinds[i] = v.kind;
    }
    inst->fresh_globals = g;
    inst->fresh_kinds = kinds;
    inst->dirty = EH_WT.wasmtime_memory_data(inst->ctx, &map);
    return;
fail:
    free(g);
    free(kinds);
}

void eh_fresh_unbind(eh_instance *inst)
{
    free(inst->fresh_globals);
    free(inst->fresh_kinds);
    inst->fresh_globals = NULL;
    inst->fresh_kinds = NULL;
    inst->dirty = NULL;
}

void eh_fresh_mark_slow(eh_instance *inst, uint32_t ptr, uint64_t len)
{
    uint64_t first = ptr >> EH_DIRTY_PAGE_SHIFT;
    uint64_t last = ((uint64_t)ptr + len - 1) >> EH_DIRTY_PAGE_SHIFT;
    if (last >= (1ull << (32 - EH_DIRTY_PAGE_SHIFT)))
        last = (1ull << (32 - EH_DIRTY_PAGE_SHIFT)) - 1;
    memset(inst->dirty + first, 1, last - first + 1);
}

/* At release: everything but the pages. The pages wait for the next use
 * (eh_fresh_restore), which knows what the host is about to overwrite. */
int eh_fresh_reset(eh_instance *inst)
{
    const eh_fresh_image *img = inst->tenant->fresh;
    if (!img || !inst->dirty)
        return -1;
    if (EH_WT.wasmtime_memory_data_size(inst->ctx, &inst->memory) != img->len)
        return -1;
    for (uint32_t i = 0; i < img->nglobals; i++) {
        wasmtime_val_t v;
        memset(&v, 0, sizeof v);
        v.kind = inst->fresh_kinds[i];
        uint64_t bits = img->global_bits[i];
        switch (v.kind) {
        case WASMTIME_I32: v.of.i32 = (int32_t)(uint32_t)bits; break;
        case WASMTIME_I64: v.of.i64 = (int64_t)bits; break;
        case WASMTIME_F32: { uint32_t b = (uint32_t)bits; memcpy(&v.of.f32, &b, 4); break; }
        default: memcpy(&v.of.f64, &bits, 8); break;
        }
        wasmtime_error_t *e = EH_WT.wasmtime_global_set(inst->ctx, &inst->fresh_globals[i], &v);
        if (e) {
            EH_WT.wasmtime_error_delete(e);
            return -1;
        }
    }
    /* The allocator state in memory is the image's again: so is its buffer. */
    inst->input_ptr = inst->tenant->input_ptr;
    inst->input_cap = inst->tenant->input_cap;
    inst->restore_pending = 1;
    return 0;
}

/* Before any code of the instance runs again. Pages wholly inside
 * [keep_lo, keep_hi) are left as they are: the caller overwrites every byte
 * of that range before the instance runs (the next request's body in the
 * image's input buffer) -- for a 1 MiB body that is the whole cost of the
 * reset. Every mark is cleared; the caller's own write marks its range. */
void eh_fresh_restore(eh_instance *inst, uint64_t keep_lo, uint64_t keep_hi)
{
    const eh_fresh_image *img = inst->tenant->fresh;
    uint8_t *mem = EH_WT.wasmtime_memory_data(inst->ctx, &inst->memory);
    /* Marks past the memory's end belong to writes that trapped: such an
     * instance is never reset (the caller discards it), so only [0, len)
     * is read -- and the byte just past it, which a store in the last page
     * marks too (16-bit marks: write_tracking.py), is cleared. Eight map
     * bytes at a time: most are zero. */
    uint64_t pages = img->len >> EH_DIRTY_PAGE_SHIFT;
    uint8_t *map = inst->dirty;
    for (uint64_t i = 0; i < pages; i += 8) {
        uint64_t word;
        memcpy(&word, map + i, 8);
        if (!word)
            continue;
        for (uint64_t j = i; j < i + 8 && j < pages; j++) {
            if (!map[j])
                continue;
            map[j] = 0;
            uint64_t lo = j * PAGE;
            if (lo >= keep_lo && lo + PAGE <= keep_hi)
                continue;
            if (img->zero[j])
                memset(mem + lo, 0, PAGE);
            else
                memcpy(mem + lo, img->memory + lo, PAGE);
        }
    }
    map[pages] = 0; /* pages <= 2^20: inside the map (eh_fresh_bind) */
    inst->restore_pending = 0;
}
