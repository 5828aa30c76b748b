# SPDX-License-Identifier: GPL-2.0-only
# Cross toolchain: an OpenWrt SDK (musl, the SDK's gcc), outside the OpenWrt package build.
# (Inside `make package/flowagent/compile`, openwrt/Makefile uses cmake.mk, which writes its own.)
#
#   cmake -S . -B build-owrt -G Ninja -DCMAKE_TOOLCHAIN_FILE=toolchains/openwrt-sdk.cmake \
#         -DOPENWRT_STAGING_DIR=$SDK/staging_dir -DOPENWRT_TARGET=mipsel-openwrt-linux-musl \
#         -DCMAKE_BUILD_TYPE=MinSizeRel
#
# OPENWRT_STAGING_DIR  the SDK's staging_dir (holds toolchain-* and target-*)
# OPENWRT_TARGET       the target triple, e.g. mips-openwrt-linux-musl, aarch64-openwrt-linux-musl
# OPENWRT_BIG_ENDIAN   ON for big-endian CPUs (default: guessed from the triple: mips-, mips64-,
#                      armeb-, powerpc-)
# FA_QEMU              qemu-user binary for running target binaries (default from the triple)
set(CMAKE_SYSTEM_NAME Linux)
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES OPENWRT_STAGING_DIR OPENWRT_TARGET
     OPENWRT_BIG_ENDIAN FA_QEMU)

if(NOT OPENWRT_STAGING_DIR OR NOT OPENWRT_TARGET)
  message(FATAL_ERROR "openwrt-sdk.cmake: set OPENWRT_STAGING_DIR (the SDK's staging_dir) and "
                      "OPENWRT_TARGET (e.g. mipsel-openwrt-linux-musl)")
endif()
file(GLOB _fa_tc "${OPENWRT_STAGING_DIR}/toolchain-*")
file(GLOB _fa_tg "${OPENWRT_STAGING_DIR}/target-*")
list(FILTER _fa_tg EXCLUDE REGEX "/target-[^/]*/host$")
list(LENGTH _fa_tc _fa_ntc)
list(LENGTH _fa_tg _fa_ntg)
if(NOT _fa_ntc EQUAL 1 OR NOT _fa_ntg EQUAL 1)
  message(FATAL_ERROR "openwrt-sdk.cmake: expected one toolchain-* and one target-* directory in "
                      "${OPENWRT_STAGING_DIR}, found '${_fa_tc}' and '${_fa_tg}'")
endif()
set(OPENWRT_TOOLCHAIN_DIR ${_fa_tc})
set(OPENWRT_TARGET_DIR ${_fa_tg})
if(NOT EXISTS "${OPENWRT_TOOLCHAIN_DIR}/bin/${OPENWRT_TARGET}-g++")
  message(FATAL_ERROR "openwrt-sdk.cmake: no ${OPENWRT_TARGET}-g++ in ${OPENWRT_TOOLCHAIN_DIR}/bin "
                      "(check OPENWRT_TARGET)")
endif()
# The SDK's compiler and linker wrappers want STAGING_DIR in the environment, at configure time
# and at build time (where the configure-time environment is gone): launch them through env.
set(ENV{STAGING_DIR} "${OPENWRT_STAGING_DIR}")
foreach(_fa_lang C CXX)
  set(CMAKE_${_fa_lang}_COMPILER_LAUNCHER env STAGING_DIR=${OPENWRT_STAGING_DIR})
  set(CMAKE_${_fa_lang}_LINKER_LAUNCHER env STAGING_DIR=${OPENWRT_STAGING_DIR})
endforeach()

string(REGEX MATCH "^[^-]+" CMAKE_SYSTEM_PROCESSOR "${OPENWRT_TARGET}")
set(CMAKE_C_COMPILER ${OPENWRT_TOOLCHAIN_DIR}/bin/${OPENWRT_TARGET}-gcc)
set(CMAKE_CXX_COMPILER ${OPENWRT_TOOLCHAIN_DIR}/bin/${OPENWRT_TARGET}-g++)
set(CMAKE_STRIP ${OPENWRT_TOOLCHAIN_DIR}/bin/${OPENWRT_TARGET}-strip CACHE FILEPATH "strip")
set(CMAKE_SYSROOT ${OPENWRT_TARGET_DIR})
set(CMAKE_FIND_ROOT_PATH ${OPENWRT_TARGET_DIR} ${OPENWRT_TOOLCHAIN_DIR})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(ENV{PKG_CONFIG_SYSROOT_DIR} "${OPENWRT_TARGET_DIR}")
set(ENV{PKG_CONFIG_LIBDIR}
    "${OPENWRT_TARGET_DIR}/usr/lib/pkgconfig:${OPENWRT_TARGET_DIR}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Byte order decides the BPF object (include/bpf.mk does the same from CONFIG_BIG_ENDIAN).
if(NOT DEFINED OPENWRT_BIG_ENDIAN)
  if(OPENWRT_TARGET MATCHES "^(mips|mips64|armeb|aarch64_be|powerpc|powerpc64)-")
    set(OPENWRT_BIG_ENDIAN ON)
  else()
    set(OPENWRT_BIG_ENDIAN OFF)
  endif()
endif()
if(OPENWRT_BIG_ENDIAN)
  set(_fa_bpf bpfeb)
  set(_fa_mips -D__MIPSEB__)
else()
  set(_fa_bpf bpfel)
  set(_fa_mips -D__MIPSEL__)
endif()
if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^mips")
  set(_fa_mips "")
endif()
if(NOT FA_BPF_TARGET)
  set(FA_BPF_TARGET ${_fa_bpf} CACHE STRING "BPF object endianness: bpfel or bpfeb")
endif()
if(NOT DEFINED CACHE{FA_BPF_CFLAGS})
  set(FA_BPF_CFLAGS -O2 -g -Wall -Wextra -Werror -target ${FA_BPF_TARGET}
      -idirafter ${OPENWRT_TOOLCHAIN_DIR}/include ${_fa_mips} CACHE STRING
      "Flags for the kernel programs")
endif()

# qemu-user runs the musl binaries with the SDK's loader and libraries.
if(NOT FA_QEMU)
  set(_fa_cpu ${CMAKE_SYSTEM_PROCESSOR})
  if(_fa_cpu MATCHES "^arm")
    set(_fa_cpu arm)
  endif()
  set(FA_QEMU qemu-${_fa_cpu}-static)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${FA_QEMU};-L;${OPENWRT_TARGET_DIR})
