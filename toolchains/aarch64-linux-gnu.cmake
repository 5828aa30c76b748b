# SPDX-License-Identifier: GPL-2.0-only
# Cross toolchain: aarch64-linux-gnu (Debian g++-aarch64-linux-gnu), little-endian,
# core unit tests run under qemu-aarch64-static.
#   tests/cross/make_sysroot.sh arm64 build-cross/sysroots
#   cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=toolchains/aarch64-linux-gnu.cmake
set(FA_TRIPLE aarch64-linux-gnu)
set(FA_DEB_ARCH arm64)
set(FA_QEMU_CPU aarch64)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(FA_BPF_TARGET_DEFAULT bpfel)
# binutils aligns aarch64 segments to 64 KiB in the file, which pads a small daemon by ~60 KB of
# flash. Router kernels (OpenWrt, and Debian's arm64 kernel) use 4 KiB pages; set
# FA_MAX_PAGE_SIZE=65536 for a kernel built with 64 KiB pages.
set(FA_MAX_PAGE_SIZE 4096 CACHE STRING "Largest page size of the target kernel (bytes)")
set(FA_EXTRA_EXE_LINKER_FLAGS "-Wl,-z,max-page-size=${FA_MAX_PAGE_SIZE}")
include(${CMAKE_CURRENT_LIST_DIR}/linux-gnu-cross.cmake)
