#include "lake/file_cache.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <thread>
#include <vector>

#include "common/crc32c.h"
#include "common/error.h"
#include "common/strings.h"

namespace sluice::lake {

namespace stdfs = std::filesystem;

FileCache::FileCache(std::string dir, uint64_t limit) : dir_(std::move(dir)), limit_(limit) {}

std::string FileCache::Get(fs::FileSystem& fs, const std::string& remote,
                           const std::string& dataset, const std::string& partition,
                           const std::string& name, uint64_t bytes, const std::string& crc32c) {
  stdfs::path folder = stdfs::path(dir_) / dataset / partition;
  std::string local = (folder / (crc32c + "-" + name)).string();
  std::error_code ec;
  if (stdfs::is_regular_file(local, ec) && stdfs::file_size(local, ec) == bytes && !ec) {
    stdfs::last_write_time(local, stdfs::file_time_type::clock::now(), ec);  // recently used
    std::lock_guard<std::mutex> lock(mu_);
    pinned_.insert(local);
    return local;
  }
  stdfs::create_directories(folder, ec);
  if (ec) {
    throw IoError("cannot create the lake cache folder " + folder.string() + ": " + ec.message() +
                      " (set state: to a writable folder)",
                  false);
  }
  // A private name while it downloads: a reader never sees a partial copy.
  std::string tmp = local + ".part-" + std::to_string(::getpid()) + "-" +
                    std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
  try {
    fs.Download(remote, tmp, nullptr);
    std::string got = Crc32cOfFile(tmp);
    if (got != crc32c) {
      throw IoError(remote + " has CRC-32C " + got + " but its manifest says " + crc32c +
                        ": the file changed after it was published; re-run the task that "
                        "produces " +
                        dataset,
                    false);
    }
  } catch (...) {
    stdfs::remove(tmp, ec);
    throw;
  }
  stdfs::rename(tmp, local, ec);
  if (ec) throw IoError("cannot rename " + tmp + " to " + local + ": " + ec.message(), false);
  {
    std::lock_guard<std::mutex> lock(mu_);
    pinned_.insert(local);
  }
  Trim();
  return local;
}

void FileCache::Adopt(const std::string& local, const std::string& dataset,
                      const std::string& partition, const std::string& name,
                      const std::string& crc32c) {
  stdfs::path folder = stdfs::path(dir_) / dataset / partition;
  std::error_code ec;
  stdfs::create_directories(folder, ec);
  if (!ec) stdfs::rename(local, folder / (crc32c + "-" + name), ec);
  if (!ec) Trim();
}

void FileCache::Unpin() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pinned_.clear();
  }
  Trim();
}

void FileCache::Trim() {
  std::lock_guard<std::mutex> lock(mu_);
  struct Entry {
    stdfs::file_time_type used;
    uint64_t bytes;
    std::string path;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = stdfs::recursive_directory_iterator(dir_, ec);
       !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    Entry e{it->last_write_time(ec), it->file_size(ec), it->path().string()};
    if (e.path.find(".part-") != std::string::npos) continue;  // a download in progress
    total += e.bytes;
    entries.push_back(std::move(e));
  }
  if (total <= limit_) return;
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.used < b.used; });
  for (const auto& e : entries) {
    if (total <= limit_) break;
    if (pinned_.count(e.path)) continue;
    if (stdfs::remove(e.path, ec)) {
      total -= e.bytes;
      // Drop the partition and dataset folders once empty.
      stdfs::path p = stdfs::path(e.path).parent_path();
      for (int i = 0; i < 2 && stdfs::is_empty(p, ec) && !ec; i++) {
        stdfs::remove(p, ec);
        p = p.parent_path();
      }
    }
  }
}

}  // namespace sluice::lake
