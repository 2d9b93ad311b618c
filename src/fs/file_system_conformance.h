#pragma once

// The conformance suite every FileSystem implementation passes (Arrow's GenericFileSystemTest
// idea): the same test bodies run against each implementation. A test file includes this and
// instantiates FileSystemConformance with its Impl values.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "common/error.h"
#include "fs/file_system.h"

namespace sluice::fs {

struct Impl {
  std::string name;
  std::function<std::unique_ptr<FileSystem>()> make;
  std::string base;  // a folder on the file system the tests may use
};

inline void PrintTo(const Impl& impl, std::ostream* os) { *os << impl.name; }

class FileSystemConformance : public ::testing::TestWithParam<Impl> {
 protected:
  void SetUp() override {
    fs_ = GetParam().make();
    // A parameterized test's name is "Name/param": one folder, not two.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    root_ = JoinPath(GetParam().base, "sluice_fs_" + std::to_string(::getpid()) + "_" + name);
    fs_->DeleteRecursive(root_);
    fs_->MakeDirs(root_);
  }
  void TearDown() override { fs_->DeleteRecursive(root_); }
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

TEST_P(FileSystemConformance, UploadDownloadAndPublishFile) {
  std::string local =
      std::filesystem::temp_directory_path() / ("sluice_fs_local_" + std::to_string(::getpid()));
  std::string data(300000, 'x');
  for (size_t i = 0; i < data.size(); i++) data[i] = static_cast<char>('a' + i % 26);
  {
    FILE* f = std::fopen(local.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(data.data(), 1, data.size(), f);
    std::fclose(f);
  }
  uint64_t last = 0;
  fs_->Upload(local, P("up.bin"), [&](uint64_t n) { last = n; });
  EXPECT_EQ(last, data.size());
  EXPECT_EQ(fs_->ReadFile(P("up.bin")), data);
  EXPECT_THROW(fs_->Upload(local, P("up.bin"), nullptr), Error);  // never onto a file

  // PublishFile: refuses, skips or replaces an existing file, never leaves its temporary name.
  EXPECT_THROW(PublishFile(*fs_, local, P("up.bin"), IfExists::kFail), Error);
  fs_->MakeDirs(P("pub"));
  fs_->WriteFile(P("pub/f.csv"), "old");
  EXPECT_FALSE(PublishFile(*fs_, local, P("pub/f.csv"), IfExists::kSkip));
  EXPECT_EQ(fs_->ReadFile(P("pub/f.csv")), "old");
  EXPECT_TRUE(PublishFile(*fs_, local, P("pub/f.csv"), IfExists::kReplace));
  EXPECT_EQ(fs_->ReadFile(P("pub/f.csv")), data);
  EXPECT_TRUE(PublishFile(*fs_, local, P("new/deep/g.csv"), IfExists::kFail));
  auto listed = fs_->List(P("pub"));
  ASSERT_EQ(listed.size(), 1u) << "only the final name is left";
  EXPECT_EQ(listed[0].name, "f.csv");

  std::string back = local + ".back";
  fs_->Download(P("new/deep/g.csv"), back, nullptr);
  std::string got = MakeLocalFileSystem()->ReadFile(back);
  EXPECT_EQ(got, data);
  std::filesystem::remove(local);
  std::filesystem::remove(back);
}

TEST_P(FileSystemConformance, ReadFileOfAFolderOrMissingParentFails) {
  fs_->MakeDirs(P("dir"));
  EXPECT_THROW(fs_->ReadFile(P("dir/none/x")), Error);
  EXPECT_THROW(fs_->WriteFile(P("nofolder/x"), "x"), Error);
}

}  // namespace sluice::fs
