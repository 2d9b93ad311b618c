#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "common/error.h"
#include "common/strings.h"
#include "fs/file_system.h"

namespace sluice::fs {
namespace {

void SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string Parent(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

// Copies from to a new file `to` (open flag O_EXCL or O_TRUNC) and syncs it.
void CopyLocal(const std::string& from, const std::string& to, int flag,
               const FileSystem::Progress& progress) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    if (errno == ENOENT) throw NotFound("file '" + from + "' does not exist");
    throw IoError(ErrnoMessage("cannot open '" + from + "'", errno));
  }
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | flag, 0644);
  if (out < 0) {
    int e = errno;
    ::close(in);
    throw IoError(ErrnoMessage("cannot create '" + to + "'", e));
  }
  std::vector<char> buf(1 << 20);
  uint64_t done = 0;
  std::string failure;
  while (failure.empty()) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) failure = ErrnoMessage("cannot read '" + from + "'", errno);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n && failure.empty();) {
      ssize_t w = ::write(out, buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) failure = ErrnoMessage("cannot write '" + to + "'", errno);
      if (w > 0) off += w;
    }
    done += static_cast<uint64_t>(n);
    if (progress) progress(done);
  }
  if (failure.empty() && ::fsync(out) != 0)
    failure = ErrnoMessage("cannot sync '" + to + "'", errno);
  ::close(in);
  ::close(out);
  if (!failure.empty()) throw IoError(failure);
}

class LocalFileSystem : public FileSystem {
 public:
  bool Stat(const std::string& path, FileInfo* info) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return false;
      throw IoError(ErrnoMessage("cannot stat '" + path + "'", errno));
    }
    info->path = path;
    auto pos = path.find_last_of('/');
    info->name = pos == std::string::npos ? path : path.substr(pos + 1);
    info->is_dir = S_ISDIR(st.st_mode);
    info->size = static_cast<uint64_t>(st.st_size);
    return true;
  }

  std::vector<FileInfo> List(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) throw NotFound("directory '" + dir + "' does not exist");
      throw IoError(ErrnoMessage("cannot list '" + dir + "'", errno));
    }
    std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
    std::vector<FileInfo> out;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      FileInfo info;
      if (Stat(JoinPath(dir, name), &info)) out.push_back(info);
    }
    std::sort(out.begin(), out.end(),
              [](const FileInfo& a, const FileInfo& b) { return a.name < b.name; });
    return out;
  }

  void MakeDirs(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw IoError("cannot create directory '" + dir + "': " + ec.message());
  }

  void Rename(const std::string& from, const std::string& to) override {
    // renameat2(RENAME_NOREPLACE) would be atomic-and-exclusive, but not every file system
    // supports it; the lake protocol never renames onto an existing path, so checking first
    // only guards against programming errors.
    FileInfo info;
    if (Stat(to, &info)) throw IoError("cannot rename '" + from + "' to '" + to + "': exists");
    if (::rename(from.c_str(), to.c_str()) != 0) {
      throw IoError(ErrnoMessage("cannot rename '" + from + "' to '" + to + "'", errno));
    }
    // The rename is the commit point of a publish: make it durable before reporting success.
    SyncDir(Parent(to));
    if (Parent(from) != Parent(to)) SyncDir(Parent(from));
  }

  void DeleteRecursive(const std::string& path) override {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) throw IoError("cannot delete '" + path + "': " + ec.message());
  }

  std::string ReadFile(const std::string& path) override {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
      if (errno == ENOENT) throw NotFound("file '" + path + "' does not exist");
      throw IoError(ErrnoMessage("cannot open '" + path + "'", errno));
    }
    std::string data;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
    bool failed = std::ferror(f);
    std::fclose(f);
    if (failed) throw IoError("cannot read '" + path + "'");
    return data;
  }

  void WriteFile(const std::string& path, const std::string& data) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw IoError(ErrnoMessage("cannot create '" + path + "'", errno));
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(fd, data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        ::close(fd);
        throw IoError(ErrnoMessage("cannot write '" + path + "'", e));
      }
      off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
      int e = errno;
      ::close(fd);
      throw IoError(ErrnoMessage("cannot sync '" + path + "'", e));
    }
    ::close(fd);
  }

  void Upload(const std::string& local_path, const std::string& path,
              const Progress& progress) override {
    CopyLocal(local_path, path, O_EXCL, progress);
  }

  void Download(const std::string& path, const std::string& local_path,
                const Progress& progress) override {
    CopyLocal(path, local_path, O_TRUNC, progress);
  }

  std::string scheme() const override { return "file"; }
  bool engine_native() const override { return true; }
};

}  // namespace

std::string JoinPath(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  bool a_slash = a.back() == '/';
  bool b_slash = b.front() == '/';
  if (a_slash && b_slash) return a + b.substr(1);
  if (a_slash || b_slash) return a + b;
  return a + "/" + b;
}

std::unique_ptr<FileSystem> MakeLocalFileSystem() { return std::make_unique<LocalFileSystem>(); }

std::unique_ptr<FileSystem> MakeFileSystem(const std::string& uri, std::string* root_path) {
  auto pos = uri.find("://");
  std::string scheme = pos == std::string::npos ? "file" : uri.substr(0, pos);
  if (scheme == "file") {
    std::string path = pos == std::string::npos ? uri : uri.substr(pos + 3);
    *root_path = std::filesystem::absolute(path).lexically_normal().string();
    if (root_path->size() > 1 && root_path->back() == '/') root_path->pop_back();
    return MakeLocalFileSystem();
  }
  throw InvalidInput("lake '" + uri + "': unknown scheme '" + scheme +
                     "' (supported: a local path or file:///path)");
}

}  // namespace sluice::fs
