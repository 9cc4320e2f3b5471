// Everything of the autograd layer: the tape, the differentiable ops, gradcheck, NoGrad.
#pragma once

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "autograd/tape.h"
#include "tensor/grad_mode.h"
