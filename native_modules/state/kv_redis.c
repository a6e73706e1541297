/* The Redis backend's connections: one per thread, timeouts, the "down"
 * window after a failure, and the two Lua scripts (see kv_redis.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "state/ffi.h"
#include "state/kv_redis.h"

/* ARGV: value, key length, quota. Returns 0 or EH_ERR_QUOTA (nothing written). */
static const char PUT_LUA[] =
    "local klen = tonumber(ARGV[2])\n"
    "local old = 0\n"
    "local existed = redis.call('EXISTS', KEYS[1]) == 1\n"
    "if existed then old = klen + redis.call('STRLEN', KEYS[1]) end\n"
    "local new = klen + string.len(ARGV[1])\n"
    "local bytes = tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0')\n"
    "if bytes - old + new > tonumber(ARGV[3]) then return %d end\n"
    "redis.call('SET', KEYS[1], ARGV[1])\n"
    "redis.call('HINCRBY', KEYS[2], 'bytes', new - old)\n"
    "if not existed then redis.call('HINCRBY', KEYS[2], 'count', 1) end\n"
    "return 0\n";
/* ARGV: key length. Returns 0 or EH_ERR_NOT_FOUND. */
static const char DEL_LUA[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return %d end\n"
    "local n = tonumber(ARGV[1]) + redis.call('STRLEN', KEYS[1])\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HINCRBY', KEYS[2], 'bytes', -n)\n"
    "redis.call('HINCRBY', KEYS[2], 'count', -1)\n"
    "return 0\n";

static int32_t mark_down(redis_store *s, const char *why)
{
    pthread_mutex_lock(&s->err_lock);
    snprintf(s->last_error, sizeof s->last_error, "%s", why);
    pthread_mutex_unlock(&s->err_lock);
    __atomic_store_n(&s->down_until, eh_kv_now_ns() + s->retry_ns, __ATOMIC_RELAXED);
    return eh_kv_fail("%s: %s", s->base.desc, why);
}

static void close_conn(redis_local *r)
{
    if (r->c)
        redisFree(r->c);
    r->c = NULL;
}

/* One command on a bare context (connection set-up). */
static int setup_cmd(redis_store *s, redisContext *c, redisReply **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!rep) {
        mark_down(s, c->errstr[0] ? c->errstr : "connection lost");
        return -1;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof why, "%.*s", (int)rep->len, rep->str);
        freeReplyObject(rep);
        mark_down(s, why);
        return -1;
    }
    if (out)
        *out = rep;
    else
        freeReplyObject(rep);
    return 0;
}

static int load_script(redis_store *s, redisContext *c, const char *src, char sha[41])
{
    redisReply *rep;
    if (setup_cmd(s, c, &rep, "SCRIPT LOAD %s", src) < 0)
        return -1;
    int ok = rep->type == REDIS_REPLY_STRING && rep->len == 40;
    if (ok)
        memcpy(sha, rep->str, 41);
    freeReplyObject(rep);
    if (!ok)
        mark_down(s, "SCRIPT LOAD gave no SHA1");
    return ok ? 0 : -1;
}

static int connect_local(redis_store *s, redis_local *r)
{
    redisContext *c = redisConnectWithTimeout(s->host, s->port, s->connect_tv);
    if (!c || c->err) {
        char why[200];
        snprintf(why, sizeof why, "connecting: %s", c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        mark_down(s, why);
        return -1;
    }
    redisSetTimeout(c, s->command_tv); /* every command is bounded, never a hang */
    if ((s->password[0] && setup_cmd(s, c, NULL, "AUTH %s", s->password) < 0) ||
        (s->db && setup_cmd(s, c, NULL, "SELECT %d", s->db) < 0) ||
        load_script(s, c, s->put_script, r->put_sha) < 0 ||
        load_script(s, c, s->del_script, r->del_sha) < 0) {
        redisFree(c);
        return -1;
    }
    r->c = c;
    pthread_mutex_lock(&s->err_lock);
    s->last_error[0] = 0;
    pthread_mutex_unlock(&s->err_lock);
    return 0;
}

redis_local *eh_redis_conn(redis_store *s, int *temp)
{
    *temp = 0;
    int64_t until = __atomic_load_n(&s->down_until, __ATOMIC_RELAXED);
    if (until && eh_kv_now_ns() < until) {
        pthread_mutex_lock(&s->err_lock);
        eh_kv_fail("%s: unavailable (%s)", s->base.desc, s->last_error);
        pthread_mutex_unlock(&s->err_lock);
        return NULL;
    }
    redis_local *r = (redis_local *)eh_kv_local_find(&s->base);
    if (r && r->c)
        return r;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) {
            eh_kv_fail("out of memory");
            return NULL;
        }
        if (eh_kv_local_add(&s->base, &r->head) < 0)
            *temp = 1;
    }
    if (connect_local(s, r) < 0) {
        eh_redis_done(r, *temp);
        return NULL;
    }
    return r;
}

void eh_redis_done(redis_local *r, int temp)
{
    if (temp) {
        close_conn(r);
        free(r);
    }
}

redisReply *eh_redis_cmd(redis_store *s, redis_local *r, int argc, const char **argv,
                         const size_t *lens)
{
    redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
    if (!rep) {
        char why[200];
        snprintf(why, sizeof why, "%s", r->c->errstr[0] ? r->c->errstr : "connection lost");
        close_conn(r);
        mark_down(s, why);
    }
    return rep;
}

redisReply *eh_redis_script(redis_store *s, redis_local *r, int put, int nargs,
                            const char **args, const size_t *lens)
{
    const char *argv[8];
    size_t alen[8];
    argv[0] = "EVALSHA";
    alen[0] = 7;
    for (int attempt = 0; attempt < 2; attempt++) {
        argv[1] = put ? r->put_sha : r->del_sha;
        alen[1] = 40;
        for (int i = 0; i < nargs && i < 6; i++) {
            argv[2 + i] = args[i];
            alen[2 + i] = lens[i];
        }
        redisReply *rep = eh_redis_cmd(s, r, 2 + nargs, argv, alen);
        if (!rep || rep->type != REDIS_REPLY_ERROR || strncmp(rep->str, "NOSCRIPT", 8))
            return rep;
        freeReplyObject(rep); /* the server lost its scripts (restart, SCRIPT FLUSH) */
        if (load_script(s, r->c, put ? s->put_script : s->del_script,
                        put ? r->put_sha : r->del_sha) < 0) {
            close_conn(r);
            return NULL;
        }
    }
    eh_kv_fail("%s: the server keeps losing its scripts", s->base.desc);
    return NULL;
}

int32_t eh_redis_reply_fail(redis_store *s, redisReply *reply, const char *what)
{
    if (reply->type == REDIS_REPLY_ERROR)
        eh_kv_fail("%s: %s: %.*s", s->base.desc, what, (int)reply->len, reply->str);
    else
        eh_kv_fail("%s: %s: unexpected reply type %d", s->base.desc, what, reply->type);
    freeReplyObject(reply);
    return EH_ERR_UNAVAILABLE;
}

int eh_redis_health(eh_kv_store *store, char *out, size_t cap)
{
    redis_store *s = (redis_store *)store;
    pthread_mutex_lock(&s->err_lock);
    int bad = s->last_error[0] != 0;
    snprintf(out, cap, "%s", s->last_error);
    pthread_mutex_unlock(&s->err_lock);
    return bad;
}

void eh_redis_close(eh_kv_store *store)
{
    redis_store *s = (redis_store *)store;
    eh_kv_locals_close(store);
    pthread_mutex_destroy(&s->err_lock);
    free(s);
}

void eh_redis_abandon(eh_kv_store *store)
{
    /* A forked child shares the parent's sockets: leave them alone. */
    free(store);
}

eh_kv_store *eh_kv_open_redis(const char *host, int port, int db, const char *password,
                              const char *prefix, uint32_t connect_timeout_ms,
                              uint32_t timeout_ms, uint32_t retry_ms, char *err, size_t errlen)
{
    if (!prefix[0] || strlen(prefix) > REDIS_PREFIX_MAX || strpbrk(prefix, "{}*?[]\\")) {
        snprintf(err, errlen, "redis key prefix must be 1..%d characters without {}*?[]\\",
                 REDIS_PREFIX_MAX);
        return NULL;
    }
    if (strlen(host) >= sizeof ((redis_store *)0)->host ||
        strlen(password) >= sizeof ((redis_store *)0)->password) {
        snprintf(err, errlen, "redis host or password too long");
        return NULL;
    }
    redis_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    eh_kv_store_init(&s->base, &eh_redis_backend, 1u << 16);
    snprintf(s->host, sizeof s->host, "%s", host);
    snprintf(s->password, sizeof s->password, "%s", password);
    snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
    s->port = port;
    s->db = db;
    s->connect_tv = (struct timeval){connect_timeout_ms / 1000, (connect_timeout_ms % 1000) * 1000};
    s->command_tv = (struct timeval){timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    s->retry_ns = (int64_t)retry_ms * 1000000;
    pthread_mutex_init(&s->err_lock, NULL);
    snprintf(s->put_script, sizeof s->put_script, PUT_LUA, EH_ERR_QUOTA);
    snprintf(s->del_script, sizeof s->del_script, DEL_LUA, EH_ERR_NOT_FOUND);
    snprintf(s->base.desc, sizeof s->base.desc, "redis://%s:%d/%d", host, port, db);
    return &s->base;
}
