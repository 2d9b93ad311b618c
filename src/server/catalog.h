#pragma once

// The pipelines a UI shows: the files of its paths (folders' *.yaml and *.yml, and files),
// loaded and validated, reloaded when they change, each with its state store and lake. Entries
// are immutable snapshots: a reload replaces them. Thread-safe.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "lake/lake.h"
#include "pipeline/spec.h"
#include "scheduler/schedule.h"
#include "state/state_store.h"

namespace sluice::server {

struct PipelineEntry {
  std::string file;
  std::shared_ptr<const pipeline::PipelineSpec> spec;  // null when the file never validated
  std::optional<scheduler::Schedule> schedule;
  std::vector<std::string> problems;  // validation problems of the file as it is now
  state::StateStore* state = nullptr;
  std::shared_ptr<lake::Lake> lake;
  std::string state_dir;
  std::string name() const { return spec ? spec->name : ""; }
};

class Catalog {
 public:
  Catalog(std::vector<std::string> paths, std::map<std::string, std::string> vars);

  // Loads added and changed files, forgets removed ones; at most once a second unless force.
  void Refresh(bool force = false);
  std::vector<std::shared_ptr<const PipelineEntry>> All();
  // The pipeline of that name, or null.
  std::shared_ptr<const PipelineEntry> Find(const std::string& name);

 private:
  std::shared_ptr<PipelineEntry> Load(const std::string& file,
                                      const std::shared_ptr<const PipelineEntry>& before);
  state::StateStore* StoreFor(const std::string& dir);

  std::vector<std::string> paths_;
  std::map<std::string, std::string> vars_;
  std::mutex mu_;
  double refreshed_at_ = -1;  // Guarded by mu_
  std::map<std::string, std::pair<std::string, std::shared_ptr<const PipelineEntry>>> entries_;
  // ^ file -> (stamp, entry); Guarded by mu_
  std::map<std::string, std::unique_ptr<state::StateStore>> stores_;  // Guarded by mu_
};

}  // namespace sluice::server
