#pragma once

// SFTP over libssh (docs/decisions.md §16): a file system on an SSH server, for file_export,
// csv_import from sftp:// and `sluice ls/get/put`. Host keys are checked against known_hosts
// before any credential is sent.

#include <cstdint>
#include <memory>
#include <string>

#include "fs/file_system.h"

namespace sluice::pipeline {
struct PipelineSpec;
}

namespace sluice::sftp {

// Where and how to connect. Empty fields take OpenSSH's defaults (port 22, the OS user,
// ~/.ssh/known_hosts, the keys ~/.ssh/id_ed25519 and id_rsa or an agent).
struct SftpOptions {
  std::string host;
  int port = 22;
  std::string user;
  std::string key_file;    // a private key (ed25519, RSA, ECDSA), OpenSSH or PEM format
  std::string passphrase;  // of key_file, when it has one
  std::string password;    // password authentication, when no key_file
  std::string known_hosts;
  // "strict": the host's key must be in known_hosts; "accept-new": an unknown host's key is
  // added (a changed key is still refused).
  std::string host_key_policy = "strict";
  int timeout_seconds = 30;    // connecting and every single operation
  int keepalive_seconds = 60;  // TCP keep-alive probes on an idle connection
  std::string name;            // the connection's name in messages ("" = the URL)
};

// An sftp:// URL: sftp://[user@]host[:port]/path. "/~/x" is x relative to the login folder.
struct SftpUrl {
  std::string user;
  std::string host;
  int port = 0;      // 0 = not given
  std::string path;  // absolute, or relative to the login folder when it came as /~/...
};

bool IsSftpUrl(const std::string& text);
// Throws InvalidInput naming the URL and what is wrong.
SftpUrl ParseSftpUrl(const std::string& url);
// sftp://user@host:port + path (the port only when not 22).
std::string FormatSftpUrl(const SftpOptions& o, const std::string& path);

// A connected SFTP file system. Paths are the server's: absolute, or relative to the login
// folder. Every call has the options' timeout; Interrupt() (another thread) makes a blocked call
// fail at once. Thread-safe: calls are serialized on the one SSH connection.
class SftpFileSystem : public fs::FileSystem {
 public:
  // Connects, verifies the host key and authenticates. Throws Error(kConnection) for an
  // unreachable or silent server, InvalidInput for an unknown or changed host key and for
  // refused credentials, each with the fix.
  static std::unique_ptr<SftpFileSystem> Connect(const SftpOptions& options);
  ~SftpFileSystem() override;

  virtual void Interrupt() = 0;
  // "sftp://user@host:port", for messages.
  virtual std::string Describe() const = 0;
};

// The options for url: from the sftp connection `connection` of spec when given (its host,
// port and user must agree with the URL's when the URL names them), else from the URL and
// OpenSSH's defaults. Secrets (${env:..}, ${file:..}) are resolved here.
SftpOptions OptionsFor(const pipeline::PipelineSpec* spec, const std::string& connection,
                       const SftpUrl& url);

}  // namespace sluice::sftp
