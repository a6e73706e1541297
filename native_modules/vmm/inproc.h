/* inproc.c and the signal handler it relies on (thread_signal.c). */
#ifndef EH_VMM_INPROC_H
#define EH_VMM_INPROC_H
#include <setjmp.h>

/* The signal handler unwinds to j on this thread while it is set. */
void eh_sig_bind_unwind(sigjmp_buf *j);

#endif
