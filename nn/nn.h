// Everything of the nn layer.
#pragma once

#include "nn/describe.h"
#include "nn/functional.h"
#include "nn/hooks.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "nn/loss.h"
#include "nn/lsuv.h"
#include "nn/memory.h"
#include "nn/module.h"
