#pragma once

// Test support for RowSource readers: an OutputChunk in plain memory, and text forms of the
// 128-bit values chunks hold. Header-only; only tests include it.

#include <cstring>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace sluice::engine::testing {

// An OutputChunk in plain vectors: every column has room for capacity values of up to 16 bytes;
// strings are copied.
class MemoryChunk : public OutputChunk {
 public:
  MemoryChunk(size_t columns, size_t capacity)
      : capacity_(capacity),
        fixed_(columns, std::vector<__int128>(capacity)),
        null_(columns, std::vector<bool>(capacity)),
        text_(columns, std::vector<std::string>(capacity)) {}

  size_t capacity() const override { return capacity_; }
  void* Data(size_t c) override { return fixed_.at(c).data(); }
  void SetNull(size_t c, size_t r) override { null_.at(c).at(r) = true; }
  void SetString(size_t c, size_t r, const char* data, size_t size) override {
    text_.at(c).at(r).assign(data, size);
  }

  // Back to all-valid, empty strings (the engine hands over a fresh chunk each time).
  void Reset() {
    for (auto& col : null_) col.assign(capacity_, false);
    for (auto& col : text_) col.assign(capacity_, std::string());
  }
  // Value `r` of column `c`, read as the physical type T (engine.h, OutputChunk).
  template <typename T>
  T Get(size_t c, size_t r) const {
    T v;
    std::memcpy(&v, reinterpret_cast<const char*>(fixed_[c].data()) + sizeof(T) * r, sizeof(T));
    return v;
  }
  bool IsNull(size_t c, size_t r) const { return null_[c][r]; }
  const std::string& Text(size_t c, size_t r) const { return text_[c][r]; }

 private:
  size_t capacity_;
  std::vector<std::vector<__int128>> fixed_;
  std::vector<std::vector<bool>> null_;
  std::vector<std::vector<std::string>> text_;
};

// Decimal digits of a 128-bit integer.
inline std::string Int128Text(__int128 v) {
  bool negative = v < 0;
  unsigned __int128 mag = negative ? -static_cast<unsigned __int128>(v) : v;
  std::string s;
  do {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(mag % 10)));
    mag /= 10;
  } while (mag > 0);
  return negative ? "-" + s : s;
}

// An unscaled DECIMAL with `scale` fraction digits, as the servers print it: -0.05, 12.50.
inline std::string DecimalText(__int128 unscaled, int scale) {
  std::string digits = Int128Text(unscaled < 0 ? -unscaled : unscaled);
  while (static_cast<int>(digits.size()) <= scale) digits.insert(digits.begin(), '0');
  if (scale > 0) digits.insert(digits.end() - scale, '.');
  return (unscaled < 0 ? "-" : "") + digits;
}

}  // namespace sluice::engine::testing
