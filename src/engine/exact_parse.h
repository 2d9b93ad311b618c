#pragma once

// Exact readings of text values into the engine's physical types, for CSV columns with a
// declared type: a value the type cannot hold exactly is refused, never rounded, truncated or
// reinterpreted. DuckDB's own CSV reader rounds '1.25' into DECIMAL(12,1) as 1.3, truncates
// '10:00:00.1234567' to microseconds, reads '16777217' into FLOAT as 16777216 and '1.5' into
// INTEGER as 2; these functions are what the engine uses instead (engine/duckdb registers them
// as SQL functions, see Engine::ExactReadType).
//
// Every function is pure and thread-safe. Surrounding spaces are allowed.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::engine::exact {

enum class Kind { kSigned, kUnsigned, kDecimal, kFloat, kDouble, kDate, kTime, kTimestamp };

// A declared column type read exactly, and how its values are stored.
struct Target {
  Kind kind = Kind::kSigned;
  int bytes = 8;  // physical bytes of the declared type (1, 2, 4, 8 or 16)
  int width = 0, scale = 0;
  int digits = 6;          // fractional-second digits of TIME and TIMESTAMP types
  bool with_zone = false;  // TIMESTAMP WITH TIME ZONE
  __int128 min = 0, max = 0;
  std::string declared;       // the type as the engine names it, for messages
  std::string read_function;  // the engine's function from text to the declared type
                              // (see Engine::ExactReadType)
};

// Reads text as t: the declared type's value in the low t.bytes bytes of *small (1 to 8 bytes;
// FLOAT and DOUBLE as their bits) or in *big (16 bytes). False when it does not fit exactly.
bool Read(const Target& t, std::string_view text, int64_t* small, __int128* big);
// True when text is a value of t exactly.
bool Fits(const Target& t, std::string_view text);

// An integer in [min, max]: digits with an optional sign; a fraction of zeros ('12.00') and an
// exponent ('1e3') are allowed when the value is whole. Hex, binary and '_' are not numbers.
std::optional<__int128> ParseInteger(std::string_view text, __int128 min, __int128 max);
// An unsigned 64-bit integer, by the same rules.
std::optional<uint64_t> ParseUnsigned(std::string_view text);

// A DECIMAL(width, scale) as its unscaled value (value * 10^scale): refused when it has more
// fraction digits than scale (other than trailing zeros) or more than width - scale integer
// digits. Exponents are allowed ('1.5e2').
std::optional<__int128> ParseDecimal(std::string_view text, int width, int scale);

// A DOUBLE or FLOAT whose shortest round-trip text is the same number as the input: '0.1' and
// '3.4028235e38' are exact, '16777217' (FLOAT) and '9007199254740993' (DOUBLE) are not, nor a
// finite value that overflows or underflows to 0. 'inf', 'infinity' and 'nan' (any case, with
// a sign) are their values.
std::optional<double> ParseDouble(std::string_view text);
std::optional<float> ParseFloat(std::string_view text);

// Fractional-second precision of a time or timestamp type: 0 (seconds), 3 (milliseconds) or
// 6 (microseconds).
// A DATE as days since 1970-01-01: Y-M-D with '-', '/' or '.' (the same twice); a time after it
// must be midnight. Years 1 to 9999.
std::optional<int32_t> ParseDate(std::string_view text);
// A TIME as microseconds since midnight: HH:MM[:SS[.fraction]], 24:00:00 allowed; fraction
// digits beyond microseconds must be zeros.
std::optional<int64_t> ParseTime(std::string_view text);
// A TIMESTAMP in units of 10^-digits seconds since 1970-01-01 (digits 0, 3 or 6): a date,
// optionally ' ' or 'T' and a time, optionally a UTC offset (Z, +HH, +HH:MM, +HHMM). with_zone
// (TIMESTAMP WITH TIME ZONE) converts an offset to UTC and reads a value without one as UTC;
// without a zone only a zero offset is allowed, since another would be silently dropped.
std::optional<int64_t> ParseTimestamp(std::string_view text, int digits, bool with_zone);

}  // namespace sluice::engine::exact
