// Everything a cell's native loops use.
#pragma once

#include <torch/library.h>

#include "buffers.h"
#include "input.h"
#include "product.h"
#include "step.h"
#include "team.h"
#include "vec.h"
#include "zoneout.h"
