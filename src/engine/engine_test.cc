#include "engine/engine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "common/error.h"
#include "common/time.h"

namespace sluice::engine {
namespace {

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = MakeDuckDbEngine({});
    session_ = engine_->Connect();
  }
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Session> session_;
};

TEST_F(EngineTest, QueryRendersValuesExactly) {
  auto t = session_->Query(
      "SELECT 1::BIGINT AS a, 'x''y' AS b, NULL::VARCHAR AS c, 12.50::DECIMAL(12,2) AS d, "
      "DATE '2026-11-21' AS e, 18446744073709551615::UBIGINT AS f");
  ASSERT_EQ(t.rows.size(), 1u);
  ASSERT_EQ(t.columns.size(), 6u);
  EXPECT_EQ(t.columns[0].type, "BIGINT");
  EXPECT_EQ(t.columns[3].type, "DECIMAL(12,2)");
  EXPECT_EQ(*t.rows[0][0], "1");
  EXPECT_EQ(*t.rows[0][1], "x'y");
  EXPECT_FALSE(t.rows[0][2]);
  EXPECT_EQ(*t.rows[0][3], "12.50");
  EXPECT_EQ(*t.rows[0][4], "2026-11-21");
  EXPECT_EQ(*t.rows[0][5], "18446744073709551615");
}

TEST_F(EngineTest, StreamsInBatches) {
  size_t batches = 0, rows = 0;
  int64_t sum = 0;
  session_->Stream("SELECT range AS i FROM range(10000)", [&](const Batch& b) {
    batches++;
    rows += b.num_rows;
    for (size_t r = 0; r < b.num_rows; r++) sum += std::stoll(*b.cells[0][r]);
  });
  EXPECT_EQ(rows, 10000u);
  EXPECT_GT(batches, 1u);
  EXPECT_EQ(sum, 49995000);
}

TEST_F(EngineTest, StreamTypedExposesEveryLayout) {
  std::vector<TypedBatch> seen;
  size_t rows = 0;
  session_->StreamTyped(
      "SELECT 12.34::DECIMAL(4,2) AS d4, -1234567.89::DECIMAL(9,2) AS d9, "
      "123456789012345.678::DECIMAL(18,3) AS d18, "
      "-12345678901234567890123456789.123456789::DECIMAL(38,9) AS d38, DATE '2000-01-02' AS dt, "
      "TIMESTAMP '1970-01-01 00:00:01.5' AS ts, '00000000-0000-0000-0000-000000000001'::UUID AS "
      "u, 'héllo' AS s, NULL::VARCHAR AS n, [1, 2] AS l, 18446744073709551615::UBIGINT AS ub, "
      "true AS b, 1.5::FLOAT AS f",
      [&](const TypedBatch& b) {
        rows += b.num_rows;
        const auto& d = b.data;
        ASSERT_EQ(d.size(), 13u);
        EXPECT_EQ(d[0].id, TypeId::kDecimal);
        EXPECT_EQ(d[0].width, 4);
        EXPECT_EQ(d[0].scale, 2);
        EXPECT_EQ(d[0].GetInt(0), 1234);
        EXPECT_EQ(d[1].GetInt(0), -123456789);
        EXPECT_EQ(d[2].physical_bytes, 8);
        EXPECT_EQ(d[2].GetInt(0), 123456789012345678LL);
        EXPECT_EQ(d[3].physical_bytes, 16);
        EXPECT_LT(d[3].GetInt128(0), 0);
        EXPECT_EQ(static_cast<int64_t>((-d[3].GetInt128(0)) % 1000000000), 123456789);
        EXPECT_EQ(d[4].id, TypeId::kDate);
        EXPECT_EQ(d[4].GetInt(0), 10958);
        EXPECT_EQ(d[5].id, TypeId::kTimestamp);
        EXPECT_EQ(d[5].GetInt(0), 1500000);
        EXPECT_EQ(d[6].id, TypeId::kUuid);
        EXPECT_EQ(d[6].GetInt128(0), 1);
        EXPECT_EQ(d[7].text[0], "h\xc3\xa9llo");
        EXPECT_TRUE(d[8].IsNull(0));
        EXPECT_FALSE(d[7].IsNull(0));
        EXPECT_EQ(d[9].id, TypeId::kVarchar);  // nested types arrive as text
        EXPECT_EQ(d[9].text[0], "[1, 2]");
        EXPECT_EQ(d[10].GetUInt(0), 18446744073709551615ULL);
        EXPECT_TRUE(d[11].GetBool(0));
        EXPECT_EQ(d[12].GetDouble(0), 1.5);
        EXPECT_EQ(b.columns[3].type, "DECIMAL(38,9)");
      });
  EXPECT_EQ(rows, 1u);
}

TEST_F(EngineTest, QueryRefusesTooManyRows) {
  EXPECT_THROW(session_->Query("SELECT * FROM range(100)", 10), Error);
}

TEST_F(EngineTest, CopiesToParquetAndDescribes) {
  std::string path = std::filesystem::temp_directory_path() /
                     ("sluice_engine_" + std::to_string(::getpid()) + ".parquet");
  uint64_t n =
      session_->CopyToParquet("SELECT range AS id, 'v' || range AS name FROM range(1234)", path);
  EXPECT_EQ(n, 1234u);
  auto cols = session_->Describe("SELECT * FROM read_parquet('" + path + "')");
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_EQ(cols[0].name, "id");
  EXPECT_EQ(cols[0].type, "BIGINT");
  EXPECT_EQ(cols[1].type, "VARCHAR");
  std::filesystem::remove(path);
}

TEST_F(EngineTest, BadSqlIsInvalidInputWithTheEnginesMessage) {
  try {
    session_->Execute("SELEC 1");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("syntax error"), std::string::npos);
  }
}

TEST_F(EngineTest, InterruptStopsARunningQuery) {
  double start = SteadySeconds();
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    session_->Interrupt();
  });
  try {
    session_->Query("SELECT count(*) FROM range(1000000000000)");
    killer.join();
    FAIL() << "the query finished instead of being interrupted";
  } catch (const Error& e) {
    killer.join();
    EXPECT_EQ(e.kind(), ErrorKind::kCancelled);
  }
  EXPECT_LT(SteadySeconds() - start, 10);
}

// A RowSource of `rows` rows over several chunks: every fixed-width layout, text, NULLs.
class CountingSource : public RowSource {
 public:
  explicit CountingSource(size_t rows, size_t fail_at = SIZE_MAX) : rows_(rows), fail_at_(fail_at) {
    columns_ = {{"i", TypeId::kBigint},          {"u", TypeId::kUBigint},
                {"d", TypeId::kDecimal, 38, 10}, {"d4", TypeId::kDecimal, 4, 2},
                {"day", TypeId::kDate},          {"ts", TypeId::kTimestampTz},
                {"s", TypeId::kVarchar},         {"b", TypeId::kBlob},
                {"id", TypeId::kUuid},           {"ok", TypeId::kBoolean}};
  }
  const std::vector<SourceColumn>& columns() const override { return columns_; }
  size_t Fill(OutputChunk& out) override {
    size_t n = 0;
    for (; n < out.capacity() && next_ < rows_; n++, next_++) {
      if (next_ == fail_at_) throw InvalidInput("row " + std::to_string(next_) + " is bad");
      int64_t i = static_cast<int64_t>(next_);
      static_cast<int64_t*>(out.Data(0))[n] = i - 5;
      static_cast<uint64_t*>(out.Data(1))[n] = UINT64_MAX - next_;
      __int128 big = 1;
      for (int k = 0; k < 37; k++) big *= 10;
      static_cast<__int128*>(out.Data(2))[n] = -(big + i);
      static_cast<int16_t*>(out.Data(3))[n] = static_cast<int16_t>(i % 10000);
      static_cast<int32_t*>(out.Data(4))[n] = static_cast<int32_t>(i);
      static_cast<int64_t*>(out.Data(5))[n] = i * 1000001;
      if (next_ % 3 == 0) {
        out.SetNull(6, n);
      } else {
        std::string s = next_ % 3 == 1 ? "" : "Zürich \xF0\x9F\x9A\x80 " + std::to_string(i);
        out.SetString(6, n, s.data(), s.size());
      }
      out.SetString(7, n, "\0\xff", 2);
      static_cast<__int128*>(out.Data(8))[n] =
          (static_cast<__int128>(0x0123456789abcdefULL) << 64) | next_;
      static_cast<uint8_t*>(out.Data(9))[n] = next_ % 2;
    }
    return n;
  }

 private:
  std::vector<SourceColumn> columns_;
  size_t rows_, next_ = 0, fail_at_;
};

TEST_F(EngineTest, CopySourceToParquetWritesEveryLayoutExactly) {
  std::string path = ::testing::TempDir() + "/source.parquet";
  CountingSource source(5000);
  EXPECT_EQ(session_->CopySourceToParquet(source, path), 5000u);
  auto t = session_->Query(
      "SELECT count(*), min(i), max(u)::VARCHAR, min(d)::VARCHAR, max(d4)::VARCHAR, max(day), "
      "count(s), count(*) FILTER (WHERE s = ''), max(s), min(b), min(id), sum(ok::INT), "
      "max(ts)::VARCHAR FROM read_parquet('" +
      path + "')");
  ASSERT_EQ(t.rows.size(), 1u);
  const auto& r = t.rows[0];
  EXPECT_EQ(*r[0], "5000");
  EXPECT_EQ(*r[1], "-5");
  EXPECT_EQ(*r[2], "18446744073709551615");
  EXPECT_EQ(*r[3], "-1000000000000000000000000000.0000004999");
  EXPECT_EQ(*r[4], "49.99");
  EXPECT_EQ(*r[5], "1983-09-09");  // 1970-01-01 + 4999 days
  EXPECT_EQ(*r[6], "3333");        // a third are NULL
  EXPECT_EQ(*r[7], "1667");
  EXPECT_EQ(*r[8], "Zürich \xF0\x9F\x9A\x80 998");
  EXPECT_EQ(*r[9], "\\x00\\xFF");
  EXPECT_EQ(*r[10], "01234567-89ab-cdef-0000-000000000000");
  EXPECT_EQ(*r[11], "2500");
  EXPECT_EQ(*r[12], "1970-01-01 01:23:19.004999+00");  // 4999 * 1000001 microseconds
  auto types = session_->Describe("SELECT * FROM read_parquet('" + path + "')");
  EXPECT_EQ(types[1].type, "UBIGINT");
  EXPECT_EQ(types[2].type, "DECIMAL(38,10)");
  EXPECT_EQ(types[8].type, "UUID");
}

TEST_F(EngineTest, CopySourceToParquetRethrowsTheSourcesOwnError) {
  std::string path = ::testing::TempDir() + "/failing.parquet";
  CountingSource source(10000, 4321);
  try {
    session_->CopySourceToParquet(source, path);
    FAIL() << "expected the source's error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("row 4321 is bad"), std::string::npos) << e.what();
  }
  // The session stays usable.
  EXPECT_EQ(*session_->Query("SELECT 42").rows[0][0], "42");
}

TEST(EngineOptionsTest, RejectsABadMemoryLimit) {
  EngineOptions o;
  o.memory_limit = "lots";
  EXPECT_THROW(MakeDuckDbEngine(o), Error);
  o.memory_limit = "1GB";
  EXPECT_NO_THROW(MakeDuckDbEngine(o));
}

}  // namespace
}  // namespace sluice::engine
