# SPDX-License-Identifier: GPL-2.0-only
# Cross toolchain: s390x-linux-gnu (Debian g++-s390x-linux-gnu), big-endian,
# core unit tests run under qemu-s390x-static.
#   tests/cross/make_sysroot.sh s390x build-cross/sysroots
#   cmake -S . -B build-s390x -G Ninja -DCMAKE_TOOLCHAIN_FILE=toolchains/s390x-linux-gnu.cmake
set(FA_TRIPLE s390x-linux-gnu)
set(FA_DEB_ARCH s390x)
set(FA_QEMU_CPU s390x)
set(CMAKE_SYSTEM_PROCESSOR s390x)
set(FA_BPF_TARGET_DEFAULT bpfeb)
include(${CMAKE_CURRENT_LIST_DIR}/linux-gnu-cross.cmake)
