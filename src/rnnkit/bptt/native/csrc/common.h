// Everything a cell's native loops use.
#pragma once

#include <torch/library.h>

#include "buffers.h"
#include "gemm.h"
#include "step.h"
#include "vec.h"
