// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <array>
#include <cstddef>

namespace fa {

// A non-owning view of contiguous memory (C++17 has no std::span).
template <typename T>
class Span {
public:
    constexpr Span() = default;
    constexpr Span(T* data, size_t size) : data_(data), size_(size) {}
    template <size_t N>
    constexpr Span(T (&arr)[N]) : data_(arr), size_(N) {}
    template <typename U, size_t N>
    constexpr Span(std::array<U, N>& arr) : data_(arr.data()), size_(N) {}

    constexpr T* data() const { return data_; }
    constexpr size_t size() const { return size_; }
    constexpr bool empty() const { return size_ == 0; }
    constexpr T& operator[](size_t i) const { return data_[i]; }
    constexpr T* begin() const { return data_; }
    constexpr T* end() const { return data_ + size_; }
    constexpr Span subspan(size_t off, size_t n) const { return Span(data_ + off, n); }

private:
    T* data_ = nullptr;
    size_t size_ = 0;
};

} // namespace fa
