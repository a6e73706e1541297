/*
 * eh_inproc_sink: kernels run in this process (isolation "inproc"), bounded
 * by the caller's deadline like a guest call is.
 *
 * A request whose work cannot take as long as the time left runs as a plain
 * call. "Cannot" is a bound, not a guess: every kernel is linear in the bytes
 * it touches (inputs + output, times STREAM's repetitions) and none runs
 * slower than EH_INPROC_MIN_BPS on these machines (the slowest, the scalar
 * JSON and CSV variants, do 50-130 MB/s). Any other request runs under this
 * thread's timer, armed for the time left: at the deadline its signal
 * unwinds the kernel (thread_signal.c) and the call reports
 * EH_OFFLOAD_TIMEOUT, as a guest call stopped at its deadline does. So the
 * timer's cost (two timer_settime, ~1 us) is only paid by requests big enough
 * to make it small.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include "kernels/dispatch.h"
#include "vmm/vmm_internal.h"
#include "vmm/inproc.h"

#define EH_INPROC_MIN_BPS (10ull << 20) /* bytes of work per second, at the least */
#define EH_INPROC_SLACK_NS 100000ull    /* plus this, whatever the size            */

/* Upper bound of the request's run time in ns (saturating). */
static uint64_t run_bound_ns(const eh_offload_req *req)
{
    uint64_t bytes = req->in_len + req->in2_len;
    bytes = bytes < req->in_len ? UINT64_MAX : bytes;
    bytes = bytes + req->out_cap < bytes ? UINT64_MAX : bytes + req->out_cap;
    if (req->kernel == EH_KERNEL_STREAM) {
        uint64_t reps = req->arg[1] ? req->arg[1] : 10;
        bytes = reps && bytes > UINT64_MAX / reps ? UINT64_MAX : bytes * reps;
    }
    if (bytes > UINT64_MAX / 1000000000ull)
        return UINT64_MAX;
    return bytes * 1000000000ull / EH_INPROC_MIN_BPS + EH_INPROC_SLACK_NS;
}

static eh_offload_status run_bounded(const eh_offload_req *req, eh_offload_res *res,
                                     uint64_t left_ns, char *err, size_t errlen)
{
    timer_t *t = eh_thread_timer();
    if (!t) {
        EH_ERR(err, errlen, "no timer to bound the in-process kernel by its deadline");
        return EH_OFFLOAD_SYSTEM;
    }
    sigset_t sig, old;
    sigemptyset(&sig);
    sigaddset(&sig, eh_sig());
    pthread_sigmask(SIG_UNBLOCK, &sig, &old);
    sigjmp_buf unwind;
    eh_offload_status rc = EH_OFFLOAD_OK;
    if (sigsetjmp(unwind, 1) == 0) {
        eh_sig_bind_unwind(&unwind);
        eh_timer_set(t, left_ns, 0);
        eh_kernel_run(req, res);
        eh_sig_bind_unwind(NULL);
    } else { /* the timer fired: the handler unwound the kernel */
        memset(res, 0, sizeof *res);
        EH_ERR(err, errlen, "in-process kernel stopped at the caller's deadline");
        rc = EH_OFFLOAD_TIMEOUT;
    }
    eh_timer_set(t, 0, 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static eh_offload_status inproc_run(eh_vm *vm, const eh_offload_req *req, eh_offload_res *res,
                                    uint64_t deadline_ns, char *err, size_t errlen)
{
    (void)vm;
    if (!deadline_ns) {
        eh_kernel_run(req, res);
        return EH_OFFLOAD_OK;
    }
    uint64_t now = eh_now_ns();
    if (now >= deadline_ns) {
        memset(res, 0, sizeof *res);
        EH_ERR(err, errlen, "the caller's deadline passed before the kernel ran");
        return EH_OFFLOAD_TIMEOUT;
    }
    uint64_t left = deadline_ns - now;
    if (run_bound_ns(req) < left) {
        eh_kernel_run(req, res);
        return EH_OFFLOAD_OK;
    }
    return run_bounded(req, res, left, err, errlen);
}

const eh_offload_sink eh_inproc_sink = {.run = inproc_run};
