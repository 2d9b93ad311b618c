#include "webhdfs/webhdfs.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>
#include <vector>

#include "common/cancel.h"
#include "common/error.h"
#include "common/strings.h"
#include "pipeline/spec.h"

namespace sluice::webhdfs {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

// A response body kept in memory (metadata, manifests) is refused beyond this.
constexpr size_t kMaxBody = 256u << 20;
// libcurl's transfer buffers: larger than the default 16/64 KiB, for a 1 GB upload.
constexpr long kBufferSize = 512 * 1024;

std::string OsUser() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  const char* u = std::getenv("USER");
  return u ? u : "";
}

// Percent-encodes text for a URL; '/' stays when keep_slash (a path).
std::string Encode(const std::string& text, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    bool plain = std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
                 (keep_slash && (c == '/' || c == '=' || c == ':' || c == '@'));
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// A failure that another try may cure: a refused or dropped connection, a stall, an HTTP 5xx,
// a NameNode in safe mode or on standby.
struct Transient {
  std::string message;
};

// What a request sends: a string, a local file (from pread), or nothing.
struct Source {
  const std::string* text = nullptr;
  int fd = -1;
  uint64_t size = 0;
  uint64_t sent = 0;
  const fs::FileSystem::Progress* progress = nullptr;
  std::string error;
};

// Where a response body goes: text, or a local file (from offset base) when the status is 2xx.
struct Sink {
  CURL* curl = nullptr;
  std::string text;
  int fd = -1;
  uint64_t base = 0;
  uint64_t written = 0;
  const fs::FileSystem::Progress* progress = nullptr;
  std::string error;
};

size_t ReadBody(char* buf, size_t size, size_t n, void* p) {
  auto* s = static_cast<Source*>(p);
  size_t want = size * n;
  if (s->text != nullptr) {
    size_t k = std::min(want, s->text->size() - static_cast<size_t>(s->sent));
    std::memcpy(buf, s->text->data() + s->sent, k);
    s->sent += k;
    return k;
  }
  uint64_t left = s->size - s->sent;
  if (left == 0) return 0;
  for (;;) {
    ssize_t r = ::pread(s->fd, buf, static_cast<size_t>(std::min<uint64_t>(want, left)),
                        static_cast<off_t>(s->sent));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      s->error = r < 0 ? ErrnoMessage("reading the local file", errno)
                       : "the local file shrank while it was being sent";
      return CURL_READFUNC_ABORT;
    }
    s->sent += static_cast<uint64_t>(r);
    if (s->progress && *s->progress) (*s->progress)(s->sent);
    return static_cast<size_t>(r);
  }
}

size_t WriteBody(char* data, size_t size, size_t n, void* p) {
  auto* s = static_cast<Sink*>(p);
  size_t len = size * n;
  long code = 0;
  curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
  if (s->fd < 0 || code < 200 || code >= 300) {
    if (s->text.size() + len > kMaxBody) {
      s->error = "the server's answer is larger than " + HumanBytes(kMaxBody);
      return 0;
    }
    s->text.append(data, len);
    return len;
  }
  size_t done = 0;
  while (done < len) {
    ssize_t w = ::write(s->fd, data + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      s->error = ErrnoMessage("writing the local file", errno);
      return 0;
    }
    done += static_cast<size_t>(w);
  }
  s->written += len;
  if (s->progress && *s->progress) (*s->progress)(s->base + s->written);
  return len;
}

// The RemoteException of an error answer: {"RemoteException":{"exception":..,"message":..}}.
struct Remote {
  std::string exception;
  std::string message;
};

Remote ParseRemote(const std::string& body) {
  Remote r;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("RemoteException") && j["RemoteException"].is_object()) {
    const auto& e = j["RemoteException"];
    r.exception = e.value("exception", "");
    r.message = e.value("message", "");
    // DataNode answers carry a Java stack trace after the first line.
    if (auto nl = r.message.find('\n'); nl != std::string::npos) r.message.resize(nl);
  }
  return r;
}

bool IsTransientCurl(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

class WebHdfsFileSystemImpl : public WebHdfsFileSystem {
 public:
  explicit WebHdfsFileSystemImpl(const WebHdfsOptions& o) : o_(o) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (o_.user.empty()) o_.user = OsUser();
    base_ = std::string(o_.https ? "https" : "http") + "://" + o_.host + ":" +
            std::to_string(o_.port) + "/webhdfs/v1";
  }

  ~WebHdfsFileSystemImpl() override {
    for (CURL* c : idle_) curl_easy_cleanup(c);
  }

  void Interrupt() override { interrupted_ = true; }

  std::string Describe() const override {
    return FormatWebHdfsUrl(o_, "") +
           (o_.delegation_token.empty() ? " as " + o_.user : " with a delegation token");
  }

  std::string scheme() const override { return o_.https ? "swebhdfs" : "webhdfs"; }

  bool Stat(const std::string& path, fs::FileInfo* info) override {
    return Retry("stat " + path, [&](int) {
      Sink sink;
      long status = Perform("GET", Url(path, "GETFILESTATUS"), nullptr, &sink, false);
      if (status == 404) return false;
      Check(status, sink, "stat " + Shown(path));
      auto j = Json(sink, "GETFILESTATUS");
      FillInfo(j.at("FileStatus"), path, info);
      info->name = fs::BaseName(path);
      return true;
    });
  }

  std::vector<fs::FileInfo> List(const std::string& dir) override {
    return Retry("list " + dir, [&](int) {
      Sink sink;
      long status = Perform("GET", Url(dir, "LISTSTATUS"), nullptr, &sink, false);
      Check(status, sink, "list " + Shown(dir));
      auto j = Json(sink, "LISTSTATUS");
      std::vector<fs::FileInfo> out;
      for (const auto& st : j.at("FileStatuses").at("FileStatus")) {
        std::string name = st.value("pathSuffix", "");
        if (name.empty()) {
          throw IoError("cannot list " + Shown(dir) + ": it is a file, not a folder", false);
        }
        fs::FileInfo info;
        FillInfo(st, fs::JoinPath(dir, name), &info);
        info.name = name;
        out.push_back(std::move(info));
      }
      std::sort(out.begin(), out.end(),
                [](const fs::FileInfo& a, const fs::FileInfo& b) { return a.name < b.name; });
      return out;
    });
  }

  void MakeDirs(const std::string& dir) override {
    Retry("create folder " + dir, [&](int) {
      Sink sink;
      long status = Perform("PUT", Url(dir, "MKDIRS"), nullptr, &sink, false);
      Check(status, sink, "create folder " + Shown(dir));
      if (!Json(sink, "MKDIRS").value("boolean", false)) {
        throw IoError("cannot create folder " + Shown(dir) + ": HDFS answered false", false);
      }
      return 0;
    });
  }

  void Rename(const std::string& from, const std::string& to) override {
    // renameoptions=NONE: an existing destination is an error (403), never a silent move into
    // it, and a missing source is a 404, not a 200 with false (docs/decisions.md §17).
    Retry("rename " + from, [&](int attempt) {
      Sink sink;
      long status =
          Perform("PUT", Url(from, "RENAME", {{"destination", to}, {"renameoptions", "NONE"}}),
                  nullptr, &sink, false);
      if (status == 404 && attempt > 0) {
        // An earlier try may have renamed before its answer was lost.
        fs::FileInfo info;
        if (!Stat(from, &info) && Stat(to, &info)) return 0;
      }
      Check(status, sink, "rename " + Shown(from) + " to " + to);
      return 0;
    });
  }

  void DeleteRecursive(const std::string& path) override {
    Retry("delete " + path, [&](int) {
      Sink sink;
      long status =
          Perform("DELETE", Url(path, "DELETE", {{"recursive", "true"}}), nullptr, &sink, false);
      if (status == 404) return 0;
      Check(status, sink, "delete " + Shown(path));
      return 0;
    });
    // DELETE answers false both for a missing path and for a failure: tell them apart.
    fs::FileInfo info;
    if (Stat(path, &info)) {
      throw IoError("cannot delete " + Shown(path) + ": it is still there after DELETE", false);
    }
  }

  std::string ReadFile(const std::string& path) override {
    return Retry("read " + path, [&](int) {
      std::string location = Redirect("GET", Url(path, "OPEN"), "read " + Shown(path));
      Sink sink;
      long status = Perform("GET", location, nullptr, &sink, true);
      Check(status, sink, "read " + Shown(path));
      return std::move(sink.text);
    });
  }

  void WriteFile(const std::string& path, const std::string& data) override {
    Retry("write " + path, [&](int) {
      std::string location = Redirect("PUT", CreateUrl(path, true), "write " + Shown(path));
      Source src;
      src.text = &data;
      src.size = data.size();
      Sink sink;
      long status = Perform("PUT", location, &src, &sink, true);
      Check(status, sink, "write " + Shown(path));
      return 0;
    });
  }

  void Upload(const std::string& local_path, const std::string& path,
              const Progress& progress) override {
    int fd = ::open(local_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IoError(ErrnoMessage("cannot open " + local_path, errno), false);
    struct FdCloser {
      int fd;
      ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw IoError(ErrnoMessage("cannot stat " + local_path, errno));
    fs::FileInfo info;
    if (Stat(path, &info)) {
      throw IoError("cannot upload to " + Shown(path) + ": it exists", false);
    }
    Retry("upload to " + path, [&](int attempt) {
      // A try that failed after the NameNode step may have left an empty file at path (the
      // DataNode dies holding it): later tries replace it.
      std::string location =
          Redirect("PUT", CreateUrl(path, attempt > 0), "upload to " + Shown(path));
      Source src;
      src.fd = fd;
      src.size = static_cast<uint64_t>(st.st_size);
      src.progress = &progress;
      Sink sink;
      long status = Perform("PUT", location, &src, &sink, true);
      Check(status, sink, "upload " + local_path + " to " + Shown(path));
      return 0;
    });
    if (!Stat(path, &info) || info.size != static_cast<uint64_t>(st.st_size)) {
      throw IoError("upload to " + Shown(path) + " is incomplete: " + std::to_string(info.size) +
                    " of " + std::to_string(st.st_size) + " bytes");
    }
  }

  void Download(const std::string& path, const std::string& local_path,
                const Progress& progress) override {
    fs::FileInfo info;
    if (!Stat(path, &info)) throw NotFound(Shown(path) + " does not exist");
    if (info.is_dir) throw IoError("cannot download " + Shown(path) + ": it is a folder", false);
    int fd = ::open(local_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw IoError(ErrnoMessage("cannot create " + local_path, errno), false);
    struct FdCloser {
      int fd;
      ~FdCloser() { ::close(fd); }
    } closer{fd};
    uint64_t done = 0;
    Retry("download " + path, [&](int) {
      // A dropped transfer resumes where it stopped (OPEN's offset=; Range: is ignored).
      Params extra;
      if (done > 0) extra.push_back({"offset", std::to_string(done)});
      std::string location = Redirect("GET", Url(path, "OPEN", extra), "read " + Shown(path));
      Sink sink;
      sink.fd = fd;
      sink.base = done;
      sink.progress = &progress;
      try {
        long status = Perform("GET", location, nullptr, &sink, true);
        done += sink.written;
        Check(status, sink, "download " + Shown(path));
      } catch (const Transient&) {
        done += sink.written;
        throw;
      }
      return 0;
    });
    if (done != info.size) {
      throw IoError("download of " + Shown(path) + " is incomplete: " + std::to_string(done) +
                    " of " + std::to_string(info.size) + " bytes");
    }
  }

 private:
  std::string Shown(const std::string& path) const { return FormatWebHdfsUrl(o_, path); }

  std::string Url(const std::string& path, const std::string& op, const Params& extra = {}) const {
    std::string url = base_ + Encode(path.empty() ? "/" : path, true) + "?op=" + op;
    if (!o_.delegation_token.empty()) {
      url += "&delegation=" + Encode(o_.delegation_token, false);
    } else {
      url += "&user.name=" + Encode(o_.user, false);
    }
    for (const auto& [k, v] : extra) url += "&" + k + "=" + Encode(v, false);
    return url;
  }

  std::string CreateUrl(const std::string& path, bool overwrite) const {
    Params extra = {{"overwrite", overwrite ? "true" : "false"}, {"createparent", "false"}};
    if (o_.replication > 0) extra.push_back({"replication", std::to_string(o_.replication)});
    return Url(path, "CREATE", extra);
  }

  // The NameNode's first step of OPEN and CREATE: the DataNode URL to send the data to.
  std::string Redirect(const char* method, const std::string& url, const std::string& what) {
    Sink sink;
    long status = Perform(method, url + "&noredirect=true", nullptr, &sink, false);
    Check(status, sink, what);
    auto j = Json(sink, "the redirect");
    std::string location = j.value("Location", "");
    if (location.empty()) {
      throw IoError(what + ": the NameNode's answer has no Location: " + sink.text.substr(0, 200),
                    false);
    }
    return location;
  }

  static void FillInfo(const nlohmann::json& st, const std::string& path, fs::FileInfo* info) {
    info->path = path;
    info->is_dir = st.value("type", "") == "DIRECTORY";
    info->size = info->is_dir ? 0 : st.value("length", uint64_t{0});
  }

  nlohmann::json Json(const Sink& sink, const std::string& what) const {
    auto j = nlohmann::json::parse(sink.text, nullptr, false);
    if (!j.is_object()) {
      throw IoError(Describe() + ": the answer to " + what + " is not JSON: " +
                        sink.text.substr(0, 200) + " (is this a WebHDFS endpoint?)",
                    false);
    }
    return j;
  }

  // Turns an HTTP error into sluice's idiom, with HDFS's own message.
  void Check(long status, const Sink& sink, const std::string& what) const {
    if (status >= 200 && status < 300) return;
    Remote r = ParseRemote(sink.text);
    std::string cause = r.message.empty()
                            ? "HTTP " + std::to_string(status) + " " + sink.text.substr(0, 200)
                            : r.exception + ": " + r.message;
    if (status >= 500 || r.exception == "SafeModeException" ||
        r.exception == "RetriableException" || r.exception == "StandbyException") {
      throw Transient{what + ": " + cause};
    }
    if (status == 404 || r.exception == "FileNotFoundException") {
      throw NotFound("cannot " + what + ": " + cause);
    }
    if (r.exception == "AccessControlException") {
      throw InvalidInput("HDFS refused to " + what + " for " + Describe() + ": " + cause +
                         "; act as a user that may (hdfs: user:, or --user), or ask the "
                         "cluster's admin for access (hdfs dfs -chown / -chmod)");
    }
    if (status == 401 || r.exception == "SecurityException") {
      throw InvalidInput("HDFS wants authentication to " + what + ": " + cause +
                         "; set hdfs: delegation_token: ${env:HDFS_DELEGATION_TOKEN}");
    }
    throw IoError("cannot " + what + ": " + cause, false);
  }

  template <typename F>
  auto Retry(const std::string& what, F&& f) -> decltype(f(0)) {
    std::string last;
    for (int attempt = 0;; attempt++) {
      try {
        return f(attempt);
      } catch (const Transient& t) {
        last = t.message;
      }
      if (attempt >= o_.retries) break;
      // 0.5 s, 1 s, 2 s, 4 s, ... at most 8 s; stopped by a cancel.
      auto wait = std::chrono::milliseconds(std::min(8000, 500 << std::min(attempt, 4)));
      auto until = std::chrono::steady_clock::now() + wait;
      while (std::chrono::steady_clock::now() < until) {
        ThrowIfStopped(what);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    throw Error(ErrorKind::kConnection,
                Describe() + ": " + what + " failed " + std::to_string(o_.retries + 1) +
                    " times; last: " + last +
                    " (is the NameNode, or the DataNode it redirects to, running and reachable?)",
                true);
  }

  void ThrowIfStopped(const std::string& what) const {
    if (interrupted_) throw Cancelled(what + " on " + Describe() + " was interrupted");
    if (const CancelToken* t = CancelScope::Current(); t && t->cancelled()) {
      throw Cancelled(what + " on " + Describe() + " stopped: " + t->reason());
    }
  }

  struct ProgressState {
    const WebHdfsFileSystemImpl* self;
    const CancelToken* token;
  };

  static int OnProgress(void* p, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* s = static_cast<ProgressState*>(p);
    return (s->self->interrupted_ || (s->token && s->token->cancelled())) ? 1 : 0;
  }

  CURL* Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        CURL* c = idle_.back();
        idle_.pop_back();
        return c;
      }
    }
    CURL* c = curl_easy_init();
    if (c == nullptr) throw Internal("curl_easy_init failed");
    return c;
  }

  void Release(CURL* c) {
    curl_easy_reset(c);  // keeps the live connections
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(c);
  }

  // One HTTP request. transfer: a data transfer, bounded by stalls rather than a total time.
  long Perform(const char* method, const std::string& url, Source* src, Sink* sink, bool transfer) {
    ThrowIfStopped(std::string(method) + " " + url);
    CURL* c = Acquire();
    struct Releaser {
      WebHdfsFileSystemImpl* self;
      CURL* c;
      curl_slist* headers = nullptr;
      ~Releaser() {
        curl_slist_free_all(headers);
        self->Release(c);
      }
    } releaser{this, c};
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(o_.timeout_seconds));
    if (!transfer) curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(o_.timeout_seconds));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(o_.timeout_seconds));
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, kBufferSize);
    if (o_.https && !o_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o_.ca_file.c_str());
    // No "Expect: 100-continue": the body goes to the DataNode that asked for it.
    releaser.headers = curl_slist_append(releaser.headers, "Expect:");
    if (src != nullptr) {
      releaser.headers =
          curl_slist_append(releaser.headers, "Content-Type: application/octet-stream");
      curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, kBufferSize);
      curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadBody);
      curl_easy_setopt(c, CURLOPT_READDATA, src);
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(src->size));
    } else if (std::strcmp(method, "GET") != 0) {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, releaser.headers);
    sink->curl = c;
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    ProgressState ps{this, CancelScope::Current()};
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &ps);
    CURLcode rc = curl_easy_perform(c);
    std::string host = HostOf(url);
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
      ThrowIfStopped(std::string(method) + " " + host);
    }
    if (src != nullptr && !src->error.empty()) throw IoError(src->error, false);
    if (!sink->error.empty()) throw IoError(sink->error + " (from " + host + ")", false);
    if (rc != CURLE_OK) {
      std::string msg = host + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
      if (IsTransientCurl(rc)) throw Transient{msg};
      if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
          rc == CURLE_SSL_CONNECT_ERROR) {
        throw InvalidInput(Describe() + ": " + msg +
                           " (set hdfs: ca_file: to the CA that signed the cluster's "
                           "certificate, or check https:)");
      }
      throw Error(ErrorKind::kConnection, Describe() + ": " + msg, true);
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return status;
  }

  static std::string HostOf(const std::string& url) {
    auto start = url.find("://");
    start = start == std::string::npos ? 0 : start + 3;
    return url.substr(0, url.find('/', start));
  }

  WebHdfsOptions o_;
  std::string base_;
  std::atomic<bool> interrupted_{false};
  std::mutex mu_;
  std::vector<CURL*> idle_;  // Guarded by mu_
};

}  // namespace

bool IsWebHdfsUrl(const std::string& text) {
  return StartsWith(text, "webhdfs://") || StartsWith(text, "swebhdfs://");
}

WebHdfsUrl ParseWebHdfsUrl(const std::string& url) {
  WebHdfsUrl u;
  std::string rest;
  if (StartsWith(url, "webhdfs://")) {
    rest = url.substr(10);
  } else if (StartsWith(url, "swebhdfs://")) {
    u.https = true;
    rest = url.substr(11);
  } else {
    throw InvalidInput("'" + url + "' is not a webhdfs:// URL (webhdfs://namenode:9870/path)");
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.find('@') != std::string::npos) {
    throw InvalidInput("'" + url + "': WebHDFS URLs carry no user; pass --user or set hdfs: user:");
  }
  auto colon = authority.rfind(':');
  u.host = authority.substr(0, colon);
  if (colon != std::string::npos) {
    std::string port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::atoi(port.c_str()) < 1 ||
        std::atoi(port.c_str()) > 65535) {
      throw InvalidInput("'" + url + "': port '" + port + "' is not a number from 1 to 65535");
    }
    u.port = std::atoi(port.c_str());
  }
  if (u.host.empty()) {
    throw InvalidInput("'" + url + "' names no NameNode: webhdfs://namenode:9870/path");
  }
  return u;
}

std::string FormatWebHdfsUrl(const WebHdfsOptions& o, const std::string& path) {
  return std::string(o.https ? "swebhdfs" : "webhdfs") + "://" + o.host + ":" +
         std::to_string(o.port) + path;
}

std::unique_ptr<WebHdfsFileSystem> WebHdfsFileSystem::Make(const WebHdfsOptions& options) {
  return std::make_unique<WebHdfsFileSystemImpl>(options);
}

WebHdfsOptions OptionsFor(const pipeline::PipelineSpec* spec, const WebHdfsUrl& url,
                          const std::string& user) {
  WebHdfsOptions o;
  o.host = url.host;
  o.https = url.https;
  if (spec != nullptr && !spec->hdfs.options.empty()) {
    const auto& c = spec->hdfs;
    auto get = [&](const char* key) {
      return pipeline::ConnectionOption(c, key, spec->dir).value_or("");
    };
    o.user = get("user");
    if (get("https") == "true") o.https = true;
    o.ca_file = get("ca_file");
    if (!o.ca_file.empty()) o.ca_file = spec->ResolvePath(o.ca_file);
    o.delegation_token = get("delegation_token");
    if (std::string r = get("replication"); !r.empty()) o.replication = std::atoi(r.c_str());
    if (std::string r = get("retries"); !r.empty()) o.retries = std::atoi(r.c_str());
    o.timeout_seconds = pipeline::ConnectionSeconds(c, "timeout", spec->dir, o.timeout_seconds);
  }
  o.port = url.port ? url.port : (o.https ? 9871 : 9870);
  if (!user.empty()) o.user = user;
  if (o.user.empty()) o.user = OsUser();
  return o;
}

}  // namespace sluice::webhdfs
