// SPDX-License-Identifier: GPL-2.0-only
// Counts every heap allocation (CppUTest's new, new[] and malloc hooks) between start() and
// stop(), for the "no allocation after start-up" tests. start() proves the hook sees
// allocations (probe(): one `new int`), so a count of zero means something.
#pragma once
#include <CppUTest/TestMemoryAllocator.h>

namespace fa_test {

class AllocCounter {
public:
    // Installs the counting hooks; returns how many allocations the probe's `new int` was seen
    // as (1 when the hook works), and starts counting from zero.
    int start()
    {
        nw_.real = getCurrentNewAllocator();
        na_.real = getCurrentNewArrayAllocator();
        ml_.real = getCurrentMallocAllocator();
        setCurrentNewAllocator(&nw_);
        setCurrentNewArrayAllocator(&na_);
        setCurrentMallocAllocator(&ml_);
        int* probe = new int(1);
        delete probe;
        const int seen = nw_.count;
        nw_.count = na_.count = ml_.count = 0;
        return seen;
    }
    // Restores CppUTest's allocators; returns the allocations since start().
    int stop()
    {
        const int n = nw_.count + na_.count + ml_.count;
        setCurrentNewAllocator(nw_.real);
        setCurrentNewArrayAllocator(na_.real);
        setCurrentMallocAllocator(ml_.real);
        return n;
    }

private:
    struct Counting : TestMemoryAllocator {
        TestMemoryAllocator* real = nullptr;
        int count = 0;
        char* alloc_memory(size_t size, const char* file, size_t line) override
        {
            count++;
            return real->alloc_memory(size, file, line);
        }
        void free_memory(char* mem, size_t size, const char* file, size_t line) override
        {
            real->free_memory(mem, size, file, line);
        }
        const char* alloc_name() const override { return real->alloc_name(); }
        const char* free_name() const override { return real->free_name(); }
    };
    Counting nw_, na_, ml_;
};

} // namespace fa_test
