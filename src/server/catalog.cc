#include "server/catalog.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "common/error.h"
#include "common/time.h"
#include "fs/file_system.h"
#include "scheduler/actions.h"
#include "tasks/storage.h"

namespace sluice::server {
namespace {

std::string StampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + " " +
         std::to_string(st.st_size) + " " + std::to_string(st.st_ino);
}

}  // namespace

Catalog::Catalog(std::vector<std::string> paths, std::map<std::string, std::string> vars)
    : paths_(std::move(paths)), vars_(std::move(vars)) {}

state::StateStore* Catalog::StoreFor(const std::string& dir) {
  auto it = stores_.find(dir);
  if (it != stores_.end()) return it->second.get();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto store = state::StateStore::Open(dir + "/state.db");
  return (stores_[dir] = std::move(store)).get();
}

std::shared_ptr<PipelineEntry> Catalog::Load(const std::string& file,
                                             const std::shared_ptr<const PipelineEntry>& before) {
  auto e = std::make_shared<PipelineEntry>();
  e->file = file;
  std::vector<pipeline::Diagnostic> diagnostics;
  pipeline::PipelineSpec spec;
  try {
    spec = pipeline::LoadPipeline(file, vars_, &diagnostics);
  } catch (const std::exception& ex) {
    diagnostics.push_back({file, {}, ex.what()});
  }
  std::string error;
  std::optional<scheduler::Schedule> schedule;
  if (diagnostics.empty()) {
    schedule = scheduler::Schedule::Parse(spec.schedule, spec.timezone, spec.start_date, &error);
    if (!schedule) diagnostics.push_back({file, {}, error});
  }
  for (const auto& d : diagnostics) e->problems.push_back(pipeline::FormatDiagnostic(d));
  if (!diagnostics.empty()) {
    // The version that validated before goes on being shown, with the file's problems.
    if (before && before->spec) {
      e->spec = before->spec;
      e->schedule = before->schedule;
      e->state = before->state;
      e->lake = before->lake;
      e->state_dir = before->state_dir;
    }
    return e;
  }
  try {
    e->state_dir = spec.ResolvePath(spec.state_dir);
    e->state = StoreFor(e->state_dir);
    e->lake = tasks::OpenLake(spec, e->state, e->state_dir, false);
  } catch (const Error& ex) {
    e->problems.push_back(file + ": " + ex.what());
    return e;
  }
  e->schedule = schedule;
  e->spec = std::make_shared<const pipeline::PipelineSpec>(std::move(spec));
  return e;
}

void Catalog::Refresh(bool force) {
  std::lock_guard<std::mutex> lock(mu_);
  double now = SteadySeconds();
  if (!force && refreshed_at_ >= 0 && now - refreshed_at_ < 1.0) return;
  refreshed_at_ = now;
  auto files = scheduler::PipelineFiles(paths_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!std::binary_search(files.begin(), files.end(), it->first)) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& f : files) {
    std::string stamp = StampOf(f);
    auto it = entries_.find(f);
    if (it != entries_.end() && it->second.first == stamp) continue;
    auto before = it == entries_.end() ? nullptr : it->second.second;
    entries_[f] = {stamp, Load(f, before)};
  }
}

std::vector<std::shared_ptr<const PipelineEntry>> Catalog::All() {
  Refresh();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<const PipelineEntry>> out;
  for (const auto& [file, e] : entries_) out.push_back(e.second);
  return out;
}

std::shared_ptr<const PipelineEntry> Catalog::Find(const std::string& name) {
  for (const auto& e : All()) {
    if (e->spec && e->spec->name == name) return e;
  }
  return nullptr;
}

}  // namespace sluice::server
