#pragma once

// Task kinds defined outside the parser. A kind is one file in src/tasks/ with a parse function
// and a run function, plus one line in src/tasks/kinds.cc; the parser checks the common keys
// (id, kind, after, retries, ...) and hands the rest to the kind through KindParser.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice::pipeline {

struct PipelineSpec;
struct TaskSpec;

// The settings of a task of a registered kind (TaskSpec::options); each kind derives its own.
struct TaskOptions {
  virtual ~TaskOptions() = default;
};

// Reads one task's kind-specific keys. Every problem becomes a diagnostic at the key's place in
// the file (the task's place for key ""), and the read returns nullopt.
class KindParser {
 public:
  virtual ~KindParser() = default;
  virtual const PipelineSpec& spec() const = 0;
  virtual bool Has(const std::string& key) const = 0;
  virtual std::optional<std::string> Str(const std::string& key) = 0;
  virtual std::optional<bool> Bool(const std::string& key) = 0;
  virtual std::optional<int64_t> Int(const std::string& key, int64_t min, int64_t max) = 0;
  // A size: a number of bytes or "64MB", "1.5GB", "512KiB".
  virtual std::optional<uint64_t> Bytes(const std::string& key) = 0;
  virtual std::optional<std::chrono::milliseconds> Duration(const std::string& key) = 0;
  // A string that must be one of choices (the message lists them).
  virtual std::optional<std::string> OneOf(const std::string& key,
                                           const std::vector<std::string>& choices) = 0;
  // A connection's name: it must be defined under connections: with one of types.
  virtual std::optional<std::string> Connection(const std::string& key,
                                                const std::vector<std::string>& types) = 0;
  // The mapping at key, whose keys must be among allowed; nested reads use "key.sub".
  virtual bool Map(const std::string& key, const std::vector<std::string>& allowed) = 0;
  // The value at key is a template rendered at run time: it is checked like every template, and
  // with allow_ref the datasets it reads with ref() become the task's inputs.
  virtual void Template(const std::string& key, bool allow_ref) = 0;
  // The task reads dataset (named at key): it runs after the dataset's producer.
  virtual void Reads(const std::string& key, const std::string& dataset) = 0;
  virtual void Error(const std::string& key, const std::string& message) = 0;
};

struct TaskKind {
  std::string name;
  std::vector<std::string> keys;  // the kind's own keys, besides the common ones
  // Fills the kind's part of the task (options, into, reads) from its keys.
  std::function<std::shared_ptr<const TaskOptions>(KindParser&, TaskSpec&)> parse;
};

// Adds a kind for the parser; a second registration of a name replaces the first.
void RegisterTaskKind(TaskKind kind);
// The registered kind, or nullptr.
const TaskKind* FindTaskKind(const std::string& name);

}  // namespace sluice::pipeline
