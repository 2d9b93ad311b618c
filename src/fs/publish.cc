// PublishFile: the safe-upload protocol shared by every file system (local disk, SFTP).

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "common/error.h"
#include "fs/file_system.h"

namespace sluice::fs {

void FileSystem::Upload(const std::string& local_path, const std::string& path,
                        const Progress& progress) {
  throw IoError(scheme() + " file system: uploading '" + path + "' is not supported", false);
}

void FileSystem::Download(const std::string& path, const std::string& local_path,
                          const Progress& progress) {
  throw IoError(scheme() + " file system: downloading '" + path + "' is not supported", false);
}

std::string ParentPath(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

std::string BaseName(const std::string& path) {
  auto pos = path.find_last_of('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

std::string TemporaryName(const std::string& path) {
  std::string dir = ParentPath(path);
  std::string name = "." + BaseName(path) + ".sluice-tmp";
  return path.find('/') == std::string::npos ? name : JoinPath(dir, name);
}

bool PublishFile(FileSystem& fs, const std::string& local_path, const std::string& path,
                 IfExists if_exists, const FileSystem::Progress& progress, bool may_move) {
  FileInfo existing;
  bool exists = fs.Stat(path, &existing);
  if (exists && existing.is_dir) {
    throw InvalidInput("'" + path + "' is a folder; name the file to write (e.g. " +
                       JoinPath(path, BaseName(local_path)) + ")");
  }
  if (exists && if_exists == IfExists::kSkip) return false;
  if (exists && if_exists == IfExists::kFail) {
    throw InvalidInput("'" + path +
                       "' already exists; remove it, or allow replacing it (if_exists: replace, "
                       "or --overwrite)");
  }
  std::string dir = ParentPath(path);
  if (dir != "." && dir != "/") fs.MakeDirs(dir);
  std::string tmp = TemporaryName(path);
  fs.DeleteRecursive(tmp);  // what a killed upload of the same path left
  int fd = ::open(local_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(ErrnoMessage("cannot open '" + local_path + "'", errno));
  // Only a file that moves into place must be on disk first; an upload reads it back anyway
  // (an fsync of a freshly written 1 GB file costs half a second).
  bool move = may_move && fs.engine_native();
  bool synced = move && ::fsync(fd) == 0;
  off_t local_size = ::lseek(fd, 0, SEEK_END);
  ::close(fd);
  if (move && synced && ::rename(local_path.c_str(), tmp.c_str()) == 0) {
    if (progress) progress(static_cast<uint64_t>(local_size));
  } else {
    fs.Upload(local_path, tmp, progress);
  }
  // The copy must be whole before it gets the final name.
  FileInfo copied;
  if (!fs.Stat(tmp, &copied) || copied.size != static_cast<uint64_t>(local_size)) {
    fs.DeleteRecursive(tmp);
    throw IoError("'" + path + "': the copy has " + std::to_string(copied.size) +
                  " bytes, the local file " + std::to_string(local_size) +
                  "; nothing was published (the upload is retried)");
  }
  if (exists) {
    // SFTP (version 3) and WebHDFS cannot rename onto an existing name: the old file steps
    // aside first, so the final name is briefly absent but never partial.
    std::string old = TemporaryName(path) + "-old";
    fs.DeleteRecursive(old);
    fs.Rename(path, old);
    try {
      fs.Rename(tmp, path);
    } catch (...) {
      try {
        fs.Rename(old, path);
      } catch (...) {
      }
      throw;
    }
    fs.DeleteRecursive(old);
  } else {
    fs.Rename(tmp, path);
  }
  return true;
}

}  // namespace sluice::fs
