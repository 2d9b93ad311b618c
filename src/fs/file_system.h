#pragma once

#include <cstdint>
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

// Joins path components with exactly one '/'.
std::string JoinPath(const std::string& a, const std::string& b);

}  // namespace sluice::fs
