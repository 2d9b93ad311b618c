// The conformance suite every FileSystem implementation passes (Arrow's GenericFileSystemTest
// idea): the same test bodies run against each implementation.
#include "fs/file_system.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "common/error.h"

namespace sluice::fs {
namespace {

struct Impl {
  std::string name;
  std::function<std::unique_ptr<FileSystem>()> make;
};

void PrintTo(const Impl& impl, std::ostream* os) { *os << impl.name; }

class FileSystemConformance : public ::testing::TestWithParam<Impl> {
 protected:
  void SetUp() override {
    fs_ = GetParam().make();
    root_ = std::filesystem::temp_directory_path() /
            ("sluice_fs_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    fs_->MakeDirs(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string P(const std::string& rel) { return JoinPath(root_, rel); }

  std::unique_ptr<FileSystem> fs_;
  std::string root_;
};

TEST_P(FileSystemConformance, WriteReadStat) {
  fs_->WriteFile(P("a.txt"), "hello");
  EXPECT_EQ(fs_->ReadFile(P("a.txt")), "hello");
  FileInfo info;
  ASSERT_TRUE(fs_->Stat(P("a.txt"), &info));
  EXPECT_EQ(info.size, 5u);
  EXPECT_FALSE(info.is_dir);
  EXPECT_EQ(info.name, "a.txt");
  EXPECT_FALSE(fs_->Stat(P("missing"), &info));
}

TEST_P(FileSystemConformance, MissingFileIsNotFound) {
  try {
    fs_->ReadFile(P("nope"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
  }
}

TEST_P(FileSystemConformance, ListIsSortedAndShowsDirectories) {
  fs_->MakeDirs(P("d/sub"));
  fs_->WriteFile(P("d/b"), "2");
  fs_->WriteFile(P("d/a"), "1");
  auto list = fs_->List(P("d"));
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].name, "a");
  EXPECT_EQ(list[1].name, "b");
  EXPECT_EQ(list[2].name, "sub");
  EXPECT_TRUE(list[2].is_dir);
  EXPECT_THROW(fs_->List(P("absent")), Error);
}

TEST_P(FileSystemConformance, RenameMovesDirectoriesAndRefusesToOverwrite) {
  fs_->MakeDirs(P("src"));
  fs_->WriteFile(P("src/f"), "x");
  fs_->MakeDirs(P("dst"));
  EXPECT_THROW(fs_->Rename(P("src"), P("dst")), Error);
  fs_->Rename(P("src"), P("moved"));
  FileInfo info;
  EXPECT_FALSE(fs_->Stat(P("src"), &info));
  EXPECT_EQ(fs_->ReadFile(P("moved/f")), "x");
}

TEST_P(FileSystemConformance, DeleteRecursiveRemovesTreesAndIgnoresMissing) {
  fs_->MakeDirs(P("t/a/b"));
  fs_->WriteFile(P("t/a/b/f"), "x");
  fs_->DeleteRecursive(P("t"));
  FileInfo info;
  EXPECT_FALSE(fs_->Stat(P("t"), &info));
  fs_->DeleteRecursive(P("t"));  // no error the second time
}

TEST_P(FileSystemConformance, MakeDirsIsIdempotent) {
  fs_->MakeDirs(P("x/y/z"));
  fs_->MakeDirs(P("x/y/z"));
  FileInfo info;
  ASSERT_TRUE(fs_->Stat(P("x/y/z"), &info));
  EXPECT_TRUE(info.is_dir);
}

INSTANTIATE_TEST_SUITE_P(AllFileSystems, FileSystemConformance,
                         ::testing::Values(Impl{"local", [] { return MakeLocalFileSystem(); }}),
                         [](const auto& info) { return info.param.name; });

TEST(MakeFileSystemTest, ResolvesPathsAndRejectsUnknownSchemes) {
  std::string root;
  auto fs = MakeFileSystem("file:///tmp/lake/", &root);
  EXPECT_EQ(fs->scheme(), "file");
  EXPECT_EQ(root, "/tmp/lake");
  try {
    MakeFileSystem("gopher://x/lake", &root);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gopher"), std::string::npos);
  }
}

TEST(JoinPathTest, JoinsWithOneSlash) {
  EXPECT_EQ(JoinPath("a/", "/b"), "a/b");
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
}

}  // namespace
}  // namespace sluice::fs
