#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <string>

#include "fs/file_system.h"

namespace sluice::lake {

// Local copies of a remote lake's published files, for an engine that reads local files only
// (docs/decisions.md §17). A copy is named by the file's CRC-32C from its manifest, so a
// re-published partition never reuses a stale copy, and every download is verified against
// it. The folder holds at most `limit` bytes: after each download the least recently used
// copies go, except the ones this process handed out since the last Unpin (a query may be
// reading them). Thread-safe.
//   <dir>/<zone.name>/ds=<date>/<crc32c>-<file name>
class FileCache {
 public:
  FileCache(std::string dir, uint64_t limit);

  // The local path of remote (a file of dataset's partition with the given size and CRC),
  // downloaded from fs unless a verified copy is there.
  std::string Get(fs::FileSystem& fs, const std::string& remote, const std::string& dataset,
                  const std::string& partition, const std::string& name, uint64_t bytes,
                  const std::string& crc32c);

  // Moves the local file local (just uploaded and checksummed) into the cache as the copy of
  // that file, so that readers need not download it. Best effort: a failure only loses the copy.
  void Adopt(const std::string& local, const std::string& dataset, const std::string& partition,
             const std::string& name, const std::string& crc32c);

  // Lets Trim remove the copies handed out so far (a run has finished with them), and trims.
  void Unpin();
  // Removes least recently used unpinned copies until the folder holds at most limit bytes.
  void Trim();

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  uint64_t limit_;
  std::mutex mu_;
  std::set<std::string> pinned_;  // Guarded by mu_
};

}  // namespace sluice::lake
