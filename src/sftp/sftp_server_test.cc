// The file system conformance suite against a real OpenSSH server. ctest does not run this:
// tests/servers/test_sftp_conformance.py starts sshd and runs it with the server's address in
// SLUICE_TEST_SFTP_{HOST,PORT,USER,KEY,KNOWN_HOSTS,BASE}.
#include <cstdlib>

#include "fs/file_system_conformance.h"
#include "sftp/sftp.h"

namespace sluice::fs {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    std::fprintf(stderr, "%s is not set: run this through tests/servers/test_sftp_conformance.py\n",
                 name);
    std::exit(2);
  }
  return v;
}

sftp::SftpOptions Options() {
  sftp::SftpOptions o;
  o.host = Env("SLUICE_TEST_SFTP_HOST");
  o.port = std::atoi(Env("SLUICE_TEST_SFTP_PORT").c_str());
  o.user = Env("SLUICE_TEST_SFTP_USER");
  o.key_file = Env("SLUICE_TEST_SFTP_KEY");
  o.known_hosts = Env("SLUICE_TEST_SFTP_KNOWN_HOSTS");
  o.timeout_seconds = 20;
  return o;
}

INSTANTIATE_TEST_SUITE_P(Sftp, FileSystemConformance,
                         ::testing::Values(Impl{"sftp",
                                                [] {
                                                  return std::unique_ptr<FileSystem>(
                                                      sftp::SftpFileSystem::Connect(Options()));
                                                },
                                                Env("SLUICE_TEST_SFTP_BASE")}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace sluice::fs
