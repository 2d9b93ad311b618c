// Reading MySQL/MariaDB results into the lake's types, for db_import: the server type -> lake
// type mapping (PlanImport) and the text-protocol decoders of the streaming reader (RowReader).
// docs/import.md has the mapping as a table; keep the two in step.
#include "connectors/mysql/mysql_import.h"

#include <errmsg.h>
#include <mysql.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>

#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"

namespace sluice::connectors::mysql {

// The client handle of a Connection, for reading results row by row off the wire.
struct ImportAccess {
  static MYSQL* Handle(Connection& c) { return c.conn_; }
  [[noreturn]] static void Fail(Connection& c, const std::string& what) { c.Fail(what); }
  // A prepared statement's error (the connection's when the statement has none).
  [[noreturn]] static void FailStmt(Connection& c, MYSQL_STMT* stmt, const std::string& what) {
    if (mysql_stmt_errno(stmt) == 0) c.Fail(what);
    c.last_error_.code = mysql_stmt_errno(stmt);
    c.last_error_.sqlstate = mysql_stmt_sqlstate(stmt);
    c.last_error_.message = mysql_stmt_error(stmt);
    c.Raise(what);
  }
};

namespace {

using engine::SourceColumn;
using engine::TypeId;

constexpr unsigned kBinaryCharset = 63;     // charsetnr of binary strings
constexpr unsigned kNotFixedDecimals = 31;  // FLOAT / DOUBLE without (M,D)
constexpr unsigned kMaxDecimalWidth = 38;   // the lake's widest DECIMAL
constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kMicrosPerDay = 86400 * kMicrosPerSecond;

// What a result's metadata says about one column.
struct FieldInfo {
  std::string name;
  enum_field_types type = MYSQL_TYPE_NULL;
  unsigned flags = 0;
  unsigned charsetnr = 0;
  unsigned decimals = 0;
  unsigned long length = 0;
  std::string data_type;  // MariaDB's extended metadata: "uuid", "inet6", "point", ...
  std::string format;     // MariaDB's extended metadata: "json" for JSON columns
};

FieldInfo DescribeField(const MYSQL_FIELD& f) {
  FieldInfo info;
  info.name.assign(f.name, f.name_length);
  info.type = f.type;
  info.flags = f.flags;
  info.charsetnr = f.charsetnr;
  info.decimals = f.decimals;
  info.length = f.length;
  MARIADB_CONST_STRING s{nullptr, 0};
  if (mariadb_field_attr(&s, &f, MARIADB_FIELD_ATTR_DATA_TYPE_NAME) == 0 && s.str != nullptr) {
    info.data_type = ToLower(std::string_view(s.str, s.length));
  }
  s = {nullptr, 0};
  if (mariadb_field_attr(&s, &f, MARIADB_FIELD_ATTR_FORMAT_NAME) == 0 && s.str != nullptr) {
    info.format = ToLower(std::string_view(s.str, s.length));
  }
  return info;
}

bool IsUnsigned(const FieldInfo& f) { return (f.flags & UNSIGNED_FLAG) != 0; }
bool IsBinary(const FieldInfo& f) { return f.charsetnr == kBinaryCharset; }
bool IsJson(const FieldInfo& f) { return f.type == MYSQL_TYPE_JSON || f.format == "json"; }

bool IsStringType(enum_field_types t) {
  switch (t) {
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
      return true;
    default:
      return false;
  }
}

// DECIMAL(p,s): the protocol sends the display length, p plus a point (s > 0) plus a sign
// (signed only), as the server computes it (my_decimal_precision_to_length).
unsigned DecimalPrecision(const FieldInfo& f) {
  long p = static_cast<long>(f.length) - (f.decimals > 0 ? 1 : 0) - (IsUnsigned(f) ? 0 : 1);
  return static_cast<unsigned>(std::max<long>({p, static_cast<long>(f.decimals), 1}));
}

// The server's type of a column in its own words, e.g. "decimal(12,2) unsigned".
std::string ServerTypeName(const FieldInfo& f) {
  if (!f.data_type.empty()) return f.data_type;  // MariaDB's own name (uuid, inet6, point)
  if (IsJson(f)) return "json";
  const std::string u = IsUnsigned(f) ? " unsigned" : "";
  auto fsp = [&](const char* name) {
    return f.decimals > 0 && f.decimals <= 6
               ? std::string(name) + "(" + std::to_string(f.decimals) + ")"
               : std::string(name);
  };
  switch (f.type) {
    case MYSQL_TYPE_TINY:
      return (f.length == 1 ? "tinyint(1)" : "tinyint") + u;
    case MYSQL_TYPE_SHORT:
      return "smallint" + u;
    case MYSQL_TYPE_INT24:
      return "mediumint" + u;
    case MYSQL_TYPE_LONG:
      return "int" + u;
    case MYSQL_TYPE_LONGLONG:
      return "bigint" + u;
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
      return "decimal(" + std::to_string(DecimalPrecision(f)) + "," + std::to_string(f.decimals) +
             ")" + u;
    case MYSQL_TYPE_FLOAT:
      return "float" + u;
    case MYSQL_TYPE_DOUBLE:
      return "double" + u;
    case MYSQL_TYPE_BIT:
      return "bit(" + std::to_string(f.length) + ")";
    case MYSQL_TYPE_YEAR:
      return f.length == 2 ? "year(2)" : "year";
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
      return "date";
    case MYSQL_TYPE_DATETIME:
      return fsp("datetime");
    case MYSQL_TYPE_TIMESTAMP:
      return fsp("timestamp");
    case MYSQL_TYPE_TIME:
      return fsp("time");
    case MYSQL_TYPE_NULL:
      return "null";
    case MYSQL_TYPE_ENUM:
      return "enum";
    case MYSQL_TYPE_SET:
      return "set";
    case MYSQL_TYPE_GEOMETRY:
      return "geometry";
    default:
      break;
  }
  if (IsStringType(f.type)) {
    if (f.flags & ENUM_FLAG) return "enum";
    if (f.flags & SET_FLAG) return "set";
    // Text arrives in utf8mb4 (the connection's result charset): 4 bytes a character.
    const bool bin = IsBinary(f);
    const unsigned long chars = bin ? f.length : f.length / 4;
    if (f.type == MYSQL_TYPE_STRING)
      return (bin ? "binary(" : "char(") + std::to_string(chars) + ")";
    if (f.type == MYSQL_TYPE_VAR_STRING || f.type == MYSQL_TYPE_VARCHAR) {
      return (bin ? "varbinary(" : "varchar(") + std::to_string(chars) + ")";
    }
    const char* size = chars <= 255        ? "tiny"
                       : chars <= 65535    ? ""
                       : chars <= 16777215 ? "medium"
                                           : "long";
    return std::string(size) + (bin ? "blob" : "text");
  }
  return "type " + std::to_string(static_cast<int>(f.type));
}

std::string ColumnWhere(const std::string& object, std::string_view column) {
  return (object.empty() ? std::string("the result") : object) + " column " + Ident(column);
}

// The lake column of one server column and the expression that reads it.
struct MappedColumn {
  SourceColumn column;
  std::string server_type;
  std::string select;
};

MappedColumn MapColumn(const FieldInfo& f, const ImportOptions& options) {
  MappedColumn m;
  m.column.name = f.name;
  m.server_type = ServerTypeName(f);
  m.select = Ident(f.name);
  const bool u = IsUnsigned(f);
  TypeId& id = m.column.id;
  switch (f.type) {
    case MYSQL_TYPE_TINY:
      // TINYINT(1) (BOOL) stays TINYINT: it holds -128..127, not only 0 and 1.
      id = u ? TypeId::kUTinyint : TypeId::kTinyint;
      return m;
    case MYSQL_TYPE_SHORT:
      id = u ? TypeId::kUSmallint : TypeId::kSmallint;
      return m;
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
      id = u ? TypeId::kUInteger : TypeId::kInteger;
      return m;
    case MYSQL_TYPE_LONGLONG:
      id = u ? TypeId::kUBigint : TypeId::kBigint;
      return m;
    case MYSQL_TYPE_YEAR:
      id = TypeId::kSmallint;
      if (f.length == 2) {
        // YEAR(2) (MariaDB) sends two digits: 70..99 are 1970..1999, 00..69 are 2000..2069.
        const std::string q = Ident(f.name);
        m.select = "IF(" + q + " < 70, " + q + " + 2000, " + q + " + 1900) AS " + q;
      }
      return m;
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL: {
      unsigned p = DecimalPrecision(f);
      if (p > kMaxDecimalWidth) {
        // MySQL allows 65 digits; the lake's DECIMAL has 38. The server's text has every digit.
        id = TypeId::kVarchar;
        return m;
      }
      id = TypeId::kDecimal;
      m.column.width = static_cast<uint8_t>(p);
      m.column.scale = static_cast<uint8_t>(std::min(f.decimals, p));
      return m;
    }
    case MYSQL_TYPE_FLOAT:
      // The server prints a FLOAT with 6 significant digits (1.2345678 comes as "1.23457"), which
      // loses bits. As a DOUBLE it prints the shortest text of the exact widened value, which
      // reads back as that double and narrows to the same float.
      id = TypeId::kFloat;
      m.select = "CAST(" + Ident(f.name) + " AS DOUBLE) AS " + Ident(f.name);
      return m;
    case MYSQL_TYPE_DOUBLE:
      // A DOUBLE prints as its shortest round-trip text (0.30000000000000004, 5e-324), except
      // DOUBLE(M,D), which prints D decimals: read that through a plain DOUBLE too.
      id = TypeId::kDouble;
      if (f.decimals != kNotFixedDecimals) {
        m.select = "CAST(" + Ident(f.name) + " AS DOUBLE) AS " + Ident(f.name);
      }
      return m;
    case MYSQL_TYPE_BIT:
      id = f.length == 1 ? TypeId::kBoolean : TypeId::kUBigint;
      return m;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
      id = TypeId::kDate;
      return m;
    case MYSQL_TYPE_DATETIME:
      id = TypeId::kTimestamp;  // the wall-clock value as stored
      return m;
    case MYSQL_TYPE_TIMESTAMP:
      id = TypeId::kTimestampTz;  // the session's time zone is UTC, so the text is UTC
      return m;
    case MYSQL_TYPE_TIME:
      id = TypeId::kTime;
      return m;
    case MYSQL_TYPE_NULL:  // a query's NULL literal: no value to lose
    case MYSQL_TYPE_JSON:  // MySQL sends JSON in charset binary, but it is utf8mb4 text
    case MYSQL_TYPE_ENUM:
    case MYSQL_TYPE_SET:
      id = TypeId::kVarchar;
      return m;
    default:
      break;
  }
  if (IsStringType(f.type)) {
    const bool text = IsJson(f) || (f.flags & (ENUM_FLAG | SET_FLAG)) || !IsBinary(f);
    id = text ? TypeId::kVarchar : TypeId::kBlob;
    return m;
  }
  std::string how = f.type == MYSQL_TYPE_GEOMETRY
                        ? "ST_AsText(" + Ident(f.name) + ") or CAST(" + Ident(f.name) + " AS CHAR)"
                        : "CAST(" + Ident(f.name) + " AS CHAR)";
  throw InvalidInput(ColumnWhere(options.object, f.name) + ": type " + m.server_type +
                     " has no lake type; import it through a query: with " + how);
}

// ---- Decoding the text protocol. Each function reads one non-NULL value.

constexpr unsigned DaysInMonth(int64_t y, unsigned m) {
  constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
  return m == 2 && leap ? 29 : kDays[m - 1];
}

inline bool Digit(char c, unsigned* d) {
  *d = static_cast<unsigned>(static_cast<unsigned char>(c) - '0');
  return *d <= 9;
}

// Parses exactly n digits.
inline bool FixedDigits(const char* p, int n, unsigned* out) {
  unsigned v = 0, d;
  for (int i = 0; i < n; i++) {
    if (!Digit(p[i], &d)) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

// ".ffffff" with 1..6 digits (or nothing) to microseconds.
inline bool Fraction(const char* p, const char* end, int64_t* micros) {
  *micros = 0;
  if (p == end) return true;
  if (*p != '.' || end - p < 2 || end - p > 7) return false;
  int64_t v = 0;
  int n = 0;
  unsigned d;
  for (p++; p < end; p++, n++) {
    if (!Digit(*p, &d)) return false;
    v = v * 10 + d;
  }
  for (; n < 6; n++) v *= 10;
  *micros = v;
  return true;
}

enum class DateStatus { kOk, kZero, kInvalid, kMalformed };

// "YYYY-MM-DD" to days since 1970-01-01. Zero dates ('0000-00-00', a zero month or day) and
// dates that do not exist ('2021-02-30', stored with ALLOW_INVALID_DATES) are told apart.
// Year, month and day to days since 1970-01-01, telling zero and invalid dates apart.
inline DateStatus DateFromParts(unsigned y, unsigned m, unsigned d, int64_t* days) {
  if (m == 0 || d == 0) return DateStatus::kZero;
  if (m > 12 || d > DaysInMonth(y, m)) return DateStatus::kInvalid;
  *days = DaysFromCivil(y, m, d);
  return DateStatus::kOk;
}

inline DateStatus ParseDate(const char* p, int64_t* days) {
  unsigned y, m, d;
  if (!FixedDigits(p, 4, &y) || p[4] != '-' || !FixedDigits(p + 5, 2, &m) || p[7] != '-' ||
      !FixedDigits(p + 8, 2, &d)) {
    return DateStatus::kMalformed;
  }
  return DateFromParts(y, m, d, days);
}

// "HH:MM:SS" (no sign, two-digit hours) to microseconds.
inline bool ParseTimeOfDay(const char* p, int64_t* micros) {
  unsigned h, m, s;
  if (!FixedDigits(p, 2, &h) || p[2] != ':' || !FixedDigits(p + 3, 2, &m) || p[5] != ':' ||
      !FixedDigits(p + 6, 2, &s) || h > 23 || m > 59 || s > 59) {
    return false;
  }
  *micros = ((h * 60 + m) * 60 + s) * kMicrosPerSecond;
  return true;
}

// A TIME value, "[-]H..H:MM:SS[.ffffff]" (-838:59:59 .. 838:59:59), to signed microseconds.
inline bool ParseTime(const char* p, const char* end, int64_t* micros) {
  bool negative = p < end && *p == '-';
  if (negative) p++;
  int64_t h = 0;
  int hour_digits = 0;
  unsigned d;
  for (; p < end && Digit(*p, &d) && hour_digits < 4; p++, hour_digits++) h = h * 10 + d;
  unsigned m, s;
  if (hour_digits < 1 || end - p < 6 || p[0] != ':' || !FixedDigits(p + 1, 2, &m) || p[3] != ':' ||
      !FixedDigits(p + 4, 2, &s) || m > 59 || s > 59) {
    return false;
  }
  int64_t frac;
  if (!Fraction(p + 6, end, &frac)) return false;
  int64_t v = ((h * 60 + m) * 60 + s) * kMicrosPerSecond + frac;
  *micros = negative ? -v : v;
  return true;
}

// DECIMAL text ("-123.4500") to its unscaled value at `scale`, with at most `width`
// significant digits. T is int64_t (width <= 18) or __int128.
template <typename T>
inline bool ParseDecimal(const char* p, const char* end, unsigned width, unsigned scale, T* out) {
  using U = std::conditional_t<sizeof(T) == 8, uint64_t, unsigned __int128>;
  static constexpr U kPow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
  bool negative = p < end && *p == '-';
  if (negative) p++;
  U v = 0;
  unsigned significant = 0, frac = 0, digits = 0, d;
  bool point = false;
  for (; p < end; p++) {
    if (Digit(*p, &d)) {
      if (v != 0 || d != 0) significant++;
      if (significant > width) return false;
      v = v * 10 + d;
      digits++;
      frac += point;
    } else if (*p == '.' && !point) {
      point = true;
    } else {
      return false;
    }
  }
  if (digits == 0 || frac > scale) return false;
  for (unsigned missing = scale - frac; missing > 0;) {
    unsigned step = std::min(missing, 7u);
    v *= kPow10[step];
    missing -= step;
    if (v != 0 && (significant += step) > width) return false;
  }
  *out = negative ? static_cast<T>(U{0} - v) : static_cast<T>(v);
  return true;
}

// How one column's text becomes its lake value.
enum class Decode : uint8_t {
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kBitBool,    // BIT(1): one byte, 0 or 1
  kBits,       // BIT(n): big-endian bytes
  kIntBool,    // an integer's digits as BOOLEAN
  kDecimal16,  // DECIMAL by physical width
  kDecimal32,
  kDecimal64,
  kDecimal128,
  kFloat,
  kDouble,
  kDate,
  kDateTime,  // TIMESTAMP and TIMESTAMP WITH TIME ZONE
  kTime,
  kString,  // VARCHAR and BLOB: the bytes as they are
};

struct ColumnDecoder {
  Decode decode = Decode::kString;
  uint8_t width = 0;  // DECIMAL
  uint8_t scale = 0;  // DECIMAL
};

ColumnDecoder MakeDecoder(const SourceColumn& c, const FieldInfo& f, const std::string& object) {
  ColumnDecoder dec;
  // BIT(n) arrives as bytes, not digits; the plan reads it as BOOLEAN or UBIGINT.
  const bool bits = f.type == MYSQL_TYPE_BIT;
  if (bits && c.id != TypeId::kBoolean && c.id != TypeId::kUBigint) {
    throw Internal(ColumnWhere(object, c.name) + ": a BIT column cannot be read as " +
                   engine::SqlTypeName(c));
  }
  auto integer = [&](Decode d) { return bits ? Decode::kBits : d; };
  switch (c.id) {
    case TypeId::kBoolean:
      dec.decode = bits ? Decode::kBitBool : Decode::kIntBool;
      break;
    case TypeId::kTinyint:
      dec.decode = integer(Decode::kInt8);
      break;
    case TypeId::kSmallint:
      dec.decode = integer(Decode::kInt16);
      break;
    case TypeId::kInteger:
      dec.decode = integer(Decode::kInt32);
      break;
    case TypeId::kBigint:
      dec.decode = integer(Decode::kInt64);
      break;
    case TypeId::kUTinyint:
      dec.decode = integer(Decode::kUInt8);
      break;
    case TypeId::kUSmallint:
      dec.decode = integer(Decode::kUInt16);
      break;
    case TypeId::kUInteger:
      dec.decode = integer(Decode::kUInt32);
      break;
    case TypeId::kUBigint:
      dec.decode = integer(Decode::kUInt64);
      break;
    case TypeId::kDecimal:
      if (c.width < 1 || c.width > kMaxDecimalWidth || c.scale > c.width) {
        throw Internal(ColumnWhere(object, c.name) + ": DECIMAL(" + std::to_string(c.width) + "," +
                       std::to_string(c.scale) + ") in the import plan is not a lake DECIMAL");
      }
      dec.width = c.width;
      dec.scale = c.scale;
      dec.decode = c.width <= 4    ? Decode::kDecimal16
                   : c.width <= 9  ? Decode::kDecimal32
                   : c.width <= 18 ? Decode::kDecimal64
                                   : Decode::kDecimal128;
      break;
    case TypeId::kFloat:
      dec.decode = Decode::kFloat;
      break;
    case TypeId::kDouble:
      dec.decode = Decode::kDouble;
      break;
    case TypeId::kDate:
      dec.decode = Decode::kDate;
      break;
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz:
      dec.decode = Decode::kDateTime;
      break;
    case TypeId::kTime:
      dec.decode = Decode::kTime;
      break;
    case TypeId::kVarchar:
    case TypeId::kBlob:
      dec.decode = Decode::kString;
      break;
    default:
      throw Internal(ColumnWhere(object, c.name) + ": lake type " + engine::SqlTypeName(c) +
                     " in the import plan cannot be read from MySQL");
  }
  return dec;
}

bool IsFixedWidth(Decode d) { return d != Decode::kString; }

// Calls f with a value of the C++ type of an integer Decode (not kIntBool); returns its result.
template <typename F>
bool WithIntegerType(Decode d, F&& f) {
  switch (d) {
    case Decode::kInt8:
      return f(int8_t{});
    case Decode::kInt16:
      return f(int16_t{});
    case Decode::kInt32:
      return f(int32_t{});
    case Decode::kInt64:
      return f(int64_t{});
    case Decode::kUInt8:
      return f(uint8_t{});
    case Decode::kUInt16:
      return f(uint16_t{});
    case Decode::kUInt32:
      return f(uint32_t{});
    default:
      return f(uint64_t{});
  }
}

bool IsInteger(Decode d) {
  return d == Decode::kInt8 || d == Decode::kInt16 || d == Decode::kInt32 || d == Decode::kInt64 ||
         d == Decode::kUInt8 || d == Decode::kUInt16 || d == Decode::kUInt32 ||
         d == Decode::kUInt64 || d == Decode::kIntBool;
}

// Whether a column can be read through the binary protocol (a prepared statement): the plain
// numeric, temporal and text types. Anything else (BIT, YEAR, GEOMETRY, MariaDB's UUID, INET6
// and JSON, a column the plan reads as another kind) keeps the text protocol for its query.
bool BinaryCapable(const FieldInfo& f, Decode d) {
  if (!f.data_type.empty() || !f.format.empty()) return false;
  switch (f.type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
      return IsInteger(d);
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
      return d == Decode::kFloat || d == Decode::kDouble;
    case MYSQL_TYPE_NEWDECIMAL:
      return d == Decode::kDecimal16 || d == Decode::kDecimal32 || d == Decode::kDecimal64 ||
             d == Decode::kDecimal128;
    case MYSQL_TYPE_DATE:
      return d == Decode::kDate;
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP:
      return d == Decode::kDateTime;
    case MYSQL_TYPE_TIME:
      return d == Decode::kTime;
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
      return d == Decode::kString;
    default:
      return false;
  }
}

// One column's value as a prepared statement's fetch leaves it.
struct Bound {
  enum class Kind : uint8_t { kInt, kDouble, kTime, kText };
  Kind kind = Kind::kText;
  bool is_unsigned = false;
  uint8_t wire = 0;      // kInt, kDouble: the value's bytes in the protocol
  uint8_t decimals = 0;  // kTime: fractional-second digits of the column
  int64_t i64 = 0;       // kInt (the bits of a uint64_t when is_unsigned)
  double f64 = 0;        // kDouble
  MYSQL_TIME time{};
  std::vector<char> text;  // kText: DECIMAL digits, strings
  unsigned long length = 0;
  my_bool is_null = 0;
};

// An integer of the binary protocol into T; false when it does not fit.
template <typename T>
bool StoreInteger(const Bound& b, void* dst, size_t row) {
  __int128 v = b.is_unsigned ? static_cast<__int128>(static_cast<uint64_t>(b.i64))
                             : static_cast<__int128>(b.i64);
  if (v < static_cast<__int128>(std::numeric_limits<T>::min()) ||
      v > static_cast<__int128>(std::numeric_limits<T>::max())) {
    return false;
  }
  static_cast<T*>(dst)[row] = static_cast<T>(v);
  return true;
}

// Writes v as exactly `digits` decimal digits (the lowest ones) at out.
char* Digits(char* out, unsigned long long v, int digits) {
  for (int k = digits - 1; k >= 0; k--, v /= 10) out[k] = static_cast<char>('0' + v % 10);
  return out + digits;
}

// A temporal value of the binary protocol in the text protocol's form, so that both are read by
// the same rules (zero and invalid dates, TIME's range). Returns its length in out.
size_t TimeText(const MYSQL_TIME& t, Decode d, unsigned decimals, char* out) {
  // Written by hand: snprintf cost more than the server saved by sending binary dates.
  char* p = out;
  if (d == Decode::kTime) {
    if (t.neg) *p++ = '-';
    unsigned long long hours = static_cast<unsigned long long>(t.day) * 24 + t.hour;
    p = Digits(p, hours, hours >= 100 ? (hours >= 1000 ? 4 : 3) : 2);
  } else {
    p = Digits(p, t.year, 4);
    *p++ = '-';
    p = Digits(p, t.month, 2);
    *p++ = '-';
    p = Digits(p, t.day, 2);
    if (d == Decode::kDate) return static_cast<size_t>(p - out);
    *p++ = ' ';
    p = Digits(p, t.hour, 2);
  }
  *p++ = ':';
  p = Digits(p, t.minute, 2);
  *p++ = ':';
  p = Digits(p, t.second, 2);
  // As many fraction digits as the column has, like the text protocol.
  if (decimals > 0 && decimals <= 6) {
    unsigned long frac = t.second_part;
    for (unsigned k = decimals; k < 6; k++) frac /= 10;
    *p++ = '.';
    p = Digits(p, frac, static_cast<int>(decimals));
  }
  return static_cast<size_t>(p - out);
}

// A value for a message: printable ASCII as it is, other bytes as \xNN, at most 64 bytes.
std::string ShowValue(const char* v, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < n && i < 64; i++) {
    auto c = static_cast<unsigned char>(v[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  if (n > 64) out += "...";
  return out + "'";
}

template <typename T>
inline bool ParseInt(const char* v, const char* end, T* out) {
  auto r = std::from_chars(v, end, *out);
  return r.ec == std::errc() && r.ptr == end;
}

}  // namespace

ImportPlan PlanImport(Connection& conn, const std::string& from_sql,
                      const std::vector<std::string>& columns, const ImportOptions& options) {
  MYSQL* h = ImportAccess::Handle(conn);
  // LIMIT 0: the server sends the result's metadata and reads no rows.
  const std::string sql = "SELECT * FROM " + from_sql + " LIMIT 0";
  const std::string what = "reading the columns of " + options.object;
  if (mysql_real_query(h, sql.data(), sql.size()) != 0) ImportAccess::Fail(conn, what);
  MYSQL_RES* res = mysql_store_result(h);
  if (res == nullptr) {
    if (mysql_field_count(h) != 0) ImportAccess::Fail(conn, what);
    throw InvalidInput(options.object + ": " + sql + " returned no result set");
  }
  std::vector<FieldInfo> fields;
  unsigned n = mysql_num_fields(res);
  MYSQL_FIELD* f = mysql_fetch_fields(res);
  for (unsigned i = 0; i < n; i++) fields.push_back(DescribeField(f[i]));
  mysql_free_result(res);

  std::vector<const FieldInfo*> picked;
  if (columns.empty()) {
    for (const auto& field : fields) picked.push_back(&field);
  } else {
    // Column names compare case-insensitively in MySQL; the plan keeps the server's spelling.
    std::vector<std::string> names, lower;
    for (const auto& field : fields) {
      names.push_back(field.name);
      lower.push_back(ToLower(field.name));
    }
    for (const auto& want : columns) {
      const std::string key = ToLower(want);
      auto it = std::find(lower.begin(), lower.end(), key);
      if (it == lower.end()) {
        std::string close = ClosestMatch(key, lower);
        std::string hint;
        if (!close.empty()) {
          hint = " (did you mean " +
                 Ident(names[std::find(lower.begin(), lower.end(), close) - lower.begin()]) + "?)";
        }
        std::vector<std::string> quoted;
        for (const auto& name : names) quoted.push_back(Ident(name));
        throw NotFound(options.object + " has no column " + Ident(want) + hint +
                       "; its columns are " + Join(quoted, ", "));
      }
      const FieldInfo* field = &fields[it - lower.begin()];
      if (std::find(picked.begin(), picked.end(), field) != picked.end()) {
        throw InvalidInput(options.object + ": column " + Ident(field->name) +
                           " is listed twice in columns; list it once");
      }
      picked.push_back(field);
    }
  }

  ImportPlan plan;
  std::vector<std::string> select;
  for (const FieldInfo* field : picked) {
    MappedColumn m = MapColumn(*field, options);
    plan.columns.push_back(std::move(m.column));
    plan.server_types.push_back(std::move(m.server_type));
    select.push_back(std::move(m.select));
  }
  plan.select_list = Join(select, ", ");
  return plan;
}

struct RowReader::State {
  MYSQL_RES* result = nullptr;  // the result being streamed; null between results
  MYSQL_STMT* stmt = nullptr;   // or the prepared statement whose result is streamed
  std::vector<Bound> bound;     // its columns' values (binds point into them)
  std::vector<MYSQL_BIND> binds;
  std::vector<ColumnDecoder> decoders;
  std::vector<void*> data;  // Data(column) of the chunk being filled, for fixed-width columns
  bool session_ready = false;
};

RowReader::RowReader(Connection& conn, ImportPlan plan, ImportOptions options)
    : conn_(conn),
      plan_(std::move(plan)),
      options_(std::move(options)),
      state_(std::make_unique<State>()) {}

RowReader::~RowReader() {
  if (state_->result != nullptr || state_->stmt != nullptr) {
    // Abandoned mid-result (an error was thrown): the server would go on sending the rest, and
    // freeing the result reads it all. Shutting the socket down makes that immediate; the
    // connection is unusable afterwards, as it would be after the error anyway.
    mariadb_cancel(ImportAccess::Handle(conn_));
    if (state_->result != nullptr) mysql_free_result(state_->result);
    if (state_->stmt != nullptr) mysql_stmt_close(state_->stmt);
  }
}

bool RowReader::StartBinary(const std::string& sql) {
  State& s = *state_;
  MYSQL* h = ImportAccess::Handle(conn_);
  const std::string what = "reading " + options_.object;
  MYSQL_STMT* stmt = mysql_stmt_init(h);
  if (stmt == nullptr) ImportAccess::Fail(conn_, what);
  auto give_up = [&] {
    mysql_stmt_close(stmt);
    return false;
  };
  if (mysql_stmt_prepare(stmt, sql.data(), static_cast<unsigned long>(sql.size())) != 0) {
    // 1295: a statement the server cannot prepare; the text protocol reads it.
    if (mysql_stmt_errno(stmt) == 1295) return give_up();
    try {
      ImportAccess::FailStmt(conn_, stmt, what);
    } catch (...) {
      mysql_stmt_close(stmt);
      throw;
    }
  }
  MYSQL_RES* meta = mysql_stmt_result_metadata(stmt);
  if (meta == nullptr) return give_up();
  unsigned n = mysql_num_fields(meta);
  MYSQL_FIELD* fields = mysql_fetch_fields(meta);
  std::vector<ColumnDecoder> decoders;
  bool capable = n == plan_.columns.size();
  for (unsigned i = 0; capable && i < n; i++) {
    FieldInfo f = DescribeField(fields[i]);
    try {
      decoders.push_back(MakeDecoder(plan_.columns[i], f, options_.object));
    } catch (...) {
      mysql_free_result(meta);
      mysql_stmt_close(stmt);
      throw;
    }
    capable = BinaryCapable(f, decoders.back().decode);
  }
  if (!capable) {
    mysql_free_result(meta);
    return give_up();
  }
  s.bound.assign(n, Bound{});
  s.binds.assign(n, MYSQL_BIND{});
  for (unsigned i = 0; i < n; i++) {
    Bound& b = s.bound[i];
    MYSQL_BIND& m = s.binds[i];
    Decode d = decoders[i].decode;
    b.is_unsigned = (fields[i].flags & UNSIGNED_FLAG) != 0;
    b.decimals = static_cast<uint8_t>(std::min(fields[i].decimals, 6u));
    switch (fields[i].type) {
      case MYSQL_TYPE_TINY:
        b.wire = 1;
        break;
      case MYSQL_TYPE_SHORT:
        b.wire = 2;
        break;
      case MYSQL_TYPE_INT24:
      case MYSQL_TYPE_LONG:
      case MYSQL_TYPE_FLOAT:
        b.wire = 4;
        break;
      default:
        b.wire = 8;
        break;
    }
    if (IsInteger(d)) {
      b.kind = Bound::Kind::kInt;
      m.buffer_type = MYSQL_TYPE_LONGLONG;
      m.buffer = &b.i64;
      m.is_unsigned = b.is_unsigned;
    } else if (d == Decode::kFloat || d == Decode::kDouble) {
      b.kind = Bound::Kind::kDouble;
      m.buffer_type = MYSQL_TYPE_DOUBLE;
      m.buffer = &b.f64;
    } else if (d == Decode::kDate || d == Decode::kDateTime || d == Decode::kTime) {
      b.kind = Bound::Kind::kTime;
      m.buffer_type = d == Decode::kDate       ? MYSQL_TYPE_DATE
                      : d == Decode::kDateTime ? MYSQL_TYPE_DATETIME
                                               : MYSQL_TYPE_TIME;
      m.buffer = &b.time;
    } else {
      b.kind = Bound::Kind::kText;
      b.text.resize(256);
      m.buffer_type = MYSQL_TYPE_STRING;
      m.buffer = b.text.data();
      m.buffer_length = static_cast<unsigned long>(b.text.size());
    }
    m.length = &b.length;
    m.is_null = &b.is_null;
  }
  mysql_free_result(meta);
  if (mysql_stmt_bind_result(stmt, s.binds.data()) != 0 || mysql_stmt_execute(stmt) != 0) {
    try {
      ImportAccess::FailStmt(conn_, stmt, what);
    } catch (...) {
      mysql_stmt_close(stmt);
      throw;
    }
  }
  s.decoders = std::move(decoders);
  s.data.assign(n, nullptr);
  s.stmt = stmt;
  return true;
}

void RowReader::Start(const std::string& sql) {
  State& s = *state_;
  MYSQL* h = ImportAccess::Handle(conn_);
  if (s.result != nullptr) {
    // Reads (and drops) what is left of the previous result, to keep the protocol in step.
    mysql_free_result(s.result);
    s.result = nullptr;
  }
  if (s.stmt != nullptr) {
    mysql_stmt_close(s.stmt);
    s.stmt = nullptr;
  }
  if (!s.session_ready) {
    // The server gives up on a client that does not read for net_write_timeout (60 s by
    // default); the engine stops reading while it writes a row group, and a slow disk must
    // not cost the whole import.
    conn_.Exec("SET SESSION net_write_timeout = 600");
    s.session_ready = true;
  }
  if (!options_.text_protocol && StartBinary(sql)) return;
  const std::string what = "reading " + options_.object;
  if (mysql_real_query(h, sql.data(), sql.size()) != 0) ImportAccess::Fail(conn_, what);
  MYSQL_RES* res = mysql_use_result(h);
  if (res == nullptr) {
    if (mysql_field_count(h) != 0) ImportAccess::Fail(conn_, what);
    throw Internal(what + ": the statement returned no rows: " + sql.substr(0, 200));
  }
  unsigned n = mysql_num_fields(res);
  if (n != plan_.columns.size()) {
    mysql_free_result(res);
    throw Internal(what + ": the query returns " + std::to_string(n) +
                   " columns, the import plan has " + std::to_string(plan_.columns.size()));
  }
  MYSQL_FIELD* fields = mysql_fetch_fields(res);
  std::vector<ColumnDecoder> decoders;
  try {
    for (unsigned i = 0; i < n; i++) {
      decoders.push_back(MakeDecoder(plan_.columns[i], DescribeField(fields[i]), options_.object));
    }
  } catch (...) {
    mysql_free_result(res);
    throw;
  }
  s.decoders = std::move(decoders);
  s.data.assign(n, nullptr);
  s.result = res;
}

size_t RowReader::Fill(engine::OutputChunk& out, size_t offset) {
  State& s = *state_;
  if (s.result == nullptr && s.stmt == nullptr) return 0;
  const size_t capacity = out.capacity();
  assert(offset < capacity);
  const size_t ncols = s.decoders.size();
  for (size_t c = 0; c < ncols; c++) {
    s.data[c] = IsFixedWidth(s.decoders[c].decode) ? out.Data(c) : nullptr;
  }
  const ColumnDecoder* decoders = s.decoders.data();
  void* const* data = s.data.data();
  uint64_t bytes = 0;
  size_t row = offset;
  // The rows this call wrote, counted once they are all in.
  auto finish = [&] {
    const size_t written = row - offset;
    rows_ += written;
    bytes_ += bytes;
    return written;
  };

  // Reports a value the lake type cannot hold; `why` says what is wrong with it.
  auto bad = [&](size_t c, const char* v, size_t n, const std::string& why) {
    throw InvalidInput(ColumnWhere(options_.object, plan_.columns[c].name) + ": " +
                       engine::SqlTypeName(plan_.columns[c]) + " value " + ShowValue(v, n) +
                       " (row " + std::to_string(rows_ + (row - offset) + 1) + ") " + why);
  };
  auto malformed = [&](size_t c, const char* v, size_t n) {
    bad(c, v, n,
        "is not in the form the server sends for " + plan_.server_types[c] +
            "; read the column with CAST(" + Ident(plan_.columns[c].name) + " AS CHAR) in a query");
  };
  auto zero_date = [&](size_t c, const char* v, size_t n) {
    if (options_.zero_dates_null) {
      out.SetNull(c, row);
      return;
    }
    bad(c, v, n,
        "is a zero date, which no date type holds; set zero_dates: null in the task "
        "(pipeline) or pass --zero-dates null (CLI) to read zero dates as NULL");
  };
  // True for a real date, to be stored; a zero or invalid date is NULL or fails by the rules.
  auto real_date = [&](DateStatus status, size_t c, const char* v, size_t n, bool* ok) {
    if (status == DateStatus::kZero) zero_date(c, v, n);
    if (status == DateStatus::kInvalid) {
      bad(c, v, n,
          "is not a real date (stored with ALLOW_INVALID_DATES); read the column with CAST(" +
              Ident(plan_.columns[c].name) + " AS CHAR) in a query");
    }
    if (status == DateStatus::kMalformed) *ok = false;
    return status == DateStatus::kOk;
  };

  // Reads one value in the text protocol's form into row `row` of column c.
  auto decode = [&](size_t c, const char* v, size_t n) {
    const char* end = v + n;
    void* dst = data[c];
    const ColumnDecoder& dec = decoders[c];
    bool ok = true;
    switch (dec.decode) {
      case Decode::kInt8:
      case Decode::kInt16:
      case Decode::kInt32:
      case Decode::kInt64:
      case Decode::kUInt8:
      case Decode::kUInt16:
      case Decode::kUInt32:
      case Decode::kUInt64:
        ok = WithIntegerType(dec.decode, [&](auto t) {
          return ParseInt(v, end, static_cast<decltype(t)*>(dst) + row);
        });
        break;
      case Decode::kBitBool:
        ok = n == 1;
        static_cast<uint8_t*>(dst)[row] = n == 1 && v[0] != 0;
        break;
      case Decode::kBits: {
        // BIT(n) arrives as (n + 7) / 8 bytes, most significant first.
        uint64_t bits = 0;
        for (size_t i = 0; i < n; i++) bits = (bits << 8) | static_cast<unsigned char>(v[i]);
        ok = n <= 8;
        static_cast<uint64_t*>(dst)[row] = bits;
        break;
      }
      case Decode::kIntBool: {
        int64_t i = 0;
        ok = ParseInt(v, end, &i);
        static_cast<uint8_t*>(dst)[row] = i != 0;
        break;
      }
      case Decode::kDecimal16:
      case Decode::kDecimal32:
      case Decode::kDecimal64: {
        int64_t unscaled = 0;
        ok = ParseDecimal(v, end, dec.width, dec.scale, &unscaled);
        if (dec.decode == Decode::kDecimal16) {
          static_cast<int16_t*>(dst)[row] = static_cast<int16_t>(unscaled);
        } else if (dec.decode == Decode::kDecimal32) {
          static_cast<int32_t*>(dst)[row] = static_cast<int32_t>(unscaled);
        } else {
          static_cast<int64_t*>(dst)[row] = unscaled;
        }
        break;
      }
      case Decode::kDecimal128: {
        __int128 unscaled = 0;
        ok = ParseDecimal(v, end, dec.width, dec.scale, &unscaled);
        static_cast<__int128*>(dst)[row] = unscaled;
        break;
      }
      case Decode::kFloat: {
        // The text of the FLOAT widened to DOUBLE (see MapColumn): narrowing is exact.
        double d = 0;
        auto r = std::from_chars(v, end, d);
        ok = r.ec == std::errc() && r.ptr == end;
        static_cast<float*>(dst)[row] = static_cast<float>(d);
        break;
      }
      case Decode::kDouble: {
        auto r = std::from_chars(v, end, static_cast<double*>(dst)[row]);
        ok = r.ec == std::errc() && r.ptr == end;
        break;
      }
      case Decode::kDate: {
        int64_t days = 0;
        if (n != 10) {
          ok = false;
          break;
        }
        if (real_date(ParseDate(v, &days), c, v, n, &ok)) {
          static_cast<int32_t*>(dst)[row] = static_cast<int32_t>(days);
        }
        break;
      }
      case Decode::kDateTime: {
        // "YYYY-MM-DD HH:MM:SS[.ffffff]"
        int64_t days = 0, tod = 0, frac = 0;
        if (n < 19 || v[10] != ' ' || !ParseTimeOfDay(v + 11, &tod) ||
            !Fraction(v + 19, end, &frac)) {
          ok = false;
          break;
        }
        if (real_date(ParseDate(v, &days), c, v, n, &ok)) {
          static_cast<int64_t*>(dst)[row] = days * kMicrosPerDay + tod + frac;
        }
        break;
      }
      case Decode::kTime: {
        int64_t micros = 0;
        ok = ParseTime(v, end, &micros);
        if (ok && (micros < 0 || micros >= kMicrosPerDay)) {
          bad(c, v, n,
              "is outside 00:00:00 .. 23:59:59.999999, the range of the lake's TIME; read the "
              "column with CAST(" +
                  Ident(plan_.columns[c].name) + " AS CHAR) in a query");
        }
        static_cast<int64_t*>(dst)[row] = micros;
        break;
      }
      case Decode::kString:
        out.SetString(c, row, v, n);
        break;
    }
    if (!ok) malformed(c, v, n);
  };

  if (s.stmt != nullptr) {
    // The binary protocol: numbers arrive as numbers; dates and times as fields, written in the
    // text protocol's form for `decode`; DECIMALs and strings as text.
    auto fail = [&] {
      try {
        ImportAccess::FailStmt(conn_, s.stmt, "reading " + options_.object);
      } catch (...) {
        mysql_stmt_close(s.stmt);
        s.stmt = nullptr;
        throw;
      }
    };
    char text[64];
    while (row < capacity) {
      int rc = mysql_stmt_fetch(s.stmt);
      if (rc == MYSQL_NO_DATA) {
        mysql_stmt_close(s.stmt);
        s.stmt = nullptr;
        break;
      }
      if (rc != 0 && rc != MYSQL_DATA_TRUNCATED) fail();
      for (size_t c = 0; c < ncols; c++) {
        Bound& b = s.bound[c];
        if (b.is_null) {
          out.SetNull(c, row);
          continue;
        }
        void* dst = data[c];
        const Decode d = decoders[c].decode;
        switch (b.kind) {
          case Bound::Kind::kInt: {
            bytes += b.wire;
            bool ok = true;
            if (d == Decode::kIntBool) {
              static_cast<uint8_t*>(dst)[row] = b.i64 != 0;
            } else {
              ok = WithIntegerType(d,
                                   [&](auto t) { return StoreInteger<decltype(t)>(b, dst, row); });
            }
            if (!ok) {
              std::string v = b.is_unsigned ? std::to_string(static_cast<uint64_t>(b.i64))
                                            : std::to_string(b.i64);
              malformed(c, v.data(), v.size());
            }
            break;
          }
          case Bound::Kind::kDouble:
            bytes += b.wire;
            if (d == Decode::kFloat) {
              static_cast<float*>(dst)[row] = static_cast<float>(b.f64);
            } else {
              static_cast<double*>(dst)[row] = b.f64;
            }
            break;
          case Bound::Kind::kTime: {
            const MYSQL_TIME& t = b.time;
            // A real date (and time of day): straight to the lake's value. Zero and invalid
            // dates, and TIME, take the text protocol's rules through their text.
            int64_t days = 0;
            if (d != Decode::kTime && t.year <= 9999 &&
                DateFromParts(t.year, t.month, t.day, &days) == DateStatus::kOk &&
                (d == Decode::kDate ||
                 (t.hour <= 23 && t.minute <= 59 && t.second <= 59 && t.second_part < 1000000))) {
              if (d == Decode::kDate) {
                bytes += 10;  // its text's length
                static_cast<int32_t*>(dst)[row] = static_cast<int32_t>(days);
              } else {
                bytes += 19 + (b.decimals > 0 ? b.decimals + 1u : 0u);  // its text's length
                static_cast<int64_t*>(dst)[row] =
                    days * kMicrosPerDay +
                    ((t.hour * 60 + t.minute) * 60 + t.second) * kMicrosPerSecond +
                    static_cast<int64_t>(t.second_part);
              }
              break;
            }
            size_t n = TimeText(b.time, d, b.decimals, text);
            bytes += n;
            decode(c, text, n);
            break;
          }
          case Bound::Kind::kText:
            if (b.length > b.text.size()) {
              // Longer than the buffer: fetch it whole, and keep the bigger buffer for the rows
              // to come.
              b.text.resize(b.length);
              MYSQL_BIND& m = s.binds[c];
              m.buffer = b.text.data();
              m.buffer_length = static_cast<unsigned long>(b.text.size());
              if (mysql_stmt_fetch_column(s.stmt, &m, static_cast<unsigned>(c), 0) != 0 ||
                  mysql_stmt_bind_result(s.stmt, s.binds.data()) != 0) {
                fail();
              }
            }
            bytes += b.length;
            decode(c, b.text.data(), b.length);
            break;
        }
      }
      row++;
    }
    return finish();
  }

  while (row < capacity) {
    MYSQL_ROW values = mysql_fetch_row(s.result);
    if (values == nullptr) {
      // The end of the result, or an error that ended it: a lost or killed connection, a
      // cancel (which shuts the socket down), or a statement that failed after sending rows.
      if (mysql_errno(ImportAccess::Handle(conn_)) != 0) {
        try {
          ImportAccess::Fail(conn_, "reading " + options_.object);
        } catch (...) {
          mysql_free_result(s.result);
          s.result = nullptr;
          throw;
        }
      }
      mysql_free_result(s.result);
      s.result = nullptr;
      break;
    }
    const unsigned long* lengths = mysql_fetch_lengths(s.result);
    for (size_t c = 0; c < ncols; c++) {
      const char* v = values[c];
      if (v == nullptr) {
        out.SetNull(c, row);
        continue;
      }
      const size_t n = lengths[c];
      bytes += n;
      decode(c, v, n);
    }
    row++;
  }
  return finish();
}

}  // namespace sluice::connectors::mysql
