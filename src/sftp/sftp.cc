#include "sftp/sftp.h"

#include <fcntl.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <vector>

#include "common/error.h"
#include "common/strings.h"
#include "pipeline/spec.h"

namespace sluice::sftp {
namespace {

// Bytes per SFTP read or write request: OpenSSH's server accepts up to 256 KB per message.
constexpr size_t kChunk = 64 * 1024;
constexpr size_t kInFlight = 16;

std::string HomeDir() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  if (const passwd* pw = ::getpwuid(::getuid())) return pw->pw_dir;
  return "/";
}

std::string OsUser() {
  if (const passwd* pw = ::getpwuid(::getuid())) return pw->pw_name;
  return "";
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// The text of an SFTP status code, for messages.
std::string StatusText(int code) {
  switch (code) {
    case SSH_FX_EOF:
      return "end of file";
    case SSH_FX_NO_SUCH_FILE:
      return "no such file or folder";
    case SSH_FX_PERMISSION_DENIED:
      return "permission denied";
    case SSH_FX_FAILURE:
      return "the server refused (it exists, or the folder is not empty)";
    case SSH_FX_BAD_MESSAGE:
      return "bad message";
    case SSH_FX_NO_CONNECTION:
    case SSH_FX_CONNECTION_LOST:
      return "connection lost";
    case SSH_FX_OP_UNSUPPORTED:
      return "operation not supported by the server";
    case SSH_FX_FILE_ALREADY_EXISTS:
      return "already exists";
    case SSH_FX_WRITE_PROTECT:
      return "write protected";
    case SSH_FX_NO_MEDIA:
      return "no media";
    default:
      return "status " + std::to_string(code);
  }
}

class SftpFileSystemImpl : public SftpFileSystem {
 public:
  explicit SftpFileSystemImpl(const SftpOptions& o) : o_(o) {}

  ~SftpFileSystemImpl() override {
    if (sftp_) sftp_free(sftp_);
    if (session_) {
      if (ssh_is_connected(session_)) ssh_disconnect(session_);
      ssh_free(session_);
    }
  }

  void Open() {
    session_ = ssh_new();
    if (!session_) throw Internal("libssh: cannot allocate a session");
    long timeout = o_.timeout_seconds;
    int port = o_.port;
    int no = 0;
    ssh_options_set(session_, SSH_OPTIONS_HOST, o_.host.c_str());
    ssh_options_set(session_, SSH_OPTIONS_PORT, &port);
    ssh_options_set(session_, SSH_OPTIONS_USER, o_.user.c_str());
    ssh_options_set(session_, SSH_OPTIONS_TIMEOUT, &timeout);
    ssh_options_set(session_, SSH_OPTIONS_KNOWNHOSTS, o_.known_hosts.c_str());
    // Only the pipeline's settings count: ~/.ssh/config would make a run depend on who runs it.
    ssh_options_set(session_, SSH_OPTIONS_PROCESS_CONFIG, &no);
    // Requests wait for their replies: Nagle's delay on each one costs most of the throughput.
    int yes = 1;
    ssh_options_set(session_, SSH_OPTIONS_NODELAY, &yes);
    if (ssh_connect(session_) != SSH_OK) {
      throw Error(ErrorKind::kConnection,
                  Where() + ": cannot connect: " + ssh_get_error(session_) +
                      " (check host and port, and that the SSH server runs and is reachable)",
                  true);
    }
    int fd = ssh_get_fd(session_);
    if (fd >= 0) {
      int on = 1, idle = o_.keepalive_seconds, count = 3;
      ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
      fd_ = fd;
    }
    VerifyHostKey();
    Authenticate();
    sftp_ = sftp_new(session_);
    if (!sftp_ || sftp_init(sftp_) != SSH_OK) {
      throw Error(ErrorKind::kConnection,
                  Where() + ": the server does not offer SFTP: " + ssh_get_error(session_) +
                      " (enable the sftp subsystem in sshd_config)",
                  true);
    }
  }

  std::string Describe() const override { return FormatSftpUrl(o_, ""); }

  void Interrupt() override {
    // Thread-safe at the OS level: the blocked libssh call sees the socket close and fails.
    int fd = fd_;
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    interrupted_ = true;
  }

  bool Stat(const std::string& path, fs::FileInfo* info) override {
    std::lock_guard<std::mutex> lock(mu_);
    sftp_attributes a = sftp_stat(sftp_, path.c_str());
    if (!a) {
      int code = sftp_get_error(sftp_);
      if (code == SSH_FX_NO_SUCH_FILE) return false;
      Fail("cannot stat '" + path + "'");
    }
    Fill(path, a, info);
    sftp_attributes_free(a);
    return true;
  }

  std::vector<fs::FileInfo> List(const std::string& dir) override {
    std::lock_guard<std::mutex> lock(mu_);
    sftp_dir d = sftp_opendir(sftp_, dir.c_str());
    if (!d) Fail("cannot list '" + dir + "'");
    std::vector<fs::FileInfo> out;
    while (sftp_attributes a = sftp_readdir(sftp_, d)) {
      std::string name = a->name ? a->name : "";
      if (name != "." && name != "..") {
        fs::FileInfo info;
        Fill(fs::JoinPath(dir, name), a, &info);
        out.push_back(info);
      }
      sftp_attributes_free(a);
    }
    bool eof = sftp_dir_eof(d);
    sftp_closedir(d);
    if (!eof) Fail("cannot list '" + dir + "'");
    std::sort(out.begin(), out.end(),
              [](const fs::FileInfo& a, const fs::FileInfo& b) { return a.name < b.name; });
    return out;
  }

  void MakeDirs(const std::string& dir) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string path;
    for (const auto& part : Split(dir, '/')) {
      if (part.empty()) {
        if (path.empty()) path = "/";
        continue;
      }
      path = path.empty() ? part : fs::JoinPath(path, part);
      if (sftp_mkdir(sftp_, path.c_str(), 0755) == SSH_OK) continue;
      sftp_attributes a = sftp_stat(sftp_, path.c_str());
      bool is_dir = a && a->type == SSH_FILEXFER_TYPE_DIRECTORY;
      if (a) sftp_attributes_free(a);
      if (!is_dir) Fail("cannot create folder '" + path + "'");
    }
  }

  void Rename(const std::string& from, const std::string& to) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (sftp_rename(sftp_, from.c_str(), to.c_str()) != SSH_OK) {
      Fail("cannot rename '" + from + "' to '" + to + "'");
    }
  }

  void DeleteRecursive(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    DeleteLocked(path);
  }

  std::string ReadFile(const std::string& path) override {
    std::string data;
    Read(path, [&](const char* buf, size_t n) { data.append(buf, n); });
    return data;
  }

  void WriteFile(const std::string& path, const std::string& data) override {
    std::lock_guard<std::mutex> lock(mu_);
    sftp_file f = sftp_open(sftp_, path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!f) Fail("cannot create '" + path + "'");
    try {
      WriteAll(f, path, data.data(), data.size());
    } catch (...) {
      sftp_close(f);
      throw;
    }
    Close(f, path, true);
  }

  void Upload(const std::string& local_path, const std::string& path,
              const Progress& progress) override {
    int in = ::open(local_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) throw IoError(ErrnoMessage("cannot open '" + local_path + "'", errno), false);
    std::lock_guard<std::mutex> lock(mu_);
    sftp_file f = sftp_open(sftp_, path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (!f) {
      ::close(in);
      Fail("cannot create '" + path + "'");
    }
    std::vector<char> buf(kChunk);
    uint64_t done = 0;
    try {
      for (;;) {
        ssize_t n = ::read(in, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw IoError(ErrnoMessage("cannot read '" + local_path + "'", errno), false);
        if (n == 0) break;
        WriteAll(f, path, buf.data(), static_cast<size_t>(n));
        done += static_cast<uint64_t>(n);
        if (progress) progress(done);
      }
    } catch (...) {
      ::close(in);
      sftp_close(f);
      throw;
    }
    ::close(in);
    Close(f, path, true);
  }

  void Download(const std::string& path, const std::string& local_path,
                const Progress& progress) override {
    int out = ::open(local_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) throw IoError(ErrnoMessage("cannot create '" + local_path + "'", errno), false);
    uint64_t done = 0;
    try {
      Read(path, [&](const char* buf, size_t n) {
        for (size_t off = 0; off < n;) {
          ssize_t w = ::write(out, buf + off, n - off);
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) throw IoError(ErrnoMessage("cannot write '" + local_path + "'", errno));
          off += static_cast<size_t>(w);
        }
        done += n;
        if (progress) progress(done);
      });
    } catch (...) {
      ::close(out);
      throw;
    }
    if (::fsync(out) != 0) {
      int e = errno;
      ::close(out);
      throw IoError(ErrnoMessage("cannot sync '" + local_path + "'", e));
    }
    ::close(out);
  }

  std::string scheme() const override { return "sftp"; }

 private:
  std::string Where() const {
    return (o_.name.empty() ? "" : "connection '" + o_.name + "' (") + FormatSftpUrl(o_, "") +
           (o_.name.empty() ? "" : ")");
  }

  // What the host key check found, with the key's fingerprint.
  void VerifyHostKey() {
    ssh_key key = nullptr;
    std::string fingerprint = "(unknown)";
    std::string type = "?";
    if (ssh_get_server_publickey(session_, &key) == SSH_OK) {
      unsigned char* hash = nullptr;
      size_t len = 0;
      type = ssh_key_type_to_char(ssh_key_type(key));
      if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) == 0) {
        char* fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
        if (fp) {
          fingerprint = fp;
          ssh_string_free_char(fp);
        }
        ssh_clean_pubkey_hash(&hash);
      }
      ssh_key_free(key);
    }
    std::string host = o_.port == 22 ? o_.host : "[" + o_.host + "]:" + std::to_string(o_.port);
    // ssh-keyscan -t takes the short names: ed25519, rsa, ecdsa.
    std::string short_type = StartsWith(type, "ssh-")    ? type.substr(4)
                             : StartsWith(type, "ecdsa") ? "ecdsa"
                                                         : type;
    std::string trust = "if you trust it, add it with `ssh-keyscan -p " + std::to_string(o_.port) +
                        " -t " + short_type + " " + o_.host + " >> " + o_.known_hosts +
                        "` after checking the fingerprint with the server's administrator";
    switch (ssh_session_is_known_server(session_)) {
      case SSH_KNOWN_HOSTS_OK:
        return;
      case SSH_KNOWN_HOSTS_CHANGED:
      case SSH_KNOWN_HOSTS_OTHER:
        throw InvalidInput(Where() + ": the host key of " + host + " has CHANGED: the server now " +
                           "shows " + type + " key " + fingerprint + ", which " + o_.known_hosts +
                           " does not list for it. Someone may be intercepting the connection, or "
                           "the server was reinstalled. Nothing was sent. If the change is "
                           "expected, remove the old entry with `ssh-keygen -R '" +
                           host + "' -f " + o_.known_hosts + "`, then " + trust);
      case SSH_KNOWN_HOSTS_UNKNOWN:
      case SSH_KNOWN_HOSTS_NOT_FOUND:
        if (o_.host_key_policy == "accept-new") {
          if (ssh_session_update_known_hosts(session_) != SSH_OK) {
            throw IoError(Where() + ": cannot add the host key to " + o_.known_hosts + ": " +
                              ssh_get_error(session_),
                          false);
          }
          return;
        }
        throw InvalidInput(Where() + ": the host " + host + " is not in " + o_.known_hosts +
                           " (its " + type + " key is " + fingerprint +
                           "). Nothing was sent: " + trust +
                           ", or set host_key: accept-new on the connection to trust it "
                           "on first use");
      case SSH_KNOWN_HOSTS_ERROR:
      default:
        throw IoError(Where() + ": cannot check the host key against " + o_.known_hosts + ": " +
                          ssh_get_error(session_),
                      false);
    }
  }

  void Authenticate() {
    int rc = SSH_AUTH_ERROR;
    std::string how;
    if (!o_.key_file.empty()) {
      how = "key " + o_.key_file;
      ssh_key key = nullptr;
      if (!FileExists(o_.key_file)) {
        throw InvalidInput(Where() + ": key_file " + o_.key_file + " does not exist");
      }
      if (ssh_pki_import_privkey_file(o_.key_file.c_str(),
                                      o_.passphrase.empty() ? nullptr : o_.passphrase.c_str(),
                                      nullptr, nullptr, &key) != SSH_OK) {
        throw InvalidInput(Where() + ": cannot read the private key " + o_.key_file +
                           " (a wrong passphrase, or not an OpenSSH/PEM private key)");
      }
      rc = ssh_userauth_publickey(session_, nullptr, key);
      ssh_key_free(key);
    } else if (!o_.password.empty()) {
      how = "password";
      rc = ssh_userauth_password(session_, nullptr, o_.password.c_str());
    } else {
      how = "the default keys (~/.ssh/id_ed25519, id_rsa, ...) and the agent";
      rc = ssh_userauth_publickey_auto(session_, nullptr, nullptr);
    }
    if (rc == SSH_AUTH_SUCCESS) return;
    if (rc == SSH_AUTH_ERROR) {
      throw Error(ErrorKind::kConnection,
                  Where() + ": authentication failed: " + ssh_get_error(session_), true);
    }
    throw InvalidInput(Where() + ": the server refused user '" + o_.user + "' with " + how +
                       (o_.key_file.empty() && !o_.password.empty()
                            ? " (check user: and password: of the connection)"
                            : " (check user: and key_file: of the connection; the key's public "
                              "half must be in the user's ~/.ssh/authorized_keys on the server)"));
  }

  [[noreturn]] void Fail(const std::string& what) {
    int code = sftp_ ? sftp_get_error(sftp_) : 0;
    if (interrupted_) throw Cancelled(Where() + ": " + what + ": interrupted");
    if (!ssh_is_connected(session_) || code == SSH_FX_CONNECTION_LOST ||
        code == SSH_FX_NO_CONNECTION || code == SSH_FX_OK) {
      throw Error(ErrorKind::kConnection,
                  Where() + ": " + what + ": " + ssh_get_error(session_) + " (no answer within " +
                      std::to_string(o_.timeout_seconds) + " s, or the connection dropped)",
                  true);
    }
    if (code == SSH_FX_NO_SUCH_FILE)
      throw NotFound(Where() + ": " + what + ": " + StatusText(code));
    if (code == SSH_FX_PERMISSION_DENIED) {
      throw InvalidInput(Where() + ": " + what + ": permission denied (user '" + o_.user +
                         "' may not do this there; ask the server's administrator, or choose a "
                         "folder the user may write)");
    }
    throw IoError(Where() + ": " + what + ": " + StatusText(code), false);
  }

  static void Fill(const std::string& path, sftp_attributes a, fs::FileInfo* info) {
    info->path = path;
    info->name = fs::BaseName(path);
    info->is_dir = a->type == SSH_FILEXFER_TYPE_DIRECTORY;
    info->size = a->size;
  }

  void DeleteLocked(const std::string& path) {
    sftp_attributes a = sftp_lstat(sftp_, path.c_str());
    if (!a) {
      if (sftp_get_error(sftp_) == SSH_FX_NO_SUCH_FILE) return;
      Fail("cannot delete '" + path + "'");
    }
    bool is_dir = a->type == SSH_FILEXFER_TYPE_DIRECTORY;
    sftp_attributes_free(a);
    if (!is_dir) {
      if (sftp_unlink(sftp_, path.c_str()) != SSH_OK) Fail("cannot delete '" + path + "'");
      return;
    }
    std::vector<std::string> children;
    sftp_dir d = sftp_opendir(sftp_, path.c_str());
    if (!d) Fail("cannot list '" + path + "'");
    while (sftp_attributes c = sftp_readdir(sftp_, d)) {
      std::string name = c->name ? c->name : "";
      if (name != "." && name != "..") children.push_back(fs::JoinPath(path, name));
      sftp_attributes_free(c);
    }
    sftp_closedir(d);
    for (const auto& c : children) DeleteLocked(c);
    if (sftp_rmdir(sftp_, path.c_str()) != SSH_OK) Fail("cannot delete folder '" + path + "'");
  }

  void WriteAll(sftp_file f, const std::string& path, const char* data, size_t size) {
    for (size_t off = 0; off < size;) {
      size_t n = std::min(kChunk, size - off);
      ssize_t w = sftp_write(f, data + off, n);
      if (w < 0) Fail("cannot write '" + path + "'");  // the caller closes f
      off += static_cast<size_t>(w);
    }
  }

  void Close(sftp_file f, const std::string& path, bool sync) {
    // The data must be on the server's disk before it gets its final name (OpenSSH's
    // fsync@openssh.com; other servers: the close).
    if (sync && sftp_extension_supported(sftp_, "fsync@openssh.com", "1") &&
        sftp_fsync(f) != SSH_OK) {
      sftp_close(f);
      Fail("cannot sync '" + path + "'");
    }
    if (sftp_close(f) != SSH_OK) Fail("cannot close '" + path + "'");
  }

  template <typename Sink>
  void Read(const std::string& path, Sink sink) {
    std::lock_guard<std::mutex> lock(mu_);
    sftp_file f = sftp_open(sftp_, path.c_str(), O_RDONLY, 0);
    if (!f) {
      if (sftp_get_error(sftp_) == SSH_FX_NO_SUCH_FILE) {
        throw NotFound(Where() + ": file '" + path + "' does not exist");
      }
      Fail("cannot open '" + path + "'");
    }
    std::vector<char> buf(kChunk);
    // Up to kInFlight reads are outstanding at once (as OpenSSH's sftp does): one round trip
    // per chunk would cap a download at the latency.
    std::deque<int> ids;
    auto drain = [&] {
      for (int id : ids) sftp_async_read(f, buf.data(), kChunk, static_cast<uint32_t>(id));
      ids.clear();
    };
    try {
      uint64_t size = 0;
      if (sftp_attributes a = sftp_fstat(f)) {
        size = a->size;
        sftp_attributes_free(a);
      }
      uint64_t requested = 0;
      for (;;) {
        while (requested < size && ids.size() < kInFlight) {
          uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(kChunk, size - requested));
          int id = sftp_async_read_begin(f, len);
          if (id < 0) Fail("cannot read '" + path + "'");
          ids.push_back(id);
          requested += len;
        }
        if (ids.empty()) break;
        int id = ids.front();
        ids.pop_front();
        int n = sftp_async_read(f, buf.data(), kChunk, static_cast<uint32_t>(id));
        if (n < 0) Fail("cannot read '" + path + "'");
        // A short read before the end would put the following chunks at the wrong offsets.
        if (n < static_cast<int>(std::min<uint64_t>(kChunk, size)) && !ids.empty()) {
          throw IoError(Where() + ": '" + path +
                        "' was shorter than its size while it was read "
                        "(did it change?)");
        }
        if (n == 0) break;
        sink(buf.data(), static_cast<size_t>(n));
      }
      // Whatever came after the size taken at the start (a file still growing) is read too.
      sftp_seek64(f, requested);
      for (;;) {
        ssize_t n = sftp_read(f, buf.data(), buf.size());
        if (n < 0) Fail("cannot read '" + path + "'");
        if (n == 0) break;
        sink(buf.data(), static_cast<size_t>(n));
      }
    } catch (...) {
      drain();
      sftp_close(f);
      throw;
    }
    sftp_close(f);
  }

  SftpOptions o_;
  std::mutex mu_;
  ssh_session session_ = nullptr;  // Guarded by mu_ after Open
  sftp_session sftp_ = nullptr;    // Guarded by mu_ after Open
  std::atomic<int> fd_{-1};
  std::atomic<bool> interrupted_{false};
};

}  // namespace

SftpFileSystem::~SftpFileSystem() = default;

std::unique_ptr<SftpFileSystem> SftpFileSystem::Connect(const SftpOptions& options) {
  auto fs = std::make_unique<SftpFileSystemImpl>(options);
  fs->Open();
  return fs;
}

bool IsSftpUrl(const std::string& text) { return StartsWith(text, "sftp://"); }

SftpUrl ParseSftpUrl(const std::string& url) {
  if (!IsSftpUrl(url)) throw InvalidInput("'" + url + "' is not an sftp:// URL");
  std::string rest = url.substr(7);
  auto slash = rest.find('/');
  if (slash == std::string::npos) {
    throw InvalidInput("'" + url +
                       "' names no path; write sftp://user@host:port/folder/file (an absolute "
                       "path, or /~/file for a path in the login folder)");
  }
  std::string authority = rest.substr(0, slash);
  SftpUrl u;
  u.path = rest.substr(slash);
  if (StartsWith(u.path, "/~/")) u.path = u.path.substr(3);
  if (u.path.empty() || u.path == "/~") u.path = ".";
  auto at = authority.rfind('@');
  if (at != std::string::npos) {
    u.user = authority.substr(0, at);
    authority = authority.substr(at + 1);
    if (u.user.find(':') != std::string::npos) {
      throw InvalidInput("'" + url +
                         "': a password in the URL would show in logs and the process list; "
                         "use an sftp connection with password: ${env:NAME} or key_file:");
    }
  }
  auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    std::string port = authority.substr(colon + 1);
    authority = authority.substr(0, colon);
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p < 1 || p > 65535) {
      throw InvalidInput("'" + url + "': port '" + port + "' is not a number from 1 to 65535");
    }
    u.port = static_cast<int>(p);
  }
  if (StartsWith(authority, "[") && EndsWith(authority, "]")) {
    authority = authority.substr(1, authority.size() - 2);
  }
  u.host = authority;
  return u;
}

std::string FormatSftpUrl(const SftpOptions& o, const std::string& path) {
  std::string url = "sftp://" + (o.user.empty() ? "" : o.user + "@") + o.host +
                    (o.port == 22 ? "" : ":" + std::to_string(o.port));
  if (path.empty()) return url;
  return url + (StartsWith(path, "/") ? path : "/~/" + path);
}

SftpOptions OptionsFor(const pipeline::PipelineSpec* spec, const std::string& connection,
                       const SftpUrl& url) {
  SftpOptions o;
  o.host = url.host;
  o.port = url.port ? url.port : 22;
  o.user = url.user;
  if (spec && !connection.empty()) {
    auto it = spec->connections.find(connection);
    if (it == spec->connections.end()) {
      throw InvalidInput("connection '" + connection + "' is not defined under connections:");
    }
    const pipeline::ConnectionSpec& c = it->second;
    if (c.type != "sftp") {
      throw InvalidInput("connection '" + connection + "' is a " + c.type +
                         " connection; an sftp:// path needs type: sftp");
    }
    auto get = [&](const char* key) {
      return pipeline::ConnectionOption(c, key, spec->dir).value_or("");
    };
    o.name = connection;
    std::string host = get("host");
    std::string user = get("user");
    std::string port = get("port");
    int c_port = port.empty() ? 22 : std::atoi(port.c_str());
    if (!url.host.empty() && !host.empty() && url.host != host) {
      throw InvalidInput("'" + FormatSftpUrl(o, url.path) + "' names host " + url.host +
                         " but connection '" + connection + "' is for " + host +
                         "; the connection's credentials are only sent to its own host");
    }
    if (url.port && url.port != c_port) {
      throw InvalidInput("the URL's port " + std::to_string(url.port) + " differs from port " +
                         std::to_string(c_port) + " of connection '" + connection + "'");
    }
    if (!url.user.empty() && !user.empty() && url.user != user) {
      throw InvalidInput("the URL's user " + url.user + " differs from user " + user +
                         " of connection '" + connection + "'");
    }
    if (!host.empty()) o.host = host;
    o.port = c_port;
    if (!user.empty()) o.user = user;
    o.key_file = get("key_file");
    o.passphrase = get("passphrase");
    o.password = get("password");
    o.known_hosts = get("known_hosts");
    std::string policy = get("host_key");
    if (!policy.empty()) o.host_key_policy = policy;
    o.timeout_seconds = pipeline::ConnectionSeconds(c, "timeout", spec->dir, o.timeout_seconds);
    o.keepalive_seconds =
        pipeline::ConnectionSeconds(c, "keepalive", spec->dir, o.keepalive_seconds);
    // ResolvePath expands ~/ too.
    if (!o.key_file.empty()) o.key_file = spec->ResolvePath(o.key_file);
    if (!o.known_hosts.empty()) o.known_hosts = spec->ResolvePath(o.known_hosts);
  }
  if (o.host.empty()) throw InvalidInput("'sftp://" + url.path + "' names no host");
  if (o.user.empty()) o.user = OsUser();
  if (o.known_hosts.empty()) o.known_hosts = HomeDir() + "/.ssh/known_hosts";
  if (o.host_key_policy != "strict" && o.host_key_policy != "accept-new") {
    throw InvalidInput("host_key: '" + o.host_key_policy + "': use strict or accept-new");
  }
  return o;
}

}  // namespace sluice::sftp
