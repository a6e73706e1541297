/* Kernel families and the one dispatcher.
 *
 * Each family (crc32c/, csv/, json/, vector/, stream/) owns:
 *   void eh_<family>_init(uint64_t cpu, const char *force);  fills its table,
 *        generic first, upgraded by the EH_CPU_* bits in cpu; force (may be
 *        NULL) names a variant to pin ("byte", "sse42", "avx512", ...).
 *   void eh_<family>_run(const eh_offload_req *, eh_offload_res *);
 * All of it is freestanding (no libc): the same files link into the host
 * module, the KVM guest image and the wasm32 benchmark build. */
#ifndef EH_KERNELS_DISPATCH_H
#define EH_KERNELS_DISPATCH_H
#include <stdint.h>
#include "eh_offload.h"

#define EH_CPU_SSE42      (1ull << 0)
#define EH_CPU_PCLMUL     (1ull << 1)
#define EH_CPU_AVX2       (1ull << 2)
#define EH_CPU_BMI2       (1ull << 3)
#define EH_CPU_AVX512F    (1ull << 4)
#define EH_CPU_AVX512BW   (1ull << 5)
#define EH_CPU_AVX512VL   (1ull << 6)
#define EH_CPU_VPCLMULQDQ (1ull << 7)
#define EH_CPU_AVX512DQ   (1ull << 8)
#define EH_CPU_FMA        (1ull << 9)

/* CPUID + XGETBV (OS-enabled state included). Works in host and guest ring 3. */
uint64_t eh_cpu_detect(void);

/* Initialise every family. Idempotent; call before concurrent use. */
void eh_kernels_init_with(uint64_t cpu, const char *force);

void eh_crc32c_init(uint64_t cpu, const char *force);
void eh_crc32c_run(const eh_offload_req *req, eh_offload_res *res);
void eh_csv_init(uint64_t cpu, const char *force);
void eh_csv_run(const eh_offload_req *req, eh_offload_res *res);
void eh_json_init(uint64_t cpu, const char *force);
void eh_json_run(const eh_offload_req *req, eh_offload_res *res);
void eh_vector_init(uint64_t cpu, const char *force);
void eh_vector_run(const eh_offload_req *req, eh_offload_res *res);
void eh_stream_run(const eh_offload_req *req, eh_offload_res *res);

#endif
