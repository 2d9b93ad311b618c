#include "lake/lake.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"

namespace sluice::lake {
namespace {

class LakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice_lake_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    state_ = state::StateStore::Open(dir_ + "/state.db");
    lake_ = std::make_unique<Lake>(fs::MakeLocalFileSystem(), dir_ + "/lake", state_.get(), "p");
    run_ = state_->BeginRun("p", "2026-11-21", "test");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  int64_t Attempt() { return state_->BeginAttempt(run_, "p", "2026-11-21", "t", 1, ""); }

  // Stages one file with the given content and returns the request to publish it.
  PublishRequest Stage(int64_t attempt, const std::string& content) {
    PublishRequest r;
    r.dataset = "raw.x";
    r.ds = "2026-11-21";
    r.staging_dir = lake_->StagingDir(run_, attempt, r.dataset, r.ds);
    std::ofstream(r.staging_dir + "/part-00000.parquet") << content;
    r.rows = content.size();
    r.schema = {{"id", "BIGINT"}};
    r.run_id = run_;
    r.attempt_id = attempt;
    r.task_id = "t";
    return r;
  }
  std::string Published() {
    std::ifstream in(lake_->PartitionPath("raw.x", "2026-11-21") + "/part-00000.parquet");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string dir_;
  std::unique_ptr<state::StateStore> state_;
  std::unique_ptr<Lake> lake_;
  int64_t run_ = 0;
};

TEST_F(LakeTest, PublishWritesAManifestReadersResolve) {
  auto m = lake_->Publish(Stage(Attempt(), "first"));
  EXPECT_EQ(Published(), "first");
  auto read = lake_->ReadManifest("raw.x", "2026-11-21");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->rows, 5u);
  ASSERT_EQ(read->files.size(), 1u);
  EXPECT_EQ(read->files[0].bytes, 5u);
  EXPECT_EQ(read->checksum, m.checksum);
  EXPECT_EQ(read->schema[0].type, "BIGINT");
  EXPECT_EQ(lake_->ListPartitions("raw.x"), std::vector<std::string>{"2026-11-21"});
  EXPECT_EQ(lake_->ListDatasets(), std::vector<std::string>{"raw.x"});
  EXPECT_TRUE(state_->OpenJournal().empty());
}

TEST_F(LakeTest, RepublishReplacesThePartitionAndLeavesNoTrash) {
  lake_->Publish(Stage(Attempt(), "first"));
  lake_->Publish(Stage(Attempt(), "second!"));
  EXPECT_EQ(Published(), "second!");
  EXPECT_EQ(lake_->ReadManifest("raw.x", "2026-11-21")->rows, 7u);
  int leftovers = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ + "/lake/_trash")) {
    leftovers += e.is_regular_file();
  }
  EXPECT_EQ(leftovers, 0);
}

TEST_F(LakeTest, AttemptThatLostItsLeaseCannotPublish) {
  lake_->Publish(Stage(Attempt(), "first"));
  int64_t a = Attempt();
  auto req = Stage(a, "late");
  state_->EndAttempt(a, "timed_out", {}, "");
  EXPECT_THROW(lake_->Publish(req), Error);
  EXPECT_EQ(Published(), "first");
}

TEST_F(LakeTest, RecoveryRollsBackAPublishInterruptedBeforeTheRename) {
  lake_->Publish(Stage(Attempt(), "old"));
  // Simulate a crash right after the old partition was moved aside.
  int64_t a = Attempt();
  auto req = Stage(a, "new");
  state::JournalEntry e;
  e.attempt_id = a;
  e.dataset = "raw.x";
  e.partition = "ds=2026-11-21";
  e.staging_path = req.staging_dir;
  e.final_path = lake_->PartitionPath("raw.x", "2026-11-21");
  e.backup_path = dir_ + "/lake/_trash/p/" + std::to_string(a) + "/raw.x/ds=2026-11-21";
  int64_t j = state_->JournalBegin(e);
  std::filesystem::create_directories(std::filesystem::path(e.backup_path).parent_path());
  std::filesystem::rename(e.final_path, e.backup_path);
  state_->JournalStep(j, "moved_aside");
  state_->EndRun(run_, "failed", "crashed");

  auto report = lake_->Recover();
  EXPECT_EQ(report.rolled_back, 1);
  EXPECT_EQ(Published(), "old");
  EXPECT_TRUE(state_->OpenJournal().empty());
  EXPECT_FALSE(std::filesystem::exists(req.staging_dir));
  EXPECT_FALSE(std::filesystem::exists(e.backup_path));
}

TEST_F(LakeTest, RecoveryRollsForwardAPublishInterruptedAfterTheRename) {
  lake_->Publish(Stage(Attempt(), "old"));
  int64_t a = Attempt();
  auto req = Stage(a, "new");
  // Write the manifest the way Publish does, then stop after the rename.
  state::JournalEntry e;
  e.attempt_id = a;
  e.dataset = "raw.x";
  e.partition = "ds=2026-11-21";
  e.staging_path = req.staging_dir;
  e.final_path = lake_->PartitionPath("raw.x", "2026-11-21");
  e.backup_path = dir_ + "/lake/_trash/p/" + std::to_string(a) + "/raw.x/ds=2026-11-21";
  Manifest m;
  m.dataset = "raw.x";
  m.partition = "ds=2026-11-21";
  m.attempt_id = a;
  std::ofstream(req.staging_dir + "/_SUCCESS") << m.ToJson();
  int64_t j = state_->JournalBegin(e);
  std::filesystem::create_directories(std::filesystem::path(e.backup_path).parent_path());
  std::filesystem::rename(e.final_path, e.backup_path);
  std::filesystem::rename(req.staging_dir, e.final_path);
  (void)j;  // the crash came before JournalStep(renamed)
  state_->EndRun(run_, "failed", "crashed");

  auto report = lake_->Recover();
  EXPECT_EQ(report.rolled_forward, 1);
  EXPECT_EQ(Published(), "new");
  EXPECT_FALSE(std::filesystem::exists(e.backup_path));
  EXPECT_TRUE(state_->OpenJournal().empty());
}

TEST_F(LakeTest, RecoveryKeepsStagingOfALiveRunAndDropsDeadOnes) {
  int64_t a = Attempt();
  auto req = Stage(a, "in progress");
  lake_->Recover();
  EXPECT_TRUE(std::filesystem::exists(req.staging_dir));  // run_ is running in this process
  state_->EndRun(run_, "failed", "");
  EXPECT_EQ(lake_->Recover().staging_removed, 1);
  EXPECT_FALSE(std::filesystem::exists(req.staging_dir));
}

TEST_F(LakeTest, CorruptManifestIsAnErrorNamingTheFile) {
  lake_->Publish(Stage(Attempt(), "x"));
  std::ofstream(lake_->PartitionPath("raw.x", "2026-11-21") + "/_SUCCESS") << "{not json";
  try {
    lake_->ReadManifest("raw.x", "2026-11-21");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("_SUCCESS"), std::string::npos);
  }
}

TEST(ReadParquetSqlTest, QuotesPaths) {
  EXPECT_EQ(ReadParquetSql({"/l/a'b.parquet"}),
            "read_parquet(['/l/a''b.parquet'], hive_partitioning = false)");
  EXPECT_NE(ReadParquetSql({"/l/x"}, true).find("hive_partitioning = true"), std::string::npos);
}

}  // namespace
}  // namespace sluice::lake
