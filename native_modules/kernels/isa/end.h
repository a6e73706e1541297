/* Closes the instruction-set region opened by kernels/isa/begin.h. */
#ifndef EH_ISA_ON
#error "kernels/isa/end.h without kernels/isa/begin.h"
#endif
#ifdef EH_ISA_TARGET
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#undef EH_ISA_TARGET
#endif
