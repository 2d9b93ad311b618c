// Reading PostgreSQL results into lake columns: PlanImport maps server types, RowReader decodes
// binary COPY rows straight into the engine's vectors. docs/import.md has the type table.
#include "connectors/postgres/postgres_import.h"

#include <array>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>

#include "common/error.h"
#include "common/strings.h"

namespace sluice::connectors::postgres {
namespace {

using engine::SourceColumn;
using engine::TypeId;

// PostgreSQL's epoch for dates and timestamps is 2000-01-01; the lake's is 1970-01-01.
constexpr int64_t kPgEpochDays = 10957;
constexpr int64_t kPgEpochMicros = 946684800000000LL;
constexpr int64_t kMicrosPerDay = 86400000000LL;

// PostgreSQL's infinite dates and timestamps, and DuckDB's. DuckDB keeps its own through
// Parquet (an INT32 DATE / INT64 TIMESTAMP like any other value).
constexpr int32_t kPgDateMinusInfinity = std::numeric_limits<int32_t>::min();
constexpr int32_t kPgDateInfinity = std::numeric_limits<int32_t>::max();
constexpr int32_t kLakeDateInfinity = std::numeric_limits<int32_t>::max();
constexpr int64_t kPgTimestampMinusInfinity = std::numeric_limits<int64_t>::min();
constexpr int64_t kPgTimestampInfinity = std::numeric_limits<int64_t>::max();
constexpr int64_t kLakeTimestampInfinity = std::numeric_limits<int64_t>::max();

// Built-in type OIDs (pg_type.dat); they never change.
enum : uint32_t {
  kBoolOid = 16,
  kByteaOid = 17,
  kCharOid = 18,
  kNameOid = 19,
  kInt8Oid = 20,
  kInt2Oid = 21,
  kInt4Oid = 23,
  kTextOid = 25,
  kOidOid = 26,
  kJsonOid = 114,
  kFloat4Oid = 700,
  kFloat8Oid = 701,
  kMoneyOid = 790,
  kBpcharOid = 1042,
  kVarcharOid = 1043,
  kDateOid = 1082,
  kTimeOid = 1083,
  kTimestampOid = 1114,
  kTimestampTzOid = 1184,
  kNumericOid = 1700,
  kUuidOid = 2950,
  kJsonbOid = 3802,
};

uint16_t Big16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>((u[0] << 8) | u[1]);
}
uint32_t Big32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}
uint64_t Big64(const char* p) { return (uint64_t{Big32(p)} << 32) | Big32(p + 4); }

// ---- type mapping ---------------------------------------------------------------------------

// What pg_type says about a result column's type.
struct TypeFacts {
  uint32_t oid = 0;
  int typmod = -1;
  char typtype = 'b';      // b base, c composite, d domain, e enum, p pseudo, r range, m multirange
  char typcategory = 'U';  // A array, ...
  std::string schema;      // pg_namespace.nspname
  std::string name;        // format_type(oid, typmod)
};

// How one column is read: its lake type and the expression that reads it.
struct ColumnRead {
  TypeId id = TypeId::kVarchar;
  uint8_t width = 0;
  uint8_t scale = 0;
  const char* cast = "";  // appended to the column's name in select_list
  bool supported = true;
};

constexpr const char* kText = "::text";

ColumnRead Read(TypeId id) { return ColumnRead{id, 0, 0, "", true}; }
ColumnRead ReadAsText(const char* cast = kText) {
  return ColumnRead{TypeId::kVarchar, 0, 0, cast, true};
}

// numeric(p,s): typmod = ((p << 16) | s) + 4, s an 11-bit signed number since PostgreSQL 15
// (which allows s < 0 and s > p).
ColumnRead ReadNumeric(int typmod) {
  if (typmod < 4) return ReadAsText();  // unconstrained: any number of digits
  int precision = ((typmod - 4) >> 16) & 0xffff;
  int scale = (((typmod - 4) & 0x7ff) ^ 1024) - 1024;
  // numeric(2,-3) holds 99000 (DECIMAL(5,0)); numeric(3,5) holds 0.00999 (DECIMAL(5,5)).
  int width = scale < 0 ? precision - scale : std::max(precision, scale);
  if (scale < 0) scale = 0;
  if (width < 1 || width > 38) return ReadAsText();
  return ColumnRead{TypeId::kDecimal, static_cast<uint8_t>(width), static_cast<uint8_t>(scale), "",
                    true};
}

// The lake type of a (domain-resolved) server type. Types with a binary form that maps exactly
// are read in binary; every other built-in type, and enums, arrays, ranges and composites of
// any type, through their text form, which is exact. Only a base type that is not built in
// (from an extension) has no mapping: its text form is whatever the extension prints.
ColumnRead Classify(const TypeFacts& t) {
  switch (t.oid) {
    case kBoolOid:
      return Read(TypeId::kBoolean);
    case kInt2Oid:
      return Read(TypeId::kSmallint);
    case kInt4Oid:
      return Read(TypeId::kInteger);
    case kInt8Oid:
      return Read(TypeId::kBigint);
    case kOidOid:
      return Read(TypeId::kUInteger);
    case kFloat4Oid:
      return Read(TypeId::kFloat);
    case kFloat8Oid:
      return Read(TypeId::kDouble);
    case kNumericOid:
      return ReadNumeric(t.typmod);
    case kTextOid:
    case kVarcharOid:
    case kBpcharOid:  // binary bpchar keeps the padding, like its text form
    case kNameOid:
    case kJsonOid:  // binary json is its text
      return Read(TypeId::kVarchar);
    case kCharOid:  // "char": one raw byte in binary, which may not be UTF-8; text escapes it
    case kJsonbOid:
      return ReadAsText();
    case kMoneyOid:
      // money's text form follows lc_monetary (currency symbol, grouping, sign style); its
      // numeric form is a plain decimal with the server's number of fraction digits.
      return ReadAsText("::numeric::text");
    case kByteaOid:
      return Read(TypeId::kBlob);
    case kUuidOid:
      return Read(TypeId::kUuid);
    case kDateOid:
      return Read(TypeId::kDate);
    case kTimeOid:
      return Read(TypeId::kTime);
    case kTimestampOid:
      return Read(TypeId::kTimestamp);
    case kTimestampTzOid:
      return Read(TypeId::kTimestampTz);
    default:
      break;
  }
  if (t.typcategory == 'A' || t.typtype == 'e' || t.typtype == 'c' || t.typtype == 'r' ||
      t.typtype == 'm' || t.typtype == 'p' || t.schema == "pg_catalog") {
    return ReadAsText();
  }
  ColumnRead none;
  none.supported = false;
  return none;
}

std::string ArrayLiteral(const std::vector<std::string>& items) {
  return "{" + Join(items, ",") + "}";
}

// Looks up the pg_type facts of every column, following domains down to their base type.
// (Result metadata already reports a domain's base type; this is for safety.)
std::vector<TypeFacts> LookUpTypes(Connection& conn,
                                   const std::vector<Connection::ResultColumn>& columns) {
  std::vector<TypeFacts> facts(columns.size());
  for (size_t i = 0; i < columns.size(); i++) {
    facts[i].oid = columns[i].type_oid;
    facts[i].typmod = columns[i].type_mod;
  }
  std::vector<std::string> names;  // format_type of what the server reported
  for (int depth = 0;; depth++) {
    std::vector<std::string> oids, mods;
    for (const auto& f : facts) {
      oids.push_back(std::to_string(f.oid));
      mods.push_back(std::to_string(f.typmod));
    }
    auto rows = conn.Query(
        "SELECT format_type(u.o, u.m), t.typtype, t.typcategory, t.typbasetype, t.typtypmod, "
        "n.nspname FROM unnest($1::oid[], $2::int4[]) WITH ORDINALITY AS u(o, m, i) "
        "LEFT JOIN pg_catalog.pg_type t ON t.oid = u.o "
        "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace ORDER BY u.i",
        {ArrayLiteral(oids), ArrayLiteral(mods)});
    if (rows.size() != facts.size()) {
      throw Internal("pg_type lookup returned " + std::to_string(rows.size()) + " rows for " +
                     std::to_string(facts.size()) + " columns");
    }
    bool domains = false;
    for (size_t i = 0; i < facts.size(); i++) {
      const auto& r = rows[i];
      auto text = [&](size_t k) { return r[k] ? *r[k] : std::string(); };
      if (depth == 0) names.push_back(text(0));
      facts[i].name = text(0);
      facts[i].typtype = text(1).empty() ? 'b' : text(1)[0];
      facts[i].typcategory = text(2).empty() ? 'U' : text(2)[0];
      facts[i].schema = text(5);
      if (facts[i].typtype == 'd') {
        domains = true;
        facts[i].oid = static_cast<uint32_t>(std::stoul(text(3)));
        int base_mod = std::stoi(text(4));
        if (base_mod >= 0) facts[i].typmod = base_mod;
      }
    }
    if (!domains) break;
    if (depth == 20) throw Internal("domains nested more than 20 deep");
  }
  // Messages show the type as the server reported it (the domain, when it reports one).
  for (size_t i = 0; i < facts.size(); i++) facts[i].name = names[i];
  return facts;
}

std::string Prefix(const std::string& object) { return object.empty() ? "" : object + " "; }
std::string ReadingPrefix(const std::string& object) { return object.empty() ? "" : object + ": "; }

std::string QuotedList(const std::vector<std::string>& names) {
  std::vector<std::string> quoted;
  for (size_t i = 0; i < names.size() && i < 50; i++) quoted.push_back(Ident(names[i]));
  std::string list = Join(quoted, ", ");
  if (names.size() > 50) list += " and " + std::to_string(names.size() - 50) + " more";
  return list;
}

// Picks the columns a user listed, by exact name first, then ignoring case.
std::vector<size_t> PickColumns(const std::vector<Connection::ResultColumn>& described,
                                const std::vector<std::string>& wanted, const std::string& object) {
  std::vector<std::string> names;
  for (const auto& c : described) names.push_back(c.name);
  std::vector<size_t> picked;
  if (wanted.empty()) {
    for (size_t i = 0; i < described.size(); i++) picked.push_back(i);
    return picked;
  }
  std::string where = object.empty() ? "the result" : object;
  for (const auto& w : wanted) {
    std::vector<size_t> exact, folded;
    for (size_t i = 0; i < names.size(); i++) {
      if (names[i] == w) exact.push_back(i);
      if (ToLower(names[i]) == ToLower(w)) folded.push_back(i);
    }
    const auto& hits = exact.empty() ? folded : exact;
    if (hits.empty()) {
      std::string guess = ClosestMatch(w, names);
      if (guess.empty()) guess = ClosestMatch(ToLower(w), names);
      throw NotFound(where + " has no column " + Ident(w) +
                     (guess.empty() ? "" : " (did you mean " + Ident(guess) + "?)") +
                     "; its columns are " + QuotedList(names));
    }
    if (exact.empty() && hits.size() > 1) {
      std::vector<std::string> same;
      for (size_t i : hits) same.push_back(names[i]);
      throw InvalidInput(where + ": column " + Ident(w) + " matches " + QuotedList(same) +
                         "; write the name with its exact case");
    }
    for (size_t p : picked) {
      if (p == hits[0]) {
        throw InvalidInput(where + ": column " + Ident(names[p]) +
                           " is listed twice in columns:; list it once");
      }
    }
    picked.push_back(hits[0]);
  }
  return picked;
}

// ---- value decoding -------------------------------------------------------------------------

// 2000-01-01-based days -> "2026-11-21" / "0044-03-15 BC", for messages.
std::string FormatPgDate(int64_t days_since_2000) {
  // Howard Hinnant's civil_from_days, on 1970-based days.
  int64_t z = days_since_2000 + kPgEpochDays + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) y++;
  bool bc = y <= 0;
  if (bc) y = 1 - y;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld%s", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d), bc ? " BC" : "");
  return buf;
}

std::string FormatPgTimestamp(int64_t micros_since_2000) {
  int64_t days = micros_since_2000 / kMicrosPerDay;
  int64_t rest = micros_since_2000 % kMicrosPerDay;
  if (rest < 0) {
    rest += kMicrosPerDay;
    days--;
  }
  std::string date = FormatPgDate(days);
  std::string bc;
  if (EndsWith(date, " BC")) {
    bc = " BC";
    date.resize(date.size() - 3);
  }
  int64_t secs = rest / 1000000;
  char buf[64];
  std::snprintf(buf, sizeof buf, " %02lld:%02lld:%02lld.%06lld",
                static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
                static_cast<long long>(secs % 60), static_cast<long long>(rest % 1000000));
  return date + buf + bc;
}

// Binary numeric -> its decimal text, for messages.
std::string FormatPgNumeric(const char* p, size_t len) {
  if (len < 8) return "(malformed numeric)";
  uint16_t sign = Big16(p + 4);
  if (sign == 0xC000) return "NaN";
  if (sign == 0xD000) return "Infinity";
  if (sign == 0xF000) return "-Infinity";
  int ndigits = Big16(p);
  int weight = static_cast<int16_t>(Big16(p + 2));
  int dscale = Big16(p + 6);
  if (len < 8 + 2 * static_cast<size_t>(ndigits)) return "(malformed numeric)";
  auto digit = [&](int i) { return i >= 0 && i < ndigits ? Big16(p + 8 + 2 * i) : 0; };
  std::string s = sign == 0x4000 ? "-" : "";
  if (weight < 0) {
    s += "0";
  } else {
    for (int i = 0; i <= weight; i++) {
      char g[8];
      std::snprintf(g, sizeof g, i == 0 ? "%d" : "%04d", digit(i));
      s += g;
    }
  }
  if (dscale > 0) {
    std::string frac;
    for (int i = weight + 1; static_cast<int>(frac.size()) < dscale; i++) {
      char g[8];
      std::snprintf(g, sizeof g, "%04d", digit(i));
      frac += g;
    }
    s += "." + frac.substr(0, static_cast<size_t>(dscale));
  }
  return s;
}

// 10^0 .. 10^38.
constexpr auto kPow10 = [] {
  std::array<unsigned __int128, 39> t{};
  t[0] = 1;
  for (size_t i = 1; i < t.size(); i++) t[i] = t[i - 1] * 10;
  return t;
}();

enum class NumericStatus { kOk, kSpecial, kTooLarge, kTooManyDigits, kMalformed };

// Binary numeric -> the unscaled integer of DECIMAL(width, scale), exactly. The value is
// sum(digit[i] * 10000^(weight - i)); digit i stands for 10^(4 * (weight - i) + scale) units
// of the unscaled integer, so a Horner scheme over the digits needs no division except for a
// last group that straddles the scale (e.g. 1.5 at scale 1 is the digits 1, 5000).
NumericStatus DecodeNumeric(const char* p, size_t len, int width, int scale, __int128* out) {
  if (len < 8) return NumericStatus::kMalformed;
  int ndigits = Big16(p);
  int weight = static_cast<int16_t>(Big16(p + 2));
  uint16_t sign = Big16(p + 4);
  if (len != 8 + 2 * static_cast<size_t>(ndigits)) return NumericStatus::kMalformed;
  if (sign != 0 && sign != 0x4000) return NumericStatus::kSpecial;
  const unsigned __int128 limit = kPow10[width];
  unsigned __int128 acc = 0;
  int unit = 0;  // acc counts units of 10^unit
  for (int i = 0; i < ndigits; i++) {
    unsigned d = Big16(p + 8 + 2 * i);
    if (d > 9999) return NumericStatus::kMalformed;
    int e = 4 * (weight - i) + scale;
    if (e >= 0) {
      if (acc > limit / 10000) return NumericStatus::kTooLarge;
      acc = acc * 10000 + d;
      unit = e;
    } else if (e > -4) {
      unsigned div = static_cast<unsigned>(kPow10[-e]);
      if (d % div != 0) return NumericStatus::kTooManyDigits;
      acc = acc * (10000 / div) + d / div;
      unit = 0;
    } else if (d != 0) {
      return NumericStatus::kTooManyDigits;
    }
  }
  if (unit > 38 || (unit > 0 && acc > limit / kPow10[unit])) return NumericStatus::kTooLarge;
  acc *= kPow10[unit];
  if (acc >= limit) return NumericStatus::kTooLarge;
  *out = sign == 0x4000 ? -static_cast<__int128>(acc) : static_cast<__int128>(acc);
  return NumericStatus::kOk;
}

}  // namespace

// ---- PlanImport -----------------------------------------------------------------------------

ImportPlan PlanImport(Connection& conn, const std::string& from_sql,
                      const std::vector<std::string>& columns, const ImportOptions& options) {
  auto described = conn.DescribeResult("SELECT * FROM " + from_sql + " LIMIT 0");
  std::vector<size_t> picked = PickColumns(described, columns, options.object);
  std::vector<Connection::ResultColumn> chosen;
  for (size_t i : picked) chosen.push_back(described[i]);
  std::vector<TypeFacts> facts = LookUpTypes(conn, chosen);

  std::string where = options.object.empty() ? "the result" : options.object;
  std::map<std::string, int> seen;
  for (const auto& c : described) seen[c.name]++;
  ImportPlan plan;
  std::vector<std::string> select;
  for (size_t i = 0; i < chosen.size(); i++) {
    const std::string& name = chosen[i].name;
    if (seen[name] > 1) {
      // select_list names columns; a name that appears twice would be ambiguous.
      throw InvalidInput(where + " has " + std::to_string(seen[name]) + " columns named " +
                         Ident(name) + "; give them distinct names with AS in the query");
    }
    ColumnRead read = Classify(facts[i]);
    if (!read.supported) {
      throw InvalidInput(Prefix(options.object) + "column " + Ident(name) + ": type " +
                         facts[i].name + " has no lake type; import it through a query: with " +
                         Ident(name) + "::text (or a cast you choose)");
    }
    SourceColumn sc;
    sc.name = name;
    sc.id = read.id;
    sc.width = read.width;
    sc.scale = read.scale;
    plan.columns.push_back(sc);
    plan.server_types.push_back(facts[i].name);
    select.push_back(*read.cast ? Ident(name) + read.cast + " AS " + Ident(name) : Ident(name));
  }
  plan.select_list = Join(select, ", ");
  return plan;
}

// ---- RowReader ------------------------------------------------------------------------------

namespace {

// How one column's values are decoded: what the wire holds after select_list's casts.
struct Decoder {
  TypeId id;
  int32_t size;          // bytes of a value on the wire; -1 when variable
  uint8_t width = 0;     // DECIMAL
  uint8_t scale = 0;     // DECIMAL
  uint8_t physical = 0;  // DECIMAL: bytes per value in the chunk
};

Decoder MakeDecoder(const SourceColumn& c, const std::string& object) {
  switch (c.id) {
    case TypeId::kBoolean:
      return {c.id, 1};
    case TypeId::kSmallint:
      return {c.id, 2};
    case TypeId::kInteger:
    case TypeId::kUInteger:  // oid
    case TypeId::kFloat:
    case TypeId::kDate:
      return {c.id, 4};
    case TypeId::kBigint:
    case TypeId::kDouble:
    case TypeId::kTime:
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz:
      return {c.id, 8};
    case TypeId::kUuid:
      return {c.id, 16};
    case TypeId::kVarchar:
    case TypeId::kBlob:
      return {c.id, -1};
    case TypeId::kDecimal: {
      if (c.width < 1 || c.width > 38 || c.scale > c.width) break;
      uint8_t physical = c.width <= 4 ? 2 : c.width <= 9 ? 4 : c.width <= 18 ? 8 : 16;
      return {c.id, -1, c.width, c.scale, physical};
    }
    default:
      break;
  }
  throw Internal(Prefix(object) + "column " + Ident(c.name) +
                 ": a PostgreSQL reader cannot produce " + engine::SqlTypeName(c));
}

template <typename T>
void Put(void* data, size_t row, T v) {
  static_cast<T*>(data)[row] = v;
}

}  // namespace

struct RowReader::State {
  std::vector<Decoder> decoders;
  std::vector<void*> data;  // per column, for the current Fill
  bool streaming = false;   // a COPY is running: its rows have not all been read
  bool header_read = false;
  std::string_view message;  // the unread rest of the current CopyData message
};

RowReader::RowReader(Connection& conn, ImportPlan plan, ImportOptions options)
    : conn_(conn),
      plan_(std::move(plan)),
      options_(std::move(options)),
      state_(std::make_unique<State>()) {
  for (const auto& c : plan_.columns) state_->decoders.push_back(MakeDecoder(c, options_.object));
  state_->data.resize(plan_.columns.size());
}

RowReader::~RowReader() {
  // Leave the connection usable: a COPY that was not read to its end blocks every statement.
  if (state_->streaming) conn_.AbortCopyOut();
}

void RowReader::Start(const std::string& sql) {
  if (state_->streaming) {
    throw Internal(Prefix(options_.object) +
                   "RowReader::Start while the previous result is still streaming");
  }
  try {
    // Text forms (arrays, ranges, composites, intervals, timetz) depend on these settings;
    // fix them so a lake file does not depend on the server's or the role's defaults.
    // Set on every Start: a rolled-back transaction undoes SET.
    conn_.Exec(
        "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
        "SET extra_float_digits = 3; SET bytea_output = 'hex'");
    conn_.BeginCopyOut("COPY (" + StripSqlTerminator(sql) + ") TO STDOUT (FORMAT binary)");
  } catch (const Error& e) {
    throw Error(e.kind(), ReadingPrefix(options_.object) + e.what(), e.retryable());
  }
  state_->streaming = true;
  state_->header_read = false;
  state_->message = {};
}

size_t RowReader::Fill(engine::OutputChunk& out, size_t offset) {
  State& s = *state_;
  if (!s.streaming) return 0;
  const size_t ncols = s.decoders.size();
  const size_t capacity = out.capacity();
  size_t row = offset;
  // A failure midway (a bad value, a lost connection) ends the result: stop the COPY so the
  // connection stays usable for the next Start.
  auto stop = [&]() {
    if (s.streaming) conn_.AbortCopyOut();
    s.streaming = false;
  };
  auto value_error = [&](size_t c, const std::string& cause) {
    stop();
    return InvalidInput(Prefix(options_.object) + "column " + Ident(plan_.columns[c].name) + ": " +
                        cause);
  };
  auto malformed = [&](const std::string& what) {
    stop();
    return Internal(Prefix(options_.object) +
                    "malformed binary COPY data from the server: " + what);
  };
  auto next_message = [&]() {
    try {
      std::string_view m;
      if (!conn_.NextCopyOut(&m)) {
        s.streaming = false;
        throw malformed("the data ended without a trailer");
      }
      s.message = m;
    } catch (const Error& e) {
      s.streaming = false;  // the COPY is over: NextCopyOut threw its result
      if (e.kind() == ErrorKind::kInternal) throw;
      throw Error(e.kind(), ReadingPrefix(options_.object) + e.what(), e.retryable());
    }
  };
  for (size_t c = 0; c < ncols; c++) {
    s.data[c] =
        s.decoders[c].size > 0 || s.decoders[c].id == TypeId::kDecimal ? out.Data(c) : nullptr;
  }
  while (row < capacity) {
    if (s.message.empty()) next_message();
    const char* p = s.message.data();
    const char* end = p + s.message.size();
    if (!s.header_read) {
      static const char kSignature[] = "PGCOPY\n\377\r\n\0";
      if (end - p < 19 || std::memcmp(p, kSignature, 11) != 0) throw malformed("no header");
      uint32_t extension = Big32(p + 15);
      if (static_cast<uint64_t>(end - p) < 19 + uint64_t{extension}) {
        throw malformed("header extension too long");
      }
      p += 19 + extension;
      s.header_read = true;
      s.message = std::string_view(p, static_cast<size_t>(end - p));
      if (p == end) continue;
    }
    if (end - p < 2) throw malformed("a row shorter than its field count");
    int16_t fields = static_cast<int16_t>(Big16(p));
    p += 2;
    if (fields == -1) {
      // The trailer: read the statement's result now, so an error at the very end surfaces
      // here and the connection is free when Fill returns.
      std::string_view m;
      try {
        if (conn_.NextCopyOut(&m)) {
          throw malformed("data after the trailer");
        }
      } catch (const Error& e) {
        s.streaming = false;
        if (e.kind() == ErrorKind::kInternal) throw;
        throw Error(e.kind(), ReadingPrefix(options_.object) + e.what(), e.retryable());
      }
      s.streaming = false;
      s.message = {};
      break;
    }
    if (static_cast<size_t>(fields) != ncols) {
      throw malformed("a row of " + std::to_string(fields) + " fields for " +
                      std::to_string(ncols) + " columns; the query does not match the plan");
    }
    for (size_t c = 0; c < ncols; c++) {
      if (end - p < 4) throw malformed("a row shorter than its fields");
      int32_t len = static_cast<int32_t>(Big32(p));
      p += 4;
      if (len == -1) {
        out.SetNull(c, row);
        continue;
      }
      if (len < 0 || end - p < len) throw malformed("a field longer than its row");
      const Decoder& d = s.decoders[c];
      if (d.size >= 0 && len != d.size) {
        throw value_error(c, "the server sent " + std::to_string(len) + " bytes for a " +
                                 engine::SqlTypeName(plan_.columns[c]) +
                                 " value; the query's columns do not match the plan");
      }
      void* data = s.data[c];
      switch (d.id) {
        case TypeId::kBoolean:
          Put<uint8_t>(data, row, *p != 0 ? 1 : 0);
          break;
        case TypeId::kSmallint:
          Put<int16_t>(data, row, static_cast<int16_t>(Big16(p)));
          break;
        case TypeId::kInteger:
          Put<int32_t>(data, row, static_cast<int32_t>(Big32(p)));
          break;
        case TypeId::kUInteger:
          Put<uint32_t>(data, row, Big32(p));
          break;
        case TypeId::kBigint:
        case TypeId::kTime:
          Put<int64_t>(data, row, static_cast<int64_t>(Big64(p)));
          break;
        case TypeId::kFloat: {
          uint32_t bits = Big32(p);
          float f;
          std::memcpy(&f, &bits, 4);
          Put<float>(data, row, f);
          break;
        }
        case TypeId::kDouble: {
          uint64_t bits = Big64(p);
          double f;
          std::memcpy(&f, &bits, 8);
          Put<double>(data, row, f);
          break;
        }
        case TypeId::kDate: {
          int32_t v = static_cast<int32_t>(Big32(p));
          int32_t days = v == kPgDateInfinity        ? kLakeDateInfinity
                         : v == kPgDateMinusInfinity ? -kLakeDateInfinity
                                                     : static_cast<int32_t>(v + kPgEpochDays);
          if (v != kPgDateInfinity && v > kPgDateInfinity - kPgEpochDays - 1) {
            // Not reached: PostgreSQL's dates end in 5874897 AD, DuckDB's in 5881580 AD.
            throw value_error(c, "value " + FormatPgDate(v) +
                                     " is after the lake's last date; import it through a "
                                     "query: with " +
                                     Ident(plan_.columns[c].name) + "::text");
          }
          Put<int32_t>(data, row, days);
          break;
        }
        case TypeId::kTimestamp:
        case TypeId::kTimestampTz: {
          int64_t v = static_cast<int64_t>(Big64(p));
          int64_t micros;
          if (v == kPgTimestampInfinity) {
            micros = kLakeTimestampInfinity;
          } else if (v == kPgTimestampMinusInfinity) {
            micros = -kLakeTimestampInfinity;
          } else if (v >= kLakeTimestampInfinity - kPgEpochMicros) {
            // PostgreSQL goes to 294276 AD, DuckDB to 294247-01-10 04:00:54.775806.
            throw value_error(c, "value " + FormatPgTimestamp(v) +
                                     " is after the lake's last timestamp, "
                                     "294247-01-10 04:00:54.775806; import it through a query: "
                                     "with a CASE that caps or nulls it, or " +
                                     Ident(plan_.columns[c].name) + "::text");
          } else {
            micros = v + kPgEpochMicros;
          }
          Put<int64_t>(data, row, micros);
          break;
        }
        case TypeId::kUuid: {
          unsigned __int128 v = (static_cast<unsigned __int128>(Big64(p)) << 64) | Big64(p + 8);
          Put<__int128>(data, row, static_cast<__int128>(v));
          break;
        }
        case TypeId::kDecimal: {
          __int128 v = 0;
          NumericStatus st = DecodeNumeric(p, static_cast<size_t>(len), d.width, d.scale, &v);
          if (st != NumericStatus::kOk) {
            if (st == NumericStatus::kMalformed) throw malformed("a numeric value");
            std::string name = Ident(plan_.columns[c].name);
            std::string text = FormatPgNumeric(p, static_cast<size_t>(len));
            std::string type = engine::SqlTypeName(plan_.columns[c]);
            throw value_error(c, st == NumericStatus::kSpecial
                                     ? "value " + text + " has no " + type +
                                           " form; import it through a query: with CASE WHEN " +
                                           name +
                                           " IN ('NaN', 'Infinity', '-Infinity') THEN NULL ELSE " +
                                           name + " END, or " + name + "::text"
                                     : "value " + text + " does not fit " + type +
                                           "; import it through a query: with " + name + "::text");
          }
          switch (d.physical) {
            case 2:
              Put<int16_t>(data, row, static_cast<int16_t>(v));
              break;
            case 4:
              Put<int32_t>(data, row, static_cast<int32_t>(v));
              break;
            case 8:
              Put<int64_t>(data, row, static_cast<int64_t>(v));
              break;
            default:
              Put<__int128>(data, row, v);
              break;
          }
          break;
        }
        default:  // kVarchar, kBlob
          out.SetString(c, row, p, static_cast<size_t>(len));
          break;
      }
      p += len;
      bytes_ += static_cast<uint64_t>(len);
    }
    s.message = std::string_view(p, static_cast<size_t>(end - p));
    row++;
    rows_++;
  }
  return row - offset;
}

}  // namespace sluice::connectors::postgres
