// OpenBLAS's CBLAS interface, plus its thread-count controls.
#ifndef TRAINER_CBLAS_SHIM_H
#define TRAINER_CBLAS_SHIM_H
#include <cblas.h>
#endif
