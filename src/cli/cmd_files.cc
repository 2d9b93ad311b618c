// sluice ls / get / put, and sluice dfs put|get|ls|rm: copies to and from a remote folder
// (sftp:// or webhdfs://) with the same settings as the pipeline, and plain local paths.

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "cli/cli.h"
#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"
#include "fs/file_system.h"
#include "runner/progress.h"
#include "sftp/sftp.h"
#include "webhdfs/webhdfs.h"

namespace sluice::cli {
namespace {

std::vector<Flag> RemoteFlags(std::vector<Flag> flags) {
  std::vector<Flag> common = {
      {"pipeline", true, "take the connection settings from this pipeline file"},
      {"connection", true, "the sftp connection of --pipeline to use"},
      {"key-file", true, "private key (default: ~/.ssh/id_ed25519, id_rsa, or the agent)"},
      {"password-file", true, "a file holding the password (mode 0600), instead of a key"},
      {"known-hosts", true, "known_hosts file (default: ~/.ssh/known_hosts)"},
      {"accept-new-host-key", false, "trust and record the key of a host not yet known"},
      {"timeout", true, "seconds to wait for the server in any one step (default 30)"},
      {"user", true,
       "webhdfs://: the HDFS user to act as (default: hdfs.user of --pipeline, "
       "else the OS user)"},
  };
  flags.insert(flags.end(), common.begin(), common.end());
  return flags;
}

// An open location: the file system and the path on it.
struct Location {
  std::shared_ptr<fs::FileSystem> fs;
  std::string path;
  std::string shown;                // for messages
  std::function<void()> interrupt;  // stops a remote call in progress, or null
};

Location OpenWebHdfs(Args& a, const std::string& where) {
  Location loc;
  webhdfs::WebHdfsUrl url = webhdfs::ParseWebHdfsUrl(where);
  std::unique_ptr<pipeline::PipelineSpec> spec;
  if (a.Has("pipeline")) {
    spec = std::make_unique<pipeline::PipelineSpec>(
        pipeline::LoadPipelineOrThrow(a.Get("pipeline"), ParseVars(a)));
  }
  webhdfs::WebHdfsOptions o = webhdfs::OptionsFor(spec.get(), url, a.Get("user"));
  if (a.Has("timeout")) o.timeout_seconds = static_cast<int>(a.GetInt("timeout", 60, 1, 86400));
  std::shared_ptr<webhdfs::WebHdfsFileSystem> remote = webhdfs::WebHdfsFileSystem::Make(o);
  loc.interrupt = [remote] { remote->Interrupt(); };
  loc.path = url.path;
  if (EndsWith(where, "/") && loc.path.back() != '/') loc.path += "/";
  loc.shown = webhdfs::FormatWebHdfsUrl(o, loc.path);
  loc.fs = std::move(remote);
  return loc;
}

Location Open(Args& a, const std::string& where) {
  Location loc;
  if (webhdfs::IsWebHdfsUrl(where)) return OpenWebHdfs(a, where);
  if (a.Has("user")) throw UsageError("--user is for webhdfs:// URLs; put an sftp user in the URL");
  if (!sftp::IsSftpUrl(where)) {
    if (where.find("://") != std::string::npos) {
      throw UsageError("'" + where +
                       "': unknown scheme (use sftp://host/path, webhdfs://namenode:9870/path "
                       "or a local path)");
    }
    loc.fs = fs::MakeLocalFileSystem();
    loc.path = std::filesystem::absolute(where).lexically_normal().string();
    if (EndsWith(where, "/") && loc.path.size() > 1 && loc.path.back() != '/') loc.path += "/";
    loc.shown = loc.path;
    return loc;
  }
  sftp::SftpUrl url = sftp::ParseSftpUrl(where);
  std::unique_ptr<pipeline::PipelineSpec> spec;
  if (a.Has("connection") && !a.Has("pipeline")) {
    throw UsageError("--connection needs --pipeline FILE (the file that defines it)");
  }
  if (a.Has("pipeline")) {
    spec = std::make_unique<pipeline::PipelineSpec>(
        pipeline::LoadPipelineOrThrow(a.Get("pipeline"), ParseVars(a)));
  }
  sftp::SftpOptions o = sftp::OptionsFor(spec.get(), a.Get("connection"), url);
  if (a.Has("key-file")) o.key_file = a.Get("key-file");
  if (a.Has("known-hosts")) o.known_hosts = a.Get("known-hosts");
  if (a.Has("password-file")) {
    o.password = Trim(
        pipeline::ResolveSecret("${file:" + a.Get("password-file") + "}", ".", "--password-file"));
  }
  if (a.Has("accept-new-host-key")) o.host_key_policy = "accept-new";
  if (a.Has("timeout")) o.timeout_seconds = static_cast<int>(a.GetInt("timeout", 30, 1, 86400));
  auto remote = sftp::SftpFileSystem::Connect(o);
  sftp::SftpFileSystem* raw = remote.get();
  loc.interrupt = [raw] { raw->Interrupt(); };
  loc.path = url.path;
  if (EndsWith(where, "/") && loc.path.back() != '/') loc.path += "/";
  loc.shown = sftp::FormatSftpUrl(o, loc.path);
  loc.fs = std::move(remote);
  return loc;
}

// Runs fn with Ctrl-C interrupting the remote call in progress.
template <typename Fn>
int Interruptible(Location& loc, const std::string& what, Fn fn) {
  CancelToken cancel;
  Interrupts interrupts(cancel, "sluice: interrupted; stopping " + what);
  int id = -1;
  if (loc.interrupt) id = cancel.OnCancel(loc.interrupt);
  CancelScope scope(&cancel);
  int rc;
  try {
    rc = fn();
  } catch (...) {
    if (id >= 0) cancel.RemoveOnCancel(id);
    if (cancel.cancelled()) throw Cancelled(what + ": " + cancel.reason());
    throw;
  }
  if (id >= 0) cancel.RemoveOnCancel(id);
  return rc;
}

// A progress line for a copy of total bytes.
fs::FileSystem::Progress CopyProgress(runner::ProgressLine& line, const std::string& label,
                                      uint64_t total, double start) {
  return [&line, label, total, start](uint64_t done) {
    line.Update(runner::FormatProgress(label, total ? static_cast<double>(done) / total : -1, done,
                                       total, SteadySeconds() - start, true));
  };
}

int CmdLs(Args& a) {
  Location loc = Open(a, a.positional[0]);
  return Interruptible(loc, "ls", [&] {
    fs::FileInfo info;
    std::string path = loc.path;
    if (path.size() > 1 && path.back() == '/') path.pop_back();
    if (!loc.fs->Stat(path, &info)) throw NotFound(loc.shown + ": no such file or folder");
    std::vector<fs::FileInfo> entries = info.is_dir ? loc.fs->List(path) : std::vector{info};
    for (const auto& e : entries) {
      std::printf("%s %14s  %s%s\n", e.is_dir ? "d" : "-",
                  e.is_dir ? "-" : std::to_string(e.size).c_str(), e.name.c_str(),
                  e.is_dir ? "/" : "");
    }
    return 0;
  });
}

int CmdPut(Args& a) {
  std::string local = a.positional[0];
  struct stat st;
  if (::stat(local.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw InvalidInput("'" + local + "' is not a readable file");
  }
  Location loc = Open(a, a.positional[1]);
  std::string path = loc.path;
  if (EndsWith(path, "/")) path += fs::BaseName(local);
  return Interruptible(loc, "put", [&] {
    runner::ProgressLine line(std::cout, ::isatty(1));
    auto progress =
        CopyProgress(line, fs::BaseName(local), static_cast<uint64_t>(st.st_size), SteadySeconds());
    fs::PublishFile(*loc.fs, local, path,
                    a.Has("overwrite") ? fs::IfExists::kReplace : fs::IfExists::kFail, progress);
    line.Clear();
    std::string shown = loc.shown;
    if (EndsWith(shown, "/")) shown += fs::BaseName(local);
    std::cout << "put " << local << " -> " << shown << " (" << HumanBytes(st.st_size) << ")\n";
    return 0;
  });
}

int CmdGet(Args& a) {
  Location loc = Open(a, a.positional[0]);
  std::string local = a.positional.size() > 1 ? a.positional[1] : "./";
  if (EndsWith(local, "/") || std::filesystem::is_directory(local)) {
    local = fs::JoinPath(local, fs::BaseName(loc.path));
  }
  if (std::filesystem::exists(local) && !a.Has("overwrite")) {
    throw InvalidInput("'" + local + "' already exists; remove it or add --overwrite");
  }
  return Interruptible(loc, "get", [&] {
    fs::FileInfo info;
    if (!loc.fs->Stat(loc.path, &info)) throw NotFound(loc.shown + ": no such file");
    if (info.is_dir) throw InvalidInput(loc.shown + " is a folder; get copies one file");
    runner::ProgressLine line(std::cout, ::isatty(1));
    std::string tmp = fs::TemporaryName(local);
    try {
      loc.fs->Download(loc.path, tmp, CopyProgress(line, info.name, info.size, SteadySeconds()));
      auto size = std::filesystem::file_size(tmp);
      if (size != info.size) {
        throw IoError(loc.shown + ": copied " + std::to_string(size) + " of " +
                      std::to_string(info.size) + " bytes");
      }
      std::filesystem::rename(tmp, local);
    } catch (...) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw;
    }
    line.Clear();
    std::cout << "get " << loc.shown << " -> " << local << " (" << HumanBytes(info.size) << ")\n";
    return 0;
  });
}

int CmdRm(Args& a) {
  Location loc = Open(a, a.positional[0]);
  return Interruptible(loc, "rm", [&] {
    std::string path = loc.path;
    if (path.size() > 1 && path.back() == '/') path.pop_back();
    fs::FileInfo info;
    if (!loc.fs->Stat(path, &info)) throw NotFound(loc.shown + ": no such file or folder");
    if (info.is_dir && !a.Has("recursive")) {
      throw InvalidInput(loc.shown +
                         " is a folder; add --recursive to delete it and everything "
                         "in it");
    }
    loc.fs->DeleteRecursive(path);
    std::cout << "removed " << loc.shown << "\n";
    return 0;
  });
}

// sluice dfs ACTION ...: the seeds' `hdfs dfs -put/-get/-ls/-rm`, on WebHDFS.
int CmdDfs(Args& a) {
  static const std::map<std::string, std::pair<size_t, int (*)(Args&)>> kActions = {
      {"put", {2, CmdPut}}, {"get", {1, CmdGet}}, {"ls", {1, CmdLs}}, {"rm", {1, CmdRm}}};
  std::string action = a.positional[0];
  auto it = kActions.find(action);
  if (it == kActions.end()) {
    throw UsageError("dfs " + action + ": unknown action (put, get, ls or rm)");
  }
  a.positional.erase(a.positional.begin());
  size_t max = action == "get" ? 2 : it->second.first;
  if (a.positional.size() < it->second.first || a.positional.size() > max) {
    throw UsageError("dfs " + action + " takes " +
                     (action == "put"   ? std::string("LOCAL URL")
                      : action == "get" ? std::string("URL [LOCAL]")
                                        : std::string("URL")));
  }
  const std::string& url = action == "put" ? a.positional[1] : a.positional[0];
  if (!webhdfs::IsWebHdfsUrl(url)) {
    throw UsageError("dfs " + action + ": '" + url +
                     "' is not a webhdfs:// URL (webhdfs://namenode:9870/path)");
  }
  if (a.Has("recursive") && action != "rm") throw UsageError("--recursive is for dfs rm");
  return it->second.second(a);
}

const char* kRemoteExamples =
    "  sluice ls sftp://etl@bi.example.com/upload/\n"
    "  sluice put out/sales.csv sftp://etl@bi.example.com/upload/ --key-file ~/.ssh/id_ed25519\n"
    "  sluice get sftp://drop.example.com/in/citizens.csv incoming/ --pipeline p.yaml "
    "--connection drop\n";

}  // namespace

Command LsCommand() {
  return {"ls",
          "list a remote (sftp://) or local folder",
          "sluice ls sftp://[user@]host[:port]/path [--pipeline P --connection NAME]",
          WithPipelineFlags(RemoteFlags({})),
          kRemoteExamples,
          1,
          1,
          CmdLs};
}

Command GetCommand() {
  return {"get",
          "copy a remote file to local disk (whole, or nothing under the name)",
          "sluice get sftp://[user@]host[:port]/path [LOCAL] [--overwrite]",
          WithPipelineFlags(RemoteFlags({{"overwrite", false, "replace an existing local file"}})),
          kRemoteExamples,
          1,
          2,
          CmdGet};
}

Command DfsCommand() {
  return {"dfs",
          "HDFS files over WebHDFS: put (the daily upload), get, ls, rm",
          "sluice dfs put LOCAL webhdfs://nn:9870/path[/] [--overwrite] [--user U]\n"
          "       sluice dfs get webhdfs://nn:9870/path [LOCAL] [--overwrite]\n"
          "       sluice dfs ls webhdfs://nn:9870/path\n"
          "       sluice dfs rm webhdfs://nn:9870/path [--recursive]",
          WithPipelineFlags({
              {"overwrite", false, "put/get: replace an existing file"},
              {"recursive", false, "rm: delete a folder and everything in it"},
              {"user", true,
               "the HDFS user to act as (default: hdfs.user of --pipeline, else "
               "the OS user)"},
              {"pipeline", true,
               "take the hdfs: settings (https, ca_file, delegation_token, "
               "replication) from this pipeline file"},
              {"timeout", true, "seconds a call may wait for the cluster (default 60)"},
          }),
          "  sluice dfs put incoming/citizens_data_20261122.csv webhdfs://nn:9870/landing/\n"
          "  sluice dfs ls webhdfs://nn:9870/landing --user etl\n"
          "  sluice dfs get webhdfs://nn:9870/landing/citizens_data_20261122.csv /tmp/\n"
          "  sluice dfs rm webhdfs://nn:9870/landing/old --recursive --pipeline pipeline.yaml\n",
          2,
          3,
          CmdDfs};
}

Command PutCommand() {
  return {"put",
          "copy a local file to a remote folder (temporary name, size check, then rename)",
          "sluice put LOCAL sftp://[user@]host[:port]/path[/] [--overwrite]",
          WithPipelineFlags(RemoteFlags({{"overwrite", false, "replace an existing remote file"}})),
          kRemoteExamples,
          2,
          2,
          CmdPut};
}

}  // namespace sluice::cli
