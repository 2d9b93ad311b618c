#include "gen/gen_citizens.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sluice::gen {
namespace {

constexpr std::string_view kExpectedHeader =
    "citizen_id,first_name,last_name,gender,birth_date,email,phone,street,city,region,"
    "postal_code,occupation,annual_income,registered_at,updated_at\n";

enum Column {
  kCitizenId,
  kFirstName,
  kLastName,
  kGender,
  kBirthDate,
  kEmail,
  kPhone,
  kStreet,
  kCity,
  kRegion,
  kPostalCode,
  kOccupation,
  kAnnualIncome,
  kRegisteredAt,
  kUpdatedAt,
  kColumnCount,
};

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "gen_citizens_test_" + std::to_string(::getpid()) + "_" + name +
         ".csv";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

struct Generated {
  GenCitizensStats stats;
  std::string content;
  std::vector<std::pair<uint64_t, uint64_t>> progress;
};

Generated Generate(GenCitizensOptions options, const std::string& name) {
  options.out_path = TempPath(name);
  Generated result;
  result.stats = GenerateCitizens(
      options, [&](uint64_t bytes, uint64_t rows) { result.progress.emplace_back(bytes, rows); });
  result.content = ReadFile(options.out_path);
  std::remove(options.out_path.c_str());
  return result;
}

// ---------------------------------------------------------------------------------------------
// An independent strict reader: RFC 4180 splitting plus the typed checks the example pipeline's
// reader applies (citizen_id BIGINT, birth_date DATE, annual_income DECIMAL(12,2), timestamps).

struct Record {
  std::string_view raw;  // the line without its "\n"
  std::vector<std::string> fields;
};

// Splits data into records; fails on a stray or unterminated quote or a missing final newline.
bool SplitCsv(std::string_view data, std::vector<Record>* records, std::string* error) {
  size_t i = 0;
  while (i < data.size()) {
    Record record;
    const size_t line_start = i;
    while (true) {
      std::string field;
      if (i < data.size() && data[i] == '"') {
        ++i;
        while (true) {
          if (i >= data.size()) {
            *error = "unterminated quote in record starting at byte " + std::to_string(line_start);
            return false;
          }
          if (data[i] == '"') {
            if (i + 1 < data.size() && data[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          field += data[i++];
        }
        if (i < data.size() && data[i] != ',' && data[i] != '\n') {
          *error = "text after closing quote at byte " + std::to_string(i);
          return false;
        }
      } else {
        while (i < data.size() && data[i] != ',' && data[i] != '\n') {
          if (data[i] == '"') {
            *error = "quote inside unquoted field at byte " + std::to_string(i);
            return false;
          }
          field += data[i++];
        }
      }
      record.fields.push_back(std::move(field));
      if (i >= data.size()) {
        *error = "missing final newline";
        return false;
      }
      if (data[i++] == '\n') break;
    }
    record.raw = data.substr(line_start, i - 1 - line_start);
    records->push_back(std::move(record));
  }
  return true;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t extra;
    uint32_t code;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      code = (code << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (code < kMinForLength[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int ToInt(std::string_view s) {
  int value = 0;
  for (char c : s) value = value * 10 + (c - '0');
  return value;
}

bool IsBigint(std::string_view s) {
  if (!AllDigits(s) || s.size() > 19) return false;
  return s.size() < 19 || s <= "9223372036854775807";
}

bool IsDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  if (!AllDigits(s.substr(0, 4)) || !AllDigits(s.substr(5, 2)) || !AllDigits(s.substr(8, 2))) {
    return false;
  }
  const int year = ToInt(s.substr(0, 4));
  const int month = ToInt(s.substr(5, 2));
  const int day = ToInt(s.substr(8, 2));
  if (month < 1 || month > 12 || day < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

bool IsTimestamp(std::string_view s) {
  if (s.size() != 19 || s[10] != ' ' || s[13] != ':' || s[16] != ':') return false;
  if (!IsDate(s.substr(0, 10))) return false;
  for (size_t at : {11, 14, 17}) {
    if (!AllDigits(s.substr(at, 2))) return false;
  }
  return ToInt(s.substr(11, 2)) < 24 && ToInt(s.substr(14, 2)) < 60 && ToInt(s.substr(17, 2)) < 60;
}

// DECIMAL(12,2): up to 10 integer digits and up to 2 fraction digits.
bool IsDecimal12x2(std::string_view s) {
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  const size_t dot = s.find('.');
  const std::string_view integer = s.substr(0, dot);
  if (!AllDigits(integer) || integer.size() > 10) return false;
  if (dot == std::string_view::npos) return true;
  const std::string_view fraction = s.substr(dot + 1);
  return AllDigits(fraction) && fraction.size() <= 2;
}

enum class Defect { kNone, kFieldCount, kBadId, kBadDate, kBadDecimal, kBadTimestamp, kBadUtf8 };

Defect FindDefect(const Record& record) {
  if (!IsValidUtf8(record.raw)) return Defect::kBadUtf8;
  if (record.fields.size() != kColumnCount) return Defect::kFieldCount;
  if (!IsBigint(record.fields[kCitizenId])) return Defect::kBadId;
  if (!IsDate(record.fields[kBirthDate])) return Defect::kBadDate;
  if (!IsDecimal12x2(record.fields[kAnnualIncome])) return Defect::kBadDecimal;
  if (!IsTimestamp(record.fields[kRegisteredAt]) || !IsTimestamp(record.fields[kUpdatedAt])) {
    return Defect::kBadTimestamp;
  }
  return Defect::kNone;
}

struct Parsed {
  std::vector<Record> records;  // data records, header excluded
  std::vector<Defect> defects;  // per record
  uint64_t malformed = 0;
  uint64_t duplicates = 0;  // valid records whose citizen_id appeared in an earlier valid record
};

Parsed Parse(const std::string& content) {
  Parsed parsed;
  std::vector<Record> all;
  std::string error;
  EXPECT_TRUE(SplitCsv(content, &all, &error)) << error;
  EXPECT_FALSE(all.empty());
  if (all.empty()) return parsed;
  parsed.records.assign(std::make_move_iterator(all.begin() + 1),
                        std::make_move_iterator(all.end()));
  std::unordered_set<std::string> seen_ids;
  for (const Record& record : parsed.records) {
    const Defect defect = FindDefect(record);
    parsed.defects.push_back(defect);
    if (defect != Defect::kNone) {
      ++parsed.malformed;
    } else if (!seen_ids.insert(record.fields[kCitizenId]).second) {
      ++parsed.duplicates;
    }
  }
  return parsed;
}

GenCitizensOptions Options(uint64_t rows, double duplicate_rate, double malformed_rate,
                           uint64_t seed = 42) {
  GenCitizensOptions options;
  options.rows = rows;
  options.duplicate_rate = duplicate_rate;
  options.malformed_rate = malformed_rate;
  options.seed = seed;
  return options;
}

// ---------------------------------------------------------------------------------------------

TEST(GenCitizensTest, SameSeedGivesIdenticalBytes) {
  const Generated a = Generate(Options(50000, 0.05, 0.01, 7), "same_a");
  const Generated b = Generate(Options(50000, 0.05, 0.01, 7), "same_b");
  EXPECT_EQ(a.content.size(), b.content.size());
  EXPECT_TRUE(a.content == b.content);
}

TEST(GenCitizensTest, DifferentSeedGivesDifferentBytes) {
  const Generated a = Generate(Options(1000, 0.05, 0.01, 7), "seed_a");
  const Generated b = Generate(Options(1000, 0.05, 0.01, 8), "seed_b");
  EXPECT_NE(a.content, b.content);
}

TEST(GenCitizensTest, HeaderIsExact) {
  const Generated g = Generate(Options(10, 0.02, 0.001), "header");
  ASSERT_GE(g.content.size(), kExpectedHeader.size());
  EXPECT_EQ(std::string_view(g.content).substr(0, kExpectedHeader.size()), kExpectedHeader);
}

TEST(GenCitizensTest, StatsMatchIndependentParse) {
  for (uint64_t seed : {1, 2, 3}) {
    const Generated g = Generate(Options(200000, 0.05, 0.01, seed), "stats");
    const Parsed parsed = Parse(g.content);
    EXPECT_EQ(g.stats.bytes, g.content.size());
    EXPECT_EQ(g.stats.rows, parsed.records.size());
    EXPECT_EQ(g.stats.rows, 200000u);
    EXPECT_EQ(g.stats.malformed, parsed.malformed);
    EXPECT_EQ(g.stats.duplicates, parsed.duplicates);
    // The rates are honoured roughly (they are probabilities, not quotas).
    EXPECT_NEAR(static_cast<double>(g.stats.duplicates) / 200000, 0.05, 0.005);
    EXPECT_NEAR(static_cast<double>(g.stats.malformed) / 200000, 0.01, 0.002);
  }
}

TEST(GenCitizensTest, EveryMalformationKindOccursAndUsesFreshIds) {
  const Generated g = Generate(Options(100000, 0.05, 0.01), "kinds");
  const Parsed parsed = Parse(g.content);
  std::map<Defect, int> by_defect;
  std::set<size_t> field_counts;
  std::set<std::string> valid_ids;
  for (size_t i = 0; i < parsed.records.size(); ++i) {
    if (parsed.defects[i] == Defect::kNone) valid_ids.insert(parsed.records[i].fields[kCitizenId]);
  }
  for (size_t i = 0; i < parsed.records.size(); ++i) {
    const Record& record = parsed.records[i];
    const Defect defect = parsed.defects[i];
    if (defect == Defect::kNone) continue;
    ++by_defect[defect];
    if (defect == Defect::kFieldCount) field_counts.insert(record.fields.size());
    EXPECT_EQ(valid_ids.count(record.fields[kCitizenId]), 0u) << record.raw;
  }
  EXPECT_GT(by_defect[Defect::kFieldCount], 0);
  EXPECT_GT(by_defect[Defect::kBadId], 0);
  EXPECT_GT(by_defect[Defect::kBadDate], 0);
  EXPECT_GT(by_defect[Defect::kBadDecimal], 0);
  EXPECT_GT(by_defect[Defect::kBadUtf8], 0);
  EXPECT_EQ(by_defect[Defect::kBadTimestamp], 0);
  EXPECT_EQ(field_counts, (std::set<size_t>{14, 16}));
}

TEST(GenCitizensTest, RepeatedIdsDedupeDeterministicallyByUpdatedAt) {
  const Generated g = Generate(Options(200000, 0.2, 0.01), "dedupe");
  const Parsed parsed = Parse(g.content);
  struct Latest {
    std::string_view raw;
    std::string updated_at;
    std::vector<std::string> identity;
  };
  std::unordered_map<std::string, Latest> latest;
  int exact = 0;
  int updated = 0;
  int appearing_three_times_or_more = 0;
  std::unordered_map<std::string, int> appearances;
  for (size_t i = 0; i < parsed.records.size(); ++i) {
    if (parsed.defects[i] != Defect::kNone) continue;
    const Record& r = parsed.records[i];
    const std::vector<std::string> identity = {r.fields[kFirstName], r.fields[kLastName],
                                               r.fields[kGender], r.fields[kBirthDate]};
    if (++appearances[r.fields[kCitizenId]] == 3) ++appearing_three_times_or_more;
    auto it = latest.find(r.fields[kCitizenId]);
    if (it == latest.end()) {
      latest.emplace(r.fields[kCitizenId], Latest{r.raw, r.fields[kUpdatedAt], identity});
      continue;
    }
    Latest& prev = it->second;
    EXPECT_EQ(identity, prev.identity) << r.raw;
    if (r.raw == prev.raw) {
      ++exact;
    } else {
      ++updated;
      // Fixed-width ISO timestamps order correctly as strings.
      EXPECT_GT(r.fields[kUpdatedAt], prev.updated_at) << r.raw << "\nafter\n" << prev.raw;
      prev.raw = r.raw;
      prev.updated_at = r.fields[kUpdatedAt];
    }
  }
  EXPECT_EQ(static_cast<uint64_t>(exact + updated), g.stats.duplicates);
  EXPECT_LE(std::abs(exact - updated), 1);
  EXPECT_GT(appearing_three_times_or_more, 0);
}

TEST(GenCitizensTest, ValidRowsFollowTheFormat) {
  const Generated g = Generate(Options(200000, 0.02, 0.001), "format");
  const Parsed parsed = Parse(g.content);
  std::map<std::string, std::string> region_of_city;
  uint64_t valid = 0, empty_email = 0, uppercase_email = 0, padded_name = 0, comma_street = 0,
           quote_street = 0, non_ascii_city = 0;
  uint64_t last_new_id = 0;
  bool gap_seen = false;
  std::unordered_set<uint64_t> seen;
  for (size_t i = 0; i < parsed.records.size(); ++i) {
    if (parsed.defects[i] != Defect::kNone) continue;
    const Record& r = parsed.records[i];
    const auto& f = r.fields;
    ++valid;
    const uint64_t id = std::stoull(f[kCitizenId]);
    EXPECT_GT(id, 0u);
    if (seen.insert(id).second) {
      EXPECT_GT(id, last_new_id) << r.raw;
      if (last_new_id != 0 && id > last_new_id + 1) gap_seen = true;
      last_new_id = id;
    }
    EXPECT_TRUE(f[kGender] == "M" || f[kGender] == "F" || f[kGender] == "X") << r.raw;
    EXPECT_GE(f[kBirthDate], "1930-01-01");
    EXPECT_LE(f[kBirthDate], "2025-12-31");
    EXPECT_GE(f[kRegisteredAt], "2000-01-01 00:00:00");
    EXPECT_LE(f[kRegisteredAt], "2026-10-31 23:59:59");
    EXPECT_GE(f[kUpdatedAt], f[kRegisteredAt]) << r.raw;
    EXPECT_EQ(f[kPostalCode].size(), 5u);
    EXPECT_TRUE(AllDigits(f[kPostalCode])) << r.raw;
    const std::string& income = f[kAnnualIncome];
    ASSERT_GE(income.size(), 4u);
    EXPECT_EQ(income[income.size() - 3], '.') << r.raw;
    EXPECT_LE(income.size(), 9u) << r.raw;  // at most 999999.99
    EXPECT_EQ(f[kPhone].rfind("+49 ", 0), 0u) << r.raw;
    EXPECT_FALSE(f[kCity].empty());
    EXPECT_FALSE(f[kRegion].empty());
    EXPECT_FALSE(f[kOccupation].empty());
    auto [it, inserted] = region_of_city.emplace(f[kCity], f[kRegion]);
    EXPECT_EQ(it->second, f[kRegion]) << "city in two regions: " << r.raw;
    if (f[kEmail].empty()) {
      ++empty_email;
    } else {
      EXPECT_NE(f[kEmail].find('@'), std::string::npos);
      for (char c : f[kEmail]) {
        EXPECT_TRUE(static_cast<unsigned char>(c) < 0x80) << r.raw;
        if (c >= 'A' && c <= 'Z') {
          ++uppercase_email;
          break;
        }
      }
    }
    for (const std::string& name : {f[kFirstName], f[kLastName]}) {
      if (name.front() == ' ' || name.back() == ' ') {
        ++padded_name;
        break;
      }
    }
    if (f[kStreet].find(',') != std::string::npos) ++comma_street;
    if (f[kStreet].find('"') != std::string::npos) ++quote_street;
    for (char c : f[kCity]) {
      if (static_cast<unsigned char>(c) >= 0x80) {
        ++non_ascii_city;
        break;
      }
    }
  }
  EXPECT_TRUE(gap_seen);
  EXPECT_GE(region_of_city.size(), 30u);
  const auto share = [valid](uint64_t n) { return static_cast<double>(n) / valid; };
  EXPECT_NEAR(share(empty_email), 0.02, 0.005);
  EXPECT_NEAR(share(uppercase_email), 0.01, 0.004);
  EXPECT_NEAR(share(padded_name), 0.01, 0.004);
  EXPECT_NEAR(share(comma_street), 0.005, 0.002);
  EXPECT_NEAR(share(quote_street), 0.001, 0.0006);
  EXPECT_GT(share(non_ascii_city), 0.05);
  // RFC 4180 quoting shows up in the raw bytes.
  EXPECT_NE(g.content.find("\"\""), std::string::npos);
}

TEST(GenCitizensTest, AverageRowLengthIsRealistic) {
  const Generated g = Generate(Options(100000, 0.02, 0.001), "length");
  const double average = static_cast<double>(g.stats.bytes - kExpectedHeader.size()) /
                         static_cast<double>(g.stats.rows);
  EXPECT_GE(average, 150.0);
  EXPECT_LE(average, 190.0);
}

TEST(GenCitizensTest, ZeroRowsWritesOnlyTheHeader) {
  const Generated g = Generate(Options(0, 0.02, 0.001), "empty");
  EXPECT_EQ(g.content, kExpectedHeader);
  EXPECT_EQ(g.stats.rows, 0u);
  EXPECT_EQ(g.stats.duplicates, 0u);
  EXPECT_EQ(g.stats.malformed, 0u);
  EXPECT_EQ(g.stats.bytes, kExpectedHeader.size());
  ASSERT_EQ(g.progress.size(), 1u);
  EXPECT_EQ(g.progress[0].first, kExpectedHeader.size());
  EXPECT_EQ(g.progress[0].second, 0u);
}

TEST(GenCitizensTest, ProgressIsReportedAboutEvery8MiBAndAtTheEnd) {
  const Generated g = Generate(Options(200000, 0.02, 0.001), "progress");
  ASSERT_GE(g.progress.size(), 3u);
  EXPECT_EQ(g.progress.back(), std::make_pair(g.stats.bytes, g.stats.rows));
  uint64_t previous_bytes = 0;
  for (size_t i = 0; i + 1 < g.progress.size(); ++i) {
    EXPECT_GT(g.progress[i].first, previous_bytes);
    EXPECT_LE(g.progress[i].first - previous_bytes, uint64_t{12} << 20);
    previous_bytes = g.progress[i].first;
  }
  EXPECT_LE(g.progress.size(), g.stats.bytes / (uint64_t{4} << 20) + 2);
}

TEST(GenCitizensTest, UnwritablePathThrowsNamingThePath) {
  GenCitizensOptions options = Options(10, 0.02, 0.001);
  options.out_path = "/nonexistent-sluice-dir/sub/citizens.csv";
  try {
    GenerateCitizens(options, nullptr);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(options.out_path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos)
        << e.what();
  }
}

TEST(GenCitizensTest, WriteFailureThrowsNamingThePath) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "/dev/full not available";
  GenCitizensOptions options = Options(1000, 0.02, 0.001);
  options.out_path = "/dev/full";
  try {
    GenerateCitizens(options, nullptr);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/dev/full"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sluice::gen
