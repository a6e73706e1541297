/* STREAM family: not built yet -- answers ENOTSUP. */
#include "kernels/dispatch.h"

void eh_stream_run(const eh_offload_req *req, eh_offload_res *res)
{
    (void)req;
    res->status = EH_K_ENOTSUP;
}
