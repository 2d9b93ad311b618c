#include "connectors/csv/csv_scan.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/error.h"

namespace sluice::connectors::csv {
namespace {

// Feeds text in pieces of `piece` bytes (0 = whole), so every rule is also checked across the
// boundaries of reads.
ScanStats Scan(const std::string& text, Dialect d = {}, size_t piece = 0,
               std::vector<uint64_t> offsets = {}, std::vector<Located>* located = nullptr) {
  Scanner s(d, std::move(offsets));
  if (piece == 0) piece = text.size() ? text.size() : 1;
  for (size_t i = 0; i < text.size(); i += piece) {
    s.Feed(text.data() + i, std::min(piece, text.size() - i));
  }
  s.Finish();
  if (located) *located = s.located();
  return s.stats();
}

const size_t kPieces[] = {0, 1, 2, 3, 7, 63, 64, 65, 200};

TEST(CsvScanTest, CountsRecordsAndLines) {
  for (size_t piece : kPieces) {
    auto s = Scan("id,name\n1,a\n2,b\n", {}, piece);
    EXPECT_EQ(s.records, 3u) << piece;
    EXPECT_EQ(s.lines, 3u);
    EXPECT_EQ(s.first_ending, LineEnding::kLf);
    EXPECT_EQ(s.mixed_line, 0u);
    EXPECT_FALSE(s.open_quote_at_end);
    EXPECT_EQ(s.bytes, 16u);
  }
}

TEST(CsvScanTest, LastRecordWithoutLineEnding) {
  for (size_t piece : kPieces) {
    auto s = Scan("id\n1\n2", {}, piece);
    EXPECT_EQ(s.records, 3u);
    EXPECT_EQ(s.lines, 3u);
  }
}

TEST(CsvScanTest, CrLfAndCrOnlyEndingsAreOneLineEach) {
  for (size_t piece : kPieces) {
    auto crlf = Scan("id\r\n1\r\n2\r\n", {}, piece);
    EXPECT_EQ(crlf.records, 3u) << piece;
    EXPECT_EQ(crlf.lines, 3u);
    EXPECT_EQ(crlf.first_ending, LineEnding::kCrLf) << piece;
    EXPECT_EQ(crlf.mixed_line, 0u) << piece;
    auto cr = Scan("id\r1\r2\r", {}, piece);
    EXPECT_EQ(cr.records, 3u);
    EXPECT_EQ(cr.lines, 3u);
    EXPECT_EQ(cr.first_ending, LineEnding::kCr) << piece;
    EXPECT_EQ(cr.mixed_line, 0u) << piece;
  }
}

TEST(CsvScanTest, NamesTheFirstLineWhoseEndingDiffers) {
  for (size_t piece : kPieces) {
    auto s = Scan("id\r\n1\r\n2\n3\r\n", {}, piece);
    EXPECT_EQ(s.records, 4u);
    EXPECT_EQ(s.first_ending, LineEnding::kCrLf);
    EXPECT_EQ(s.mixed_line, 3u) << piece;
    EXPECT_EQ(s.mixed_ending, LineEnding::kLf);
    auto t = Scan("id\n1\r\n", {}, piece);
    EXPECT_EQ(t.mixed_line, 2u) << piece;
    EXPECT_EQ(t.mixed_ending, LineEnding::kCrLf) << piece;
  }
}

TEST(CsvScanTest, LineEndingsInsideQuotesArePartOfTheValue) {
  std::string text = "id,name\n1,\"a\nb\r\nc\"\n2,d\n";
  for (size_t piece : kPieces) {
    std::vector<Located> located;
    auto s = Scan(text, {}, piece, {1, 2, 3}, &located);
    EXPECT_EQ(s.records, 3u) << piece;
    EXPECT_EQ(s.lines, 5u) << piece;
    EXPECT_EQ(s.mixed_line, 0u) << "endings inside quotes are values, not line endings";
    ASSERT_EQ(located.size(), 3u);
    EXPECT_EQ(located[0].offset, 0u);
    EXPECT_EQ(located[0].line, 1u);
    EXPECT_EQ(located[1].offset, 8u);
    EXPECT_EQ(located[1].line, 2u);
    EXPECT_EQ(located[2].offset, text.find("2,d")) << piece;
    EXPECT_EQ(located[2].line, 5u) << piece;
  }
}

// The reader numbers lines by their endings outside quotes, blank lines included.
TEST(CsvScanTest, LocatesRecordsByTheReadersNumber) {
  std::string text = "\xEF\xBB\xBFid,name\r\n1,a\r\n\r\nx,\"b\r\nb\"\r\n3,c\r\n";
  for (size_t piece : kPieces) {
    std::vector<Located> located;
    Scan(text, {}, piece, {1, 2, 4, 5}, &located);
    ASSERT_EQ(located.size(), 4u) << piece;
    EXPECT_EQ(located[0].offset, 3u) << piece;
    EXPECT_EQ(located[1].offset, text.find("1,a")) << piece;
    EXPECT_EQ(located[2].offset, text.find("x,")) << piece;
    EXPECT_EQ(located[2].line, 4u) << piece;
    EXPECT_EQ(located[3].offset, text.find("3,c")) << piece;
    EXPECT_EQ(located[3].line, 6u) << piece;
    std::vector<Located> cr;
    Scan("id\r1\r\rx\r", {}, piece, {4}, &cr);
    ASSERT_EQ(cr.size(), 1u) << piece;
    EXPECT_EQ(cr[0].offset, 6u) << piece;
    EXPECT_EQ(cr[0].line, 4u) << piece;
  }
}

TEST(CsvScanTest, DoubledQuotesStayInsideTheValue) {
  for (size_t piece : kPieces) {
    auto s = Scan("1,\"a\"\"\nb\"\n2,\"\"\n3,\"\"\"\"\n", {}, piece);
    EXPECT_EQ(s.records, 3u) << piece;
    EXPECT_FALSE(s.open_quote_at_end) << piece;
  }
}

TEST(CsvScanTest, AQuoteInsideAnUnquotedValueIsAnOrdinaryCharacter) {
  for (size_t piece : kPieces) {
    auto s = Scan("1,a\"b\n2,c\"d\n", {}, piece);
    EXPECT_EQ(s.records, 2u) << piece;
    EXPECT_FALSE(s.open_quote_at_end);
  }
}

TEST(CsvScanTest, EscapeCharacterOtherThanTheQuote) {
  Dialect d;
  d.escape = '\\';
  for (size_t piece : kPieces) {
    // \" inside quotes is a quote in the value; \\ is a backslash, so the quote after it closes.
    auto s = Scan("1,\"a\\\"\nb\"\n2,\"c\\\\\"\n3,x\n", d, piece);
    EXPECT_EQ(s.records, 3u) << piece;
    EXPECT_EQ(s.lines, 4u);
  }
}

TEST(CsvScanTest, NoQuoting) {
  Dialect d;
  d.quote = 0;
  d.escape = 0;
  for (size_t piece : kPieces) {
    auto s = Scan("1,\"a\n2,b\"\n", d, piece);
    EXPECT_EQ(s.records, 2u) << piece;
  }
}

TEST(CsvScanTest, BlankLinesAreNotRecords) {
  for (size_t piece : kPieces) {
    auto s = Scan("id\n\n1\n\n\n2\n", {}, piece);
    EXPECT_EQ(s.records, 3u) << piece;
    EXPECT_EQ(s.blank_lines, 3u);
    EXPECT_EQ(s.lines, 6u);
    auto crlf = Scan("id\r\n\r\n1\r\n", {}, piece);
    EXPECT_EQ(crlf.records, 2u) << piece;
    EXPECT_EQ(crlf.blank_lines, 1u) << piece;
  }
}

TEST(CsvScanTest, ByteOrderMarkBeforeAQuotedHeader) {
  for (size_t piece : {size_t{0}, size_t{3}, size_t{64}}) {
    auto s = Scan("\xEF\xBB\xBF\"id\",\"n\"\n1,\"x\ny\"\n", {}, piece);
    EXPECT_EQ(s.records, 2u) << piece;
    EXPECT_FALSE(s.open_quote_at_end);
  }
}

TEST(CsvScanTest, LongestRecord) {
  std::string big(100000, 'x');
  std::string text = "id,v\n1,a\n2," + big + "\n3,c\n";
  for (size_t piece : kPieces) {
    auto s = Scan(text, {}, piece);
    EXPECT_EQ(s.longest_record, big.size() + 2) << piece;
    EXPECT_EQ(s.longest_record_line, 3u);
    EXPECT_EQ(s.longest_record_offset, 9u);
  }
}

TEST(CsvScanTest, ListsRecordsLongerThanTheThreshold) {
  std::string text = "id,v\n1,aaaaaaaaaa\n2,b\n3,\"cc\ncccccccc\"\n";
  Scanner s({}, {}, 8);
  s.Feed(text.data(), text.size());
  s.Finish();
  ASSERT_EQ(s.stats().long_records.size(), 2u);
  EXPECT_EQ(s.stats().long_records[0].offset, 5u);
  EXPECT_EQ(s.stats().long_records[0].line, 2u);
  EXPECT_EQ(s.stats().long_records[0].length, 12u);
  EXPECT_EQ(s.stats().long_records[1].line, 4u);
  EXPECT_EQ(s.stats().long_records[0].record_line, 2u);
  EXPECT_EQ(s.stats().long_records[1].record_line, 4u);
  EXPECT_EQ(s.stats().long_records_total, 2u);
}

TEST(CsvScanTest, OpenQuoteAtEnd) {
  auto s = Scan("id,v\n1,\"abc\n2,d\n");
  EXPECT_TRUE(s.open_quote_at_end);
  EXPECT_EQ(s.records, 2u);
}

// The same rules written the slow, obvious way, one byte at a time.
ScanStats Reference(const std::string& t, const Dialect& d) {
  ScanStats s;
  bool in_quotes = false;
  size_t record_start = 0;
  uint64_t lines = 0;
  char escape = d.escape ? d.escape : d.quote;
  for (size_t i = 0; i < t.size(); i++) {
    char c = t[i];
    if (in_quotes) {
      if (escape != d.quote && c == escape) {
        i++;
        if (i < t.size() &&
            (t[i] == '\n' || (t[i] == '\r' && !(i + 1 < t.size() && t[i + 1] == '\n'))))
          lines++;
        continue;
      }
      if (c == d.quote) {
        if (escape == d.quote && i + 1 < t.size() && t[i + 1] == d.quote) {
          i++;
          continue;
        }
        in_quotes = false;
        continue;
      }
      if (c == '\n' || (c == '\r' && !(i + 1 < t.size() && t[i + 1] == '\n'))) lines++;
      continue;
    }
    if (c == '\n' || c == '\r') {
      bool crlf = c == '\r' && i + 1 < t.size() && t[i + 1] == '\n';
      lines++;
      if (i == record_start) {
        s.blank_lines++;
      } else {
        s.records++;
      }
      if (crlf) i++;
      record_start = i + 1;
      continue;
    }
    if (d.quote && c == d.quote && (i == record_start || t[i - 1] == d.delimiter)) in_quotes = true;
  }
  if (record_start < t.size()) s.records++;
  s.open_quote_at_end = in_quotes;
  // A last line without a line ending counts too.
  size_t last_end = 0;
  for (size_t i = 0; i < t.size(); i++) {
    if (t[i] == '\n' || t[i] == '\r') last_end = i + 1;
  }
  s.lines = lines + (t.size() > last_end ? 1 : 0);
  return s;
}

TEST(CsvScanTest, AgreesWithAByteAtATimeReadingOnRandomInput) {
  std::mt19937 rng(42);
  const char alphabet[] = {'a', 'b', ',', '"', '\n', '\r', '\\', ';'};
  for (int round = 0; round < 400; round++) {
    Dialect d;
    if (round % 3 == 1) d.escape = '\\';
    if (round % 5 == 4) d.delimiter = ';';
    std::string text;
    size_t len = rng() % 300;
    for (size_t i = 0; i < len; i++) text.push_back(alphabet[rng() % sizeof alphabet]);
    ScanStats want = Reference(text, d);
    for (size_t piece : kPieces) {
      ScanStats got = Scan(text, d, piece);
      ASSERT_EQ(got.records, want.records) << "round " << round << " piece " << piece;
      ASSERT_EQ(got.blank_lines, want.blank_lines) << "round " << round << " piece " << piece;
      ASSERT_EQ(got.open_quote_at_end, want.open_quote_at_end) << "round " << round;
      ASSERT_EQ(got.lines, want.lines) << "round " << round << " piece " << piece;
    }
  }
}

class CsvScanFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& data) {
    auto dir =
        std::filesystem::temp_directory_path() / ("sluice_csv_scan_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    dir_ = dir.string();
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << data;
    return path;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(CsvScanFileTest, ScansAFileAndLocatesOffsets) {
  std::string data = "id,v\n1,\"x\ny\"\n2,z\n";
  std::string path = Write("a.csv", data);
  std::vector<Located> located;
  auto s = ScanFile(path, {}, data.size(), {3}, &located, nullptr);
  EXPECT_EQ(s.records, 3u);
  ASSERT_EQ(located.size(), 1u);
  EXPECT_EQ(located[0].offset, data.find("2,z"));
  EXPECT_EQ(located[0].line, 4u);
}

TEST_F(CsvScanFileTest, AFileOfAnotherSizeThanTheEngineReadIsARetryableError) {
  std::string path = Write("b.csv", "id\n1\n");
  try {
    ScanFile(path, {}, 100, {}, nullptr, nullptr);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_TRUE(e.retryable());
    EXPECT_NE(std::string(e.what()).find("changed while it was read"), std::string::npos)
        << e.what();
  }
}

TEST_F(CsvScanFileTest, Utf16CountsCodeUnits) {
  std::string le = "\xFF\xFE";
  for (char c : std::string("id,v\n1,\"\xE9\n\"\n2,b\n")) {
    le.push_back(c);
    le.push_back(static_cast<unsigned char>(c) >= 0x80 ? '\x00' : '\x00');
  }
  std::string path = Write("c.csv", le);
  auto s = ScanFile(path, {}, le.size(), {}, nullptr, nullptr, true);
  EXPECT_EQ(s.records, 3u);
}

}  // namespace
}  // namespace sluice::connectors::csv

namespace sluice::connectors::csv {
namespace {

TEST_F(CsvScanFileTest, ScanFieldsHandsOverTheWantedFieldsOfEveryRecordButTheSkipped) {
  std::string data =
      "\xEF\xBB\xBFid,v,w\r\n1,\"a\"\"b\",x\r\n2,\"c\r\nd\",y\r\n\r\n3,e\r\n4,f,z\r\n";
  std::string path = Write("f.csv", data);
  std::vector<std::tuple<uint64_t, uint64_t, uint64_t, std::string, bool, std::string>> got;
  ScanFields(
      path, {}, data.size(), true, {1, 2}, {6},
      [&](const RecordText& r, const std::vector<FieldText>& f) {
        got.emplace_back(r.record_line, r.offset, r.line, f[0].text, f[0].quoted,
                         data.substr(r.offset, r.length));
        EXPECT_EQ(f.size(), 2u);
      },
      nullptr);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], std::make_tuple(uint64_t{2}, data.find("1,"), uint64_t{2}, std::string("a\"b"),
                                    true, std::string("1,\"a\"\"b\",x")));
  EXPECT_EQ(got[1], std::make_tuple(uint64_t{3}, data.find("2,"), uint64_t{3},
                                    std::string("c\r\nd"), true, std::string("2,\"c\r\nd\",y")));
  EXPECT_EQ(got[2], std::make_tuple(uint64_t{5}, data.find("3,"), uint64_t{6}, std::string("e"),
                                    false, std::string("3,e")));
}

}  // namespace
}  // namespace sluice::connectors::csv

namespace sluice::connectors::csv {
namespace {

// Splits text into records of unquoted fields, one byte at a time (the rules of csv_scan.h).
std::vector<std::vector<std::string>> ReferenceFields(const std::string& t, const Dialect& d) {
  std::vector<std::vector<std::string>> out;
  std::vector<std::string> rec;
  std::string cur;
  bool in_quotes = false, at_start = true, any = false;
  char escape = d.escape ? d.escape : d.quote;
  auto end_record = [&]() {
    if (any) {
      rec.push_back(cur);
      out.push_back(rec);
    }
    rec.clear();
    cur.clear();
    any = false;
    at_start = true;
  };
  for (size_t i = 0; i < t.size(); i++) {
    char c = t[i];
    if (in_quotes) {
      if (escape != d.quote && c == escape && i + 1 < t.size()) {
        cur.push_back(t[++i]);
      } else if (c == d.quote) {
        if (escape == d.quote && i + 1 < t.size() && t[i + 1] == d.quote) {
          cur.push_back(c);
          i++;
        } else {
          in_quotes = false;
          // Text after a closing quote is dropped, as Unquote does.
          while (i + 1 < t.size() && t[i + 1] != d.delimiter && t[i + 1] != '\n' &&
                 t[i + 1] != '\r') {
            i++;
          }
        }
      } else {
        cur.push_back(c);
      }
      continue;
    }
    if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < t.size() && t[i + 1] == '\n') i++;
      end_record();
      continue;
    }
    any = true;
    if (c == d.delimiter) {
      rec.push_back(cur);
      cur.clear();
      at_start = true;
      continue;
    }
    if (d.quote && c == d.quote && at_start) {
      in_quotes = true;
      at_start = false;
      continue;
    }
    at_start = false;
    cur.push_back(c);
  }
  end_record();
  return out;
}

TEST_F(CsvScanFileTest, ScanFieldsAgreesWithAByteAtATimeReadingOnRandomInput) {
  std::mt19937 rng(7);
  const char alphabet[] = {'a', 'b', ',', '"', '\n', '\r', '\\', 'c', ',', 'x'};
  for (int round = 0; round < 300; round++) {
    Dialect d;
    if (round % 3 == 1) d.escape = '\\';
    std::string text;
    size_t len = rng() % 400;
    for (size_t i = 0; i < len; i++) text.push_back(alphabet[rng() % sizeof alphabet]);
    std::string path = Write("r.csv", text);
    auto want = ReferenceFields(text, d);
    for (size_t piece : {size_t{1}, size_t{5}, size_t{64}, size_t{0}}) {
      std::vector<std::vector<std::string>> got;
      ScanFields(
          path, d, text.size(), false, {0, 1, 3}, {},
          [&](const RecordText& r, const std::vector<FieldText>& f) {
            got.push_back({f[0].text, f[1].text, f[2].text});
          },
          nullptr, false, piece);
      ASSERT_EQ(got.size(), want.size()) << "round " << round << " piece " << piece;
      for (size_t k = 0; k < want.size(); k++) {
        auto field = [&](size_t i) { return i < want[k].size() ? want[k][i] : std::string(); };
        ASSERT_EQ(got[k], (std::vector<std::string>{field(0), field(1), field(3)}))
            << "round " << round << " piece " << piece << " record " << k;
      }
    }
  }
}

}  // namespace
}  // namespace sluice::connectors::csv
