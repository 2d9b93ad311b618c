#pragma once

// HDFS through WebHDFS, its REST API (docs/decisions.md §17): a file system for the lake on an
// existing cluster, `sluice dfs` and csv_import from webhdfs://. HTTP is libcurl; no Hadoop
// client library, no JVM.

#include <memory>
#include <string>

#include "fs/file_system.h"

namespace sluice::pipeline {
struct PipelineSpec;
}

namespace sluice::webhdfs {

// Where and how to talk to the NameNode.
struct WebHdfsOptions {
  std::string host;
  int port = 9870;
  bool https = false;            // swebhdfs://, or hdfs.https: true
  std::string user;              // user.name= (simple auth); "" = the OS user
  std::string delegation_token;  // sent as delegation= instead of user.name (secure clusters)
  std::string ca_file;           // HTTPS: the CA bundle that signed the cluster's certificates
  int replication = 0;           // of new files; 0 = the cluster's default
  int timeout_seconds = 60;      // connecting, a metadata call, or a transfer that stalls
  int retries = 4;               // connection failures and a NameNode in safe mode
};

// webhdfs://host[:port]/path (port 9870) or swebhdfs://host[:port]/path (HTTPS, port 9871).
struct WebHdfsUrl {
  bool https = false;
  std::string host;
  int port = 0;      // 0 = not given
  std::string path;  // absolute
};

bool IsWebHdfsUrl(const std::string& text);
// Throws InvalidInput naming the URL and what is wrong.
WebHdfsUrl ParseWebHdfsUrl(const std::string& url);
// webhdfs://host:port + path (swebhdfs:// with https).
std::string FormatWebHdfsUrl(const WebHdfsOptions& o, const std::string& path);

// A file system on HDFS. Paths are absolute HDFS paths. Writes go through the two-step CREATE
// (NameNode, then the DataNode it names); a connection failure goes back to the NameNode for a
// fresh redirect, with backoff, up to options.retries times. Every call ends by the options'
// timeout, by Interrupt(), or by the calling thread's CancelScope. Thread-safe.
class WebHdfsFileSystem : public fs::FileSystem {
 public:
  static std::unique_ptr<WebHdfsFileSystem> Make(const WebHdfsOptions& options);

  // Makes every call in progress, and every later one, fail with kCancelled.
  virtual void Interrupt() = 0;
  // "webhdfs://host:port as user", for messages.
  virtual std::string Describe() const = 0;
};

// The options for url: its host and port, and the pipeline's hdfs: section when spec is given
// (secrets resolved). user, when not empty, overrides the section's.
WebHdfsOptions OptionsFor(const pipeline::PipelineSpec* spec, const WebHdfsUrl& url,
                          const std::string& user = "");

}  // namespace sluice::webhdfs
