/* csv family: not built yet -- every csv kernel answers ENOTSUP. */
#include "kernels/dispatch.h"

void eh_csv_init(uint64_t cpu, const char *force) { (void)cpu; (void)force; }

void eh_csv_run(const eh_offload_req *req, eh_offload_res *res)
{
    (void)req;
    res->status = EH_K_ENOTSUP;
}
