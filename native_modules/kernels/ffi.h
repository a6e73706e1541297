#include "eh_offload.h"
#include "kernels/dispatch.h"
#include "kernels/crc32c/crc32c.h"
#include "kernels/vector/vector.h"
void eh_kernels_init(void);
#include "kernels/csv/csv.h"
#include "kernels/json/json.h"
