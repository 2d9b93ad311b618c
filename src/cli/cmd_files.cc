// sluice ls / get / put: quick manual checks of a remote folder with the same connection
// settings as the pipeline (sftp:// today), and plain local paths.

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
  };
  flags.insert(flags.end(), common.begin(), common.end());
  return flags;
}

// An open location: the file system and the path on it.
struct Location {
  std::unique_ptr<fs::FileSystem> fs;
  std::string path;
  std::string shown;  // for messages
  sftp::SftpFileSystem* remote = nullptr;
};

Location Open(Args& a, const std::string& where) {
  Location loc;
  if (!sftp::IsSftpUrl(where)) {
    if (where.find("://") != std::string::npos) {
      throw UsageError("'" + where + "': unknown scheme (use sftp://host/path or a local path)");
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
  loc.remote = remote.get();
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
  if (loc.remote) {
    sftp::SftpFileSystem* remote = loc.remote;
    id = cancel.OnCancel([remote] { remote->Interrupt(); });
  }
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
    std::cout << "put " << local << " -> " << path << " (" << HumanBytes(st.st_size) << ")\n";
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
