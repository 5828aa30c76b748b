# SPDX-License-Identifier: GPL-2.0-only
# Cross toolchain: mips-linux-gnu (Debian g++-mips-linux-gnu), big-endian,
# core unit tests run under qemu-mips-static.
#   tests/cross/make_sysroot.sh mips build-cross/sysroots
#   cmake -S . -B build-mips -G Ninja -DCMAKE_TOOLCHAIN_FILE=toolchains/mips-linux-gnu.cmake
set(FA_TRIPLE mips-linux-gnu)
set(FA_DEB_ARCH mips)
set(FA_QEMU_CPU mips)
set(CMAKE_SYSTEM_PROCESSOR mips)
set(FA_BPF_TARGET_DEFAULT bpfeb)
set(FA_BPF_ASM_DEFINES -D__MIPSEB__)
include(${CMAKE_CURRENT_LIST_DIR}/linux-gnu-cross.cmake)
