/* Host-process initialisation: CPU detection plus the EDGEHOST_KERNEL_VARIANT
 * override. Not linked into the guest (no getenv there): the VMM passes the
 * same two values through the call window instead. */
#include <stdlib.h>
#include "kernels/dispatch.h"

void eh_kernels_init(void)
{
    eh_kernels_init_with(eh_cpu_detect(), getenv("EDGEHOST_KERNEL_VARIANT"));
}
