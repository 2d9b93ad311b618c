#include "tasks/storage.h"

#include "common/error.h"
#include "common/strings.h"
#include "webhdfs/webhdfs.h"

namespace sluice::tasks {

namespace {
constexpr uint64_t kDefaultCacheBytes = 10ull * 1000 * 1000 * 1000;
}  // namespace

std::unique_ptr<lake::Lake> OpenLake(const pipeline::PipelineSpec& spec, state::StateStore* state,
                                     const std::string& state_dir, bool create) {
  std::string uri = spec.LakeUri();
  std::unique_ptr<fs::FileSystem> fs;
  std::string root;
  if (webhdfs::IsWebHdfsUrl(uri)) {
    auto url = webhdfs::ParseWebHdfsUrl(uri);
    root = url.path;
    if (root.size() > 1 && root.back() == '/') root.pop_back();
    fs = webhdfs::WebHdfsFileSystem::Make(webhdfs::OptionsFor(&spec, url));
  } else {
    fs = fs::MakeFileSystem(uri, &root);
  }
  if (create) fs->MakeDirs(root);
  auto lake = std::make_unique<lake::Lake>(std::move(fs), root, state, spec.name);
  if (lake->remote()) {
    uint64_t cache = kDefaultCacheBytes;
    if (auto v = pipeline::ConnectionOption(spec.hdfs, "cache_size", spec.dir)) {
      cache = ParseBytes(*v).value_or(cache);
    }
    lake->UseLocalDir(state_dir + "/lake-local", cache);
  }
  return lake;
}

}  // namespace sluice::tasks
