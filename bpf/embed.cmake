# SPDX-License-Identifier: GPL-2.0-only
# cmake -DIN=obj -DOUT=header -DNAME=sym -P embed.cmake: writes the object as a byte array.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR size "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f],0x[0-9a-f][0-9a-f])" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT} "// SPDX-License-Identifier: GPL-2.0-only\n// Generated from ${IN}; do not edit.\n#pragma once\n#include <cstddef>\nalignas(8) static const unsigned char k_${NAME}_obj[] = {\n${bytes}\n};\nstatic const size_t k_${NAME}_obj_size = ${size};\n")
