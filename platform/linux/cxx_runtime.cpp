// SPDX-License-Identifier: GPL-2.0-only
// The few C++ runtime entry points the agent needs, for builds that link libstdc++ statically
// (FA_STATIC_LIBSTDCXX, the router builds). libstdc++'s own operator new throws std::bad_alloc
// and its __cxa_pure_virtual calls std::terminate; either drags in the exception machinery, the
// unwinder and the verbose terminate handler with its C++ demangler (about 40 KB of a 200 KB
// flash budget) although the agent never throws. These versions abort instead, which is what a
// -fno-exceptions program does on those paths anyway. Compiled into the executable only.
#include <cstdlib>
#include <new>

void* operator new(std::size_t n)
{
    void* p = std::malloc(n != 0 ? n : 1);
    if (p == nullptr) std::abort();
    return p;
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept
{
    return std::malloc(n != 0 ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept
{
    return std::malloc(n != 0 ? n : 1);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

extern "C" void __cxa_pure_virtual() { std::abort(); }
