// `sluice gen shop`: the rows are a pure function of (seed, table, row number), so the same seed
// writes the same database whatever the chunking, and a table can be generated on its own
// (order totals are the sums of their items even when order_items is not written).
#include "gen/gen_shop.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"
#include "connectors/mysql/mysql.h"
#include "connectors/postgres/postgres.h"

namespace sluice::gen {
namespace {

namespace my = connectors::mysql;
namespace pg = connectors::postgres;

enum class Dialect { kMySql, kPostgres };

// Creation order: parents first. Dropping goes the other way.
const std::vector<std::string> kTables = {"regions", "customers", "products", "orders",
                                          "order_items"};

constexpr uint64_t kLastOrderId = 1000000000000ULL;  // 10^12: the far outlier at the end
constexpr int kEdgeProducts = 7;                     // products 1..7 hold the extremes
constexpr int kRegions = 20;
constexpr int kMaxLines = 4;
constexpr int64_t kMicrosPerDay = 86400000000LL;
constexpr int64_t kPgEpochDays = 10957;  // 2000-01-01, PostgreSQL's binary epoch
constexpr uint64_t kProgressRows = 1u << 16;
constexpr size_t kMySqlChunk = 1u << 20;
constexpr size_t kPgChunk = 4u << 20;

// ---------------------------------------------------------------------------------------------
// Randomness: splitmix64, one independent stream per (seed, table, row).

constexpr uint64_t Mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

enum Stream : uint64_t {
  kCustomerStream = 1,
  kProductStream = 2,
  kPriceStream = 3,
  kOrderStream = 4,
  kLineCountStream = 5,
};

class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream, uint64_t row) : s_(Mix(Mix(seed ^ (stream << 56)) + row)) {}
  uint64_t Next() { return Mix(s_ += 0x9E3779B97F4A7C15ULL); }
  // Uniform in [0, n).
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  int64_t Between(int64_t lo, int64_t hi) {  // inclusive
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
  }
  bool Percent(unsigned p) { return Below(100) < p; }
  template <typename T, size_t N>
  const T& Pick(const std::array<T, N>& a) {
    return a[Below(N)];
  }

 private:
  uint64_t s_;
};

// ---------------------------------------------------------------------------------------------
// Text formatting (the calendar is common/time.h's).

// Orders span three years ending 2026-11-20, in order id order.
constexpr int64_t kOrdersLastDay = DaysFromCivil(2026, 11, 20);
constexpr int64_t kOrdersFirstDay = DaysFromCivil(2023, 11, 21);
constexpr int64_t kOrdersDays = kOrdersLastDay - kOrdersFirstDay + 1;
constexpr int64_t kCustomersFirstDay = DaysFromCivil(2018, 1, 1);

void AppendPadded(std::string& out, uint64_t v, int width) {
  char buf[24];
  char* end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  for (int n = static_cast<int>(end - buf); n < width; n++) out.push_back('0');
  out.append(buf, end);
}

void AppendUInt(std::string& out, uint64_t v) { AppendPadded(out, v, 0); }

void AppendInt(std::string& out, int64_t v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

// unscaled / 10^scale with exactly `scale` fraction digits: (-1234, 2) -> "-12.34".
void AppendScaled(std::string& out, int64_t unscaled, int scale) {
  uint64_t mag = unscaled < 0 ? 0 - static_cast<uint64_t>(unscaled) : unscaled;
  uint64_t pow = 1;
  for (int i = 0; i < scale; i++) pow *= 10;
  if (unscaled < 0) out.push_back('-');
  AppendUInt(out, mag / pow);
  if (scale > 0) {
    out.push_back('.');
    AppendPadded(out, mag % pow, scale);
  }
}

void AppendDate(std::string& out, int64_t days) {
  auto [y, m, d] = CivilFromDays(days);
  AppendPadded(out, static_cast<uint64_t>(y), 4);
  out.push_back('-');
  AppendPadded(out, m, 2);
  out.push_back('-');
  AppendPadded(out, d, 2);
}

// "YYYY-MM-DD HH:MM:SS.ffffff" for microseconds since 1970-01-01 00:00:00.
void AppendDateTime(std::string& out, int64_t micros) {
  int64_t days =
      micros >= 0 ? micros / kMicrosPerDay : -((-micros + kMicrosPerDay - 1) / kMicrosPerDay);
  auto rest = static_cast<uint64_t>(micros - days * kMicrosPerDay);
  AppendDate(out, days);
  out.push_back(' ');
  AppendPadded(out, rest / 3600000000ULL, 2);
  out.push_back(':');
  AppendPadded(out, rest / 60000000ULL % 60, 2);
  out.push_back(':');
  AppendPadded(out, rest / 1000000ULL % 60, 2);
  out.push_back('.');
  AppendPadded(out, rest % 1000000ULL, 6);
}

std::string DateText(int64_t days) {
  std::string s;
  AppendDate(s, days);
  return s;
}

std::string DateTimeText(int64_t micros) {
  std::string s;
  AppendDateTime(s, micros);
  return s;
}

std::string Hex(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : bytes) {
    s.push_back(kHex[c >> 4]);
    s.push_back(kHex[c & 0xF]);
  }
  return s;
}

std::string Repeat(std::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; i++) out.append(s);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Built-in value lists. `ascii` is the lowercase folding used in email addresses.

struct Name {
  std::string_view text;
  std::string_view ascii;
};

constexpr std::array<Name, 24> kFirstNames = {{
    {"Anna", "anna"},   {"José", "jose"},       {"Zoë", "zoe"},           {"Łukasz", "lukasz"},
    {"Søren", "soren"}, {"Chloé", "chloe"},     {"Mohammed", "mohammed"}, {"Aiko", "aiko"},
    {"Björn", "bjorn"}, {"Çağla", "cagla"},     {"François", "francois"}, {"Jürgen", "jurgen"},
    {"María", "maria"}, {"Olamide", "olamide"}, {"Priya", "priya"},       {"Wei", "wei"},
    {"Émile", "emile"}, {"Siobhán", "siobhan"}, {"Tomás", "tomas"},       {"Noa", "noa"},
    {"Liam", "liam"},   {"Emma", "emma"},       {"Lena", "lena"},         {"Paul", "paul"},
}};

constexpr std::array<Name, 22> kLastNames = {{
    {"Müller", "muller"},       {"García", "garcia"},
    {"Nguyễn", "nguyen"},       {"O'Brien", "obrien"},
    {"Kowalski", "kowalski"},   {"Dubois", "dubois"},
    {"Rossi", "rossi"},         {"Smith", "smith"},
    {"Jansen", "jansen"},       {"Ødegaard", "odegaard"},
    {"Yılmaz", "yilmaz"},       {"Santos", "santos"},
    {"Novák", "novak"},         {"van der Berg", "vanderberg"},
    {"佐藤", "sato"},           {"김", "kim"},
    {"Schmidt", "schmidt"},     {"Brown", "brown"},
    {"Fernández", "fernandez"}, {"Nakamura", "nakamura"},
    {"D'Angelo", "dangelo"},    {"Petrović", "petrovic"},
}};

constexpr std::array<std::string_view, 3> kMailDomains = {"example.com", "example.org",
                                                          "example.de"};

struct Region {
  std::string_view name;
  std::string_view country;
};

constexpr std::array<Region, kRegions> kRegionRows = {{
    {"Île-de-France", "FR"},   {"Zürich", "CH"},      {"東京", "JP"},
    {"Bayern", "DE"},          {"Catalunya", "ES"},   {"Lombardia", "IT"},
    {"Noord-Holland", "NL"},   {"Wien", "AT"},        {"Mazowieckie", "PL"},
    {"Västra Götaland", "SE"}, {"Hovedstaden", "DK"}, {"Région de Bruxelles-Capitale", "BE"},
    {"Dublin", "IE"},          {"Lisboa", "PT"},      {"Αττική", "GR"},
    {"서울특별시", "KR"},      {"São Paulo", "BR"},   {"Québec", "CA"},
    {"California", "US"},      {"Hawaiʻi 🌺", "US"},
}};

constexpr std::array<std::string_view, 4> kStatuses = {"new", "paid", "shipped", "cancelled"};
enum Status { kNew, kPaid, kShipped, kCancelled };

// Weighted: EUR most, JPY least.
constexpr std::array<std::string_view, 20> kCurrencies = {
    "EUR", "EUR", "EUR", "EUR", "EUR", "EUR", "EUR", "EUR", "EUR", "EUR",
    "EUR", "EUR", "USD", "USD", "USD", "GBP", "GBP", "CHF", "SEK", "JPY"};

constexpr std::array<std::string_view, 12> kOrderNotes = {
    "leave at the door",
    "call before delivery\n2nd floor, ring twice",
    "gift wrap, please",
    "Bitte beim Nachbarn abgeben",
    "livraison après 18h",
    "配達前に電話してください",
    "fragile: glass \"handle with care\"",
    "tab\tseparated",
    "back\\slash \\N is not NULL",
    "O'Reilly books",
    "🎁 birthday present",
    "NULL",
};

constexpr std::array<std::string_view, 8> kCategories = {
    "books", "electronics", "garden", "grocery", "toys", "clothing", "sports", "home"};
constexpr std::array<std::string_view, 6> kTags = {"new", "sale", "eco", "gift", "bulk", "fragile"};

constexpr std::array<std::string_view, 15> kAdjectives = {
    "Classic", "Deluxe", "Eco",     "Compact", "Smart", "Vintage", "Ultra", "Mini",
    "Pro",     "Große",  "Élégant", "Petit",   "Süße",  "Rustic",  "小さな"};
constexpr std::array<std::string_view, 16> kNouns = {
    "Lamp",        "Kettle", "Backpack", "Notebook",
    "Drill",       "Teapot", "Bicycle",  "Chair",
    "Café Mug",    "Jacket", "Umbrella", "Headphones",
    "Garden Hose", "Puzzle", "Tent",     "Crème Brûlée Torch"};
constexpr std::array<std::string_view, 6> kProductNotes = {
    "Limited edition.",    "Ships in 2–3 days.", "Not available in Zürich",
    "Contains: nuts 🥜", "Line one\nline two", "Measurements in mm; weight ±5 %"};
constexpr std::array<std::string_view, 6> kColors = {"red",   "green", "blue",
                                                     "black", "white", "bordeaux"};
constexpr std::array<std::string_view, 5> kSizes = {"XS", "S", "M", "L", "XL"};

// ---------------------------------------------------------------------------------------------
// The shop: sizes and row generators, independent of the dialect.

struct Shop {
  uint64_t seed = 0;
  uint64_t orders = 0;
  uint64_t customers = 0;
  uint64_t products = 0;
  // Order row k (0-based) has id k + 1, except: rows from gap_start on skip gap_length ids, and
  // the last row is kLastOrderId.
  uint64_t gap_start = 0;
  uint64_t gap_length = 0;

  explicit Shop(const GenShopOptions& o)
      : seed(o.seed),
        orders(o.orders),
        customers(std::max<uint64_t>(10, o.orders / 10)),
        products(std::max<uint64_t>(100, o.orders / 1000)) {
    if (orders >= 20) {
      gap_start = orders - orders / 10;
      gap_length = orders / 4;
    } else {
      gap_start = orders;
    }
  }

  uint64_t OrderId(uint64_t k) const {
    if (orders > 1 && k == orders - 1) return kLastOrderId;
    return k + 1 + (k >= gap_start ? gap_length : 0);
  }

  int LineCount(uint64_t k) const {
    return 1 + static_cast<int>(Mix(seed ^ (uint64_t{kLineCountStream} << 56) ^ Mix(k)) & 3);
  }

  // The list price of a product (ids after the edge rows), in cents: 0.50 to 999.99.
  int64_t PriceCents(uint64_t product_id) const {
    Rng r(seed, kPriceStream, product_id);
    return r.Percent(90) ? r.Between(50, 9999) : r.Between(10000, 99999);
  }
};

struct Customer {
  uint64_t id = 0;
  std::string name;
  std::string email;
  bool email_null = false;
  int region = 1;
  int64_t created_us = 0;
  int64_t birth_days = 0;
  bool birth_null = false;
  bool vip = false;
  int64_t balance_cents = 0;
};

void MakeCustomer(const Shop& s, uint64_t id, Customer& c) {
  Rng r(s.seed, kCustomerStream, id);
  const Name& first = r.Pick(kFirstNames);
  const Name& last = r.Pick(kLastNames);
  c.id = id;
  c.name.assign(first.text).append(" ").append(last.text);
  if (r.Below(1000) == 0) c.name.append(" 🎉");
  // Every 50th customer has '' (so even the smallest shop has one), 4 % have NULL.
  bool empty = id % 50 == 7;
  c.email_null = !empty && r.Percent(4);
  c.email.clear();
  if (!empty && !c.email_null) {
    c.email.assign(first.ascii).append(".").append(last.ascii);
    AppendUInt(c.email, id);
    c.email.append("@").append(r.Pick(kMailDomains));
  }
  c.region = 1 + static_cast<int>(r.Below(kRegions));
  int64_t span = kOrdersLastDay - kCustomersFirstDay;
  int64_t day = kCustomersFirstDay +
                static_cast<int64_t>((id - 1) * static_cast<uint64_t>(span) / s.customers);
  c.created_us = day * kMicrosPerDay + static_cast<int64_t>(r.Below(kMicrosPerDay));
  c.birth_null = r.Percent(8);
  c.birth_days = r.Between(DaysFromCivil(1940, 1, 1), DaysFromCivil(2008, 12, 31));
  c.vip = r.Percent(7);
  c.balance_cents = r.Percent(60) ? 0 : r.Between(-50000, 2000000);
}

struct Line {
  int line_no = 0;
  uint64_t product_id = 0;
  int quantity = 0;
  int64_t unit_price_cents = 0;
  int discount = -1;  // in 1/10000; -1 = NULL
};

struct Order {
  uint64_t id = 0;
  uint64_t customer_id = 0;
  int64_t date = 0;
  Status status = kNew;
  int64_t total_cents = 0;
  std::string_view currency;
  int64_t created_us = 0;
  int64_t updated_us = 0;
  std::optional<std::string_view> note;
  int lines = 0;
  std::array<Line, kMaxLines> line;
};

void MakeOrder(const Shop& s, uint64_t k, Order& o) {
  static constexpr std::array<int, 6> kDiscounts = {500, 1000, 1500, 2500, 3333, 10000};
  Rng r(s.seed, kOrderStream, k);
  o.id = s.OrderId(k);
  // A tenth of the customers place about a third of the orders.
  uint64_t loyal = std::max<uint64_t>(1, s.customers / 10);
  o.customer_id = 1 + (r.Percent(30) ? r.Below(loyal) : r.Below(s.customers));
  o.date = kOrdersFirstDay +
           static_cast<int64_t>(static_cast<unsigned __int128>(k) * kOrdersDays / s.orders);
  int64_t age = kOrdersLastDay - o.date;
  if (r.Percent(4)) {
    o.status = kCancelled;
  } else if (age < 7) {
    o.status = r.Percent(50) ? kNew : kPaid;
  } else if (age < 30) {
    o.status = r.Percent(30) ? kPaid : kShipped;
  } else {
    o.status = kShipped;
  }
  o.created_us = o.date * kMicrosPerDay + static_cast<int64_t>(r.Below(kMicrosPerDay));
  switch (o.status) {
    case kNew:
      o.updated_us = o.created_us;
      break;
    case kPaid:
      o.updated_us = o.created_us + static_cast<int64_t>(r.Below(2 * kMicrosPerDay));
      break;
    case kShipped:
      o.updated_us =
          o.created_us + kMicrosPerDay + static_cast<int64_t>(r.Below(9 * kMicrosPerDay));
      break;
    case kCancelled:
      o.updated_us = o.created_us + static_cast<int64_t>(r.Below(5 * kMicrosPerDay));
      break;
  }
  o.currency = r.Pick(kCurrencies);
  unsigned n = static_cast<unsigned>(r.Below(1000));
  if (n < 25) {
    o.note = kOrderNotes[n % kOrderNotes.size()];
  } else if (n < 30) {
    o.note = std::string_view();
  } else {
    o.note.reset();
  }
  o.lines = s.LineCount(k);
  o.total_cents = 0;
  for (int i = 0; i < o.lines; i++) {
    Line& l = o.line[static_cast<size_t>(i)];
    l.line_no = i + 1;
    l.product_id = kEdgeProducts + 1 + r.Below(s.products - kEdgeProducts);
    l.unit_price_cents = s.PriceCents(l.product_id);
    l.quantity = r.Below(200) == 0 ? static_cast<int>(r.Between(10, 100))
                                   : static_cast<int>(r.Between(1, 5));
    l.discount = r.Percent(30) ? r.Pick(kDiscounts) : -1;
    int64_t gross = l.quantity * l.unit_price_cents;
    o.total_cents += l.discount < 0 ? gross : (gross * (10000 - l.discount) + 5000) / 10000;
  }
}

// ---------------------------------------------------------------------------------------------
// products: the every-type table. Values are text; how each is quoted depends on its kind.

enum class Kind {
  kNumber,  // MySQL: as it is; PostgreSQL: quoted (NaN, Infinity)
  kText,    // quoted string (dates, JSON, ENUM, SET, arrays, intervals too)
  kBytes,   // raw bytes: X'..' / '\x..'
  kBits,    // '0'/'1' digits: b'..' / '..'
};

struct ColumnDef {
  std::string_view name;
  std::string_view type;
  Kind kind;
};

const std::vector<ColumnDef> kMySqlProducts = {
    {"product_id", "INT UNSIGNED NOT NULL", Kind::kNumber},
    {"sku", "CHAR(12) NOT NULL", Kind::kText},
    {"name", "VARCHAR(200) NOT NULL", Kind::kText},
    {"price", "DECIMAL(10,2) NOT NULL", Kind::kNumber},
    {"cost", "DECIMAL(38,10) NULL", Kind::kNumber},
    {"weight_g", "FLOAT NULL", Kind::kNumber},
    {"score", "DOUBLE NULL", Kind::kNumber},
    {"stock", "BIGINT UNSIGNED NULL", Kind::kNumber},
    {"flags", "BIT(12) NULL", Kind::kBits},
    {"active", "BIT(1) NULL", Kind::kBits},
    {"category",
     "ENUM('books','electronics','garden','grocery','toys','clothing','sports','home') NULL",
     Kind::kText},
    {"tags", "SET('new','sale','eco','gift','bulk','fragile') NULL", Kind::kText},
    {"attrs", "JSON NULL", Kind::kText},
    {"launched", "DATE NULL", Kind::kText},
    {"updated_at", "DATETIME(6) NULL", Kind::kText},
    {"seen_at", "TIMESTAMP(6) NULL", Kind::kText},
    {"duration", "TIME(6) NULL", Kind::kText},
    {"model_year", "YEAR NULL", Kind::kNumber},
    {"thumbnail", "BLOB NULL", Kind::kBytes},
    {"digest", "BINARY(16) NULL", Kind::kBytes},
    {"small", "TINYINT NULL", Kind::kNumber},
    {"medium", "MEDIUMINT NULL", Kind::kNumber},
    {"i16", "SMALLINT NULL", Kind::kNumber},
    {"i32", "INT NULL", Kind::kNumber},
    {"i64", "BIGINT NULL", Kind::kNumber},
    {"u8", "TINYINT UNSIGNED NULL", Kind::kNumber},
    {"u16", "SMALLINT UNSIGNED NULL", Kind::kNumber},
    {"u24", "MEDIUMINT UNSIGNED NULL", Kind::kNumber},
    {"u32", "INT UNSIGNED NULL", Kind::kNumber},
    {"wide", "DECIMAL(65,30) NULL", Kind::kNumber},
    {"notes", "TEXT NULL", Kind::kText},
};

const std::vector<ColumnDef> kPgProducts = {
    {"product_id", "integer NOT NULL", Kind::kNumber},
    {"sku", "char(12) NOT NULL", Kind::kText},
    {"name", "varchar(200) NOT NULL", Kind::kText},
    {"price", "numeric(10,2) NOT NULL", Kind::kNumber},
    {"cost", "numeric(38,10)", Kind::kNumber},
    {"weight_g", "real", Kind::kNumber},
    {"score", "double precision", Kind::kNumber},
    {"stock", "bigint", Kind::kNumber},
    {"flags", "bit varying(12)", Kind::kBits},
    {"active", "boolean", Kind::kText},
    {"category", "product_category", Kind::kText},
    {"tags", "text[]", Kind::kText},
    {"attrs", "jsonb", Kind::kText},
    {"attrs_json", "json", Kind::kText},
    {"launched", "date", Kind::kText},
    {"updated_at", "timestamp(6)", Kind::kText},
    {"seen_at", "timestamptz(6)", Kind::kText},
    {"duration", "interval", Kind::kText},
    {"uid", "uuid", Kind::kText},
    {"thumbnail", "bytea", Kind::kBytes},
    {"small", "smallint", Kind::kNumber},
    {"i32", "integer", Kind::kNumber},
    {"i64", "bigint", Kind::kNumber},
    {"wide", "numeric", Kind::kNumber},
    {"amount_exact", "numeric(20,0)", Kind::kNumber},
    {"ip", "inet", Kind::kText},
    {"notes", "text", Kind::kText},
};

// One products row under construction: every column must be set (nullopt = NULL).
class ProductRow {
 public:
  explicit ProductRow(Dialect d)
      : dialect_(d),
        columns_(d == Dialect::kMySql ? &kMySqlProducts : &kPgProducts),
        values_(columns_->size()),
        set_(columns_->size(), false) {}

  bool mysql() const { return dialect_ == Dialect::kMySql; }
  const std::vector<ColumnDef>& columns() const { return *columns_; }
  const std::vector<std::optional<std::string>>& values() const { return values_; }

  void Set(std::string_view column, std::optional<std::string> value) {
    for (size_t i = 0; i < columns_->size(); i++) {
      if ((*columns_)[i].name == column) {
        values_[i] = std::move(value);
        set_[i] = true;
        return;
      }
    }
    throw Internal("gen shop: products has no column " + std::string(column) + " in this dialect");
  }
  // Sets a column in one dialect only.
  void SetMy(std::string_view column, std::optional<std::string> value) {
    if (mysql()) Set(column, std::move(value));
  }
  void SetPg(std::string_view column, std::optional<std::string> value) {
    if (!mysql()) Set(column, std::move(value));
  }
  // Sets every column not set yet to NULL.
  void NullRest() {
    for (size_t i = 0; i < set_.size(); i++) set_[i] = true;
  }
  void CheckComplete() const {
    for (size_t i = 0; i < set_.size(); i++) {
      if (!set_[i]) {
        throw Internal("gen shop: products column " + std::string((*columns_)[i].name) +
                       " was not generated");
      }
    }
  }

 private:
  Dialect dialect_;
  const std::vector<ColumnDef>* columns_;
  std::vector<std::optional<std::string>> values_;
  std::vector<bool> set_;
};

std::string RandomBytes(Rng& r, size_t n) {
  std::string s;
  while (s.size() < n) {
    uint64_t v = r.Next();
    for (int i = 0; i < 8 && s.size() < n; i++) s.push_back(static_cast<char>(v >> (8 * i)));
  }
  return s;
}

std::string Bits(uint64_t v, int width) {
  std::string s;
  for (int i = width - 1; i >= 0; i--) s.push_back((v >> i) & 1 ? '1' : '0');
  return s;
}

std::string ShortestDouble(double d) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, d).ptr);
}

std::string Scaled(int64_t unscaled, int scale) {
  std::string s;
  AppendScaled(s, unscaled, scale);
  return s;
}

// A random decimal below `int_below` with `scale` fraction digits.
std::string RandomDecimal(Rng& r, uint64_t int_below, int scale, bool negative) {
  std::string s = negative ? "-" : "";
  AppendUInt(s, r.Below(int_below));
  if (scale > 0) {
    s.push_back('.');
    for (int i = 0; i < scale; i++) s.push_back(static_cast<char>('0' + r.Below(10)));
  }
  return s;
}

// Fills the common, ordinary values of a product (ids after the edge rows, and the edge rows'
// columns that carry nothing special).
void OrdinaryProduct(const Shop& s, uint64_t id, ProductRow& p) {
  Rng r(s.seed, kProductStream, id);
  bool my = p.mysql();
  p.Set("product_id", std::to_string(id));
  std::string sku = "SKU";
  AppendPadded(sku, id, 9);
  p.Set("sku", sku);
  std::string name = std::string(r.Pick(kAdjectives)) + " " + std::string(r.Pick(kNouns)) + " #";
  AppendUInt(name, id);
  p.Set("name", name);
  int64_t price = s.PriceCents(id);
  p.Set("price", Scaled(price, 2));
  // cost: 40..70 % of the price, to 10 decimals.
  p.Set("cost", Scaled(price * r.Between(4000, 6999) * 10000 + r.Between(0, 9999), 10));
  // Quarter grams: exact in FLOAT, so the text round-trips in every reader.
  p.Set("weight_g", Scaled(r.Between(4, 400000) * 25, 2));
  p.Set("score", ShortestDouble(static_cast<double>(r.Next() >> 11) * 0x1.0p-53 * 5.0));
  p.Set("stock", std::to_string(r.Percent(3) ? 0 : r.Between(1, 100000)));
  p.Set("flags", Bits(r.Below(4096), 12));
  bool active = r.Percent(90);
  p.Set("active", my ? (active ? "1" : "0") : (active ? "true" : "false"));
  p.Set("category",
        r.Percent(2) ? std::nullopt : std::optional<std::string>(std::string(r.Pick(kCategories))));
  uint64_t mask = r.Below(64);
  std::string tags = my ? "" : "{";
  for (size_t i = 0; i < kTags.size(); i++) {
    if (mask >> i & 1) {
      if (tags.size() > (my ? 0u : 1u)) tags.push_back(',');
      tags.append(kTags[i]);
    }
  }
  if (!my) tags.push_back('}');
  p.Set("tags", r.Percent(5) ? std::nullopt : std::optional<std::string>(tags));
  std::string color(r.Pick(kColors)), size(r.Pick(kSizes));
  std::string w = std::to_string(r.Between(1, 200)), h = std::to_string(r.Between(1, 200)),
              d = std::to_string(r.Between(1, 200));
  std::string rating = Scaled(r.Between(10, 50), 1);
  bool no_attrs = r.Percent(3);
  p.Set("attrs", no_attrs ? std::nullopt
                          : std::optional<std::string>("{\"color\":\"" + color + "\",\"size\":\"" +
                                                       size + "\",\"dims\":[" + w + "," + h + "," +
                                                       d + "],\"rating\":" + rating + "}"));
  // json keeps the text as written: spaces and key order stay.
  p.SetPg("attrs_json", no_attrs ? std::nullopt
                                 : std::optional<std::string>(
                                       "{\"size\": \"" + size + "\", \"color\": \"" + color +
                                       "\", \"dims\": [" + w + ", " + h + ", " + d + "]}"));
  p.Set("launched", r.Percent(2) ? std::nullopt
                                 : std::optional<std::string>(DateText(r.Between(
                                       DaysFromCivil(2000, 1, 1), DaysFromCivil(2026, 11, 20)))));
  int64_t t0 = DaysFromCivil(2020, 1, 1) * kMicrosPerDay;
  int64_t t1 = (kOrdersLastDay + 1) * kMicrosPerDay - 1;
  p.Set("updated_at", DateTimeText(r.Between(t0, t1)));
  std::string seen = DateTimeText(r.Between(t0, t1));
  if (!my) seen += "+00";
  p.Set("seen_at", r.Percent(20) ? std::nullopt : std::optional<std::string>(seen));
  int64_t secs = r.Between(0, 3 * 86400 - 1), micros = r.Between(0, 999999);
  std::string duration;
  if (my) {
    // MySQL TIME imports as the lake's TIME, a time of day: values stay within a day (a
    // negative or longer TIME fails the import by design, see docs/import.md).
    AppendPadded(duration, static_cast<uint64_t>(secs / 3600 % 24), 2);
  } else {
    duration = std::to_string(r.Below(3)) + " mons " + std::to_string(secs / 86400) + " days ";
    AppendPadded(duration, static_cast<uint64_t>(secs / 3600 % 24), 2);
  }
  duration.push_back(':');
  AppendPadded(duration, static_cast<uint64_t>(secs / 60 % 60), 2);
  duration.push_back(':');
  AppendPadded(duration, static_cast<uint64_t>(secs % 60), 2);
  duration.push_back('.');
  AppendPadded(duration, static_cast<uint64_t>(micros), 6);
  p.Set("duration", r.Percent(10) ? std::nullopt : std::optional<std::string>(duration));
  p.SetMy("model_year", r.Percent(5)
                            ? std::nullopt
                            : std::optional<std::string>(std::to_string(r.Between(1990, 2026))));
  std::string uid = Hex(RandomBytes(r, 16));
  uid[12] = '4';
  uid[16] = "89ab"[r.Below(4)];
  uid = uid.substr(0, 8) + "-" + uid.substr(8, 4) + "-" + uid.substr(12, 4) + "-" +
        uid.substr(16, 4) + "-" + uid.substr(20);
  p.SetPg("uid", uid);
  size_t thumb = static_cast<size_t>(r.Between(8, 64));
  p.Set("thumbnail",
        r.Percent(10) ? std::nullopt : std::optional<std::string>(RandomBytes(r, thumb)));
  p.SetMy("digest", RandomBytes(r, 16));
  uint64_t bits = r.Next();
  if (my) {
    p.Set("small", std::to_string(static_cast<int8_t>(bits)));
    p.Set("medium", std::to_string(static_cast<int32_t>(bits >> 8 & 0xFFFFFF) - 0x800000));
    p.Set("i16", std::to_string(static_cast<int16_t>(bits >> 32)));
    p.Set("u8", std::to_string(static_cast<uint8_t>(bits >> 48)));
    p.Set("u16", std::to_string(static_cast<uint16_t>(bits >> 16)));
    p.Set("u24", std::to_string(bits >> 40 & 0xFFFFFF));
    p.Set("u32", std::to_string(static_cast<uint32_t>(bits >> 3)));
  } else {
    p.Set("small", std::to_string(static_cast<int16_t>(bits)));
  }
  p.Set("i32", std::to_string(static_cast<int32_t>(r.Next())));
  p.Set("i64", std::to_string(static_cast<int64_t>(r.Next())));
  // PostgreSQL's unconstrained numeric keeps each value's own scale: vary it.
  p.Set("wide",
        RandomDecimal(r, 1000000000000ULL, my ? 30 : static_cast<int>(r.Below(31)), r.Percent(10)));
  p.SetPg("amount_exact", std::to_string(r.Next()));
  std::string ip;
  switch (r.Below(4)) {
    case 0:
      ip = "10." + std::to_string(r.Below(256)) + "." + std::to_string(r.Below(256)) + "." +
           std::to_string(r.Below(256));
      break;
    case 1:
      ip = "192.168." + std::to_string(r.Below(256)) + ".0/24";
      break;
    case 2:
      ip = "2001:db8::" + Hex(RandomBytes(r, 2));
      break;
    default:
      ip = "2001:db8:" + Hex(RandomBytes(r, 2)) + "::/48";
  }
  p.SetPg("ip", ip);
  unsigned n = static_cast<unsigned>(r.Below(100));
  p.Set("notes", n < 40   ? std::nullopt
                 : n < 50 ? std::optional<std::string>("")
                          : std::optional<std::string>(std::string(r.Pick(kProductNotes))));
}

// Rows 1..kEdgeProducts: the extremes of every type, then the odd values. MySQL and
// PostgreSQL differ where their types do.
void EdgeProduct(const Shop& s, uint64_t id, ProductRow& p) {
  OrdinaryProduct(s, id, p);
  bool my = p.mysql();
  const std::string k38 = "9999999999999999999999999999.9999999999";  // DECIMAL(38,10)
  const std::string k65 =                                             // DECIMAL(65,30)
      "99999999999999999999999999999999999.999999999999999999999999999999";
  const std::string flt_max = my ? "3.4028234663852886e38" : "3.4028235e38";
  const std::string flt_min = my ? "1.1754943508222875e-38" : "1.17549435e-38";
  const std::string dbl_max = "1.7976931348623157e308";
  switch (id) {
    case 1:  // the minimum of every type
      p.Set("sku", "EDGE-MIN");
      p.Set("name", "A");
      p.Set("price", "-99999999.99");
      p.Set("cost", "-" + k38);
      p.Set("weight_g", "-" + flt_max);
      p.Set("score", "-" + dbl_max);
      p.Set("stock", my ? "0" : "-9223372036854775808");
      p.Set("flags", "000000000000");
      p.Set("active", my ? "0" : "false");
      p.Set("category", "books");
      p.Set("tags", my ? "" : "{}");
      p.Set("attrs", "{}");
      p.SetPg("attrs_json", "{}");
      p.Set("launched", my ? "1000-01-01" : "0001-01-01");
      p.Set("updated_at", my ? "1000-01-01 00:00:00.000000" : "0001-01-01 00:00:00.000000");
      p.Set("seen_at", my ? "1970-01-01 00:00:01.000000" : "0001-01-01 00:00:00.000000+00");
      p.Set("duration", my ? "00:00:00.000000" : "-178000000 years");
      p.SetMy("model_year", "1901");
      p.SetPg("uid", "00000000-0000-0000-0000-000000000000");
      p.Set("thumbnail", std::string(1, '\0'));
      p.SetMy("digest", std::string(16, '\0'));
      p.Set("small", my ? "-128" : "-32768");
      p.SetMy("medium", "-8388608");
      p.SetMy("i16", "-32768");
      p.Set("i32", "-2147483648");
      p.Set("i64", "-9223372036854775808");
      for (const char* u : {"u8", "u16", "u24", "u32"}) p.SetMy(u, "0");
      p.Set("wide", "-" + k65);
      p.SetPg("amount_exact", "-99999999999999999999");
      p.SetPg("ip", "0.0.0.0");
      p.Set("notes", " ");
      break;
    case 2:  // the maximum of every type; strings and bytes at their longest
      p.Set("sku", Repeat("🛒", 12));
      p.Set("name", Repeat("😀", 200));
      p.Set("price", "99999999.99");
      p.Set("cost", k38);
      p.Set("weight_g", flt_max);
      p.Set("score", dbl_max);
      p.Set("stock", my ? "18446744073709551615" : "9223372036854775807");
      p.Set("flags", "111111111111");
      p.Set("active", my ? "1" : "true");
      p.Set("category", "home");
      p.Set("tags", my ? "new,sale,eco,gift,bulk,fragile" : "{new,sale,eco,gift,bulk,fragile}");
      p.Set("attrs",
            R"({"array":[1,2.5,-3e10,true,false,null,"x"],"nested":{"a":{"b":{"c":{"d":"🎉"}}}},)"
            R"("big":123456789012345678901234567890,"tiny":1e-300,"unicode":"Zürich 東京 😀",)"
            R"("empty":{},"escapes":"quote\" backslash\\ tab\t newline\n"})");
      p.SetPg("attrs_json",
              R"({"dup": 1, "dup": 2,   "spaces" : [ 1 , 2 ], "order": "as written"})");
      p.Set("launched", "9999-12-31");
      p.Set("updated_at", "9999-12-31 23:59:59.999999");
      p.Set("seen_at", my ? "2038-01-19 03:14:07.999999" : "9999-12-31 23:59:59.999999+00");
      p.Set("duration", my ? "23:59:59.999999" : "178000000 years");
      p.SetMy("model_year", "2155");
      p.SetPg("uid", "ffffffff-ffff-ffff-ffff-ffffffffffff");
      p.Set("thumbnail", std::string(65535, '\xFF'));
      p.SetMy("digest", std::string(16, '\xFF'));
      p.Set("small", my ? "127" : "32767");
      p.SetMy("medium", "8388607");
      p.SetMy("i16", "32767");
      p.Set("i32", "2147483647");
      p.Set("i64", "9223372036854775807");
      p.SetMy("u8", "255");
      p.SetMy("u16", "65535");
      p.SetMy("u24", "16777215");
      p.SetMy("u32", "4294967295");
      p.Set("wide", k65);
      p.SetPg("amount_exact", "99999999999999999999");
      p.SetPg("ip", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
      // TEXT's 65535 bytes, in 4-byte characters.
      p.Set("notes", Repeat("😀", 16383) + "xyz");
      break;
    case 3: {  // every nullable column NULL
      std::string sku = "EDGE-NULL", name = "every nullable column is NULL", price = "0.00";
      p = ProductRow(p.mysql() ? Dialect::kMySql : Dialect::kPostgres);
      p.Set("product_id", "3");
      p.Set("sku", sku);
      p.Set("name", name);
      p.Set("price", price);
      p.NullRest();
      break;
    }
    case 4:  // empty strings and zeros where the type has them
      p.Set("sku", "");
      p.Set("name", "");
      p.Set("price", "0.00");
      p.Set("cost", "0.0000000000");
      p.Set("weight_g", "-0e0");
      p.Set("score", "-0e0");
      p.Set("stock", "0");
      p.Set("flags", my ? "0" : "");  // bit varying: zero length
      p.Set("active", my ? "0" : "false");
      p.Set("tags", my ? "" : "{\"\"}");
      p.Set("attrs", "\"\"");
      p.SetPg("attrs_json", "\"\"");
      p.Set("duration", my ? "00:00:00.000000" : "00:00:00");
      p.Set("thumbnail", "");
      p.SetMy("digest", "");  // BINARY pads it with zero bytes
      p.Set("small", "0");
      for (const char* c : {"medium", "i16", "u8", "u16", "u24", "u32"}) p.SetMy(c, "0");
      p.Set("i32", "0");
      p.Set("i64", "0");
      p.Set("wide", "0");
      p.SetPg("amount_exact", "0");
      p.SetPg("ip", "::");
      p.Set("notes", "");
      break;
    case 5:  // characters that break naive quoting, and the smallest positive values
      p.Set("sku", "'\"\\\t\n`%_😀");
      p.Set("name", "quote ' double \" backslash \\ tab \t newline \n CR \r emoji 😀 \\N NULL");
      p.Set("price", "0.01");
      p.Set("cost", "0.0000000001");
      p.Set("weight_g", flt_min);
      p.Set("score", "2.2250738585072014e-308");
      p.Set("flags", "101010101010");
      p.Set("category", "toys");
      p.Set(
          "tags",
          my ? "eco,gift"
             : R"({"with space","comma,inside","quote\"inside","back\\slash",NULL,"NULL","😀",""})");
      p.Set("attrs", R"({"quote":"\"","backslash":"\\","tab":"\t","newline":"\n",)"
                     R"("unicode_escape":"\u00e9\ud83d\ude00","emoji":"😀","null":null})");
      p.SetPg("attrs_json", R"({"unicode_escape": "\u00e9", "nul_escape": "\u0000"})");
      p.Set("launched", "1970-01-01");
      p.Set("updated_at", "1969-12-31 23:59:59.999999");
      p.Set("seen_at", my ? "2000-02-29 12:34:56.123456" : "2000-02-29 12:34:56.123456+00");
      p.Set("duration", my ? "00:00:00.000001" : "1 mon -1 days +00:00:00.000001");
      p.SetMy("model_year", "1970");
      p.SetPg("uid", "123e4567-e89b-12d3-a456-426614174000");
      p.Set("thumbnail", std::string("\x00\xFF\x00\n\r\t\\'\"\x1A\x00", 11));
      p.SetMy("digest", std::string("\x00\xFF\\'\"\n\r\t\x1A\x00\x00\x00\x00\x00\x00\x01", 16));
      p.Set("small", "-1");
      for (const char* c : {"medium", "i16"}) p.SetMy(c, "-1");
      for (const char* c : {"u8", "u16", "u24", "u32"}) p.SetMy(c, "1");
      p.Set("i32", "-1");
      p.Set("i64", "-1");
      p.Set("wide", "0.000000000000000000000000000001");
      p.SetPg("amount_exact", "18446744073709551615");
      p.SetPg("ip", "192.168.0.0/16");
      p.Set("notes", "line1\nline2\r\nline3\ttab \\N \\\\ 'single' \"double\" `back` 😀🎉 — ünïcödé");
      break;
    case 6:  // MySQL: the smallest subnormal floats; PostgreSQL: NaN and infinity
      p.Set("sku", "EDGE-FLOAT1");
      p.Set("weight_g", my ? "1.401298464324817e-45" : "NaN");
      p.Set("score", my ? "4.9406564584124654e-324" : "Infinity");
      break;
    case 7:  // 0.1 (not exact in binary); PostgreSQL: the other non-finite values
      p.Set("sku", "EDGE-FLOAT2");
      p.Set("weight_g", my ? "0.1" : "-Infinity");
      p.Set("score", my ? "0.1" : "NaN");
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Schemas. Secondary indexes come after the load: one sorted build instead of an insertion per
// row (measured on MariaDB 10.11 with 1M orders: LOAD DATA 3.7 s + ADD INDEX 1.1 s, against
// 5.1 to 10 s for LOAD DATA into the indexed table).

struct Schema {
  std::string create;                   // CREATE TABLE, without the secondary indexes
  std::vector<std::string> after_load;  // statements run once the rows are in
};

std::string MySqlProductsTable() {
  std::string sql = "CREATE TABLE `products` (\n";
  for (const auto& c : kMySqlProducts) {
    sql += "  `" + std::string(c.name) + "` " + std::string(c.type) + ",\n";
  }
  return sql + "  PRIMARY KEY (`product_id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
}

Schema MySqlSchema(const std::string& table) {
  const std::string tail = ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
  if (table == "regions") {
    return {
        "CREATE TABLE `regions` (\n"
        "  `region_id` SMALLINT NOT NULL PRIMARY KEY,\n"
        "  `name` VARCHAR(100) NOT NULL,\n"
        "  `country_code` CHAR(2) NOT NULL\n" +
            tail,
        {}};
  }
  if (table == "customers") {
    return {
        "CREATE TABLE `customers` (\n"
        "  `customer_id` BIGINT NOT NULL PRIMARY KEY,\n"
        "  `name` VARCHAR(100) NOT NULL,\n"
        "  `email` VARCHAR(200) NULL,\n"
        "  `region_id` SMALLINT NOT NULL,\n"
        "  `created_at` DATETIME(6) NOT NULL,\n"
        "  `birth_date` DATE NULL,\n"
        "  `vip` BOOLEAN NOT NULL,\n"
        "  `balance` DECIMAL(12,2) NOT NULL\n" +
            tail,
        {}};
  }
  if (table == "products") return {MySqlProductsTable(), {}};
  if (table == "orders") {
    return {
        "CREATE TABLE `orders` (\n"
        "  `order_id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,\n"
        "  `customer_id` BIGINT NOT NULL,\n"
        "  `order_date` DATE NOT NULL,\n"
        "  `status` ENUM('new','paid','shipped','cancelled') NOT NULL,\n"
        "  `total` DECIMAL(12,2) NOT NULL,\n"
        "  `currency` CHAR(3) NOT NULL,\n"
        "  `created_at` DATETIME(6) NOT NULL,\n"
        "  `updated_at` DATETIME(6) NOT NULL,\n"
        "  `note` VARCHAR(500) NULL\n" +
            tail,
        {"ALTER TABLE `orders` ADD INDEX `orders_updated_at` (`updated_at`)"}};
  }
  return {
      "CREATE TABLE `order_items` (\n"
      "  `order_id` BIGINT NOT NULL,\n"
      "  `line_no` SMALLINT NOT NULL,\n"
      "  `product_id` INT UNSIGNED NOT NULL,\n"
      "  `quantity` INT NOT NULL,\n"
      "  `unit_price` DECIMAL(10,2) NOT NULL,\n"
      "  `discount` DECIMAL(5,4) NULL,\n"
      "  PRIMARY KEY (`order_id`, `line_no`)\n" +
          tail,
      {}};
}

// PostgreSQL tables are created without their primary key, which is added after COPY: one
// sorted index build instead of one insertion per row.
Schema PgSchema(const std::string& table) {
  if (table == "regions") {
    return {
        "CREATE TABLE regions (\n"
        "  region_id smallint NOT NULL,\n"
        "  name varchar(100) NOT NULL,\n"
        "  country_code char(2) NOT NULL\n)",
        {"ALTER TABLE regions ADD PRIMARY KEY (region_id)"}};
  }
  if (table == "customers") {
    return {
        "CREATE TABLE customers (\n"
        "  customer_id bigint NOT NULL,\n"
        "  name varchar(100) NOT NULL,\n"
        "  email varchar(200),\n"
        "  region_id smallint NOT NULL,\n"
        "  created_at timestamp(6) NOT NULL,\n"
        "  birth_date date,\n"
        "  vip boolean NOT NULL,\n"
        "  balance numeric(12,2) NOT NULL\n)",
        {"ALTER TABLE customers ADD PRIMARY KEY (customer_id)"}};
  }
  if (table == "products") {
    std::string sql = "CREATE TABLE products (\n";
    for (size_t i = 0; i < kPgProducts.size(); i++) {
      sql += "  " + std::string(kPgProducts[i].name) + " " + std::string(kPgProducts[i].type) +
             (i + 1 < kPgProducts.size() ? ",\n" : "\n)");
    }
    return {sql, {"ALTER TABLE products ADD PRIMARY KEY (product_id)"}};
  }
  if (table == "orders") {
    return {
        "CREATE TABLE orders (\n"
        "  order_id bigint GENERATED BY DEFAULT AS IDENTITY,\n"
        "  customer_id bigint NOT NULL,\n"
        "  order_date date NOT NULL,\n"
        "  status text NOT NULL CHECK (status IN ('new', 'paid', 'shipped', 'cancelled')),\n"
        "  total numeric(12,2) NOT NULL,\n"
        "  currency char(3) NOT NULL,\n"
        "  created_at timestamp(6) NOT NULL,\n"
        "  updated_at timestamp(6) NOT NULL,\n"
        "  note varchar(500)\n)",
        {"ALTER TABLE orders ADD PRIMARY KEY (order_id)",
         "CREATE INDEX orders_updated_at ON orders (updated_at)",
         "SELECT setval(pg_get_serial_sequence('orders', 'order_id'), "
         "(SELECT coalesce(max(order_id), 1) FROM orders))"}};
  }
  return {
      "CREATE TABLE order_items (\n"
      "  order_id bigint NOT NULL,\n"
      "  line_no smallint NOT NULL,\n"
      "  product_id integer NOT NULL,\n"
      "  quantity integer NOT NULL,\n"
      "  unit_price numeric(10,2) NOT NULL,\n"
      "  discount numeric(5,4)\n)",
      {"ALTER TABLE order_items ADD PRIMARY KEY (order_id, line_no)"}};
}

struct ForeignKey {
  std::string table, column, parent, parent_column;
};

// Added only between tables generated in the same run: a table kept from an earlier run may
// have been made with another --rows or --seed.
const std::vector<ForeignKey> kForeignKeys = {
    {"customers", "region_id", "regions", "region_id"},
    {"orders", "customer_id", "customers", "customer_id"},
    {"order_items", "order_id", "orders", "order_id"},
    {"order_items", "product_id", "products", "product_id"},
};

// ---------------------------------------------------------------------------------------------
// The generator, with the dialect's way of creating and filling tables.

class Target {
 public:
  virtual ~Target() = default;
  virtual std::string Describe() const = 0;
  // The names among `tables` that exist in the target database.
  virtual std::vector<std::string> Existing(const std::vector<std::string>& tables) = 0;
  virtual void Drop(const std::vector<std::string>& tables_child_first) = 0;
  // Creates and fills `table`; returns its rows.
  virtual uint64_t Create(const std::string& table) = 0;
  virtual void AddForeignKey(const ForeignKey& fk) = 0;
  virtual void Finish(const std::vector<std::string>& /*tables*/) {}
};

void Progress(const GenShopOptions& o, const std::string& table, uint64_t rows, uint64_t total) {
  if (o.on_progress) o.on_progress(table, std::min(rows, total), total);
}

uint64_t TotalLines(const Shop& s) {
  uint64_t n = 0;
  for (uint64_t k = 0; k < s.orders; k++) n += static_cast<uint64_t>(s.LineCount(k));
  return n;
}

// --- MySQL / MariaDB -------------------------------------------------------------------------

// Appends the fields of one row, either as LOAD DATA text (tab-separated, backslash escapes,
// \N for NULL) or as a tuple of a multi-row INSERT (the fallback when the server refuses LOAD
// DATA LOCAL).
class MySqlRow {
 public:
  MySqlRow(std::string& out, bool sql) : out_(out), sql_(sql) {}
  void Begin() {
    if (sql_) {
      if (!out_.empty()) out_.push_back(',');
      out_.push_back('(');
    }
    first_ = true;
  }
  void End() { out_.push_back(sql_ ? ')' : '\n'); }
  void Null() {
    Sep();
    out_.append(sql_ ? "NULL" : "\\N");
  }
  void UInt(uint64_t v) {
    Sep();
    AppendUInt(out_, v);
  }
  void Int(int64_t v) {
    Sep();
    AppendInt(out_, v);
  }
  void Scaled(int64_t unscaled, int scale) {
    Sep();
    AppendScaled(out_, unscaled, scale);
  }
  void Date(int64_t days) {
    OpenQuoted();
    AppendDate(out_, days);
    CloseQuoted();
  }
  void DateTime(int64_t micros) {
    OpenQuoted();
    AppendDateTime(out_, micros);
    CloseQuoted();
  }
  void Text(std::string_view s) {
    Sep();
    if (sql_) {
      out_.append(my::Literal(s));
      return;
    }
    for (char c : s) {
      switch (c) {
        case '\\':
          out_.append("\\\\");
          break;
        case '\t':
          out_.append("\\t");
          break;
        case '\n':
          out_.append("\\n");
          break;
        case '\r':
          out_.append("\\r");
          break;
        case '\0':
          out_.append("\\0");
          break;
        default:
          out_.push_back(c);
      }
    }
  }

 private:
  void Sep() {
    if (!first_) out_.push_back(sql_ ? ',' : '\t');
    first_ = false;
  }
  // Dates are quoted in SQL; in LOAD DATA text they need no escaping.
  void OpenQuoted() {
    Sep();
    if (sql_) out_.push_back('\'');
  }
  void CloseQuoted() {
    if (sql_) out_.push_back('\'');
  }

  std::string& out_;
  bool sql_;
  bool first_ = true;
};

class MySqlTarget : public Target {
 public:
  MySqlTarget(const my::Options& options, const Shop& shop, const GenShopOptions& o)
      : conn_(my::Connection::Open(options)), shop_(shop), o_(o) {
    // The rows are unique and consistent by construction, so the server need not check them
    // one by one (LOAD DATA of orders measured about 20 % faster on MariaDB 10.11).
    conn_->Exec("SET SESSION unique_checks = 0, foreign_key_checks = 0");
  }

  std::string Describe() const override { return "mysql " + conn_->Describe(); }

  std::vector<std::string> Existing(const std::vector<std::string>& tables) override {
    std::string list;
    for (const auto& t : tables) list += (list.empty() ? "" : ",") + my::Literal(t);
    std::set<std::string> found;
    for (const auto& row : conn_->Query(
             "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
             "AND table_name IN (" +
             list + ")")) {
      if (row[0]) found.insert(*row[0]);
    }
    std::vector<std::string> out;
    for (const auto& t : tables) {
      if (found.count(t)) out.push_back(t);
    }
    return out;
  }

  void Drop(const std::vector<std::string>& tables) override {
    for (const auto& t : tables) conn_->Exec("DROP TABLE IF EXISTS " + my::Ident(t));
  }

  uint64_t Create(const std::string& table) override {
    Schema schema = MySqlSchema(table);
    conn_->Exec(schema.create);
    uint64_t rows = 0;
    if (table == "regions") {
      rows = Fill(table, {"region_id", "name", "country_code"}, kRegions, kRegions,
                  [&](uint64_t i, MySqlRow& row) {
                    row.Begin();
                    row.UInt(i + 1);
                    row.Text(kRegionRows[i].name);
                    row.Text(kRegionRows[i].country);
                    row.End();
                    return 1;
                  });
    } else if (table == "customers") {
      Customer c;
      rows = Fill(table,
                  {"customer_id", "name", "email", "region_id", "created_at", "birth_date", "vip",
                   "balance"},
                  shop_.customers, shop_.customers, [&](uint64_t i, MySqlRow& row) {
                    MakeCustomer(shop_, i + 1, c);
                    row.Begin();
                    row.UInt(c.id);
                    row.Text(c.name);
                    if (c.email_null) {
                      row.Null();
                    } else {
                      row.Text(c.email);
                    }
                    row.UInt(static_cast<uint64_t>(c.region));
                    row.DateTime(c.created_us);
                    if (c.birth_null) {
                      row.Null();
                    } else {
                      row.Date(c.birth_days);
                    }
                    row.UInt(c.vip ? 1 : 0);
                    row.Scaled(c.balance_cents, 2);
                    row.End();
                    return 1;
                  });
    } else if (table == "products") {
      rows = InsertProducts();
    } else if (table == "orders") {
      Order order;
      rows = Fill(table,
                  {"order_id", "customer_id", "order_date", "status", "total", "currency",
                   "created_at", "updated_at", "note"},
                  shop_.orders, shop_.orders, [&](uint64_t k, MySqlRow& row) {
                    MakeOrder(shop_, k, order);
                    row.Begin();
                    row.UInt(order.id);
                    row.UInt(order.customer_id);
                    row.Date(order.date);
                    row.Text(kStatuses[order.status]);
                    row.Scaled(order.total_cents, 2);
                    row.Text(order.currency);
                    row.DateTime(order.created_us);
                    row.DateTime(order.updated_us);
                    if (order.note) {
                      row.Text(*order.note);
                    } else {
                      row.Null();
                    }
                    row.End();
                    return 1;
                  });
    } else {
      Order order;
      rows =
          Fill(table, {"order_id", "line_no", "product_id", "quantity", "unit_price", "discount"},
               shop_.orders, TotalLines(shop_), [&](uint64_t k, MySqlRow& row) {
                 MakeOrder(shop_, k, order);
                 for (int i = 0; i < order.lines; i++) {
                   const Line& l = order.line[static_cast<size_t>(i)];
                   row.Begin();
                   row.UInt(order.id);
                   row.UInt(static_cast<uint64_t>(l.line_no));
                   row.UInt(l.product_id);
                   row.Int(l.quantity);
                   row.Scaled(l.unit_price_cents, 2);
                   if (l.discount < 0) {
                     row.Null();
                   } else {
                     row.Scaled(l.discount, 4);
                   }
                   row.End();
                 }
                 return order.lines;
               });
    }
    for (const auto& sql : schema.after_load) conn_->Exec(sql);
    return rows;
  }

  void AddForeignKey(const ForeignKey& fk) override {
    // With foreign_key_checks = 0 the server adds the constraint in place, without copying
    // the table or checking the rows (they are consistent by construction).
    conn_->Exec("ALTER TABLE " + my::Ident(fk.table) + " ADD CONSTRAINT " +
                my::Ident(fk.table + "_" + fk.column + "_fk") + " FOREIGN KEY (" +
                my::Ident(fk.column) + ") REFERENCES " + my::Ident(fk.parent) + " (" +
                my::Ident(fk.parent_column) + ")");
  }

  void Finish(const std::vector<std::string>& tables) override {
    // Fresh statistics (InnoDB recomputes them in the background, later): planners and
    // db_import's split estimates read them.
    for (const auto& t : tables) conn_->Query("ANALYZE TABLE " + my::Ident(t));
  }

 private:
  using RowFn = std::function<int(uint64_t unit, MySqlRow& row)>;

  // Streams `units` units of rows (make writes one or more rows per unit) by LOAD DATA LOCAL
  // INFILE, or by INSERT when the server refuses that. Returns the rows the server took.
  uint64_t Fill(const std::string& table, const std::vector<std::string>& columns, uint64_t units,
                uint64_t total, const RowFn& make) {
    std::string cols;
    for (const auto& c : columns) cols += (cols.empty() ? "" : ",") + my::Ident(c);
    if (!insert_only_) {
      uint64_t sent = 0;
      std::string load = "LOAD DATA LOCAL INFILE 'sluice-gen-shop' INTO TABLE " + my::Ident(table) +
                         " CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' "
                         "LINES TERMINATED BY '\\n' (" +
                         cols + ")";
      uint64_t taken = 0;
      try {
        taken = conn_->LoadLocal(load, [&](my::InfileWriter& w) {
          MySqlRow row(w.buffer(), false);
          uint64_t next_report = kProgressRows;
          for (uint64_t u = 0; u < units; u++) {
            sent += static_cast<uint64_t>(make(u, row));
            if (w.buffer().size() >= kMySqlChunk) w.Flush(kMySqlChunk);
            if (sent >= next_report) {
              Progress(o_, table, sent, total);
              next_report = sent + kProgressRows;
            }
          }
        });
      } catch (const Error&) {
        if (!my::LocalInfileRefused(conn_->last_error().code)) throw;
        insert_only_ = true;  // for this table and the next ones
      }
      if (!insert_only_) {
        CheckWarnings(table);
        Progress(o_, table, taken, taken);
        return taken;
      }
    }
    const std::string head = "INSERT INTO " + my::Ident(table) + " (" + cols + ") VALUES ";
    const size_t limit = std::clamp<size_t>(conn_->max_allowed_packet() / 2, 64u << 10, 4u << 20);
    std::string values;
    MySqlRow row(values, true);
    uint64_t rows = 0;
    auto flush = [&] {
      if (values.empty()) return;
      rows += conn_->Exec(head + values);
      values.clear();
      Progress(o_, table, rows, total);
    };
    for (uint64_t u = 0; u < units; u++) {
      make(u, row);
      if (values.size() >= limit) flush();
    }
    flush();
    return rows;
  }

  uint64_t InsertProducts() {
    std::string cols;
    for (const auto& c : kMySqlProducts) cols += (cols.empty() ? "" : ",") + my::Ident(c.name);
    const std::string head = "INSERT INTO `products` (" + cols + ") VALUES ";
    std::string values;
    uint64_t rows = 0;
    auto flush = [&] {
      if (values.empty()) return;
      rows += conn_->Exec(head + values);
      values.clear();
      Progress(o_, "products", rows, shop_.products);
    };
    for (uint64_t id = 1; id <= shop_.products; id++) {
      ProductRow p(Dialect::kMySql);
      if (id <= kEdgeProducts) {
        EdgeProduct(shop_, id, p);
      } else {
        OrdinaryProduct(shop_, id, p);
      }
      p.CheckComplete();
      values += values.empty() ? "(" : ",(";
      for (size_t i = 0; i < p.values().size(); i++) {
        if (i) values.push_back(',');
        const auto& v = p.values()[i];
        if (!v) {
          values += "NULL";
          continue;
        }
        switch (kMySqlProducts[i].kind) {
          case Kind::kNumber:
            values += *v;
            break;
          case Kind::kText:
            values += my::Literal(*v);
            break;
          case Kind::kBytes:
            values += "X'" + Hex(*v) + "'";
            break;
          case Kind::kBits:
            values += "b'" + *v + "'";
            break;
        }
      }
      values.push_back(')');
      if (values.size() >= (1u << 20)) flush();
    }
    flush();
    return rows;
  }

  // LOAD DATA LOCAL turns refused values into warnings (the server cannot stop the stream):
  // any warning is a value not stored as generated, a bug here.
  void CheckWarnings(const std::string& table) {
    if (conn_->warning_count() == 0) return;
    std::string text;
    for (const auto& w : conn_->Warnings(3)) {
      text += (text.empty() ? "" : "; ") + std::to_string(w.code) + " " + w.message;
    }
    throw Internal("gen shop: table " + table + " in " + Describe() + ": the server changed " +
                   std::to_string(conn_->warning_count()) +
                   " values while loading (a bug in gen shop, please report it): " + text);
  }

  std::unique_ptr<my::Connection> conn_;
  const Shop& shop_;
  const GenShopOptions& o_;
  bool insert_only_ = false;
};

// --- PostgreSQL ------------------------------------------------------------------------------

void PutBig16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

// numeric in binary COPY form: base-10000 digits with weight, sign and display scale.
void PgNumeric(pg::CopyWriter& w, int64_t unscaled, int scale) {
  uint64_t mag = unscaled < 0 ? 0 - static_cast<uint64_t>(unscaled) : unscaled;
  uint64_t pow = 1;
  for (int i = 0; i < scale; i++) pow *= 10;
  uint64_t whole = mag / pow, frac = mag % pow;
  int frac_groups = (scale + 3) / 4;
  for (int i = scale; i < frac_groups * 4; i++) frac *= 10;
  uint16_t digits[12];
  int n = 0;
  uint16_t whole_groups[6];
  int nw = 0;
  for (; whole > 0; whole /= 10000) whole_groups[nw++] = static_cast<uint16_t>(whole % 10000);
  for (int i = nw - 1; i >= 0; i--) digits[n++] = whole_groups[i];
  uint64_t div = 1;
  for (int i = 1; i < frac_groups; i++) div *= 10000;
  for (int i = 0; i < frac_groups; i++, div /= 10000) {
    digits[n++] = static_cast<uint16_t>(frac / div % 10000);
  }
  int weight = nw - 1, first = 0;
  while (first < n && digits[first] == 0) {
    first++;
    weight--;
  }
  while (n > first && digits[n - 1] == 0) n--;
  int count = n - first;
  if (count == 0) weight = 0;
  std::string& out = w.buffer();
  uint32_t len = static_cast<uint32_t>(8 + 2 * count);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(len >> shift));
  PutBig16(out, static_cast<uint16_t>(count));
  PutBig16(out, static_cast<uint16_t>(static_cast<int16_t>(weight)));
  PutBig16(out, unscaled < 0 && count > 0 ? 0x4000 : 0x0000);
  PutBig16(out, static_cast<uint16_t>(scale));
  for (int i = first; i < n; i++) PutBig16(out, digits[i]);
}

void PgText(pg::CopyWriter& w, std::string_view s) {
  w.Field(s.data(), static_cast<uint32_t>(s.size()));
}
void PgDate(pg::CopyWriter& w, int64_t days) { w.Int32(static_cast<int32_t>(days - kPgEpochDays)); }
void PgTimestamp(pg::CopyWriter& w, int64_t micros) {
  w.Int64(micros - kPgEpochDays * kMicrosPerDay);
}
void PgBool(pg::CopyWriter& w, bool b) {
  char c = b ? 1 : 0;
  w.Field(&c, 1);
}

std::string PgLiteral(std::string_view s) {
  return "'" + ReplaceAll(std::string(s), "'", "''") + "'";
}

class PgTarget : public Target {
 public:
  PgTarget(const pg::Options& options, const Shop& shop, const GenShopOptions& o)
      : conn_(pg::Connection::Open(options)), shop_(shop), o_(o) {
    // DROP ... IF EXISTS would print notices; index builds get more memory than the default.
    conn_->Exec("SET client_min_messages = warning");
    conn_->Exec("SET maintenance_work_mem = '256MB'");
    conn_->Exec("SET TimeZone = 'UTC'");
  }

  std::string Describe() const override { return "postgres " + conn_->Describe(); }

  std::vector<std::string> Existing(const std::vector<std::string>& tables) override {
    std::set<std::string> found;
    for (const auto& row : conn_->Query(
             "SELECT relname FROM pg_class WHERE relnamespace = (SELECT oid FROM pg_namespace "
             "WHERE nspname = current_schema()) AND relkind IN ('r', 'p', 'v', 'm', 'f') AND "
             "relname = ANY(string_to_array($1, ','))",
             {Join(tables, ",")})) {
      if (row[0]) found.insert(*row[0]);
    }
    std::vector<std::string> out;
    for (const auto& t : tables) {
      if (found.count(t)) out.push_back(t);
    }
    return out;
  }

  void Drop(const std::vector<std::string>& tables) override {
    // CASCADE drops the foreign keys of tables kept from earlier runs that point here.
    for (const auto& t : tables) conn_->Exec("DROP TABLE IF EXISTS " + pg::Ident(t) + " CASCADE");
  }

  uint64_t Create(const std::string& table) override {
    Schema schema = PgSchema(table);
    // Created and filled in one transaction: COPY FREEZE writes the rows already frozen, so
    // the first reader does not rewrite every page to set hint bits.
    conn_->Exec("BEGIN");
    if (table == "products") {
      conn_->Exec("DROP TYPE IF EXISTS product_category");
      std::string labels;
      for (auto c : kCategories) labels += (labels.empty() ? "" : ", ") + PgLiteral(c);
      conn_->Exec("CREATE TYPE product_category AS ENUM (" + labels + ")");
    }
    conn_->Exec(schema.create);
    uint64_t rows = 0;
    if (table == "regions") {
      rows = Copy(table, kRegions, kRegions, [&](uint64_t i, pg::CopyWriter& w) {
        w.BeginRow(3);
        w.Int16(static_cast<int16_t>(i + 1));
        PgText(w, kRegionRows[i].name);
        PgText(w, kRegionRows[i].country);
        return 1;
      });
    } else if (table == "customers") {
      Customer c;
      rows = Copy(table, shop_.customers, shop_.customers, [&](uint64_t i, pg::CopyWriter& w) {
        MakeCustomer(shop_, i + 1, c);
        w.BeginRow(8);
        w.Int64(static_cast<int64_t>(c.id));
        PgText(w, c.name);
        if (c.email_null) {
          w.Null();
        } else {
          PgText(w, c.email);
        }
        w.Int16(static_cast<int16_t>(c.region));
        PgTimestamp(w, c.created_us);
        if (c.birth_null) {
          w.Null();
        } else {
          PgDate(w, c.birth_days);
        }
        PgBool(w, c.vip);
        PgNumeric(w, c.balance_cents, 2);
        return 1;
      });
    } else if (table == "products") {
      rows = InsertProducts();
    } else if (table == "orders") {
      Order order;
      rows = Copy(table, shop_.orders, shop_.orders, [&](uint64_t k, pg::CopyWriter& w) {
        MakeOrder(shop_, k, order);
        w.BeginRow(9);
        w.Int64(static_cast<int64_t>(order.id));
        w.Int64(static_cast<int64_t>(order.customer_id));
        PgDate(w, order.date);
        PgText(w, kStatuses[order.status]);
        PgNumeric(w, order.total_cents, 2);
        PgText(w, order.currency);
        PgTimestamp(w, order.created_us);
        PgTimestamp(w, order.updated_us);
        if (order.note) {
          PgText(w, *order.note);
        } else {
          w.Null();
        }
        return 1;
      });
    } else {
      Order order;
      rows = Copy(table, shop_.orders, TotalLines(shop_), [&](uint64_t k, pg::CopyWriter& w) {
        MakeOrder(shop_, k, order);
        for (int i = 0; i < order.lines; i++) {
          const Line& l = order.line[static_cast<size_t>(i)];
          w.BeginRow(6);
          w.Int64(static_cast<int64_t>(order.id));
          w.Int16(static_cast<int16_t>(l.line_no));
          w.Int32(static_cast<int32_t>(l.product_id));
          w.Int32(l.quantity);
          PgNumeric(w, l.unit_price_cents, 2);
          if (l.discount < 0) {
            w.Null();
          } else {
            PgNumeric(w, l.discount, 4);
          }
        }
        return order.lines;
      });
    }
    for (const auto& sql : schema.after_load) conn_->Exec(sql);
    conn_->Exec("COMMIT");
    return rows;
  }

  void AddForeignKey(const ForeignKey& fk) override {
    conn_->Exec("ALTER TABLE " + pg::Ident(fk.table) + " ADD CONSTRAINT " +
                pg::Ident(fk.table + "_" + fk.column + "_fk") + " FOREIGN KEY (" +
                pg::Ident(fk.column) + ") REFERENCES " + pg::Ident(fk.parent) + " (" +
                pg::Ident(fk.parent_column) + ")");
  }

  void Finish(const std::vector<std::string>& tables) override {
    // Fresh statistics: planners and db_import's split estimates read them.
    for (const auto& t : tables) conn_->Exec("ANALYZE " + pg::Ident(t));
  }

 private:
  using RowFn = std::function<int(uint64_t unit, pg::CopyWriter& w)>;

  uint64_t Copy(const std::string& table, uint64_t units, uint64_t total, const RowFn& make) {
    pg::CopyWriter w;
    conn_->BeginCopy("COPY " + pg::Ident(table) + " FROM STDIN WITH (FORMAT binary, FREEZE)", w);
    uint64_t sent = 0, next_report = kProgressRows;
    try {
      for (uint64_t u = 0; u < units; u++) {
        sent += static_cast<uint64_t>(make(u, w));
        if (w.buffer().size() >= kPgChunk) conn_->SendCopy(w);
        if (sent >= next_report) {
          Progress(o_, table, sent, total);
          next_report = sent + kProgressRows;
        }
      }
    } catch (...) {
      conn_->AbortCopy("sluice gen shop failed");
      throw;
    }
    uint64_t rows = conn_->EndCopy(w);
    Progress(o_, table, rows, rows);
    return rows;
  }

  uint64_t InsertProducts() {
    std::string cols;
    for (const auto& c : kPgProducts)
      cols += (cols.empty() ? "" : ",") + pg::Ident(std::string(c.name));
    const std::string head = "INSERT INTO products (" + cols + ") VALUES ";
    std::string values;
    uint64_t rows = 0, pending = 0;
    auto flush = [&] {
      if (values.empty()) return;
      conn_->Exec(head + values);
      rows += pending;
      pending = 0;
      values.clear();
      Progress(o_, "products", rows, shop_.products);
    };
    for (uint64_t id = 1; id <= shop_.products; id++) {
      ProductRow p(Dialect::kPostgres);
      if (id <= kEdgeProducts) {
        EdgeProduct(shop_, id, p);
      } else {
        OrdinaryProduct(shop_, id, p);
      }
      p.CheckComplete();
      values += values.empty() ? "(" : ",(";
      for (size_t i = 0; i < p.values().size(); i++) {
        if (i) values.push_back(',');
        const auto& v = p.values()[i];
        if (!v) {
          values += "NULL";
        } else if (kPgProducts[i].kind == Kind::kBytes) {
          values += "'\\x" + Hex(*v) + "'";
        } else {
          values += PgLiteral(*v);
        }
      }
      values.push_back(')');
      pending++;
      if (values.size() >= (1u << 20)) flush();
    }
    flush();
    return rows;
  }

  std::unique_ptr<pg::Connection> conn_;
  const Shop& shop_;
  const GenShopOptions& o_;
};

}  // namespace

GenShopReport GenerateShop(const pipeline::ConnectionSpec& connection, const std::string& base_dir,
                           const GenShopOptions& options) {
  std::vector<std::string> wanted;
  for (const auto& t : options.tables) {
    if (std::find(kTables.begin(), kTables.end(), t) == kTables.end()) {
      std::string close = ClosestMatch(t, kTables);
      throw InvalidInput("--tables names '" + t + "', which is not a shop table" +
                         (close.empty() ? "" : " (did you mean " + close + "?)") +
                         "; the tables are " + Join(kTables, ", "));
    }
  }
  for (const auto& t : kTables) {
    if (options.tables.empty() ||
        std::find(options.tables.begin(), options.tables.end(), t) != options.tables.end()) {
      wanted.push_back(t);
    }
  }
  if (options.orders == 0) throw InvalidInput("the number of orders must be at least 1");

  Shop shop(options);
  std::unique_ptr<Target> target;
  if (connection.type == "mysql") {
    target = std::make_unique<MySqlTarget>(my::OptionsFromConnection(connection, base_dir), shop,
                                           options);
  } else if (connection.type == "postgres") {
    target =
        std::make_unique<PgTarget>(pg::OptionsFromConnection(connection, base_dir), shop, options);
  } else {
    throw InvalidInput("connection '" + connection.name + "' is of type '" + connection.type +
                       "'; gen shop writes to mysql or postgres");
  }

  auto existing = target->Existing(wanted);
  if (!existing.empty() && !options.replace) {
    bool one = existing.size() == 1;
    throw InvalidInput("table" + std::string(one ? " " : "s ") + Join(existing, ", ") +
                       (one ? " already exists" : " already exist") + " in " + target->Describe() +
                       "; pass --replace to drop and recreate " + (one ? "it" : "them") +
                       ", or choose others with --tables");
  }
  std::vector<std::string> drop(existing.rbegin(), existing.rend());
  target->Drop(drop);

  GenShopReport report;
  for (const auto& t : wanted) {
    try {
      report.tables.emplace_back(t, target->Create(t));
    } catch (const Error& e) {
      throw Error(e.kind(), "table " + t + ": " + e.what(), e.retryable());
    }
  }
  auto has = [&](const std::string& t) {
    return std::find(wanted.begin(), wanted.end(), t) != wanted.end();
  };
  for (const auto& fk : kForeignKeys) {
    if (has(fk.table) && has(fk.parent)) target->AddForeignKey(fk);
  }
  target->Finish(wanted);
  return report;
}

}  // namespace sluice::gen
