/*
 * The Redis/Valkey backend, through hiredis (blocking API, one connection
 * per thread and store, made on first use).
 *
 * Keys: "<prefix>:{<tenant>}:<key>" holds a value; the hash
 * "<prefix>:{<tenant>}" holds the tenant's counters (fields count, bytes).
 * The braces make all of a tenant's keys one Redis Cluster hash slot, so the
 * Lua scripts below may touch a value and its counters atomically: a put
 * checks the quota and updates value and counters in one script, on the
 * server, whatever the number of hosts writing.
 *
 * Failure: connect and command timeouts bound every call; when a call fails
 * at the connection level the store is "down" for retry_ms: every call
 * answers EH_ERR_UNAVAILABLE at once (the serving layer turns that into a
 * 5xx) and the first call after that tries to connect again.
 */
#ifndef EH_STATE_KV_REDIS_H
#define EH_STATE_KV_REDIS_H

#include <hiredis/hiredis.h>
#include "state/kv.h"

#define REDIS_PREFIX_MAX 24

typedef struct redis_store {
    eh_kv_store base;
    char host[256];
    int port, db;
    char password[256];
    char prefix[REDIS_PREFIX_MAX + 1];
    struct timeval connect_tv, command_tv;
    int64_t retry_ns;
    int64_t down_until;      /* atomic: monotonic ns; calls fail at once before it */
    pthread_mutex_t err_lock;
    char last_error[200];    /* why it went down ("" once a call works again) */
    char put_script[1024], del_script[512];
} redis_store;

typedef struct redis_local {
    eh_kv_local head;
    redisContext *c;         /* NULL: connect on next use */
    char put_sha[41], del_sha[41];
} redis_local;

extern const eh_kv_backend eh_redis_backend;

/* A connected context for this thread, or NULL (reason recorded; *temp: the
 * local must be freed after use with eh_redis_done). */
redis_local *eh_redis_conn(redis_store *s, int *temp);
void eh_redis_done(redis_local *r, int temp);
/* Runs argv on r's connection. NULL: the connection failed (it is closed and
 * the store marked down; reason recorded). */
redisReply *eh_redis_cmd(redis_store *s, redis_local *r, int argc, const char **argv,
                         const size_t *lens);
/* EVALSHA of the put (put=1) or delete script, loading it again on NOSCRIPT. */
redisReply *eh_redis_script(redis_store *s, redis_local *r, int put, int nargs,
                            const char **args, const size_t *lens);
int32_t eh_redis_reply_fail(redis_store *s, redisReply *reply, const char *what);

#endif
