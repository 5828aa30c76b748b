#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Builds a target sysroot for a cross build from Debian's own packages, without touching the
# host's dpkg or apt configuration:
#   - Debian architectures (arm64 armhf mipsel s390x): `apt-get download` of the runtime and -dev
#     packages through a private apt configuration (own sources list, lists and cache under the
#     sysroot's parent), then `dpkg -x` of each .deb and absolute symlinks made relative.
#   - mips (big-endian; no Debian port): the Debian *source* packages of CppUTest and inih are
#     fetched the same way and cross-built into the sysroot (PLATFORM-NOTES §4). When the
#     libinih source is not on the mirror, tests/cross/inih_compat.c stands in (see there).
#
#   tests/cross/make_sysroot.sh ARCH OUTDIR [core|full]
#
# ARCH is a Debian architecture name (arm64 armhf mipsel mips s390x). OUTDIR/ARCH becomes the
# sysroot; it is rebuilt only when its stamp is missing or names a different package set.
# `core` (default) gives what the portable core and its unit tests need (inih, CppUTest); `full`
# adds the libraries of the whole agent (libbpf, libelf, zlib, libnetfilter_conntrack,
# libnfnetlink, libmnl, libnl-3 for the link monitor).
set -euo pipefail

arch=${1:?usage: make_sysroot.sh ARCH OUTDIR [core|full]}
out=${2:?usage: make_sysroot.sh ARCH OUTDIR [core|full]}
set_name=${3:-core}
mirror=${FA_DEBIAN_MIRROR:-http://deb.debian.org/debian}

case $arch in
    arm64) triple=aarch64-linux-gnu ;;
    armhf) triple=arm-linux-gnueabihf ;;
    mipsel) triple=mipsel-linux-gnu ;;
    mips) triple=mips-linux-gnu ;;
    s390x) triple=s390x-linux-gnu ;;
    *) echo "make_sysroot: unknown architecture '$arch' (arm64 armhf mipsel mips s390x)" >&2
       exit 2 ;;
esac
case $set_name in
    core|full) ;;
    *) echo "make_sysroot: unknown package set '$set_name' (core or full)" >&2; exit 2 ;;
esac

core_pkgs=(libinih1 libinih-dev libcpputest-dev)
full_pkgs=(libbpf1 libbpf-dev libelf1 libelf-dev zlib1g zlib1g-dev libnetfilter-conntrack3
           libnetfilter-conntrack-dev libnfnetlink0 libnfnetlink-dev libmnl0 libmnl-dev
           libnl-3-200 libnl-3-dev)
pkgs=("${core_pkgs[@]}")
if [ "$set_name" = full ]; then
    if [ "$arch" = mips ]; then
        echo "make_sysroot: no Debian port for mips (big-endian): only the core set can be built" \
             "here; build the full agent for mips with the OpenWrt SDK" >&2
        exit 2
    fi
    pkgs+=("${full_pkgs[@]}")
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$out/$arch
stamp="$arch $set_name ${pkgs[*]}"
if [ -f "$root/.fa-sysroot" ] && [ "$(cat "$root/.fa-sysroot")" = "$stamp" ]; then
    echo "make_sysroot: $root is up to date"
    exit 0
fi
rm -rf "$root"
mkdir -p "$root"

# Private apt state: the host's sources, lists and dpkg architectures stay as they are.
apt_dir=$out/.apt-$arch
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
apt_arch=$arch
[ "$arch" = mips ] && apt_arch=amd64   # only source packages are needed for mips
cat > "$apt_dir/sources.list" <<SRC
deb [arch=$apt_arch] $mirror bookworm main
deb-src $mirror bookworm main
SRC
apt_opts=(-q -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o "APT::Architecture=$apt_arch" -o "APT::Architectures::=$apt_arch"
          -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update >/dev/null

relink() {  # absolute symlinks inside the sysroot point at the host: make them relative
    local link target
    while IFS= read -r link; do
        target=$(readlink "$link")
        case $target in
            /*) ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$root$target")" \
                    "$link" ;;
        esac
    done < <(find "$root" -type l)
}

if [ "$arch" != mips ]; then
    (cd "$apt_dir/debs" && rm -f ./*.deb &&
        apt-get "${apt_opts[@]}" download "${pkgs[@]/%/:$arch}" >/dev/null)
    for deb in "$apt_dir"/debs/*.deb; do
        dpkg -x "$deb" "$root"
    done
    relink
    echo "$stamp" > "$root/.fa-sysroot"
    echo "make_sysroot: $root ($(find "$apt_dir/debs" -name '*.deb' | wc -l) packages)"
    exit 0
fi

# mips big-endian: cross-build CppUTest and inih from Debian's source packages.
src=$apt_dir/src
rm -rf "$src"
mkdir -p "$src"
(cd "$src" && apt-get "${apt_opts[@]}" source --download-only cpputest >/dev/null)
# libinih's source package is not on every mirror: without it, tests/cross/inih_compat.c
# (checked against the real libinih by test_inih_compat.sh) is compiled against Debian's ini.h.
inih_from=debian-source
if ! (cd "$src" && apt-get "${apt_opts[@]}" source --download-only libinih >/dev/null 2>&1); then
    inih_from=compat
    rm -f "$src"/libinih_*
    (cd "$src" && apt-get "${apt_opts[@]}" download libinih-dev >/dev/null)
    dpkg -x "$src"/libinih-dev_*.deb "$src/inih-dev"
fi
(cd "$src" && for dsc in ./*.dsc; do dpkg-source --no-check -x "$dsc" >/dev/null; done)
libdir=$root/usr/lib/$triple
mkdir -p "$libdir/pkgconfig" "$root/usr/include"

cpputest_src=$(find "$src" -maxdepth 1 -type d -name 'cpputest-*' | head -1)
cmake -S "$cpputest_src" -B "$src/build-cpputest" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=mips \
      -DCMAKE_C_COMPILER="$triple-gcc" -DCMAKE_CXX_COMPILER="$triple-g++" \
      -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_LIBDIR="lib/$triple" \
      -DTESTS=OFF -DEXAMPLES=OFF -DLONGLONG=ON >/dev/null 2>&1
cmake --build "$src/build-cpputest" -j "${FA_JOBS:-2}" >/dev/null
DESTDIR=$root cmake --install "$src/build-cpputest" >/dev/null
# CppUTest 4.0 installs its .pc under lib/pkgconfig; keep it where PKG_CONFIG_LIBDIR looks.
if [ ! -f "$libdir/pkgconfig/cpputest.pc" ]; then
    pc=$(find "$root" -name cpputest.pc | head -1)
    [ -n "$pc" ] || { echo "make_sysroot: CppUTest built no cpputest.pc" >&2; exit 1; }
    sed "s|^libdir=.*|libdir=\${prefix}/lib/$triple|" "$pc" > "$libdir/pkgconfig/cpputest.pc"
fi

# inih is one C file: build it as Debian does (a shared libinih.so.1) plus the .pc file.
if [ "$inih_from" = debian-source ]; then
    inih_src=$(find "$src" -maxdepth 1 -type d -name 'libinih-*' | head -1)
    inih_ver=$(sed -n 's/^libinih (\([0-9]*\).*/\1/p' "$inih_src/debian/changelog" | head -1)
    inih_c=$inih_src/ini.c
    inih_h=$inih_src/ini.h
else
    here=$(cd "$(dirname "$0")" && pwd)
    inih_ver=$(dpkg-deb -f "$src"/libinih-dev_*.deb Version | sed 's/-.*//')
    inih_c=$here/inih_compat.c
    inih_h=$src/inih-dev/usr/include/ini.h
fi
cp "$inih_h" "$root/usr/include/ini.h"
"$triple-gcc" -O2 -fPIC -shared -Wl,-soname,libinih.so.1 -I"$root/usr/include" \
    -o "$libdir/libinih.so.1" "$inih_c"
ln -sfn libinih.so.1 "$libdir/libinih.so"
cat > "$libdir/pkgconfig/inih.pc" <<PC
prefix=/usr
libdir=\${prefix}/lib/$triple
includedir=\${prefix}/include

Name: inih
Description: simple .INI file parser (cross-built from the Debian source package)
Version: $inih_ver
Libs: -L\${libdir} -linih
Cflags: -I\${includedir}
PC
echo "$stamp" > "$root/.fa-sysroot"
echo "make_sysroot: $root (CppUTest from Debian source, inih $inih_ver from $inih_from)"
