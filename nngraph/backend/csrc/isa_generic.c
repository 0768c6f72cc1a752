/* The generic path: the element-wise kernels for any CPU the compiler targets (on x86-64, SSE2; float32
 * tanh's fmaf is then libm's, slower and the same bits). No GEMMs: numpy's BLAS does the products. */
#include "kernels.h"

#include "cells.h"

static int runs_here(void) { return 1; }

#define PATH_VAR ISA_GENERIC
#define PATH_NAME "generic"
#define PATH_HAS_GEMM 0
#include "path_table.h"
