/*
 * Time and waiting: CLOCK_MONOTONIC in ns (vDSO), the TSC rate the guest
 * spins by (calibrated once per process), and private futexes.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "vmm/vmm_internal.h"

uint64_t eh_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static pthread_once_t tsc_once = PTHREAD_ONCE_INIT;
static double tsc_per_us;

static void calibrate_tsc(void)
{
    uint64_t t0 = eh_now_ns(), c0 = eh_rdtsc();
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
    uint64_t t1 = eh_now_ns(), c1 = eh_rdtsc();
    tsc_per_us = (double)(c1 - c0) * 1000.0 / (double)(t1 - t0);
}

double eh_vm_tsc_per_us(void)
{
    pthread_once(&tsc_once, calibrate_tsc);
    return tsc_per_us;
}

void eh_futex_wake(_Atomic uint32_t *w)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

/* Sleeps while *w == val, at most timeout_ns (< 0: no limit). */
int eh_futex_wait(_Atomic uint32_t *w, uint32_t val, int64_t timeout_ns)
{
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tp = &ts;
    }
    return (int)syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, val, tp, NULL, 0);
}
