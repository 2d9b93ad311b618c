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

TEST(EngineOptionsTest, RejectsABadMemoryLimit) {
  EngineOptions o;
  o.memory_limit = "lots";
  EXPECT_THROW(MakeDuckDbEngine(o), Error);
  o.memory_limit = "1GB";
  EXPECT_NO_THROW(MakeDuckDbEngine(o));
}

}  // namespace
}  // namespace sluice::engine
