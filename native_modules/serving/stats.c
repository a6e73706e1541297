/* Counting into the worker's slot of the shared metrics file (metrics.h):
 * the loop thread is the only writer of request counters. */
#include <stdio.h>
#include <string.h>
#include "serving/server.h"

#define MS 1000000ull
const uint64_t eh_srv_bucket_ns[EH_SRV_BUCKETS] = {
    100000, 250000, 500000, 1 * MS, 2500000, 5 * MS, 10 * MS, 25 * MS, 50 * MS,
    100 * MS, 250 * MS, 500 * MS, 1000 * MS, 2500 * MS, 5000 * MS, 10000 * MS, UINT64_MAX,
};

const char *const eh_srv_cause_names[EH_CAUSE_COUNT] = {
    [EH_CAUSE_NOT_FOUND] = "not_found", [EH_CAUSE_BODY_TOO_LARGE] = "body_too_large",
    [EH_CAUSE_OVERLOAD] = "overload", [EH_CAUSE_INSTANTIATE] = "instantiate",
    [EH_CAUSE_TRAP] = "trap", [EH_CAUSE_DEADLINE] = "deadline", [EH_CAUSE_MEMORY] = "memory",
    [EH_CAUSE_FUEL] = "fuel", [EH_CAUSE_GUEST_FAULT] = "guest_fault",
    [EH_CAUSE_GUEST_TIMEOUT] = "guest_timeout", [EH_CAUSE_TENANT_STATUS] = "tenant_status",
    [EH_CAUSE_REQUEST_TIMEOUT] = "request_timeout", [EH_CAUSE_CLIENT_ABORT] = "client_abort",
    [EH_CAUSE_INTERNAL] = "internal", [EH_CAUSE_STORE] = "store", [EH_CAUSE_SHARE] = "share",
    [EH_CAUSE_SLOTS] = "slots", [EH_CAUSE_HEADERS_TOO_LARGE] = "headers_too_large",
};

#define STORE(field, val) __atomic_store_n(&(field), (val), __ATOMIC_RELAXED)
#define ADD(field, val) STORE(field, (field) + (val))

uint32_t eh_stats_slot(eh_srv *s, const char *name)
{
    eh_srv_worker_stats *m = s->m;
    uint32_t free_slot = 0;
    for (uint32_t i = 1; i < EH_SRV_MAX_TENANTS; i++) {
        if (!strncmp(m->tenant[i].name, name, sizeof m->tenant[i].name))
            return i;
        if (!free_slot && !m->tenant[i].name[0])
            free_slot = i;
    }
    if (!free_slot)
        return 0; /* full: counted as unrouted rather than lost */
    snprintf(m->tenant[free_slot].name, sizeof m->tenant[free_slot].name, "%s", name);
    STORE(m->ntenants, m->ntenants + 1);
    return free_slot;
}

void eh_stats_count(eh_srv *s, const eh_job *j, uint64_t now)
{
    eh_srv_tenant_stats *t = &s->m->tenant[j->svc ? j->svc->slot : 0];
    ADD(t->requests, 1);
    int code = j->status, i;
    for (i = 0; i < EH_SRV_CODES - 1; i++)
        if (t->code[i] == (uint64_t)code || !t->code[i])
            break;
    if (!t->code[i] && i < EH_SRV_CODES - 1)
        STORE(t->code[i], (uint64_t)code);
    else if (t->code[i] != (uint64_t)code)
        i = EH_SRV_CODES - 1; /* the last slot counts every other code (code 0) */
    ADD(t->code_count[i], 1);
    if (j->cause >= 0)
        ADD(t->errors[j->cause], 1);
    uint64_t ns = now - j->t_start;
    int b = 0;
    while (ns > eh_srv_bucket_ns[b])
        b++;
    ADD(t->latency[b], 1);
    ADD(t->latency_sum_ns, ns);
    if (j->hostcalls)
        ADD(t->hostcalls, j->hostcalls);
    if (j->lane != EH_LANE_FAST)
        ADD(t->slow_lane, 1);
    if (j->lane == EH_LANE_IDLE)
        ADD(t->idle_lane, 1);
    if (j->inlined)
        ADD(t->inline_requests, 1);
    if (j->preempted)
        ADD(t->inline_preempted, 1);
    if (j->offload_calls) {
        ADD(t->offload_calls, j->offload_calls);
        ADD(t->offload_ns, j->offload_ns);
    }
}

/* Gauges per tenant name: the sum over the versions alive (old versions
 * still finishing requests after a reload count too). */
void eh_stats_gauges(eh_srv *s)
{
    eh_srv_worker_stats *m = s->m;
    enum { NG = 7 };
    static uint64_t acc[EH_SRV_MAX_TENANTS][NG];
    memset(acc, 0, sizeof acc);
    pthread_mutex_lock(&s->svc_lock);
    for (eh_svc *v = s->svcs; v; v = v->all_next) {
        eh_pool_stats ps;
        eh_pool_get_stats(v->pool, &ps);
        uint64_t *a = acc[v->slot];
        a[0] += ps.live;
        a[1] += ps.idle;
        a[2] += ps.created;
        a[3] += ps.discarded;
        a[4] += ps.memory;
        a[5] += __atomic_load_n(&v->inflight, __ATOMIC_RELAXED);
        a[6] += __atomic_load_n(&v->running, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&s->svc_lock);
    for (uint32_t i = 0; i < EH_SRV_MAX_TENANTS; i++) {
        eh_srv_tenant_stats *t = &m->tenant[i];
        if (!t->name[0] && i)
            continue;
        STORE(t->pool_live, acc[i][0]);
        STORE(t->pool_idle, acc[i][1]);
        STORE(t->pool_created, acc[i][2]);
        STORE(t->pool_discarded, acc[i][3]);
        STORE(t->memory_bytes, acc[i][4]);
        STORE(t->inflight, acc[i][5]);
        STORE(t->running, acc[i][6]);
    }
    STORE(m->queued, eh_disp_queued(s->disp));
}
