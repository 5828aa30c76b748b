# SPDX-License-Identifier: GPL-2.0-only
# Shared part of the Debian cross toolchain files (aarch64, armhf, mipsel, mips, s390x).
# The per-target file sets FA_TRIPLE, FA_DEB_ARCH, FA_QEMU_CPU, CMAKE_SYSTEM_PROCESSOR and
# FA_BPF_TARGET_DEFAULT, then includes this file.
#
# Inputs (cache or -D):
#   FA_TARGET_SYSROOT  target libraries extracted from Debian .debs by
#                      tests/cross/make_sysroot.sh (default: <source>/build-cross/sysroots/<arch>).
#                      The C library itself comes from the cross compiler's /usr/<triple>.
#   FA_QEMU            qemu-user binary used as CMAKE_CROSSCOMPILING_EMULATOR
#                      (default qemu-<cpu>-static; binfmt_misc is not relied upon).
#
# CMake re-reads this file inside try_compile in the same process: the variables it needs there
# are passed through CMAKE_TRY_COMPILE_PLATFORM_VARIABLES (PLATFORM-NOTES §4).
set(CMAKE_SYSTEM_NAME Linux)

list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES FA_TRIPLE FA_DEB_ARCH FA_QEMU_CPU
     FA_TARGET_SYSROOT FA_QEMU FA_BPF_ASM_DEFINES
     FA_EXTRA_EXE_LINKER_FLAGS)

set(CMAKE_C_COMPILER ${FA_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${FA_TRIPLE}-g++)
set(CMAKE_STRIP ${FA_TRIPLE}-strip CACHE FILEPATH "strip for the target")

if(NOT FA_TARGET_SYSROOT)
  get_filename_component(_fa_src "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
  set(FA_TARGET_SYSROOT "${_fa_src}/build-cross/sysroots/${FA_DEB_ARCH}")
endif()
set(FA_TARGET_SYSROOT "${FA_TARGET_SYSROOT}" CACHE PATH "Target library sysroot (Debian .debs)")
if(NOT FA_QEMU)
  set(FA_QEMU qemu-${FA_QEMU_CPU}-static)
endif()
set(FA_QEMU "${FA_QEMU}" CACHE STRING "qemu-user emulator for running target binaries")

# `ctest` runs target binaries through qemu-user; -L gives it the target's dynamic loader and
# libc, LD_LIBRARY_PATH the sysroot's libraries (libinih, libbpf ... are shared).
set(_fa_libdirs "${FA_TARGET_SYSROOT}/lib/${FA_TRIPLE}:${FA_TARGET_SYSROOT}/usr/lib/${FA_TRIPLE}")
set(CMAKE_CROSSCOMPILING_EMULATOR
    ${FA_QEMU};-L;/usr/${FA_TRIPLE};-E;LD_LIBRARY_PATH=${_fa_libdirs})

# The compiler's own sysroot (/usr/<triple>) stays the root for libc; the extracted Debian
# libraries are an extra prefix found through pkg-config.
set(CMAKE_FIND_ROOT_PATH /usr/${FA_TRIPLE} ${FA_TARGET_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(ENV{PKG_CONFIG_SYSROOT_DIR} "${FA_TARGET_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR}
    "${FA_TARGET_SYSROOT}/usr/lib/${FA_TRIPLE}/pkgconfig:${FA_TARGET_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# zlib (and on some releases libelf) live in /lib/<triple>; their dependants need -rpath-link to resolve them.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-L${FA_TARGET_SYSROOT}/lib/${FA_TRIPLE}")
string(APPEND CMAKE_EXE_LINKER_FLAGS_INIT
       " -Wl,-rpath-link,${_fa_libdirs} ${FA_EXTRA_EXE_LINKER_FLAGS}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "${CMAKE_EXE_LINKER_FLAGS_INIT}")

# BPF objects must match the target's byte order (include/bpf.mk does the same in OpenWrt).
if(NOT FA_BPF_TARGET)
  set(FA_BPF_TARGET ${FA_BPF_TARGET_DEFAULT} CACHE STRING
      "BPF object endianness: bpfel or bpfeb (match the target CPU)")
endif()
# clang needs asm/types.h for the kernel programs: Debian keeps the target's UAPI asm/ headers in
# the cross compiler's /usr/<triple>/include (bpf/CMakeLists.txt only looks for the host's
# multiarch dir). MIPS's asm/byteorder.h keys off __MIPSEB__/__MIPSEL__, which clang does not
# define for -target bpf: the MIPS toolchain files pass it in FA_BPF_ASM_DEFINES, so that
# struct iphdr's bit fields get the target's order. Preset the BPF flags cache entry with it;
# -idirafter keeps the generic /usr/include/linux headers first.
set(FA_BPF_SYS_INCLUDE /usr/${FA_TRIPLE}/include CACHE PATH "UAPI asm/ include dir for BPF builds")
if(NOT DEFINED CACHE{FA_BPF_CFLAGS})
  set(FA_BPF_CFLAGS -O2 -g -Wall -Wextra -Werror -target ${FA_BPF_TARGET}
      -idirafter ${FA_BPF_SYS_INCLUDE} ${FA_BPF_ASM_DEFINES} CACHE STRING
      "Flags for the kernel programs")
endif()
