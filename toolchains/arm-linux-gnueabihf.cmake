# SPDX-License-Identifier: GPL-2.0-only
# Cross toolchain: arm-linux-gnueabihf (Debian g++-arm-linux-gnueabihf), little-endian,
# core unit tests run under qemu-arm-static.
#   tests/cross/make_sysroot.sh armhf build-cross/sysroots
#   cmake -S . -B build-armhf -G Ninja -DCMAKE_TOOLCHAIN_FILE=toolchains/arm-linux-gnueabihf.cmake
set(FA_TRIPLE arm-linux-gnueabihf)
set(FA_DEB_ARCH armhf)
set(FA_QEMU_CPU arm)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(FA_BPF_TARGET_DEFAULT bpfel)
include(${CMAKE_CURRENT_LIST_DIR}/linux-gnu-cross.cmake)
