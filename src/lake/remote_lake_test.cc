// The lake on a file system the engine cannot use directly (HDFS): staging is local and
// uploaded at publish, reads go through the checksum-keyed cache. A local folder stands in for
// the remote side; tests/e2e/test_hdfs.py runs the same code against a real HDFS.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "common/crc32c.h"
#include "common/error.h"
#include "lake/lake.h"

namespace sluice::lake {
namespace {

// Local disk that says it is not: the lake must upload and download through it.
class FakeRemote : public fs::FileSystem {
 public:
  explicit FakeRemote(std::atomic<int>* downloads)
      : local_(fs::MakeLocalFileSystem()), downloads_(downloads) {}
  bool Stat(const std::string& p, fs::FileInfo* i) override { return local_->Stat(p, i); }
  std::vector<fs::FileInfo> List(const std::string& d) override { return local_->List(d); }
  void MakeDirs(const std::string& d) override { local_->MakeDirs(d); }
  void Rename(const std::string& f, const std::string& t) override { local_->Rename(f, t); }
  void DeleteRecursive(const std::string& p) override { local_->DeleteRecursive(p); }
  std::string ReadFile(const std::string& p) override { return local_->ReadFile(p); }
  void WriteFile(const std::string& p, const std::string& d) override { local_->WriteFile(p, d); }
  void Upload(const std::string& l, const std::string& p, const Progress& pr) override {
    local_->Upload(l, p, pr);
  }
  void Download(const std::string& p, const std::string& l, const Progress& pr) override {
    ++*downloads_;
    local_->Download(p, l, pr);
  }
  std::string scheme() const override { return "fake"; }

 private:
  std::unique_ptr<fs::FileSystem> local_;
  std::atomic<int>* downloads_;
};

std::string Crc32cHex(const std::string& data) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x", Crc32cExtend(0, data.data(), data.size()));
  return hex;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class RemoteLakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice_remote_lake_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    state_ = state::StateStore::Open(dir_ + "/state.db");
    lake_ = Open(dir_ + "/local", 1 << 20);
    run_ = state_->BeginRun("p", "2026-11-21", "test");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Lake> Open(const std::string& local_dir, uint64_t cache_bytes) {
    auto lake = std::make_unique<Lake>(std::make_unique<FakeRemote>(&downloads_),
                                       dir_ + "/remote/lake", state_.get(), "p");
    lake->UseLocalDir(local_dir, cache_bytes);
    return lake;
  }

  Manifest Publish(Lake& lake, const std::string& dataset, const std::string& content) {
    int64_t attempt = state_->BeginAttempt(run_, "p", "2026-11-21", "t", 1, "");
    PublishRequest r;
    r.dataset = dataset;
    r.ds = "2026-11-21";
    r.staging_dir = lake.StagingDir(run_, attempt, r.dataset, r.ds);
    std::ofstream(r.staging_dir + "/part-00000.parquet") << content;
    r.rows = 1;
    r.run_id = run_;
    r.attempt_id = attempt;
    r.task_id = "t";
    return lake.Publish(r);
  }

  std::string dir_;
  std::atomic<int> downloads_{0};
  std::unique_ptr<state::StateStore> state_;
  std::unique_ptr<Lake> lake_;
  int64_t run_ = 0;
};

TEST_F(RemoteLakeTest, StagingIsLocalAndPublishUploadsIt) {
  int64_t attempt = state_->BeginAttempt(run_, "p", "2026-11-21", "t", 1, "");
  std::string staging = lake_->StagingDir(run_, attempt, "raw.x", "2026-11-21");
  EXPECT_EQ(staging.rfind(dir_ + "/local/", 0), 0u) << staging;
  Publish(*lake_, "raw.x", "hello");
  std::string published = dir_ + "/remote/lake/raw/x/ds=2026-11-21";
  EXPECT_EQ(Slurp(published + "/part-00000.parquet"), "hello");
  EXPECT_TRUE(std::filesystem::exists(published + "/_SUCCESS"));
  // The attempt's local staging folders are gone; the remote staging was renamed away.
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/remote/lake/_staging/p/" + std::to_string(run_) +
                                       "/" + std::to_string(attempt) + "/raw.x"));
  lake_->CleanupRun(run_);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/local/_staging/p"));
}

TEST_F(RemoteLakeTest, ReadsWhatItJustWroteWithoutDownloading) {
  auto m = Publish(*lake_, "raw.x", "hello");
  auto sel = lake_->Select("raw.x", "2026-11-21");
  ASSERT_TRUE(sel);
  ASSERT_EQ(sel->files.size(), 1u);
  EXPECT_EQ(Slurp(sel->files[0]), "hello");
  EXPECT_NE(sel->files[0].find("/ds=2026-11-21/" + m.files[0].crc32c + "-part-00000.parquet"),
            std::string::npos)
      << sel->files[0];
  EXPECT_EQ(downloads_, 0);
}

TEST_F(RemoteLakeTest, AnotherMachineDownloadsVerifiesAndReusesItsCopy) {
  Publish(*lake_, "raw.x", "hello");
  auto other = Open(dir_ + "/other", 1 << 20);
  auto sel = other->Select("raw.x", "2026-11-21");
  ASSERT_TRUE(sel);
  EXPECT_EQ(Slurp(sel->files[0]), "hello");
  EXPECT_EQ(downloads_, 1);
  other->Select("raw.x", "2026-11-21");
  EXPECT_EQ(downloads_, 1) << "a verified copy is used again";
  // A re-publish has other CRCs: the old copy is never read for it.
  Publish(*lake_, "raw.x", "world");
  auto again = other->Select("raw.x", "2026-11-21");
  EXPECT_EQ(Slurp(again->files[0]), "world");
  EXPECT_EQ(downloads_, 2);
}

TEST_F(RemoteLakeTest, FilesAnEngineWroteInTheLakeArePublishedThereAndCached) {
  // Spark on HDFS: the files are written into the lake's own staging, never uploaded.
  int64_t attempt = state_->BeginAttempt(run_, "p", "2026-11-21", "t", 1, "");
  std::string staging = lake_->LakeStagingDir(run_, attempt, "marts.m", "2026-11-21");
  EXPECT_EQ(staging.rfind(dir_ + "/remote/lake/_staging/", 0), 0u) << staging;
  std::ofstream(staging + "/part-00000.parquet") << "hello";
  std::ofstream(staging + "/part-00001.parquet") << "world";
  PublishRequest r;
  r.dataset = "marts.m";
  r.ds = "2026-11-21";
  r.staging_dir = staging;
  r.rows = 2;
  r.run_id = run_;
  r.attempt_id = attempt;
  r.task_id = "t";
  r.in_lake = true;
  Manifest m = lake_->Publish(r);
  ASSERT_EQ(m.files.size(), 2u);
  EXPECT_EQ(m.files[0].crc32c, Crc32cHex("hello"));
  EXPECT_EQ(m.files[1].crc32c, Crc32cHex("world"));
  std::string published = dir_ + "/remote/lake/marts/m/ds=2026-11-21";
  EXPECT_EQ(Slurp(published + "/part-00001.parquet"), "world");
  EXPECT_EQ(downloads_, 2) << "each file is read once, to checksum it";
  // The copies that were checksummed serve readers: no second download.
  auto sel = lake_->Select("marts.m", "2026-11-21");
  ASSERT_TRUE(sel);
  EXPECT_EQ(Slurp(sel->files[1]), "world");
  EXPECT_EQ(downloads_, 2);
  // A reader that reads the lake itself gets the lake's paths, and nothing is fetched.
  auto direct = lake_->Select("marts.m", "2026-11-21", /*fetch=*/false);
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->files[0], published + "/part-00000.parquet");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/local/_staging/p/" + std::to_string(run_) + "/" +
                                       std::to_string(attempt) + "/marts.m/ds=2026-11-21"));
}

TEST_F(RemoteLakeTest, AFileChangedBehindItsManifestIsRefused) {
  Publish(*lake_, "raw.x", "hello");
  std::ofstream(dir_ + "/remote/lake/raw/x/ds=2026-11-21/part-00000.parquet") << "HELLO";
  auto other = Open(dir_ + "/other", 1 << 20);
  try {
    other->Select("raw.x", "2026-11-21");
    FAIL() << "expected a checksum error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("but its manifest says"), std::string::npos) << e.what();
  }
  // Nothing half-verified stays in the cache.
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ + "/other/cache")) {
    files += e.is_regular_file();
  }
  EXPECT_EQ(files, 0);
}

TEST_F(RemoteLakeTest, TheCacheStaysWithinItsSizeKeepingWhatARunReads) {
  auto small = Open(dir_ + "/small", 10);  // room for two 5-byte files
  for (const char* d : {"raw.a", "raw.b", "raw.c"}) Publish(*lake_, d, "12345");
  auto cached = [&] {
    uint64_t bytes = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ + "/small/cache")) {
      if (e.is_regular_file()) bytes += e.file_size();
    }
    return bytes;
  };
  // A run reading all three keeps them (pinned) even past the limit...
  for (const char* d : {"raw.a", "raw.b", "raw.c"}) small->Select(d, "2026-11-21");
  EXPECT_EQ(cached(), 15u);
  // ...and when it ends, the least recently used go.
  small->CleanupRun(run_);
  EXPECT_LE(cached(), 10u);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/small/cache/raw.a"));
}

}  // namespace
}  // namespace sluice::lake
