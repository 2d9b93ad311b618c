#include "state/state_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "common/error.h"

namespace sluice::state {
namespace {

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice_state_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    store_ = StateStore::Open(dir_ + "/state.db");
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<StateStore> store_;
};

TEST_F(StateStoreTest, RecordsRunsAndAttempts) {
  int64_t run = store_->BeginRun("p", "2026-11-21", "manual");
  int64_t a1 = store_->BeginAttempt(run, "p", "2026-11-21", "t", 1, "/log/t.1");
  TaskCounts counts{10, 8, 2, 100};
  EXPECT_TRUE(store_->EndAttempt(a1, "success", counts, ""));
  store_->EndRun(run, "success", "");
  auto last = store_->LastSuccess("p", "2026-11-21", "t");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->attempt_id, a1);
  EXPECT_EQ(last->counts.rows_rejected, 2);
  EXPECT_FALSE(store_->LastSuccess("p", "2026-11-22", "t"));
  auto runs = store_->ListRuns("p", "", 10);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, "success");
  EXPECT_EQ(store_->ListAttempts(run).size(), 1u);
}

TEST_F(StateStoreTest, EndAttemptOnlyEndsARunningAttempt) {
  int64_t run = store_->BeginRun("p", "2026-11-21", "manual");
  int64_t a = store_->BeginAttempt(run, "p", "2026-11-21", "t", 1, "");
  EXPECT_TRUE(store_->EndAttempt(a, "timed_out", {}, "timeout"));
  EXPECT_FALSE(store_->EndAttempt(a, "success", {}, ""));
  EXPECT_EQ(store_->GetAttempt(a)->status, "timed_out");
}

TEST_F(StateStoreTest, PublishFromAnAttemptThatLostItsLeaseIsRefused) {
  int64_t run = store_->BeginRun("p", "2026-11-21", "manual");
  int64_t a = store_->BeginAttempt(run, "p", "2026-11-21", "t", 1, "");
  JournalEntry e;
  e.attempt_id = a;
  e.dataset = "raw.x";
  e.partition = "ds=2026-11-21";
  int64_t j = store_->JournalBegin(e);
  EXPECT_EQ(store_->OpenJournal().size(), 1u);
  store_->JournalStep(j, "renamed");
  EXPECT_EQ(store_->OpenJournal()[0].step, "renamed");
  store_->JournalDone(j);
  EXPECT_TRUE(store_->OpenJournal().empty());

  store_->EndAttempt(a, "timed_out", {}, "");
  try {
    store_->JournalBegin(e);
    FAIL() << "expected the lease check to refuse";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::kCancelled);
    EXPECT_NE(std::string(err.what()).find("lost its lease"), std::string::npos);
  }
  EXPECT_TRUE(store_->OpenJournal().empty());
}

TEST_F(StateStoreTest, RefusesASecondLiveRunOfTheSameDate) {
  // A run owned by another live process (our parent stands in for it) blocks a second one.
  int64_t run = store_->BeginRun("p", "2026-11-21", "manual");
  store_.reset();
  {
    sqlite3* db;
    ASSERT_EQ(sqlite3_open((dir_ + "/state.db").c_str(), &db), SQLITE_OK);
    std::string sql = "UPDATE runs SET pid = " + std::to_string(::getppid()) +
                      " WHERE run_id = " + std::to_string(run);
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  store_ = StateStore::Open(dir_ + "/state.db");
  EXPECT_THROW(store_->BeginRun("p", "2026-11-21", "manual"), Error);
  EXPECT_NO_THROW(store_->BeginRun("p", "2026-11-22", "manual"));
}

TEST_F(StateStoreTest, ClosesRunsOfDeadProcesses) {
  int64_t run = store_->BeginRun("p", "2026-11-21", "manual");
  int64_t a = store_->BeginAttempt(run, "p", "2026-11-21", "t", 1, "");
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);  // a pid that no longer exists
  store_.reset();
  {
    sqlite3* db;
    ASSERT_EQ(sqlite3_open((dir_ + "/state.db").c_str(), &db), SQLITE_OK);
    std::string sql = "UPDATE runs SET pid = " + std::to_string(child);
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  store_ = StateStore::Open(dir_ + "/state.db");
  EXPECT_EQ(store_->CloseDeadRuns(), 1);
  EXPECT_EQ(store_->GetRun(run)->status, "failed");
  EXPECT_EQ(store_->GetAttempt(a)->status, "failed");
  EXPECT_EQ(store_->CloseDeadRuns(), 0);
}

TEST_F(StateStoreTest, ARunOfAnEarlierProcessWithTheSamePidIsDead) {
  // In a container every sluice is pid 1: a run left 'running' by a crashed process must not
  // look alive because the new process got the same pid.
  int64_t run = store_->BeginRun("p", "2026-11-21", "manual");
  store_.reset();
  {
    sqlite3* db;
    ASSERT_EQ(sqlite3_open((dir_ + "/state.db").c_str(), &db), SQLITE_OK);
    std::string sql = "UPDATE runs SET started_at = '2000-01-01T00:00:00.000Z' WHERE run_id = " +
                      std::to_string(run);
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  store_ = StateStore::Open(dir_ + "/state.db");
  EXPECT_EQ(store_->CloseDeadRuns(), 1);
  EXPECT_EQ(store_->GetRun(run)->status, "failed");
  // A run this process started is alive.
  int64_t live = store_->BeginRun("p", "2026-11-22", "manual");
  EXPECT_EQ(store_->CloseDeadRuns(), 0);
  EXPECT_EQ(store_->GetRun(live)->status, "running");
}

TEST_F(StateStoreTest, StoresWatermarks) {
  EXPECT_FALSE(store_->GetWatermark("p", "t", "orders"));
  store_->SetWatermark("p", "t", "orders", "100");
  store_->SetWatermark("p", "t", "orders", "250");
  EXPECT_EQ(*store_->GetWatermark("p", "t", "orders"), "250");
}

TEST_F(StateStoreTest, RefusesANewerSchema) {
  store_.reset();
  sqlite3* db;
  ASSERT_EQ(sqlite3_open((dir_ + "/state.db").c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "UPDATE meta SET value = '99' WHERE key = 'schema_version'", nullptr, nullptr,
               nullptr);
  sqlite3_close(db);
  try {
    StateStore::Open(dir_ + "/state.db");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("upgrade sluice"), std::string::npos);
  }
}

}  // namespace
}  // namespace sluice::state
