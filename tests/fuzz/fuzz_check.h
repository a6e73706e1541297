/* The check every fuzz target makes: on a broken invariant, one line naming
 * the target and the condition (plus a printf-style detail) on stderr, then
 * abort(), which libFuzzer reports as a crash and keeps the input of. */
#ifndef EH_FUZZ_CHECK_H
#define EH_FUZZ_CHECK_H
#include <stdio.h>
#include <stdlib.h>

/* prefix: a string literal naming the target ("elf ", or "" for the kernels). */
#define FUZZ_CHECK_AS(prefix, cond, ...)                                 \
    do {                                                                 \
        if (!(cond)) {                                                   \
            fprintf(stderr, prefix "fuzz check failed: %s: ", #cond);    \
            fprintf(stderr, __VA_ARGS__);                                \
            fprintf(stderr, "\n");                                       \
            abort();                                                     \
        }                                                                \
    } while (0)

#endif
