# SPDX-License-Identifier: GPL-2.0-only
# Cross toolchain: mipsel-linux-gnu (Debian g++-mipsel-linux-gnu), little-endian,
# core unit tests run under qemu-mipsel-static.
#   tests/cross/make_sysroot.sh mipsel build-cross/sysroots
#   cmake -S . -B build-mipsel -G Ninja -DCMAKE_TOOLCHAIN_FILE=toolchains/mipsel-linux-gnu.cmake
set(FA_TRIPLE mipsel-linux-gnu)
set(FA_DEB_ARCH mipsel)
set(FA_QEMU_CPU mipsel)
set(CMAKE_SYSTEM_PROCESSOR mipsel)
set(FA_BPF_TARGET_DEFAULT bpfel)
set(FA_BPF_ASM_DEFINES -D__MIPSEL__)
include(${CMAKE_CURRENT_LIST_DIR}/linux-gnu-cross.cmake)
