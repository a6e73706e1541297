/* The Redis backend's operations: GET for kv_get, the put/delete scripts for
 * kv_put/kv_delete (value and counters in one atomic step on the server),
 * SCAN for the operator's listings. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "state/kv_redis.h"

#define STORE(ns) ((redis_store *)(ns)->store)
#define KEYBUF 512

/* "<prefix>:{<tenant>}:<key>" in buf (or on the heap when it does not fit;
 * free *heap after use). NULL: out of memory. */
static char *full_key(const eh_kv_ns *ns, const uint8_t *key, uint32_t klen, char *buf,
                      char **heap, size_t *len)
{
    *len = ns->prefix_len + klen;
    char *k = buf;
    *heap = NULL;
    if (*len > KEYBUF) {
        k = *heap = malloc(*len);
        if (!k)
            return NULL;
    }
    memcpy(k, ns->prefix, ns->prefix_len);
    memcpy(k + ns->prefix_len, key, klen);
    return k;
}

/* One keyed command's resources: a connection and the full key. Every
 * key_call_begin that returns 0 is paired with exactly one key_call_end. */
typedef struct {
    redis_store *s;
    redis_local *r;
    int temp;
    char buf[KEYBUF];
    char *heap; /* the full key when it does not fit buf, else NULL */
    const char *k;
    size_t kl;
} key_call;

/* 0, or the error to return (the connection is already released then). */
static int32_t key_call_begin(key_call *c, const eh_kv_ns *ns, const uint8_t *key, uint32_t klen)
{
    c->s = STORE(ns);
    c->r = eh_redis_conn(c->s, &c->temp);
    if (!c->r)
        return EH_ERR_UNAVAILABLE;
    c->k = full_key(ns, key, klen, c->buf, &c->heap, &c->kl);
    if (!c->k) {
        int32_t res = eh_kv_fail("out of memory");
        eh_redis_done(c->r, c->temp);
        return res;
    }
    return 0;
}

static void key_call_end(key_call *c)
{
    free(c->heap);
    eh_redis_done(c->r, c->temp);
}

static int32_t rd_get(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, uint8_t *out, uint32_t cap)
{
    key_call c;
    int32_t res = key_call_begin(&c, ns, key, klen);
    if (res)
        return res;
    const char *argv[2] = {"GET", c.k};
    size_t lens[2] = {3, c.kl};
    redisReply *rep = eh_redis_cmd(c.s, c.r, 2, argv, lens);
    if (!rep) {
        res = EH_ERR_UNAVAILABLE;
    } else if (rep->type == REDIS_REPLY_NIL) {
        res = EH_ERR_NOT_FOUND;
        freeReplyObject(rep);
    } else if (rep->type == REDIS_REPLY_STRING && rep->len <= INT32_MAX) {
        if (rep->len <= cap && rep->len)
            memcpy(out, rep->str, rep->len);
        res = (int32_t)rep->len;
        freeReplyObject(rep);
    } else {
        res = eh_redis_reply_fail(c.s, rep, "GET");
    }
    key_call_end(&c);
    return res;
}

/* Runs the put (val != NULL) or delete script; its integer result. */
static int32_t run_script(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, const uint8_t *val,
                          uint32_t vlen, uint64_t max_bytes)
{
    key_call c;
    int32_t res = key_call_begin(&c, ns, key, klen);
    if (res)
        return res;
    char klen_s[16], max_s[24];
    int nk = snprintf(klen_s, sizeof klen_s, "%u", klen);
    int nm = snprintf(max_s, sizeof max_s, "%llu", (unsigned long long)max_bytes);
    redisReply *rep;
    if (val) {
        /* KEYS: the value, the counters hash (the prefix without its ':') */
        const char *args[6] = {"2", c.k, (const char *)ns->prefix, (const char *)val, klen_s, max_s};
        size_t lens[6] = {1, c.kl, (size_t)ns->prefix_len - 1, vlen, (size_t)nk, (size_t)nm};
        rep = eh_redis_script(c.s, c.r, 1, 6, args, lens);
    } else {
        const char *args[4] = {"2", c.k, (const char *)ns->prefix, klen_s};
        size_t lens[4] = {1, c.kl, (size_t)ns->prefix_len - 1, (size_t)nk};
        rep = eh_redis_script(c.s, c.r, 0, 4, args, lens);
    }
    if (!rep) {
        res = EH_ERR_UNAVAILABLE;
    } else if (rep->type == REDIS_REPLY_INTEGER) {
        res = (int32_t)rep->integer;
        freeReplyObject(rep);
    } else {
        res = eh_redis_reply_fail(c.s, rep, val ? "put" : "delete");
    }
    key_call_end(&c);
    return res;
}

static int32_t rd_put(eh_kv_ns *ns, const uint8_t *key, uint32_t klen, const uint8_t *val,
                      uint32_t vlen)
{
    static const uint8_t empty[1];
    return run_script(ns, key, klen, vlen ? val : empty, vlen, ns->max_bytes);
}

static int32_t rd_del(eh_kv_ns *ns, const uint8_t *key, uint32_t klen)
{
    return run_script(ns, key, klen, NULL, 0, 0);
}

static int rd_ns_init(eh_kv_ns *ns, char *err, size_t errlen)
{
    redis_store *s = STORE(ns);
    int n = snprintf((char *)ns->prefix, sizeof ns->prefix, "%s:{%s}:", s->prefix, ns->name);
    if (n < 0 || (size_t)n >= sizeof ns->prefix) {
        snprintf(err, errlen, "redis key prefix too long for tenant %s", ns->name);
        return -1;
    }
    ns->prefix_len = (uint32_t)n;
    return 0;
}

static void rd_ns_fini(eh_kv_ns *ns) { (void)ns; }

static int32_t rd_stats(eh_kv_ns *ns, uint64_t *count, uint64_t *bytes)
{
    redis_store *s = STORE(ns);
    int temp;
    redis_local *r = eh_redis_conn(s, &temp);
    if (!r)
        return EH_ERR_UNAVAILABLE;
    const char *argv[4] = {"HMGET", (const char *)ns->prefix, "count", "bytes"};
    size_t lens[4] = {5, ns->prefix_len - 1, 5, 5};
    redisReply *rep = eh_redis_cmd(s, r, 4, argv, lens);
    int32_t res = 0;
    if (!rep) {
        res = EH_ERR_UNAVAILABLE;
    } else if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        *count = rep->element[0]->type == REDIS_REPLY_STRING ? strtoull(rep->element[0]->str, NULL, 10) : 0;
        *bytes = rep->element[1]->type == REDIS_REPLY_STRING ? strtoull(rep->element[1]->str, NULL, 10) : 0;
        freeReplyObject(rep);
    } else {
        res = eh_redis_reply_fail(s, rep, "HMGET");
    }
    eh_redis_done(r, temp);
    return res;
}

/* SCAN over a MATCH pattern (and TYPE, if given); fn gets every key. */
static int32_t scan(redis_store *s, redis_local *r, const char *pattern, const char *type,
                    int (*fn)(redis_store *s, redis_local *r, redisReply *key, void *ctx),
                    void *ctx)
{
    char cursor[32] = "0";
    do {
        const char *argv[8] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000", "TYPE", type};
        size_t lens[8] = {4, strlen(cursor), 5, strlen(pattern), 5, 4, 4, type ? strlen(type) : 0};
        redisReply *rep = eh_redis_cmd(s, r, type ? 8 : 6, argv, lens);
        if (!rep)
            return EH_ERR_UNAVAILABLE;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_ARRAY)
            return eh_redis_reply_fail(s, rep, "SCAN");
        snprintf(cursor, sizeof cursor, "%.*s", (int)rep->element[0]->len, rep->element[0]->str);
        redisReply *keys = rep->element[1];
        for (size_t i = 0; i < keys->elements; i++)
            if (fn(s, r, keys->element[i], ctx) < 0) {
                freeReplyObject(rep);
                return EH_ERR_UNAVAILABLE;
            }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0"));
    return 0;
}

typedef struct {
    eh_kv_buf *out;
    size_t skip;
    const char *end; /* tenants: the name ends at the last '}' */
} list_ctx;

static int add_key(redis_store *s, redis_local *r, redisReply *key, void *ctx)
{
    (void)s;
    (void)r;
    list_ctx *lc = ctx;
    size_t n = key->len - lc->skip;
    if (lc->end) {
        const char *close = memrchr(key->str, '}', key->len);
        if (!close || (size_t)(close - key->str) < lc->skip)
            return 0;
        n = (size_t)(close - key->str) - lc->skip;
    }
    if (eh_kv_buf_add(lc->out, key->str + lc->skip, (uint32_t)n) < 0) {
        eh_kv_fail("out of memory");
        return -1;
    }
    return 0;
}

/* SCAN over ns's keys: MATCH "<ns prefix>*" (no glob characters in tenant
 * names or prefixes, see eh_kv_open_redis). */
static int32_t scan_ns(redis_store *s, redis_local *r, const eh_kv_ns *ns,
                       int (*fn)(redis_store *s, redis_local *r, redisReply *key, void *ctx),
                       void *ctx)
{
    char pat[160];
    snprintf(pat, sizeof pat, "%.*s*", (int)ns->prefix_len, (const char *)ns->prefix);
    return scan(s, r, pat, NULL, fn, ctx);
}

static int32_t rd_keys(eh_kv_ns *ns, eh_kv_buf *out)
{
    redis_store *s = STORE(ns);
    int temp;
    redis_local *r = eh_redis_conn(s, &temp);
    if (!r)
        return EH_ERR_UNAVAILABLE;
    list_ctx lc = {out, ns->prefix_len, NULL};
    int32_t res = scan_ns(s, r, ns, add_key, &lc);
    eh_redis_done(r, temp);
    return res;
}

static int unlink_key(redis_store *s, redis_local *r, redisReply *key, void *ctx)
{
    (void)ctx;
    const char *argv[2] = {"UNLINK", key->str};
    size_t lens[2] = {6, key->len};
    redisReply *rep = eh_redis_cmd(s, r, 2, argv, lens);
    if (!rep)
        return -1;
    freeReplyObject(rep);
    return 0;
}

static int32_t rd_drop(eh_kv_ns *ns)
{
    redis_store *s = STORE(ns);
    int temp;
    redis_local *r = eh_redis_conn(s, &temp);
    if (!r)
        return EH_ERR_UNAVAILABLE;
    int32_t res = scan_ns(s, r, ns, unlink_key, NULL);
    if (!res) {
        const char *argv[2] = {"DEL", (const char *)ns->prefix};
        size_t lens[2] = {3, ns->prefix_len - 1};
        redisReply *rep = eh_redis_cmd(s, r, 2, argv, lens);
        if (rep)
            freeReplyObject(rep);
        else
            res = EH_ERR_UNAVAILABLE;
    }
    eh_redis_done(r, temp);
    return res;
}

static int32_t rd_tenants(eh_kv_store *store, eh_kv_buf *out)
{
    redis_store *s = (redis_store *)store;
    int temp;
    redis_local *r = eh_redis_conn(s, &temp);
    if (!r)
        return EH_ERR_UNAVAILABLE;
    char pat[64];
    snprintf(pat, sizeof pat, "%s:{*}", s->prefix);
    list_ctx lc = {out, strlen(s->prefix) + 2, "}"};
    int32_t res = scan(s, r, pat, "hash", add_key, &lc);
    eh_redis_done(r, temp);
    return res;
}

static void rd_local_release(eh_kv_local *l)
{
    redis_local *r = (redis_local *)l;
    if (r->c)
        redisFree(r->c);
    r->c = NULL;
}

int eh_redis_health(eh_kv_store *store, char *out, size_t cap);
void eh_redis_close(eh_kv_store *store);
void eh_redis_abandon(eh_kv_store *store);

const eh_kv_backend eh_redis_backend = {
    .name = "redis",
    .get = rd_get,
    .put = rd_put,
    .del = rd_del,
    .ns_init = rd_ns_init,
    .ns_fini = rd_ns_fini,
    .stats = rd_stats,
    .keys = rd_keys,
    .drop = rd_drop,
    .tenants = rd_tenants,
    .close = eh_redis_close,
    .abandon = eh_redis_abandon,
    .local_release = rd_local_release,
    .health = eh_redis_health,
};
