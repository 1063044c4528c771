// elementwise_body.h compiled as plain C, one element at a time: any CPU.
#pragma STDC FP_CONTRACT OFF
#include "vector_portable.h"
#include "elementwise_body.h"
