// The file system conformance suite against a real HDFS (NameNode + 2 DataNodes). ctest does
// not run this: tests/servers/test_hdfs_conformance.py starts the cluster and runs it with its
// address in SLUICE_TEST_HDFS_{HOST,PORT,USER,BASE}.
#include <cstdlib>

#include "fs/file_system_conformance.h"
#include "webhdfs/webhdfs.h"

namespace sluice::fs {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    std::fprintf(stderr, "%s is not set: run this through tests/servers/test_hdfs_conformance.py\n",
                 name);
    std::exit(2);
  }
  return v;
}

webhdfs::WebHdfsOptions Options() {
  webhdfs::WebHdfsOptions o;
  o.host = Env("SLUICE_TEST_HDFS_HOST");
  o.port = std::atoi(Env("SLUICE_TEST_HDFS_PORT").c_str());
  o.user = Env("SLUICE_TEST_HDFS_USER");
  o.timeout_seconds = 20;
  return o;
}

INSTANTIATE_TEST_SUITE_P(WebHdfs, FileSystemConformance,
                         ::testing::Values(Impl{"webhdfs",
                                                [] {
                                                  return std::unique_ptr<FileSystem>(
                                                      webhdfs::WebHdfsFileSystem::Make(Options()));
                                                },
                                                Env("SLUICE_TEST_HDFS_BASE")}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace sluice::fs
