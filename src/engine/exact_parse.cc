#include "engine/exact_parse.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <string>

#include "common/time.h"

namespace sluice::engine::exact {
namespace {

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A number in decimal notation, as its significant digits (no leading or trailing zeros) and
// a power of ten: value = digits * 10^exponent.
struct DecimalText {
  bool negative = false;
  std::string digits;  // empty for zero
  int64_t exponent = 0;
};

std::optional<DecimalText> ParseDecimalText(std::string_view s) {
  s = TrimSpaces(s);
  if (s.size() > 400) return std::nullopt;  // far more digits than any type holds
  DecimalText d;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) d.negative = s[i++] == '-';
  bool any = false;
  for (; i < s.size() && IsDigit(s[i]); i++, any = true) d.digits.push_back(s[i]);
  if (i < s.size() && s[i] == '.') {
    for (i++; i < s.size() && IsDigit(s[i]); i++, any = true) {
      d.digits.push_back(s[i]);
      d.exponent--;
    }
  }
  if (!any) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    bool neg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i >= s.size() || !IsDigit(s[i])) return std::nullopt;
    int64_t e = 0;
    for (; i < s.size() && IsDigit(s[i]); i++) {
      e = e * 10 + (s[i] - '0');
      if (e > 100000) return std::nullopt;
    }
    d.exponent += neg ? -e : e;
  }
  if (i != s.size()) return std::nullopt;
  // Leading zeros carry nothing; trailing zeros are places.
  size_t first = d.digits.find_first_not_of('0');
  d.digits.erase(0, first == std::string::npos ? d.digits.size() : first);
  while (!d.digits.empty() && d.digits.back() == '0') {
    d.digits.pop_back();
    d.exponent++;
  }
  if (d.digits.empty()) d.exponent = 0;
  return d;
}

// digits * 10^shift as an integer, or nullopt when it has more than max_digits digits or is
// not whole.
std::optional<unsigned __int128> Scaled(const DecimalText& d, int64_t shift, int max_digits) {
  if (d.digits.empty()) return 0;
  int64_t e = d.exponent + shift;
  if (e < 0) return std::nullopt;  // a fraction the type cannot keep
  if (static_cast<int64_t>(d.digits.size()) + e > max_digits) return std::nullopt;
  constexpr unsigned __int128 kMax = ~static_cast<unsigned __int128>(0);
  unsigned __int128 v = 0;
  auto push = [&](unsigned digit) {
    if (v > (kMax - digit) / 10) return false;  // 39 digits can exceed 2^128
    v = v * 10 + digit;
    return true;
  };
  for (char c : d.digits) {
    if (!push(static_cast<unsigned>(c - '0'))) return std::nullopt;
  }
  for (int64_t k = 0; k < e; k++) {
    if (!push(0)) return std::nullopt;
  }
  return v;
}

bool IsSpecialFloat(std::string_view s) {
  std::string t;
  for (char c : s) t.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) t.erase(0, 1);
  return t == "inf" || t == "infinity" || t == "nan";
}

// The number text reads as equals the shortest text of value.
template <typename T>
std::optional<T> ParseBinaryFloat(std::string_view text, int safe_digits, int safe_exponent) {
  std::string_view s = TrimSpaces(text);
  if (s.empty()) return std::nullopt;
  std::string_view body = s;
  if (body[0] == '+') body.remove_prefix(1);
  T value{};
  auto r = std::from_chars(body.data(), body.data() + body.size(), value);
  if (r.ec == std::errc::result_out_of_range) return std::nullopt;  // overflow or underflow
  if (r.ec != std::errc() || r.ptr != body.data() + body.size()) return std::nullopt;
  if (IsSpecialFloat(s)) return value;
  auto in = ParseDecimalText(s);
  if (!in) return std::nullopt;
  if (!std::isfinite(value)) return std::nullopt;
  if (in->digits.empty()) return value;  // zero
  int64_t magnitude = in->exponent + static_cast<int64_t>(in->digits.size());
  // Up to DBL_DIG (FLT_DIG) significant digits in the normal range: the binary value's shortest
  // text has at most as many digits and reads back the same, so it is the same number.
  if (static_cast<int>(in->digits.size()) <= safe_digits && magnitude > -safe_exponent &&
      magnitude < safe_exponent) {
    return value;
  }
  char buf[64];
  auto w = std::to_chars(buf, buf + sizeof buf, value);
  auto out = ParseDecimalText(std::string_view(buf, static_cast<size_t>(w.ptr - buf)));
  if (!out || out->digits != in->digits || out->exponent != in->exponent ||
      (!in->digits.empty() && out->negative != in->negative)) {
    return std::nullopt;
  }
  return value;
}

// Reads 1..max_len digits at s[*i]; returns the number or -1.
int64_t Digits(std::string_view s, size_t* i, size_t min_len, size_t max_len) {
  size_t start = *i;
  int64_t v = 0;
  while (*i < s.size() && IsDigit(s[*i]) && *i - start < max_len) v = v * 10 + (s[(*i)++] - '0');
  return *i - start >= min_len ? v : -1;
}

// Two digits at p, or -1.
inline int TwoDigits(const char* p) {
  unsigned a = static_cast<unsigned char>(p[0]) - '0', b = static_cast<unsigned char>(p[1]) - '0';
  return a > 9 || b > 9 ? -1 : static_cast<int>(a * 10 + b);
}

int DaysInMonth(int64_t y, int64_t m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return kDays[m - 1] + (m == 2 && leap ? 1 : 0);
}

// Y-M-D at s[*i]; returns days since 1970-01-01.
std::optional<int64_t> DatePart(std::string_view s, size_t* i) {
  // The common case, fast: YYYY-MM-DD.
  if (s.size() - *i >= 10 && s[*i + 4] == '-' && s[*i + 7] == '-' &&
      (s.size() - *i == 10 || !IsDigit(s[*i + 10]))) {
    const char* p = s.data() + *i;
    int y1 = TwoDigits(p), y2 = TwoDigits(p + 2), m = TwoDigits(p + 5), d = TwoDigits(p + 8);
    if (y1 >= 0 && y2 >= 0 && m >= 1 && m <= 12 && d >= 1) {
      int y = y1 * 100 + y2;
      if (y < 1 || d > DaysInMonth(y, m)) return std::nullopt;
      *i += 10;
      return DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
    }
  }
  int64_t y = Digits(s, i, 4, 4);
  if (y < 1 || *i >= s.size()) return std::nullopt;
  char sep = s[*i];
  if (sep != '-' && sep != '/' && sep != '.') return std::nullopt;
  (*i)++;
  int64_t m = Digits(s, i, 1, 2);
  if (m < 1 || m > 12 || *i >= s.size() || s[*i] != sep) return std::nullopt;
  (*i)++;
  int64_t d = Digits(s, i, 1, 2);
  if (d < 1 || d > DaysInMonth(y, m)) return std::nullopt;
  return DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

// HH:MM[:SS[.fraction]] at s[*i]; returns units of 10^-digits seconds since midnight, or
// nullopt when malformed or when the fraction has non-zero digits beyond `digits`.
std::optional<int64_t> TimePart(std::string_view s, size_t* i, int digits) {
  int64_t h, m, sec = 0, frac = 0;
  bool seconds = true;
  if (s.size() - *i >= 8 && s[*i + 2] == ':' && s[*i + 5] == ':') {
    // The common case, fast: HH:MM:SS.
    const char* p = s.data() + *i;
    h = TwoDigits(p);
    m = TwoDigits(p + 3);
    sec = TwoDigits(p + 6);
    if (h < 0 || h > 24 || m < 0 || m > 59 || sec < 0 || sec > 59) return std::nullopt;
    *i += 8;
  } else {
    h = Digits(s, i, 1, 2);
    if (h < 0 || h > 24 || *i >= s.size() || s[*i] != ':') return std::nullopt;
    (*i)++;
    m = Digits(s, i, 2, 2);
    if (m < 0 || m > 59) return std::nullopt;
    seconds = *i < s.size() && s[*i] == ':';
    if (seconds) {
      (*i)++;
      sec = Digits(s, i, 2, 2);
      if (sec < 0 || sec > 59) return std::nullopt;
    }
  }
  {
    if (seconds && *i < s.size() && s[*i] == '.') {
      (*i)++;
      int n = 0;
      bool any = false;
      for (; *i < s.size() && IsDigit(s[*i]); (*i)++, n++) {
        any = true;
        if (n < digits) {
          frac = frac * 10 + (s[*i] - '0');
        } else if (s[*i] != '0') {
          return std::nullopt;  // more precision than the type keeps
        }
      }
      if (!any) return std::nullopt;
      for (; n < digits; n++) frac *= 10;
    }
  }
  if (h == 24 && (m != 0 || sec != 0 || frac != 0)) return std::nullopt;
  int64_t unit = 1;
  for (int k = 0; k < digits; k++) unit *= 10;
  return ((h * 60 + m) * 60 + sec) * unit + frac;
}

}  // namespace

// The common case, fast: [-]digits with at most 18 digits and nothing else. nullopt when the
// text is not of that form (the general reading then decides).
std::optional<int64_t> PlainInteger(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size() || s.size() - i > 18) return std::nullopt;
  int64_t v = 0;
  for (; i < s.size(); i++) {
    unsigned d = static_cast<unsigned char>(s[i]) - '0';
    if (d > 9) return std::nullopt;
    v = v * 10 + d;
  }
  return s[0] == '-' ? -v : v;
}

std::optional<__int128> ParseInteger(std::string_view text, __int128 min, __int128 max) {
  if (auto v = PlainInteger(text)) {
    if (*v < min || *v > max) return std::nullopt;
    return *v;
  }
  auto d = ParseDecimalText(text);
  if (!d) return std::nullopt;
  auto mag = Scaled(*d, 0, 39);
  if (!mag) return std::nullopt;
  // |HUGEINT min| = 2^127 does not fit a signed 128-bit value: compare magnitudes unsigned.
  unsigned __int128 limit = d->negative ? static_cast<unsigned __int128>(-(min + 1)) + 1
                                        : static_cast<unsigned __int128>(max);
  if (*mag > limit) return std::nullopt;
  if (d->negative && min >= 0 && *mag != 0) return std::nullopt;
  if (d->negative) return static_cast<__int128>(~*mag + 1);
  return static_cast<__int128>(*mag);
}

std::optional<uint64_t> ParseUnsigned(std::string_view text) {
  auto d = ParseDecimalText(text);
  if (!d) return std::nullopt;
  auto mag = Scaled(*d, 0, 20);
  if (!mag || *mag > UINT64_MAX || (d->negative && *mag != 0)) return std::nullopt;
  return static_cast<uint64_t>(*mag);
}

std::optional<__int128> ParseDecimal(std::string_view text, int width, int scale) {
  // The common case, fast: [-]digits[.digits] with at most 18 significant digits and no more
  // fraction digits than scale. Anything else takes the general reading.
  if (width <= 18 && !text.empty() && text.size() <= 40) {
    bool negative = text[0] == '-';
    size_t i = negative ? 1 : 0;
    int64_t v = 0;
    int significant = 0, fraction = -1;
    bool plain = true, any = false;
    for (; i < text.size(); i++) {
      char c = text[i];
      if (c == '.') {
        if (fraction >= 0) plain = false;
        fraction = 0;
        continue;
      }
      unsigned d = static_cast<unsigned char>(c) - '0';
      if (d > 9 || significant >= 18) {
        plain = false;
        break;
      }
      any = true;
      if (fraction >= 0) fraction++;
      if (v == 0 && d == 0) continue;  // a leading zero
      significant++;
      v = v * 10 + d;
    }
    int f = std::max(fraction, 0);
    if (plain && any && fraction != 0 && f <= scale) {
      if (v != 0 && significant + (scale - f) > width) return std::nullopt;
      for (int k = f; k < scale; k++) v *= 10;
      return negative ? -v : v;
    }
  }
  auto d = ParseDecimalText(text);
  if (!d) return std::nullopt;
  auto mag = Scaled(*d, scale, width);
  if (!mag) return std::nullopt;
  return d->negative ? static_cast<__int128>(~*mag + 1) : static_cast<__int128>(*mag);
}

std::optional<double> ParseDouble(std::string_view text) {
  return ParseBinaryFloat<double>(text, 15, 300);
}

std::optional<float> ParseFloat(std::string_view text) {
  return ParseBinaryFloat<float>(text, 6, 35);
}

std::optional<int32_t> ParseDate(std::string_view text) {
  std::string_view s = TrimSpaces(text);
  size_t i = 0;
  auto days = DatePart(s, &i);
  if (!days) return std::nullopt;
  if (i < s.size() && (s[i] == ' ' || s[i] == 'T')) {
    i++;
    auto t = TimePart(s, &i, 6);
    if (!t || *t != 0) return std::nullopt;  // a time would be dropped
  }
  if (i != s.size()) return std::nullopt;
  return static_cast<int32_t>(*days);
}

std::optional<int64_t> ParseTime(std::string_view text) {
  std::string_view s = TrimSpaces(text);
  size_t i = 0;
  auto t = TimePart(s, &i, 6);
  if (!t || i != s.size()) return std::nullopt;
  return t;
}

bool Read(const Target& t, std::string_view text, int64_t* small, __int128* big) {
  switch (t.kind) {
    case Kind::kSigned:
    case Kind::kDecimal: {
      auto v = t.kind == Kind::kSigned ? ParseInteger(text, t.min, t.max)
                                       : ParseDecimal(text, t.width, t.scale);
      if (!v) return false;
      if (t.bytes == 16) {
        *big = *v;
      } else {
        *small = static_cast<int64_t>(*v);
      }
      return true;
    }
    case Kind::kUnsigned: {
      if (t.bytes == 8) {
        auto v = ParseUnsigned(text);
        if (!v) return false;
        *small = static_cast<int64_t>(*v);
        return true;
      }
      auto v = ParseInteger(text, 0, t.max);
      if (!v) return false;
      *small = static_cast<int64_t>(*v);
      return true;
    }
    case Kind::kFloat: {
      auto f = ParseFloat(text);
      if (!f) return false;
      *small = 0;
      std::memcpy(small, &*f, 4);
      return true;
    }
    case Kind::kDouble: {
      auto d = ParseDouble(text);
      if (!d) return false;
      std::memcpy(small, &*d, 8);
      return true;
    }
    case Kind::kDate: {
      auto d = ParseDate(text);
      if (!d) return false;
      *small = *d;
      return true;
    }
    case Kind::kTime: {
      auto v = ParseTime(text);
      if (!v) return false;
      *small = *v;
      return true;
    }
    case Kind::kTimestamp: {
      auto v = ParseTimestamp(text, t.digits, t.with_zone);
      if (!v) return false;
      *small = *v;
      return true;
    }
  }
  return false;
}

bool Fits(const Target& t, std::string_view text) {
  int64_t small;
  __int128 big;
  return Read(t, text, &small, &big);
}

std::optional<int64_t> ParseTimestamp(std::string_view text, int digits, bool with_zone) {
  std::string_view s = TrimSpaces(text);
  size_t i = 0;
  auto days = DatePart(s, &i);
  if (!days) return std::nullopt;
  int64_t unit = 1;
  for (int k = 0; k < digits; k++) unit *= 10;
  int64_t value = *days * 86400 * unit;
  if (i < s.size() && (s[i] == ' ' || s[i] == 'T')) {
    i++;
    auto t = TimePart(s, &i, digits);
    if (!t) return std::nullopt;
    value += *t;
    // The offset: Z, +HH, +HH:MM or +HHMM, maybe after a space.
    size_t j = i;
    if (j < s.size() && s[j] == ' ') j++;
    if (j < s.size() && (s[j] == 'Z' || s[j] == 'z')) {
      i = j + 1;
    } else if (j < s.size() && (s[j] == '+' || s[j] == '-')) {
      bool neg = s[j] == '-';
      j++;
      int64_t oh = Digits(s, &j, 2, 2);
      int64_t om = 0;
      if (oh < 0 || oh > 23) return std::nullopt;
      if (j < s.size() && s[j] == ':') j++;
      if (j < s.size() && IsDigit(s[j])) {
        om = Digits(s, &j, 2, 2);
        if (om < 0 || om > 59) return std::nullopt;
      }
      int64_t offset = (oh * 60 + om) * 60 * unit;
      if (offset != 0 && !with_zone) return std::nullopt;  // TIMESTAMP cannot keep it
      value -= neg ? -offset : offset;
      i = j;
    }
  }
  if (i != s.size()) return std::nullopt;
  return value;
}

}  // namespace sluice::engine::exact
