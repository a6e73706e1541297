/* Engine-wide settings wasmtime-py does not expose, and the epoch ticker: a
 * thread that increments the engine's epoch every period, which makes every
 * running call look at its wall deadline (instance.c: deadline_check). */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "wasmhost/ffi.h"
#include "wasmhost/hostapi.h"

void eh_config_tune(void *config, int epoch, int fuel, uint32_t pool_instances,
                    uint64_t pool_max_memory, uint64_t pool_keep_resident)
{
    wasm_config_t *c = config;
    EH_WT.wasmtime_config_epoch_interruption_set(c, epoch != 0);
    EH_WT.wasmtime_config_consume_fuel_set(c, fuel != 0);
    if (pool_instances) {
        wasmtime_pooling_allocation_config_t *p = EH_WT.wasmtime_pooling_allocation_config_new();
        EH_WT.wasmtime_pooling_allocation_config_total_core_instances_set(p, pool_instances);
        /* Two memories per instance: the linear memory and, for modules
         * rewritten to track their writes (fresh.c), the dirty map. */
        EH_WT.wasmtime_pooling_allocation_config_total_memories_set(p, 2 * pool_instances);
        EH_WT.wasmtime_pooling_allocation_config_max_memories_per_module_set(p, 2);
        EH_WT.wasmtime_pooling_allocation_config_total_tables_set(p, pool_instances);
        EH_WT.wasmtime_pooling_allocation_config_total_stacks_set(p, pool_instances);
        EH_WT.wasmtime_pooling_allocation_config_max_memory_size_set(p, (size_t)pool_max_memory);
        EH_WT.wasmtime_pooling_allocation_config_max_unused_warm_slots_set(p, pool_instances);
        /* A freed slot keeps this much of its memory (and table) resident,
         * reset in place instead of returned to the kernel: the next
         * instance (a fresh one per request, say) does not page-fault its
         * heap, stack and input buffer back in. */
        EH_WT.wasmtime_pooling_allocation_config_linear_memory_keep_resident_set(
            p, (size_t)pool_keep_resident);
        EH_WT.wasmtime_pooling_allocation_config_table_keep_resident_set(p,
                                                                         (size_t)pool_keep_resident);
        EH_WT.wasmtime_pooling_allocation_strategy_set(c, p);
        EH_WT.wasmtime_pooling_allocation_config_delete(p);
    }
}

struct eh_ticker {
    wasm_engine_t *engine;
    uint32_t period_us;
    int realtime;
    volatile int stop;
    pthread_t thread;
};

static void *tick(void *arg)
{
    eh_ticker *t = arg;
    if (t->realtime) {
        /* Best effort (needs CAP_SYS_NICE or an RLIMIT_RTPRIO): the lowest
         * real-time priority, so a busy host cannot starve the deadline
         * checks. The loop sleeps a period per tick; RT throttling bounds it
         * anyway. Without the privilege the ticker stays SCHED_OTHER. */
        struct sched_param sp = {.sched_priority = 1};
        pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    }
    struct timespec ts = {.tv_sec = t->period_us / 1000000, .tv_nsec = (t->period_us % 1000000) * 1000L};
    while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
        nanosleep(&ts, NULL);
        EH_WT.wasmtime_engine_increment_epoch(t->engine);
    }
    return NULL;
}

eh_ticker *eh_ticker_start(void *engine, uint32_t period_us, int realtime)
{
    eh_ticker *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->engine = engine;
    t->period_us = period_us ? period_us : 1000;
    t->realtime = realtime;
    if (pthread_create(&t->thread, NULL, tick, t) != 0) {
        free(t);
        return NULL;
    }
    pthread_setname_np(t->thread, "eh-epoch"); /* what top -H and the tests show */
    return t;
}

void eh_ticker_stop(eh_ticker *t)
{
    if (!t)
        return;
    __atomic_store_n(&t->stop, 1, __ATOMIC_RELEASE);
    pthread_join(t->thread, NULL);
    free(t);
}
