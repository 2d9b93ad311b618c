#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sluice::fs {

struct FileInfo {
  std::string path;  // full path as given to the call plus the entry name
  std::string name;  // last path component
  bool is_dir = false;
  uint64_t size = 0;
};

// The storage a lake lives on. Paths are '/'-separated and absolute within the file system.
// Every operation throws sluice::Error (kNotFound, kIo) naming the path on failure.
// Implementations are safe for concurrent use from several threads.
// Optional operations fail with "not supported" by default.
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Fills info and returns true when path exists; returns false when it does not.
  virtual bool Stat(const std::string& path, FileInfo* info) = 0;
  // Lists the direct children of a directory, sorted by name. Throws kNotFound if missing.
  virtual std::vector<FileInfo> List(const std::string& dir) = 0;
  // Creates dir and its missing parents; succeeds when it exists.
  virtual void MakeDirs(const std::string& dir) = 0;
  // Renames atomically. Fails (kIo) when `to` exists: callers move the old entry aside first.
  virtual void Rename(const std::string& from, const std::string& to) = 0;
  // Deletes a file or a directory tree; succeeds when path does not exist.
  virtual void DeleteRecursive(const std::string& path) = 0;
  // Reads a whole (small) file, such as a manifest.
  virtual std::string ReadFile(const std::string& path) = 0;
  // Writes a whole (small) file durably: the data is on disk when this returns.
  virtual void WriteFile(const std::string& path, const std::string& data) = 0;

  // Called with the bytes copied so far while a file streams.
  using Progress = std::function<void(uint64_t bytes_done)>;
  // Copies the local file local_path to path, streaming with bounded memory. path must not
  // exist (callers upload to a temporary name and Rename: PublishFile). Optional.
  virtual void Upload(const std::string& local_path, const std::string& path,
                      const Progress& progress);
  // Copies path to the local file local_path (created or truncated), streaming. Optional.
  virtual void Download(const std::string& path, const std::string& local_path,
                        const Progress& progress);

  // The scheme this file system is registered under, e.g. "file".
  virtual std::string scheme() const = 0;
  // True when the engine reads and writes paths of this file system directly (local disk).
  virtual bool engine_native() const { return false; }
};

// Makes the file system for a lake location: a plain path or file:///... gives the local one.
// Throws InvalidInput for an unknown scheme, listing the known ones.
std::unique_ptr<FileSystem> MakeFileSystem(const std::string& uri, std::string* root_path);

// The local POSIX file system.
std::unique_ptr<FileSystem> MakeLocalFileSystem();

// What PublishFile does when the final name exists.
enum class IfExists { kReplace, kFail, kSkip };

// Puts the local file local_path at path on fs so that path never names a partial file: it
// uploads to a hidden temporary name in the same folder, checks the size, then renames into
// place (with kReplace, the old file is moved aside first and deleted after). A failed or
// killed copy leaves only the temporary name, which the next publish of the same path removes.
// Returns false when the file existed and if_exists is kSkip. With may_move, a local file
// system may move local_path instead of copying it (it is gone afterwards).
bool PublishFile(FileSystem& fs, const std::string& local_path, const std::string& path,
                 IfExists if_exists, const FileSystem::Progress& progress = nullptr,
                 bool may_move = false);

// The hidden temporary name PublishFile uploads path to: ".<name>.sluice-tmp".
std::string TemporaryName(const std::string& path);

// The folder of a '/'-separated path ("." for a bare name, "/" for a file in the root).
std::string ParentPath(const std::string& path);
// The last component of a '/'-separated path.
std::string BaseName(const std::string& path);

// Joins path components with exactly one '/'.
std::string JoinPath(const std::string& a, const std::string& b);

}  // namespace sluice::fs
