/* libFuzzer target for the C SDK's msgpack reader (sdk/c/edgehost_msgpack.h).
 * The input, in an allocation of exactly its size, is walked as one msgpack
 * value with the SDK's getters (the type byte from eh_mp_peek picks the
 * getter, as a tenant's generic code would) and re-encoded with the SDK's
 * writer into canonical form. Checks: the reader never moves past its input,
 * strings and bins point inside it (ASan), and the canonical form decodes to
 * itself, consuming all of it.
 *
 * Built with -DEH_FUZZ_REPLAY it is a plain program instead: for every file
 * named on the command line it prints "ok CONSUMED HEX" (the canonical
 * re-encoding) or "error", and tests/fuzz/test_fuzz_targets.py compares that
 * with the Python msgpack package (the trusted peer) on the fuzzer's corpus. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edgehost_msgpack.h"
#include "fuzz_check.h"

#define MAX_DEPTH 1000

#define CHECK(cond, ...) FUZZ_CHECK_AS("msgpack ", cond, __VA_ARGS__)

/* One value from r to w; 0, or -1 when the reader refuses (or it nests
 * deeper than MAX_DEPTH, or is an ext type, which the SDK does not read). */
static int walk(eh_mp_reader *r, eh_mp_writer *w, int depth)
{
    if (depth > MAX_DEPTH)
        return -1;
    int t = eh_mp_peek(r);
    uint32_t before = r->pos;
    int rc = 0;
    if (t < 0) {
        return -1;
    } else if (t == 0xc0) {
        rc = eh_mp_get_nil(r) || eh_mp_put_nil(w);
    } else if (t == 0xc2 || t == 0xc3) {
        int b;
        rc = eh_mp_get_bool(r, &b) || eh_mp_put_bool(w, b);
    } else if (t == 0xca || t == 0xcb) {
        double d;
        rc = eh_mp_get_f64(r, &d) || eh_mp_put_f64(w, d);
    } else if (t < 0x80 || t >= 0xe0 || (t >= 0xcc && t <= 0xd3)) {
        int64_t i;
        rc = eh_mp_get_int(r, &i) || eh_mp_put_int(w, i);
    } else if ((t & 0xe0) == 0xa0 || (t >= 0xd9 && t <= 0xdb)) {
        const char *s;
        uint32_t n;
        rc = eh_mp_get_str(r, &s, &n);
        if (!rc) {
            CHECK((const uint8_t *)s >= r->buf && n <= r->len &&
                      (const uint8_t *)s + n <= r->buf + r->len, "str outside the input");
            rc = eh_mp_put_str(w, s, n);
        }
    } else if (t >= 0xc4 && t <= 0xc6) {
        const uint8_t *p;
        uint32_t n;
        rc = eh_mp_get_bin(r, &p, &n);
        if (!rc) {
            CHECK(p >= r->buf && n <= r->len && p + n <= r->buf + r->len, "bin outside the input");
            rc = eh_mp_put_bin(w, p, n);
        }
    } else if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd) {
        uint32_t n;
        rc = eh_mp_get_array(r, &n) || eh_mp_put_array(w, n);
        for (uint32_t i = 0; !rc && i < n; i++)
            rc = walk(r, w, depth + 1);
    } else if ((t & 0xf0) == 0x80 || t == 0xde || t == 0xdf) {
        uint32_t n;
        rc = eh_mp_get_map(r, &n) || eh_mp_put_map(w, n);
        for (uint64_t i = 0; !rc && i < 2ull * n; i++)
            rc = walk(r, w, depth + 1);
    } else {
        return -1; /* ext types (0xc7-0xc9, 0xd4-0xd8) and the unused 0xc1 */
    }
    CHECK(r->pos <= r->len && r->pos >= before, "reader at %u of %u", r->pos, r->len);
    CHECK(rc || r->pos > before, "a value of zero bytes");
    return rc ? -1 : 0;
}

/* Walks one value of data; returns the canonical length (or -1) and sets *used. */
static long canonical(const uint8_t *data, uint32_t size, uint8_t *out, uint32_t cap,
                      uint32_t *used)
{
    eh_mp_reader r = eh_mp_reader_init(data, size);
    eh_mp_writer w = eh_mp_writer_init(out, cap);
    if (walk(&r, &w, 0) || r.err)
        return -1;
    CHECK(!w.err, "canonical form larger than %u bytes", cap);
    *used = r.pos;
    return (long)w.len;
}

static void one(const uint8_t *data, size_t size, FILE *report)
{
    uint8_t *in = malloc(size ? size : 1), *out, *again;
    memcpy(in, data, size);
    /* float32 -> float64 is the largest growth: 5 -> 9 bytes */
    uint32_t cap = (uint32_t)(2 * size + 16), used = 0, used2 = 0;
    out = malloc(cap);
    again = malloc(cap);
    long n = canonical(in, (uint32_t)size, out, cap, &used);
    if (n >= 0) {
        long m = canonical(out, (uint32_t)n, again, cap, &used2);
        CHECK(m == n && used2 == (uint32_t)n && !memcmp(out, again, (size_t)n),
              "canonical form is not a fixed point (%ld vs %ld)", n, m);
    }
    if (report) {
        if (n < 0) {
            fprintf(report, "error\n");
        } else {
            fprintf(report, "ok %u ", used);
            for (long i = 0; i < n; i++)
                fprintf(report, "%02x", out[i]);
            fprintf(report, "\n");
        }
    }
    free(in);
    free(out);
    free(again);
}

#ifdef EH_FUZZ_REPLAY
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 2;
        }
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        one(buf, n, stdout);
    }
    return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size <= (1u << 20))
        one(data, size, NULL);
    return 0;
}
#endif
