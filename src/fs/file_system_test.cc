// The conformance suite every FileSystem implementation passes (Arrow's GenericFileSystemTest
// idea): the same test bodies run against each implementation.
#include "fs/file_system.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "common/error.h"
#include "fs/file_system_conformance.h"

namespace sluice::fs {
namespace {

INSTANTIATE_TEST_SUITE_P(AllFileSystems, FileSystemConformance,
                         ::testing::Values(Impl{"local", [] { return MakeLocalFileSystem(); },
                                                std::filesystem::temp_directory_path()}),
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
