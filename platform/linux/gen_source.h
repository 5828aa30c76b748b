// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include "source_linux.h"

namespace fa {
// source = generator: the built-in traffic generator as a Source.
Source* new_generator_source();
}
