#include "eh_offload.h"
#include "kernels/dispatch.h"
#include "kernels/crc32c/crc32c.h"
void eh_kernels_init(void);
