#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/strings.h"
#include "pipeline/spec.h"
#include "pipeline/template.h"
#include "scheduler/schedule.h"

namespace sluice::pipeline {
namespace {

Mark MarkOf(const YAML::Node& node) {
  YAML::Mark m = node.Mark();
  if (m.line < 0) return {};
  return {m.line + 1, m.column + 1};
}

const std::vector<std::string> kTopKeys = {
    "pipeline",   "description",     "schedule", "timezone",    "start_date", "end_date",
    "catchup",    "max_active_runs", "defaults", "lake",        "warehouse",  "state",
    "engine",     "max_parallel",    "vars",     "connections", "pools",      "on_failure",
    "on_success", "on_late",         "deadline", "hdfs",        "tasks"};
const std::vector<std::string> kDefaultKeys = {"retries", "retry_delay", "max_retry_delay",
                                               "timeout"};
const std::vector<std::string> kCommonTaskKeys = {"id",      "kind",        "after",
                                                  "retries", "retry_delay", "max_retry_delay",
                                                  "timeout", "pool",        "description"};
const std::map<std::string, std::vector<std::string>> kKindKeys = {
    {"csv_import",
     {"path", "glob", "into", "columns", "types", "header", "delimiter", "quote", "escape",
      "null_string", "null", "date_format", "timestamp_format", "encoding", "rejects",
      "allow_empty", "max_line_size", "connection", "wait"}},
    {"sql", {"into", "sql", "engine", "format"}},
    {"check", {"dataset", "expect", "engine"}},
    {"db_load",
     {"connection", "datasets", "dataset", "into", "mode", "key", "partitions", "new_columns"}},
    {"db_import",
     {"connection", "tables", "table", "query", "exclude", "zone", "into", "split_by",
      "boundary_query", "where", "columns", "incremental", "check_column", "key", "last_value",
      "lookback", "parallel", "snapshot", "zero_dates"}},
};
// Keys of one entry of db_import's tables: list, when it is a mapping.
const std::vector<std::string> kImportTableKeys = {
    "name",        "into",         "split_by", "boundary_query", "where",   "columns",
    "incremental", "check_column", "key",      "last_value",     "lookback"};
const std::vector<std::string> kConnectionTypes = {"postgres", "mysql", "duckdb", "sftp"};
// More retries than this is a mistake (a typo or a wrapped number), not a policy.
constexpr int64_t kMaxRetries = 100;
// The CSV reader keeps 16 lines of this size in memory per thread.
constexpr int64_t kMaxLineSizeLimit = int64_t{1} << 30;

// Collects diagnostics while reading the YAML tree.
class Reader {
 public:
  Reader(std::string file, std::vector<Diagnostic>* out) : file_(std::move(file)), out_(out) {}

  void Error(const Mark& mark, const std::string& message) {
    out_->push_back({file_, mark, message});
  }
  void Error(const YAML::Node& node, const std::string& message) { Error(MarkOf(node), message); }
  // At the place a task wrote `key` (see TaskSpec::where), else at the task.
  void ErrorAt(const TaskSpec& t, const std::string& key, const std::string& message) {
    auto it = t.where.find(key);
    if (it == t.where.end()) return Error(t.mark, message);
    out_->push_back(
        {it->second.first.empty() ? file_ : it->second.first, it->second.second, message});
  }

  // Reports keys of map that are not in allowed, with a suggestion.
  void CheckKeys(const YAML::Node& map, const std::vector<std::string>& allowed,
                 const std::string& where) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar() || it->first.Tag() == "tag:yaml.org,2002:null" ||
          it->first.IsNull()) {
        // YAML reads a plain null, ~ or an empty key as no key at all.
        bool null_option =
            std::find(allowed.begin(), allowed.end(), "null_string") != allowed.end();
        Error(it->first,
              "a key written as null, ~ or nothing is read by YAML as no key (null) in " + where +
                  (null_option ? "; for the text that means NULL write null_string: "
                                 "(or quote the key: \"null\":)"
                               : "; quote it if you meant the word: \"null\":"));
        continue;
      }
      std::string key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      std::string near = ClosestMatch(key, allowed);
      Error(it->first, "unknown key '" + key + "' in " + where +
                           (near.empty() ? " (allowed: " + Join(allowed, ", ") + ")"
                                         : " (did you mean '" + near + "'?)"));
    }
  }

  bool IsMap(const YAML::Node& node, const std::string& what) {
    if (node.IsMap()) return true;
    Error(node, what + " must be a mapping (key: value lines)");
    return false;
  }

  std::optional<std::string> Str(const YAML::Node& node, const std::string& what) {
    if (!node.IsScalar()) {
      Error(node, what + " must be a single value, not a list or mapping");
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<bool> Bool(const YAML::Node& node, const std::string& what) {
    auto s = Str(node, what);
    if (!s) return std::nullopt;
    std::string v = ToLower(*s);
    if (v == "true" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "no" || v == "off") return false;
    Error(node, what + " must be true or false, not '" + *s + "'");
    return std::nullopt;
  }

  // A whole number in [min, max]; a number outside is an error, never wrapped or clamped.
  std::optional<int64_t> Int(const YAML::Node& node, const std::string& what, int64_t min,
                             int64_t max = INT64_MAX) {
    auto s = Str(node, what);
    if (!s) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s->c_str(), &end, 10);
    if (s->empty() || *end != '\0' || errno != 0 || v < min || v > max) {
      Error(node,
            what + " must be a whole number " +
                (max == INT64_MAX ? ">= " + std::to_string(min)
                                  : "from " + std::to_string(min) + " to " + std::to_string(max)) +
                ", not '" + *s + "'");
      return std::nullopt;
    }
    return v;
  }

  std::optional<std::chrono::milliseconds> Duration(const YAML::Node& node,
                                                    const std::string& what) {
    auto s = Str(node, what);
    if (!s) return std::nullopt;
    auto d = ParseDuration(*s);
    if (!d) {
      Error(node, what + " '" + *s + "' is not a duration (write e.g. 30s, 5m, 1h, 1h30m)");
    } else if (what == "timeout" && d->count() == 0) {
      Error(node, "timeout must be longer than 0 (e.g. 30m)");
      return std::nullopt;
    }
    return d;
  }

  // A scalar or a list of scalars.
  std::vector<std::string> StrList(const YAML::Node& node, const std::string& what) {
    std::vector<std::string> out;
    if (node.IsScalar()) {
      out.push_back(node.Scalar());
    } else if (node.IsSequence()) {
      for (const auto& item : node) {
        if (auto s = Str(item, what + " item")) out.push_back(*s);
      }
    } else {
      Error(node, what + " must be a value or a list of values");
    }
    return out;
  }

  // Column types go into SQL as written, so only type-shaped text is accepted:
  // NAME, NAME(p,s), NAME WITH TIME ZONE, NAME[].
  NamedTypes Types(const YAML::Node& node, const std::string& what) {
    NamedTypes out;
    if (!IsMap(node, what)) return out;
    std::vector<std::pair<YAML::Node, YAML::Node>> entries;
    for (auto it = node.begin(); it != node.end(); ++it)
      entries.emplace_back(it->first, it->second);
    for (size_t i = 0; i < entries.size(); i++) {
      const auto& [key, value] = entries[i];
      std::string name = key.IsScalar() ? key.Scalar() : "";
      std::string t = value.IsScalar() ? value.Scalar() : "";
      int depth = 0;
      for (char c : t) depth += c == '(' ? 1 : c == ')' ? -1 : 0;
      // In YAML's inline {a: DECIMAL(12,2)} the comma ends the entry: the type arrives as
      // 'DECIMAL(12' and the rest as a key '2)' with no value.
      if (depth > 0 && i + 1 < entries.size() && entries[i + 1].first.IsScalar() &&
          !entries[i + 1].second.IsScalar()) {
        std::string whole = t + "," + entries[i + 1].first.Scalar();
        Error(value, what + "." + name + ": '" + t +
                         "' is a type cut at its comma by YAML's inline {...} style; quote it: \"" +
                         whole + "\"");
        i++;
        continue;
      }
      if (!value.IsScalar()) {
        Error(value.IsNull() ? key : value, what + "." + name + " must be a single value, a type");
        continue;
      }
      bool ok = !t.empty() && std::isalpha(static_cast<unsigned char>(t[0])) && depth == 0;
      for (char c : t) {
        ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ' ' ||
                    c == '(' || c == ')' || c == ',' || c == '[' || c == ']');
      }
      if (!ok) {
        Error(value, what + "." + name + ": '" + t +
                         "' is not a column type (e.g. BIGINT, VARCHAR, DATE, DECIMAL(12,2))");
        continue;
      }
      out.emplace_back(name, t);
    }
    return out;
  }

  NamedTypes Pairs(const YAML::Node& node, const std::string& what) {
    NamedTypes out;
    if (!IsMap(node, what)) return out;
    for (auto it = node.begin(); it != node.end(); ++it) {
      auto v = Str(it->second, what + "." + it->first.Scalar());
      if (v) out.emplace_back(it->first.Scalar(), *v);
    }
    return out;
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<Diagnostic>* out_;
};

struct TemplateUse;

// KindParser for one task of a registered kind, on top of Reader.
class KindReader : public KindParser {
 public:
  KindReader(Reader& r, const PipelineSpec& spec, const YAML::Node& task, TaskSpec& t,
             std::vector<TemplateUse>& uses, size_t index)
      : r_(r), spec_(spec), task_(task), t_(t), uses_(uses), index_(index) {}

  const PipelineSpec& spec() const override { return spec_; }
  bool Has(const std::string& key) const override { return Node(key).IsDefined(); }

  std::optional<std::string> Str(const std::string& key) override {
    if (!Has(key)) return std::nullopt;
    return r_.Str(Node(key), key);
  }
  std::optional<bool> Bool(const std::string& key) override {
    if (!Has(key)) return std::nullopt;
    return r_.Bool(Node(key), key);
  }
  std::optional<int64_t> Int(const std::string& key, int64_t min, int64_t max) override {
    if (!Has(key)) return std::nullopt;
    return r_.Int(Node(key), key, min, max);
  }
  std::optional<uint64_t> Bytes(const std::string& key) override {
    auto s = Str(key);
    if (!s) return std::nullopt;
    auto v = ParseBytes(*s);
    if (!v || *v == 0) {
      r_.Error(Node(key), key + " '" + *s + "' is not a size (write e.g. 64MB, 1GB, 500000)");
      return std::nullopt;
    }
    return v;
  }
  std::optional<std::chrono::milliseconds> Duration(const std::string& key) override {
    if (!Has(key)) return std::nullopt;
    return r_.Duration(Node(key), key);
  }
  std::optional<std::string> OneOf(const std::string& key,
                                   const std::vector<std::string>& choices) override {
    auto s = Str(key);
    if (!s) return std::nullopt;
    if (std::find(choices.begin(), choices.end(), *s) != choices.end()) return s;
    std::string near = ClosestMatch(*s, choices);
    r_.Error(Node(key), key + ": '" + *s + "' is not one of " + Join(choices, ", ") +
                            (near.empty() ? "" : " (did you mean '" + near + "'?)"));
    return std::nullopt;
  }
  std::optional<std::string> Connection(const std::string& key,
                                        const std::vector<std::string>& types) override {
    auto name = Str(key);
    if (!name) return std::nullopt;
    auto c = spec_.connections.find(*name);
    if (c == spec_.connections.end()) {
      std::vector<std::string> names;
      for (const auto& [k, v] : spec_.connections) names.push_back(k);
      r_.Error(Node(key), "connection '" + *name + "' is not defined under connections:" +
                              (names.empty() ? "" : " (defined: " + Join(names, ", ") + ")"));
      return std::nullopt;
    }
    if (std::find(types.begin(), types.end(), c->second.type) == types.end()) {
      r_.Error(Node(key), t_.kind + " '" + t_.id + "' needs a " + Join(types, " or ") +
                              " connection; '" + *name + "' is " + c->second.type);
      return std::nullopt;
    }
    return name;
  }
  bool Map(const std::string& key, const std::vector<std::string>& allowed) override {
    YAML::Node n = Node(key);
    if (!r_.IsMap(n, key)) return false;
    r_.CheckKeys(n, allowed, key + " of task '" + t_.id + "'");
    return true;
  }
  void Template(const std::string& key, bool allow_ref) override;
  void Reads(const std::string& key, const std::string& dataset) override {
    if (!IsDatasetName(dataset)) {
      r_.Error(Node(key), key + ": '" + dataset +
                              "' is not a dataset name (write zone.name, e.g. marts.sales)");
      return;
    }
    t_.reads.push_back(dataset);
    t_.where.emplace("read:" + dataset, std::make_pair(std::string(), MarkOf(Node(key))));
  }
  void Error(const std::string& key, const std::string& message) override {
    if (key.empty() || !Has(key)) return r_.Error(task_, message);
    r_.Error(Node(key), message);
  }

 private:
  // The node at "a" or "a.b" (nested mappings); undefined when absent.
  YAML::Node Node(const std::string& key) const { return Lookup(task_, Split(key, '.'), 0); }
  // Copies of handles only: yaml-cpp's Node::operator= would write into the file's tree.
  static YAML::Node Lookup(const YAML::Node& n, const std::vector<std::string>& parts, size_t i) {
    if (i == parts.size()) return n;
    if (!n.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node child = n[parts[i]];
    if (!child.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
    return Lookup(child, parts, i + 1);
  }

  Reader& r_;
  const PipelineSpec& spec_;
  YAML::Node task_;
  TaskSpec& t_;
  std::vector<TemplateUse>& uses_;
  size_t index_;
};

// A hook: on_failure: {command: ..., webhook: ..., timeout: 30s}.
HookSpec ParseHook(Reader& r, const YAML::Node& n, const std::string& what) {
  HookSpec h;
  h.mark = MarkOf(n);
  if (!r.IsMap(n, what)) return h;
  r.CheckKeys(n, {"command", "webhook", "timeout"}, what);
  if (n["command"]) h.command = r.Str(n["command"], what + ".command").value_or("");
  if (n["webhook"]) {
    h.webhook = r.Str(n["webhook"], what + ".webhook").value_or("");
    if (!StartsWith(h.webhook, "http://") && !StartsWith(h.webhook, "https://")) {
      r.Error(n["webhook"],
              what + ".webhook '" + h.webhook + "' is not an http:// or https:// URL");
    }
  }
  if (n["timeout"]) h.timeout = r.Duration(n["timeout"], "timeout").value_or(h.timeout);
  if (h.empty()) r.Error(n, what + " needs command: or webhook: (or both)");
  return h;
}

std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Maps a byte offset inside a scalar to a file position (exact for plain and quoted scalars on
// one line, and for files read from disk; approximate for block scalars).
Mark OffsetMark(const Mark& start, const std::string& text, size_t offset, bool from_file) {
  Mark m = start;
  int line_delta = 0;
  size_t line_start = 0;
  for (size_t i = 0; i < offset && i < text.size(); i++) {
    if (text[i] == '\n') {
      line_delta++;
      line_start = i + 1;
    }
  }
  if (from_file) return {1 + line_delta, static_cast<int>(offset - line_start) + 1};
  if (line_delta == 0) {
    m.column += static_cast<int>(offset);
  } else {
    m.line += line_delta;
    m.column = static_cast<int>(offset - line_start) + 1;
  }
  return m;
}

struct TemplateUse {
  std::string text;
  Mark mark;
  std::string file;  // non-empty when the text came from its own file (a .sql model)
  size_t task_index;
  bool allow_ref;
};

void KindReader::Template(const std::string& key, bool allow_ref) {
  if (auto s = Str(key)) uses_.push_back({*s, MarkOf(Node(key)), "", index_, allow_ref});
}

std::map<std::string, TaskKind>& KindRegistry() {
  static std::map<std::string, TaskKind> kinds;
  return kinds;
}
std::mutex kind_registry_mu;

void ParseCsvImport(Reader& r, const YAML::Node& n, TaskSpec& t, std::vector<TemplateUse>& uses,
                    size_t index) {
  auto& c = t.csv;
  if (n["path"] && n["glob"]) {
    r.Error(n["glob"], "csv_import '" + t.id +
                           "': write path: (one file) or glob: (every file matching a pattern), "
                           "not both");
  } else if (n["path"]) {
    if (auto s = r.Str(n["path"], "path")) {
      c.path = *s;
      uses.push_back({c.path, MarkOf(n["path"]), "", index, false});
    }
  } else if (n["glob"]) {
    if (auto s = r.Str(n["glob"], "glob")) {
      c.glob = *s;
      uses.push_back({c.glob, MarkOf(n["glob"]), "", index, false});
    }
  } else {
    r.Error(t.mark, "csv_import '" + t.id +
                        "' needs path: (the CSV file to read) or glob: (a pattern, every "
                        "matching file)");
  }
  if (n["connection"]) c.connection = r.Str(n["connection"], "connection").value_or("");
  bool remote = StartsWith(c.path, "sftp://") || StartsWith(c.glob, "sftp://");
  bool hdfs = StartsWith(c.path, "webhdfs://") || StartsWith(c.path, "swebhdfs://");
  if (StartsWith(c.glob, "sftp://") || StartsWith(c.glob, "webhdfs://") ||
      StartsWith(c.glob, "swebhdfs://")) {
    r.Error(n["glob"], "csv_import '" + t.id +
                           "': glob: reads local files; for SFTP or HDFS name one file with "
                           "path: sftp://host/folder/name_{{ ds }}.csv");
  }
  if (hdfs && n["connection"]) {
    r.Error(n["connection"], "csv_import '" + t.id +
                                 "': connection: is for sftp:// paths; a webhdfs:// path takes "
                                 "its settings from the pipeline's hdfs: section");
  }
  if (!c.connection.empty() && !remote && !hdfs) {
    r.Error(n["connection"],
            "csv_import '" + t.id + "': connection: is for an sftp:// path; path: is local");
  }
  if (n["wait"] && r.IsMap(n["wait"], "wait")) {
    const YAML::Node& w = n["wait"];
    r.CheckKeys(w, {"timeout", "poll", "stable_for", "marker"}, "wait of task '" + t.id + "'");
    WaitSpec ws;
    if (w["timeout"]) ws.timeout = r.Duration(w["timeout"], "wait.timeout").value_or(ws.timeout);
    if (w["poll"]) ws.poll = r.Duration(w["poll"], "wait.poll").value_or(ws.poll);
    if (ws.poll.count() <= 0) r.Error(w["poll"], "wait.poll must be longer than 0 (e.g. 30s)");
    if (w["stable_for"])
      ws.stable_for = r.Duration(w["stable_for"], "wait.stable_for").value_or(ws.stable_for);
    if (w["marker"]) {
      ws.marker = r.Str(w["marker"], "wait.marker").value_or("");
      uses.push_back({ws.marker, MarkOf(w["marker"]), "", index, false});
    }
    if (!c.glob.empty()) {
      r.Error(n["wait"], "csv_import '" + t.id + "': wait: watches one file (path:), not a glob");
    }
    c.wait = ws;
  }
  if (n["columns"]) c.columns = r.Types(n["columns"], "columns");
  if (n["types"]) c.types = r.Types(n["types"], "types");
  if (!c.columns.empty() && !c.types.empty()) {
    r.Error(n["types"], "csv_import '" + t.id +
                            "': use columns: (every column, in file order) or types: (overrides "
                            "while inferring), not both");
  }
  if (n["header"]) c.header = r.Bool(n["header"], "header").value_or(true);
  auto one_char = [&](const char* key, std::string* out, bool allow_empty) {
    if (!n[key]) return;
    auto s = r.Str(n[key], key);
    if (!s) return;
    std::string v = *s == "\\t" ? "\t" : *s;
    if (v.size() > 1 || (v.empty() && !allow_empty)) {
      r.Error(n[key], std::string(key) + " must be one character, not '" + *s + "'");
      return;
    }
    *out = v;
  };
  one_char("delimiter", &c.delimiter, false);
  one_char("quote", &c.quote, true);
  one_char("escape", &c.escape, true);
  if (n["null"] && n["null_string"]) {
    r.Error(n["null"], "write null_string: or \"null\":, not both");
  } else if (n["null_string"]) {
    c.null_string = r.Str(n["null_string"], "null_string").value_or("");
  } else if (n["null"]) {
    c.null_string = r.Str(n["null"], "null").value_or("");
  }
  if (n["date_format"]) c.date_format = r.Str(n["date_format"], "date_format").value_or("");
  if (n["timestamp_format"])
    c.timestamp_format = r.Str(n["timestamp_format"], "timestamp_format").value_or("");
  if (n["encoding"]) {
    auto s = r.Str(n["encoding"], "encoding").value_or("utf-8");
    std::string v = ToLower(s);
    if (v == "utf8") v = "utf-8";
    if (v == "latin1" || v == "iso-8859-1") v = "latin-1";
    if (v == "utf16") v = "utf-16";
    if (v != "utf-8" && v != "latin-1" && v != "utf-16") {
      r.Error(n["encoding"],
              "encoding '" + s + "' is not supported (use utf-8, latin-1 or utf-16)");
    }
    c.encoding = v;
  }
  if (n["rejects"]) {
    const auto& rj = n["rejects"];
    if (r.IsMap(rj, "rejects")) {
      r.CheckKeys(rj, {"max", "into"}, "rejects");
      if (rj["max"]) {
        auto s = r.Str(rj["max"], "rejects.max");
        if (s && EndsWith(*s, "%")) {
          char* end = nullptr;
          double pct = std::strtod(s->c_str(), &end);
          if (end != s->c_str() + s->size() - 1 || pct < 0 || pct > 100) {
            r.Error(rj["max"],
                    "rejects.max '" + *s + "' must be a count or a percentage like 0.5%");
          } else {
            c.rejects_max_fraction = pct / 100.0;
          }
        } else if (s) {
          c.rejects_max = r.Int(rj["max"], "rejects.max", 0).value_or(0);
        }
      }
      if (rj["into"]) {
        c.rejects_into = r.Str(rj["into"], "rejects.into").value_or("");
        if (!IsDatasetName(c.rejects_into)) {
          r.Error(rj["into"],
                  "rejects.into '" + c.rejects_into +
                      "' is not a dataset name (write zone.name, e.g. rejects.raw_citizens)");
        }
      }
    }
  }
  if (n["allow_empty"]) c.allow_empty = r.Bool(n["allow_empty"], "allow_empty").value_or(false);
  if (n["max_line_size"])
    c.max_line_size = r.Int(n["max_line_size"], "max_line_size", 1, kMaxLineSizeLimit).value_or(0);
  if (!t.into.empty() && c.rejects_into.empty() && IsDatasetName(t.into)) {
    c.rejects_into = DefaultRejectsDataset(t.into);
  }
}

void ParseCheck(Reader& r, const YAML::Node& n, TaskSpec& t, std::vector<TemplateUse>& uses,
                size_t index) {
  if (n["dataset"]) {
    t.dataset = r.Str(n["dataset"], "dataset").value_or("");
  } else {
    r.Error(t.mark, "check '" + t.id + "' needs dataset: (the dataset to check)");
  }
  if (!t.dataset.empty()) {
    t.reads.push_back(t.dataset);
    t.where["read:" + t.dataset] = {"", MarkOf(n["dataset"])};
  }
  if (!n["expect"] || !n["expect"].IsSequence() || n["expect"].size() == 0) {
    r.Error(n["expect"] ? n["expect"] : n, "check '" + t.id +
                                               "' needs expect: a list like [{unique: id}, "
                                               "{not_null: [id, name]}, {row_count: {min: 1}}]");
    return;
  }
  static const std::vector<std::string> kinds = {"unique",    "not_null",      "accepted_values",
                                                 "row_count", "relationships", "sql"};
  for (const auto& item : n["expect"]) {
    if (!item.IsMap() || item.size() == 0) {
      r.Error(item, "each expectation is a mapping like {unique: id}");
      continue;
    }
    CheckExpectation e;
    e.mark = MarkOf(item);
    std::string kind;
    for (auto it = item.begin(); it != item.end(); ++it) {
      std::string key = it->first.Scalar();
      if (key == "name") {
        e.name = it->second.Scalar();
        continue;
      }
      if (std::find(kinds.begin(), kinds.end(), key) == kinds.end()) {
        std::string near = ClosestMatch(key, kinds);
        r.Error(it->first, "unknown check '" + key + "'" +
                               (near.empty() ? " (known: " + Join(kinds, ", ") + ")"
                                             : " (did you mean '" + near + "'?)"));
        continue;
      }
      if (!kind.empty()) {
        r.Error(it->first, "one expectation per list item: split '" + kind + "' and '" + key + "'");
        continue;
      }
      kind = key;
      const YAML::Node v = it->second;  // by value: it-> is a temporary proxy
      e.kind = key;
      if (key == "unique" || key == "not_null") {
        e.columns = r.StrList(v, key);
      } else if (key == "accepted_values") {
        if (r.IsMap(v, key)) {
          r.CheckKeys(v, {"column", "values"}, "accepted_values");
          if (v["column"]) e.columns = {v["column"].Scalar()};
          if (v["values"]) e.values = r.StrList(v["values"], "values");
          if (e.columns.empty() || e.values.empty())
            r.Error(v, "accepted_values needs column: and values: [..]");
        }
      } else if (key == "row_count") {
        if (r.IsMap(v, key)) {
          r.CheckKeys(v, {"min", "max"}, "row_count");
          if (v["min"]) e.min = r.Int(v["min"], "row_count.min", 0);
          if (v["max"]) e.max = r.Int(v["max"], "row_count.max", 0);
          if (!e.min && !e.max) r.Error(v, "row_count needs min: or max:");
        }
      } else if (key == "relationships") {
        if (r.IsMap(v, key)) {
          r.CheckKeys(v, {"column", "to", "field"}, "relationships");
          if (v["column"]) e.columns = {v["column"].Scalar()};
          if (v["to"]) e.to_dataset = v["to"].Scalar();
          e.to_column = v["field"] ? v["field"].Scalar() : (e.columns.empty() ? "" : e.columns[0]);
          if (e.columns.empty() || e.to_dataset.empty()) {
            r.Error(v, "relationships needs column: and to: (and field: when the name differs)");
          } else {
            t.reads.push_back(e.to_dataset);
            t.where["read:" + e.to_dataset] = {"", MarkOf(v["to"])};
          }
        }
      } else if (key == "sql") {
        e.sql = r.Str(v, "sql").value_or("");
        uses.push_back({e.sql, MarkOf(v), "", index, true});
      }
    }
    if (!e.kind.empty()) t.check.expect.push_back(e);
  }
}

void ParseDbLoad(Reader& r, const YAML::Node& n, TaskSpec& t) {
  auto& l = t.load;
  if (n["connection"]) l.connection = r.Str(n["connection"], "connection").value_or("");
  if (n["datasets"]) {
    if (n["datasets"].IsMap()) {
      l.datasets = r.Pairs(n["datasets"], "datasets");
    } else {
      for (const auto& d : r.StrList(n["datasets"], "datasets")) l.datasets.emplace_back(d, "");
    }
  } else if (n["dataset"]) {
    std::string into = n["into"] ? r.Str(n["into"], "into").value_or("") : "";
    l.datasets.emplace_back(r.Str(n["dataset"], "dataset").value_or(""), into);
  } else {
    r.Error(t.mark, "db_load '" + t.id + "' needs datasets: {zone.name: schema.table}");
  }
  for (auto& [ds, table] : l.datasets) {
    if (table.empty()) table = ds;  // zone.name -> table zone.name (schema = zone)
    t.reads.push_back(ds);
    if (n["datasets"]) t.where["read:" + ds] = {"", MarkOf(n["datasets"])};
  }
  if (n["mode"]) {
    l.mode = r.Str(n["mode"], "mode").value_or("replace");
    if (l.mode != "replace" && l.mode != "append" && l.mode != "merge" && l.mode != "truncate") {
      r.Error(n["mode"],
              "mode '" + l.mode + "' is unknown (use replace, append, merge or truncate)");
    }
  }
  if (n["key"]) l.key = r.StrList(n["key"], "key");
  if (l.mode == "merge" && l.key.empty()) {
    r.Error(n["mode"], "mode: merge needs key: (the column or columns rows are matched on)");
  }
  if (n["new_columns"]) {
    l.new_columns = r.Str(n["new_columns"], "new_columns").value_or("add");
    if (l.new_columns != "add" && l.new_columns != "fail" && l.new_columns != "ignore") {
      r.Error(n["new_columns"], "new_columns must be add, fail or ignore");
    }
  }
  if (n["partitions"]) {
    l.partitions = r.Str(n["partitions"], "partitions").value_or("current");
    if (l.partitions != "current" && l.partitions != "all") {
      r.Error(n["partitions"], "partitions must be current (the run's date) or all");
    }
  }
}

// Reads the per-table keys of db_import (at the task, or in one entry of tables:).
void ParseImportTable(Reader& r, const YAML::Node& n, ImportTableSpec& t) {
  auto str = [&](const char* key, std::string& out) {
    if (n[key]) out = r.Str(n[key], key).value_or("");
  };
  str("into", t.into);
  str("split_by", t.split_by);
  str("boundary_query", t.boundary_query);
  str("where", t.where);
  str("check_column", t.check_column);
  str("last_value", t.last_value);
  str("lookback", t.lookback);
  if (n["columns"]) t.columns = r.StrList(n["columns"], "columns");
  if (n["key"]) t.key = r.StrList(n["key"], "key");
  if (n["into"] && !IsDatasetName(t.into)) {
    r.Error(n["into"], "into: '" + t.into +
                           "' is not a dataset name (write zone.name, lowercase, e.g. raw.orders)");
  }
  if (n["incremental"]) {
    t.incremental = r.Str(n["incremental"], "incremental").value_or("");
    if (t.incremental != "append" && t.incremental != "lastmodified") {
      r.Error(n["incremental"], "incremental: '" + t.incremental +
                                    "' is unknown (use append: new rows with a larger "
                                    "check_column, or lastmodified: rows changed since the "
                                    "last import, merged by key)");
    } else if (t.check_column.empty()) {
      r.Error(n["incremental"],
              "incremental: " + t.incremental +
                  " needs check_column: (the column that grows: an id, or an updated_at)");
    }
  } else {
    for (const char* k : {"check_column", "last_value", "lookback"}) {
      if (n[k]) r.Error(n[k], std::string(k) + ": is for incremental imports (add incremental:)");
    }
  }
  if (n["lookback"] && !t.lookback.empty()) {
    bool number = t.lookback.find_first_not_of("0123456789") == std::string::npos;
    if (!number && !ParseDuration(t.lookback)) {
      r.Error(n["lookback"], "lookback: '" + t.lookback +
                                 "' is neither a number (for a numeric check_column) nor a "
                                 "duration like 2h (for a date or time one)");
    }
  }
}

void ParseDbImport(Reader& r, const YAML::Node& n, TaskSpec& t) {
  auto& im = t.import;
  if (n["connection"]) {
    im.connection = r.Str(n["connection"], "connection").value_or("");
  } else {
    r.Error(n, "db_import '" + t.id + "' needs connection: (a mysql or postgres connection)");
  }
  int sources = (n["tables"] ? 1 : 0) + (n["table"] ? 1 : 0) + (n["query"] ? 1 : 0);
  if (sources != 1) {
    r.Error(n, "db_import '" + t.id +
                   "' needs exactly one of tables: (all, or a list), table: (one table) or "
                   "query: (a SELECT)");
  }
  if (n["zone"]) {
    im.zone = r.Str(n["zone"], "zone").value_or("raw");
    if (!IsDatasetName(im.zone + ".x")) {
      r.Error(n["zone"], "zone: '" + im.zone + "' must be a lowercase name like raw");
    }
  }
  if (n["exclude"]) im.exclude = r.StrList(n["exclude"], "exclude");
  if (n["parallel"]) {
    im.parallel = static_cast<int>(r.Int(n["parallel"], "parallel", 1, 64).value_or(1));
  }
  if (n["snapshot"]) {
    im.snapshot = ToLower(r.Str(n["snapshot"], "snapshot").value_or("auto"));
    if (im.snapshot == "yes" || im.snapshot == "on") im.snapshot = "true";
    if (im.snapshot == "no" || im.snapshot == "off") im.snapshot = "false";
    if (im.snapshot != "auto" && im.snapshot != "true" && im.snapshot != "false") {
      r.Error(n["snapshot"], "snapshot: must be auto, true or false");
    }
  }
  if (n["zero_dates"]) {
    std::string z = r.Str(n["zero_dates"], "zero_dates").value_or("error");
    if (z == "null" || z == "~" || z.empty()) {
      im.zero_dates_null = true;
    } else if (z != "error") {
      r.Error(n["zero_dates"], "zero_dates: must be error (fail on '0000-00-00') or null");
    }
  }
  if (n["table"] || n["query"]) {
    ImportTableSpec one;
    one.mark = t.mark;
    if (n["table"]) one.table = r.Str(n["table"], "table").value_or("");
    if (n["query"]) {
      one.query = r.Str(n["query"], "query").value_or("");
      if (!n["into"]) r.Error(n["query"], "query: needs into: zone.name (the dataset it writes)");
      if (im.parallel > 1 && !n["split_by"]) {
        r.Error(n["query"], "a query read by parallel: " + std::to_string(im.parallel) +
                                " connections needs split_by: (an integer or date column of its "
                                "result)");
      }
    }
    ParseImportTable(r, n, one);
    im.tables.push_back(one);
  } else {
    for (const char* k : {"into", "split_by", "boundary_query", "where", "columns", "incremental",
                          "check_column", "key", "last_value", "lookback"}) {
      if (n[k]) {
        r.Error(n[k], std::string(k) +
                          ": with tables:, write it in the table's own entry (tables: [{name: "
                          "orders, " +
                          k + ": ...}])");
      }
    }
  }
  if (n["tables"]) {
    const auto& tn = n["tables"];
    if (tn.IsScalar()) {
      if (tn.Scalar() == "all") {
        im.all_tables = true;
      } else {
        ImportTableSpec one;
        one.table = tn.Scalar();
        one.mark = MarkOf(tn);
        im.tables.push_back(one);
      }
    } else if (tn.IsSequence()) {
      for (const auto& item : tn) {
        ImportTableSpec one;
        one.mark = MarkOf(item);
        if (item.IsScalar()) {
          one.table = item.Scalar();
        } else if (item.IsMap()) {
          r.CheckKeys(item, kImportTableKeys, "an entry of tables");
          if (item["name"]) {
            one.table = r.Str(item["name"], "name").value_or("");
          } else {
            r.Error(item, "an entry of tables: needs name: (the table)");
          }
          ParseImportTable(r, item, one);
        } else {
          r.Error(item, "an entry of tables: is a table name or a mapping with name:");
          continue;
        }
        im.tables.push_back(one);
      }
    } else {
      r.Error(tn, "tables: must be all, or a list of tables");
    }
  }
  if (!im.exclude.empty() && !im.all_tables) {
    r.Error(n["exclude"], "exclude: goes with tables: all");
  }
  std::set<std::string> seen;
  for (auto& one : im.tables) {
    if (one.into.empty() && !one.table.empty()) one.into = ImportDatasetName(im.zone, one.table);
    if (one.into.empty()) continue;
    if (!seen.insert(one.into).second) {
      r.Error(one.mark, "two tables of db_import '" + t.id + "' write " + one.into +
                            "; give one of them into: zone.name");
    }
    t.produces.push_back(one.into);
  }
  t.produces_zone = im.all_tables;
}
}  // namespace

std::string FormatDiagnostic(const Diagnostic& d) {
  if (d.mark.line <= 0) return d.file + ": " + d.message;
  return d.file + ":" + std::to_string(d.mark.line) + ":" + std::to_string(d.mark.column) + ": " +
         d.message;
}

bool IsDatasetName(const std::string& name) {
  auto parts = Split(name, '.');
  if (parts.size() != 2) return false;
  // Names starting with _ are the lake's own folders (_staging, _trash).
  if (parts[0].empty() || parts[0][0] == '_') return false;
  for (const auto& p : parts) {
    if (!IsIdentifier(p) || ToLower(p) != p) return false;
  }
  return true;
}

std::string DefaultRejectsDataset(const std::string& into) {
  return "rejects." + ReplaceAll(into, ".", "_");
}

const TaskSpec* PipelineSpec::FindTask(const std::string& id) const {
  for (const auto& t : tasks) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

std::string PipelineSpec::ProducerOf(const std::string& dataset) const {
  for (const auto& t : tasks) {
    if (t.into == dataset) return t.id;
    if (t.kind == "csv_import" && t.csv.rejects_into == dataset) return t.id;
    if (std::find(t.produces.begin(), t.produces.end(), dataset) != t.produces.end()) return t.id;
  }
  for (const auto& t : tasks) {
    if (t.produces_zone && ZoneProduces(t, dataset)) return t.id;
  }
  return "";
}

std::string ImportDatasetName(const std::string& zone, const std::string& table) {
  std::string name = table.substr(table.rfind('.') == std::string::npos ? 0 : table.rfind('.') + 1);
  std::string out;
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    out += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '_';
  }
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "t_" + out;
  return zone + "." + out;
}

bool ZoneProduces(const TaskSpec& t, const std::string& dataset) {
  if (!t.produces_zone || !StartsWith(dataset, t.import.zone + ".")) return false;
  for (const auto& e : t.import.exclude) {
    if (ImportDatasetName(t.import.zone, e) == dataset) return false;
  }
  return true;
}

std::string PipelineSpec::ResolvePath(const std::string& path) const {
  if (path.empty() || path[0] == '/') return path;
  std::string p = path;
  if (StartsWith(p, "~/")) {
    const char* home = std::getenv("HOME");
    if (home) return std::string(home) + p.substr(1);
  }
  return (std::filesystem::path(dir) / p).lexically_normal().string();
}

std::string PipelineSpec::EngineOf(const TaskSpec& task) const {
  if (task.kind != "sql" && task.kind != "check") return "duckdb";
  return task.engine.empty() ? engine : task.engine;
}

std::string PipelineSpec::LakeUri() const {
  auto pos = lake.find("://");
  if (pos == std::string::npos) return "file://" + ResolvePath(lake);
  if (lake.substr(0, pos) == "file") return "file://" + ResolvePath(lake.substr(pos + 3));
  return lake;
}

std::vector<std::string> PipelineSpec::TopologicalOrder() const {
  std::vector<std::string> order;
  std::set<std::string> done;
  // Kahn's algorithm in file order, so independent tasks keep the order the user wrote.
  while (order.size() < tasks.size()) {
    bool progressed = false;
    for (const auto& t : tasks) {
      if (done.count(t.id)) continue;
      bool ready = std::all_of(t.upstream.begin(), t.upstream.end(),
                               [&](const std::string& u) { return done.count(u) > 0; });
      if (ready) {
        order.push_back(t.id);
        done.insert(t.id);
        progressed = true;
      }
    }
    if (!progressed) break;  // a cycle; LoadPipeline reports it
  }
  return order;
}

std::string ResolveSecret(const std::string& value, const std::string& base_dir,
                          const std::string& what) {
  if (value.find("${") == std::string::npos) return value;
  // A reference is the whole value: "${env:PW" or "${env:PW}x" would otherwise be sent as a
  // literal password.
  if (!StartsWith(value, "${") || !EndsWith(value, "}") ||
      value.find("${", 2) != std::string::npos || value.find('}') != value.size() - 1) {
    throw InvalidInput(what +
                       ": the value is not a secret reference: the whole value must be "
                       "${env:NAME} or ${file:PATH}, with nothing before or after it");
  }
  std::string inner = value.substr(2, value.size() - 3);
  if (StartsWith(inner, "env:")) {
    std::string name = inner.substr(4);
    if (!IsIdentifier(name)) {
      throw InvalidInput(what + ": ${env:" + name.substr(0, 64) +
                         "} does not name an environment variable (letters, digits and _)");
    }
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) {
      throw InvalidInput(what + ": environment variable " + name + " is not set (export " + name +
                         "=... before running sluice)");
    }
    RegisterSecret(v);
    return v;
  }
  if (StartsWith(inner, "file:")) {
    std::string path = inner.substr(5);
    if (StartsWith(path, "~/") && std::getenv("HOME")) path = std::getenv("HOME") + path.substr(1);
    if (!path.empty() && path[0] != '/') path = (std::filesystem::path(base_dir) / path).string();
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      throw InvalidInput(what + ": secret file '" + path + "' does not exist");
    }
    // A folder, a FIFO (which would block) or a device is not a secret file.
    if (!S_ISREG(st.st_mode)) {
      throw InvalidInput(what + ": secret file '" + path + "' is " +
                         (S_ISDIR(st.st_mode) ? "a folder" : "not a regular file") +
                         "; ${file:PATH} names a file that holds the secret");
    }
    if (st.st_mode & 077) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      throw InvalidInput(what + ": secret file '" + path + "' is readable by others (mode " + mode +
                         "); run: chmod 600 '" + path + "'");
    }
    constexpr off_t kMaxSecretFile = 64 * 1024;
    if (st.st_size > kMaxSecretFile) {
      throw InvalidInput(what + ": secret file '" + path + "' is " + std::to_string(st.st_size) +
                         " bytes; a secret file holds one value (at most 64 KiB)");
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
      throw InvalidInput(ErrnoMessage(what + ": cannot read secret file '" + path + "'", errno));
    std::string data(static_cast<size_t>(kMaxSecretFile) + 1, '\0');
    ssize_t n = ::read(fd, data.data(), data.size());
    struct stat again;
    bool regular = ::fstat(fd, &again) == 0 && S_ISREG(again.st_mode);
    ::close(fd);
    if (n < 0 || !regular || n > kMaxSecretFile) {
      throw InvalidInput(what + ": cannot read secret file '" + path + "' (it changed while read)");
    }
    data.resize(static_cast<size_t>(n));
    while (!data.empty() && (data.back() == '\n' || data.back() == '\r')) data.pop_back();
    RegisterSecret(data);
    return data;
  }
  throw InvalidInput(what + ": '" + value.substr(0, value.find(':') + 1) +
                     "...}' is not a secret reference (use ${env:NAME} or ${file:PATH})");
}

std::optional<std::string> ConnectionOption(const ConnectionSpec& spec, const std::string& key,
                                            const std::string& base_dir) {
  auto it = spec.options.find(key);
  if (it == spec.options.end()) return std::nullopt;
  return ResolveSecret(it->second, base_dir, "connection '" + spec.name + "'." + key);
}

int ConnectionSeconds(const ConnectionSpec& spec, const std::string& key,
                      const std::string& base_dir, int fallback) {
  auto text = ConnectionOption(spec, key, base_dir);
  if (!text) return fallback;
  auto d = ParseDuration(*text);
  if (!d) {
    throw InvalidInput("connection '" + spec.name + "': " + key + " '" + *text +
                       "' is not a duration (write e.g. 10s or 5m)");
  }
  return static_cast<int>(std::max<int64_t>(1, d->count() / 1000));
}

PipelineSpec LoadPipeline(const std::string& path,
                          const std::map<std::string, std::string>& extra_vars,
                          std::vector<Diagnostic>* diagnostics, const std::string* content) {
  PipelineSpec spec;
  std::error_code ec;
  spec.file = std::filesystem::absolute(path, ec).lexically_normal().string();
  spec.dir = std::filesystem::path(spec.file).parent_path().string();
  Reader r(path, diagnostics);

  YAML::Node root;
  if (content == nullptr && !std::filesystem::exists(path)) {
    r.Error(Mark{}, "pipeline file does not exist");
    return spec;
  }
  try {
    root = content ? YAML::Load(*content) : YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    r.Error(Mark{e.mark.line + 1, e.mark.column + 1}, "not valid YAML: " + e.msg);
    return spec;
  }
  if (!root.IsMap()) {
    r.Error(Mark{1, 1}, "a pipeline file is a mapping with pipeline:, tasks: and other keys");
    return spec;
  }
  r.CheckKeys(root, kTopKeys, "the pipeline");

  if (root["pipeline"]) {
    spec.name = r.Str(root["pipeline"], "pipeline").value_or("");
    if (!spec.name.empty() && !IsIdentifier(spec.name)) {
      r.Error(root["pipeline"], "pipeline name '" + spec.name +
                                    "' must be letters, digits and _ (it names folders and runs)");
    }
  } else {
    r.Error(Mark{1, 1}, "missing pipeline: NAME (the pipeline's name, e.g. citizens_daily)");
  }
  if (root["schedule"]) {
    const auto& sn = root["schedule"];
    if (sn.IsMap()) {
      // schedule: {every: 6h}
      r.CheckKeys(sn, {"every"}, "schedule");
      if (sn["every"]) spec.schedule = "every " + r.Str(sn["every"], "schedule.every").value_or("");
      if (!sn["every"]) r.Error(sn, "schedule: as a mapping takes every: (e.g. {every: 6h})");
    } else {
      spec.schedule = r.Str(sn, "schedule").value_or("");
    }
  }
  if (root["timezone"]) spec.timezone = r.Str(root["timezone"], "timezone").value_or("UTC");
  if (root["start_date"]) {
    auto s = r.Str(root["start_date"], "start_date");
    if (s) {
      spec.start_date = Date::Parse(*s);
      if (!spec.start_date)
        r.Error(root["start_date"], "start_date '" + *s + "' is not YYYY-MM-DD");
    }
  }
  if (root["end_date"]) {
    auto s = r.Str(root["end_date"], "end_date");
    if (s) {
      spec.end_date = Date::Parse(*s);
      if (!spec.end_date) r.Error(root["end_date"], "end_date '" + *s + "' is not YYYY-MM-DD");
    }
  }
  if (root["catchup"]) spec.catchup = r.Bool(root["catchup"], "catchup").value_or(false);
  if (root["max_active_runs"]) {
    spec.max_active_runs =
        static_cast<int>(r.Int(root["max_active_runs"], "max_active_runs", 1, 64).value_or(1));
  }
  // The schedule, now that its time zone and start are known.
  if (root["schedule"] || root["timezone"]) {
    std::string problem;
    auto parsed =
        scheduler::Schedule::Parse(spec.schedule, spec.timezone, spec.start_date, &problem);
    if (!parsed) {
      bool zone = StartsWith(problem, "timezone") && root["timezone"];
      r.Error(zone ? root["timezone"] : root["schedule"] ? root["schedule"] : root, problem);
      // A bad zone hides the schedule's own problems: check it again in UTC.
      std::string other;
      if (zone && root["schedule"] &&
          !scheduler::Schedule::Parse(spec.schedule, "UTC", spec.start_date, &other)) {
        r.Error(root["schedule"], other);
      }
    }
  }
  if (spec.start_date && spec.end_date && *spec.end_date < *spec.start_date) {
    r.Error(root["end_date"], "end_date comes before start_date");
  }
  if (root["pools"] && r.IsMap(root["pools"], "pools")) {
    for (auto it = root["pools"].begin(); it != root["pools"].end(); ++it) {
      std::string name = it->first.Scalar();
      if (!IsIdentifier(name)) {
        r.Error(it->first, "pool name '" + name + "' must be letters, digits and _");
      }
      auto n = r.Int(it->second, "pools." + name, 1, 1024);
      if (n) spec.pools[name] = static_cast<int>(*n);
    }
  }
  if (root["on_failure"]) spec.on_failure = ParseHook(r, root["on_failure"], "on_failure");
  if (root["on_success"]) spec.on_success = ParseHook(r, root["on_success"], "on_success");
  if (root["on_late"]) spec.on_late = ParseHook(r, root["on_late"], "on_late");
  if (root["deadline"]) spec.deadline = r.Duration(root["deadline"], "deadline");
  if (root["on_late"] && !root["deadline"]) {
    r.Error(root["on_late"],
            "on_late: fires when a run is not finished by its deadline: set "
            "deadline: (e.g. 4h after its interval ends)");
  }
  if (root["lake"]) {
    spec.lake = r.Str(root["lake"], "lake").value_or(spec.lake);
    auto pos = spec.lake.find("://");
    std::string scheme = pos == std::string::npos ? "file" : spec.lake.substr(0, pos);
    if (scheme != "file" && scheme != "webhdfs" && scheme != "swebhdfs") {
      r.Error(root["lake"], "lake '" + spec.lake + "': unknown scheme '" + scheme +
                                "' (use a path, file:///path or webhdfs://namenode:9870/path)");
    } else if (scheme != "file" &&
               (spec.lake.size() <= pos + 3 || spec.lake.find('/', pos + 3) == std::string::npos ||
                spec.lake.find('/', pos + 3) + 1 >= spec.lake.size())) {
      r.Error(root["lake"],
              "lake '" + spec.lake + "' needs a host and a folder: webhdfs://namenode:9870/lake");
    }
  }
  if (root["hdfs"] && r.IsMap(root["hdfs"], "hdfs")) {
    static const std::vector<std::string> kHdfsKeys = {
        "user",        "https",   "ca_file", "delegation_token",
        "replication", "timeout", "retries", "cache_size"};
    spec.hdfs.name = "hdfs";
    spec.hdfs.type = "hdfs";
    spec.hdfs.mark = MarkOf(root["hdfs"]);
    for (auto kv = root["hdfs"].begin(); kv != root["hdfs"].end(); ++kv) {
      std::string key = kv->first.Scalar();
      if (std::find(kHdfsKeys.begin(), kHdfsKeys.end(), key) == kHdfsKeys.end()) {
        r.Error(kv->first, "hdfs." + key + " is not an option; known: " + Join(kHdfsKeys, ", "));
        continue;
      }
      if (!kv->second.IsScalar()) {
        r.Error(kv->second, "hdfs." + key + " must be a value");
        continue;
      }
      std::string v = kv->second.Scalar();
      spec.hdfs.options[key] = v;
      if (v.find("${") != std::string::npos) {
        try {
          ResolveSecret(v, spec.dir, "hdfs." + key);
        } catch (const sluice::Error& e) {
          r.Error(kv->second, e.what());
        }
      } else if (key == "https" && v != "true" && v != "false") {
        r.Error(kv->second, "hdfs.https must be true or false");
      } else if ((key == "replication" || key == "retries") &&
                 (v.empty() || v.size() > 3 ||
                  v.find_first_not_of("0123456789") != std::string::npos ||
                  (key == "replication" && std::atoi(v.c_str()) < 1))) {
        r.Error(kv->second, "hdfs." + key + " must be a whole number" +
                                (key == "replication" ? " from 1 (e.g. 2)" : " (e.g. 4)"));
      } else if (key == "timeout") {
        r.Duration(kv->second, "hdfs.timeout");
      } else if (key == "cache_size") {
        if (!ParseBytes(v)) {
          r.Error(kv->second, "hdfs.cache_size '" + v + "' is not a size (e.g. 20GB)");
        }
      } else if (key == "delegation_token" && !v.empty()) {
        r.Error(kv->second,
                "hdfs.delegation_token: write the token as ${env:NAME} or ${file:PATH}, never in "
                "the pipeline file");
      }
    }
  }
  if (root["warehouse"])
    spec.warehouse = r.Str(root["warehouse"], "warehouse").value_or(spec.warehouse);
  if (root["state"]) spec.state_dir = r.Str(root["state"], "state").value_or(spec.state_dir);
  if (root["max_parallel"])
    spec.max_parallel =
        static_cast<int>(r.Int(root["max_parallel"], "max_parallel", 1, 256).value_or(4));
  if (root["engine"]) {
    const auto& e = root["engine"];
    if (e.IsScalar()) {
      spec.engine = e.Scalar();
    } else if (r.IsMap(e, "engine")) {
      r.CheckKeys(
          e, {"type", "memory_limit", "temp_directory", "threads", "remote", "token", "lake_path"},
          "engine");
      if (e["type"]) spec.engine = e["type"].Scalar();
      if (e["memory_limit"]) spec.engine_options.memory_limit = e["memory_limit"].Scalar();
      if (e["temp_directory"]) spec.engine_options.temp_directory = e["temp_directory"].Scalar();
      if (e["threads"])
        spec.engine_options.threads =
            static_cast<int>(r.Int(e["threads"], "threads", 1, 1024).value_or(0));
      spec.spark.mark = MarkOf(e);
      if (e["remote"]) {
        spec.spark.remote = r.Str(e["remote"], "engine.remote").value_or("");
        if (!StartsWith(spec.spark.remote, "sc://") || spec.spark.remote.size() <= 5) {
          r.Error(e["remote"], "engine.remote '" + spec.spark.remote +
                                   "' is not a Spark Connect URL (sc://host:15002)");
        }
      }
      if (e["token"]) {
        spec.spark.token = r.Str(e["token"], "engine.token").value_or("");
        if (!StartsWith(spec.spark.token, "${")) {
          r.Error(e["token"],
                  "engine.token: write the token as ${env:NAME} or ${file:PATH}, never in the "
                  "pipeline file");
        } else {
          try {
            ResolveSecret(spec.spark.token, spec.dir, "engine.token");
          } catch (const sluice::Error& ex) {
            r.Error(e["token"], ex.what());
          }
        }
      }
      if (e["lake_path"])
        spec.spark.lake_path = r.Str(e["lake_path"], "engine.lake_path").value_or("");
    }
    if (spec.engine == "spark" && spec.spark.remote.empty()) {
      r.Error(e,
              "engine: spark needs remote: (the Spark Connect server, e.g. "
              "{type: spark, remote: \"sc://spark.example.com:15002\"})");
    } else if (spec.engine != "duckdb" && spec.engine != "spark") {
      r.Error(e, "engine '" + spec.engine +
                     "' is not an engine (duckdb, the embedded default, or spark with remote:)");
    } else if (!spec.spark.remote.empty() && spec.spark.lake_path.empty() &&
               (StartsWith(spec.lake, "webhdfs://") || StartsWith(spec.lake, "swebhdfs://"))) {
      // Spark's bundled Hadoop client fails on webhdfs:// (its shaded Jersey is incomplete),
      // and only the user knows the NameNode's RPC address.
      r.Error(e, "engine: spark with the lake on " + spec.lake +
                     " needs lake_path: the same folder as Spark names it, e.g. "
                     "hdfs://namenode:8020/lake (the NameNode's RPC address)");
    } else if (StartsWith(spec.spark.lake_path, "webhdfs://") ||
               StartsWith(spec.spark.lake_path, "swebhdfs://")) {
      r.Error(e["lake_path"], "engine.lake_path '" + spec.spark.lake_path +
                                  "': Spark's own Hadoop client cannot use webhdfs:// (its "
                                  "bundled Jersey is incomplete); name the lake by the "
                                  "NameNode's RPC address, e.g. hdfs://namenode:8020/lake");
    }
  }
  if (root["vars"] && r.IsMap(root["vars"], "vars")) {
    for (const auto& [k, v] : r.Pairs(root["vars"], "vars")) spec.vars[k] = v;
  }
  for (const auto& [k, v] : extra_vars) spec.vars[k] = v;

  int retries = 0;
  std::chrono::milliseconds retry_delay{30000}, max_retry_delay{600000}, timeout{3600000};
  if (root["defaults"] && r.IsMap(root["defaults"], "defaults")) {
    const auto& d = root["defaults"];
    r.CheckKeys(d, kDefaultKeys, "defaults");
    if (d["retries"])
      retries = static_cast<int>(r.Int(d["retries"], "retries", 0, kMaxRetries).value_or(0));
    if (d["retry_delay"])
      retry_delay = r.Duration(d["retry_delay"], "retry_delay").value_or(retry_delay);
    if (d["max_retry_delay"])
      max_retry_delay =
          r.Duration(d["max_retry_delay"], "max_retry_delay").value_or(max_retry_delay);
    if (d["timeout"]) timeout = r.Duration(d["timeout"], "timeout").value_or(timeout);
  }

  if (root["connections"] && r.IsMap(root["connections"], "connections")) {
    for (auto it = root["connections"].begin(); it != root["connections"].end(); ++it) {
      ConnectionSpec c;
      c.name = it->first.Scalar();
      c.mark = MarkOf(it->first);
      if (!r.IsMap(it->second, "connection '" + c.name + "'")) continue;
      for (auto kv = it->second.begin(); kv != it->second.end(); ++kv) {
        if (!kv->second.IsScalar()) {
          r.Error(kv->second,
                  "connection '" + c.name + "'." + kv->first.Scalar() + " must be a value");
          continue;
        }
        c.options[kv->first.Scalar()] = kv->second.Scalar();
      }
      c.type = c.options.count("type") ? c.options["type"] : "";
      if (c.type == "postgresql") c.type = "postgres";
      if (c.type == "mariadb") c.type = "mysql";
      if (std::find(kConnectionTypes.begin(), kConnectionTypes.end(), c.type) ==
          kConnectionTypes.end()) {
        r.Error(it->first,
                "connection '" + c.name + "' needs type: one of " + Join(kConnectionTypes, ", "));
      }
      for (const auto& [k, v] : c.options) {
        if (k == "password" && !v.empty() && !StartsWith(v, "${")) {
          r.Error(it->second[k], "connection '" + c.name +
                                     "': write the password as ${env:NAME} or ${file:PATH}, never "
                                     "in the pipeline file");
        }
        if (v.find("${") != std::string::npos) {
          try {
            ResolveSecret(v, spec.dir, "connection '" + c.name + "'." + k);
          } catch (const sluice::Error& e) {
            r.Error(it->second[k], e.what());
          }
        }
      }
      spec.connections[c.name] = c;
    }
  }

  std::vector<TemplateUse> uses;
  if (!root["tasks"] || !root["tasks"].IsSequence() || root["tasks"].size() == 0) {
    r.Error(root["tasks"] ? root["tasks"] : root, "tasks: must be a list of tasks");
    return spec;
  }
  std::set<std::string> ids;
  std::map<std::string, TaskKind> registered;
  {
    std::lock_guard<std::mutex> lock(kind_registry_mu);
    registered = KindRegistry();
  }
  std::vector<std::string> kinds;
  for (const auto& [k, keys] : kKindKeys) kinds.push_back(k);
  for (const auto& [k, kind] : registered) kinds.push_back(k);
  std::sort(kinds.begin(), kinds.end());
  for (const auto& n : root["tasks"]) {
    if (!r.IsMap(n, "a task")) continue;
    TaskSpec t;
    t.mark = MarkOf(n);
    t.retries = retries;
    t.retry_delay = retry_delay;
    t.max_retry_delay = max_retry_delay;
    t.timeout = timeout;
    if (n["id"]) t.id = r.Str(n["id"], "id").value_or("");
    if (t.id.empty()) {
      r.Error(n, "task needs id: (a name like ingest_citizens)");
    } else if (!IsIdentifier(t.id)) {
      r.Error(n["id"], "task id '" + t.id + "' must be letters, digits and _");
    } else if (!ids.insert(t.id).second) {
      r.Error(n["id"], "task id '" + t.id + "' is used twice; ids must be unique");
    }
    if (n["kind"]) t.kind = r.Str(n["kind"], "kind").value_or("");
    const std::vector<std::string>* kind_keys = nullptr;
    const TaskKind* registered_kind = nullptr;
    if (auto kk = kKindKeys.find(t.kind); kk != kKindKeys.end()) kind_keys = &kk->second;
    if (auto rk = registered.find(t.kind); rk != registered.end()) {
      registered_kind = &rk->second;
      kind_keys = &rk->second.keys;
    }
    if (kind_keys == nullptr) {
      std::string near = ClosestMatch(t.kind, kinds);
      r.Error(n["kind"] ? n["kind"] : n,
              "task '" + t.id + "' has " +
                  (t.kind.empty() ? "no kind:" : "unknown kind '" + t.kind + "'") +
                  (near.empty() || t.kind.empty() ? " (use one of " + Join(kinds, ", ") + ")"
                                                  : " (did you mean '" + near + "'?)"));
      continue;
    }
    std::vector<std::string> allowed = kCommonTaskKeys;
    allowed.insert(allowed.end(), kind_keys->begin(), kind_keys->end());
    r.CheckKeys(n, allowed, "task '" + t.id + "' (" + t.kind + ")");
    if (n["after"]) {
      t.after = r.StrList(n["after"], "after");
      if (n["after"].IsSequence()) {
        for (const auto& item : n["after"]) t.where["after:" + item.Scalar()] = {"", MarkOf(item)};
      } else {
        t.where["after:" + n["after"].Scalar()] = {"", MarkOf(n["after"])};
      }
    }
    if (n["retries"])
      t.retries =
          static_cast<int>(r.Int(n["retries"], "retries", 0, kMaxRetries).value_or(retries));
    if (n["retry_delay"])
      t.retry_delay = r.Duration(n["retry_delay"], "retry_delay").value_or(retry_delay);
    if (n["max_retry_delay"])
      t.max_retry_delay =
          r.Duration(n["max_retry_delay"], "max_retry_delay").value_or(max_retry_delay);
    if (n["timeout"]) t.timeout = r.Duration(n["timeout"], "timeout").value_or(timeout);
    if (n["pool"]) {
      t.pool = r.Str(n["pool"], "pool").value_or("");
      if (!spec.pools.count(t.pool)) {
        std::vector<std::string> names;
        for (const auto& [k, v] : spec.pools) names.push_back(k);
        r.Error(n["pool"], "pool '" + t.pool + "' is not declared under pools: (" +
                               (names.empty() ? "write pools: {" + t.pool + ": 2}"
                                              : "declared: " + Join(names, ", ")) +
                               ")");
      }
    }

    size_t index = spec.tasks.size();
    if ((t.kind == "sql" || t.kind == "check") && n["engine"]) {
      t.engine = r.Str(n["engine"], "engine").value_or("");
      if (t.engine != "duckdb" && t.engine != "spark") {
        r.Error(n["engine"], "engine '" + t.engine + "' of task '" + t.id +
                                 "' is not an engine (duckdb or spark)");
      } else if (t.engine == "spark" && spec.spark.remote.empty()) {
        r.Error(n["engine"], "task '" + t.id +
                                 "' runs on spark, but the pipeline names no Spark Connect "
                                 "server: add engine: {remote: \"sc://host:15002\"}");
      }
    }
    if (t.kind == "csv_import" || t.kind == "sql") {
      if (n["into"]) {
        t.into = r.Str(n["into"], "into").value_or("");
        if (!IsDatasetName(t.into)) {
          r.Error(n["into"], "into: '" + t.into +
                                 "' is not a dataset name (write zone.name, "
                                 "lowercase, e.g. raw.citizens)");
        }
      } else {
        r.Error(n, t.kind + " '" + t.id + "' needs into: zone.name (the dataset it writes)");
      }
    }
    if (t.kind == "csv_import") {
      ParseCsvImport(r, n, t, uses, index);
      if (!t.csv.connection.empty()) {
        auto c = spec.connections.find(t.csv.connection);
        if (c == spec.connections.end()) {
          r.Error(n["connection"],
                  "connection '" + t.csv.connection + "' is not defined under connections:");
        } else if (c->second.type != "sftp") {
          r.Error(n["connection"], "csv_import reads from an sftp connection, not " +
                                       c->second.type + " (a database is read by db_import)");
        }
      }
    } else if (t.kind == "sql") {
      if (n["format"]) {
        t.sql.format = r.Str(n["format"], "format").value_or("parquet");
        if (t.sql.format != "parquet" && t.sql.format != "orc") {
          r.Error(n["format"], "format '" + t.sql.format + "' of task '" + t.id +
                                   "' is not a file format (parquet, the default, or orc)");
        } else if (t.sql.format == "orc" && spec.EngineOf(t) != "spark") {
          r.Error(n["format"], "task '" + t.id +
                                   "' writes format: orc, which only the spark engine writes "
                                   "(DuckDB cannot write ORC): add engine: spark to the task, or "
                                   "write parquet");
        }
      }
      if (!n["sql"]) {
        r.Error(n, "sql '" + t.id + "' needs sql: (a SELECT, or the path of a .sql file)");
      } else if (auto s = r.Str(n["sql"], "sql")) {
        std::string text = Trim(*s);
        if (EndsWith(text, ".sql") && text.find('\n') == std::string::npos) {
          std::string file = spec.ResolvePath(text);
          if (!std::filesystem::exists(file)) {
            r.Error(n["sql"], "sql file '" + text + "' does not exist (looked in " + file + ")");
          } else {
            t.sql.file = file;
            t.sql.text = ReadTextFile(file);
            t.sql.mark = {1, 1};
            uses.push_back({t.sql.text, t.sql.mark, file, index, true});
          }
        } else {
          t.sql.text = *s;
          t.sql.mark = MarkOf(n["sql"]);
          uses.push_back({t.sql.text, t.sql.mark, "", index, true});
        }
      }
    } else if (t.kind == "check") {
      ParseCheck(r, n, t, uses, index);
    } else if (t.kind == "db_import") {
      ParseDbImport(r, n, t);
      if (!t.import.connection.empty()) {
        auto c = spec.connections.find(t.import.connection);
        if (c == spec.connections.end()) {
          std::vector<std::string> names;
          for (const auto& [k, v] : spec.connections) names.push_back(k);
          r.Error(n["connection"],
                  "connection '" + t.import.connection + "' is not defined under connections:" +
                      (names.empty() ? "" : " (defined: " + Join(names, ", ") + ")"));
        } else if (c->second.type != "mysql" && c->second.type != "postgres") {
          r.Error(n["connection"],
                  "db_import reads from a mysql or postgres connection, not " + c->second.type);
        }
      }
    } else if (registered_kind != nullptr) {
      KindReader kr(r, spec, n, t, uses, index);
      t.options = registered_kind->parse(kr, t);
    } else if (t.kind == "db_load") {
      ParseDbLoad(r, n, t);
      if (!t.load.connection.empty()) {
        auto c = spec.connections.find(t.load.connection);
        if (c == spec.connections.end()) {
          std::vector<std::string> names;
          for (const auto& [k, v] : spec.connections) names.push_back(k);
          r.Error(n["connection"],
                  "connection '" + t.load.connection + "' is not defined under connections:" +
                      (names.empty() ? "" : " (defined: " + Join(names, ", ") + ")"));
        } else if (c->second.type == "sftp") {
          r.Error(n["connection"],
                  "db_load cannot load into an sftp connection (use a postgres, "
                  "mysql or duckdb connection, or leave out connection: for the "
                  "embedded warehouse)");
        }
      }
    }
    spec.tasks.push_back(t);
  }

  // Templates: syntax, names, and the datasets they read.
  for (const auto& use : uses) {
    std::vector<TemplateIssue> issues;
    auto exprs = ParseTemplate(use.text, &issues);
    std::string file = use.file.empty() ? path : use.file;
    for (const auto& issue : issues) {
      diagnostics->push_back({file, OffsetMark(use.mark, use.text, issue.offset, !use.file.empty()),
                              "template: " + issue.message});
    }
    for (const auto& e : exprs) {
      Mark m = OffsetMark(use.mark, use.text, e.offset, !use.file.empty());
      std::string problem = CheckTemplateExpr(e, spec.vars);
      if (problem.empty() && e.name == "ref" && !use.allow_ref) {
        problem = "ref() is only for SQL; a path cannot read a dataset";
      }
      if (!problem.empty()) {
        diagnostics->push_back({file, m, problem});
        continue;
      }
      if (e.name == "ref") {
        if (!IsDatasetName(e.args[0])) {
          diagnostics->push_back(
              {file, m, "ref('" + e.args[0] + "'): not a dataset name (zone.name)"});
        } else {
          spec.tasks[use.task_index].reads.push_back(e.args[0]);
          spec.tasks[use.task_index].where.emplace("read:" + e.args[0],
                                                   std::make_pair(use.file, m));
        }
      }
    }
  }

  // Datasets: one producer each; every dataset read is produced by some task.
  std::map<std::string, std::string> producer;
  for (const auto& t : spec.tasks) {
    std::vector<std::string> outs = t.produces;
    if (!t.into.empty()) outs.push_back(t.into);
    if (t.kind == "csv_import" && !t.csv.rejects_into.empty()) outs.push_back(t.csv.rejects_into);
    for (const auto& d : outs) {
      auto [it, inserted] = producer.emplace(d, t.id);
      if (!inserted) {
        r.Error(t.mark, "task '" + t.id + "' writes " + d + ", which task '" + it->second +
                            "' already writes; a dataset has one producer");
      }
    }
  }
  // tables: all writes every dataset of its zone: another task writing one of them (not in
  // exclude:) would race it for the same partition.
  for (const auto& t : spec.tasks) {
    if (!t.produces_zone) continue;
    for (const auto& [d, id] : producer) {
      if (id != t.id && ZoneProduces(t, d)) {
        r.Error(t.mark, "task '" + t.id + "' imports tables: all into zone " + t.import.zone +
                            ", which includes " + d + ", written by task '" + id +
                            "'; add it to exclude: or import into another zone:");
      }
    }
  }
  std::vector<std::string> produced;
  for (const auto& [d, id] : producer) produced.push_back(d);
  // ORC datasets: only Spark reads them.
  for (const auto& t : spec.tasks) {
    if (spec.EngineOf(t) == "spark") continue;
    for (const auto& d : t.reads) {
      auto it = producer.find(d);
      const TaskSpec* writer = it == producer.end() ? nullptr : spec.FindTask(it->second);
      if (!writer || writer->kind != "sql" || writer->sql.format != "orc") continue;
      r.ErrorAt(t, "read:" + d,
                "task '" + t.id + "' reads " + d + ", which task '" + writer->id +
                    "' writes as ORC, and only the spark engine reads ORC (DuckDB cannot): " +
                    (t.kind == "sql" || t.kind == "check"
                         ? "add engine: spark to '" + t.id + "', or "
                         : std::string(t.kind + " runs on the embedded engine: ")) +
                    "make '" + writer->id + "' write parquet");
    }
  }
  for (auto& t : spec.tasks) {
    std::set<std::string> up(t.after.begin(), t.after.end());
    for (const auto& a : t.after) {
      if (!spec.FindTask(a)) {
        std::vector<std::string> all;
        for (const auto& o : spec.tasks) all.push_back(o.id);
        std::string near = ClosestMatch(a, all);
        r.ErrorAt(t, "after:" + a,
                  "task '" + t.id + "' runs after '" + a + "', which is not a task" +
                      (near.empty() ? "" : " (did you mean '" + near + "'?)"));
      }
    }
    std::sort(t.reads.begin(), t.reads.end());
    t.reads.erase(std::unique(t.reads.begin(), t.reads.end()), t.reads.end());
    for (const auto& d : t.reads) {
      auto it = producer.find(d);
      if (it == producer.end()) {
        std::string zone_producer = spec.ProducerOf(d);
        if (!zone_producer.empty()) {
          if (zone_producer != t.id) up.insert(zone_producer);
          continue;
        }
        std::string near = ClosestMatch(d, produced);
        r.ErrorAt(t, "read:" + d,
                  "task '" + t.id + "' reads " + d + ", which no task produces" +
                      (near.empty() ? " (add a task with into: " + d + ")"
                                    : " (did you mean '" + near + "'?)"));
      } else if (it->second != t.id) {
        up.insert(it->second);
      } else {
        r.ErrorAt(t, "read:" + d, "task '" + t.id + "' reads " + d + ", which it writes itself");
      }
    }
    t.upstream.assign(up.begin(), up.end());
  }

  // Cycles: report each one as a path, like ninja's "dependency cycle: a -> b -> a".
  std::map<std::string, int> color;  // 0 new, 1 on stack, 2 done
  std::vector<std::string> stack;
  std::set<std::string> reported;
  std::function<void(const TaskSpec&)> visit = [&](const TaskSpec& t) {
    color[t.id] = 1;
    stack.push_back(t.id);
    for (const auto& u : t.upstream) {
      const TaskSpec* ut = spec.FindTask(u);
      if (!ut) continue;
      if (color[u] == 1) {
        auto start = std::find(stack.begin(), stack.end(), u);
        std::vector<std::string> cycle(start, stack.end());
        cycle.push_back(u);
        std::reverse(cycle.begin(), cycle.end());
        std::string key = Join(cycle, " -> ");
        if (reported.insert(key).second) {
          r.Error(ut->mark,
                  "dependency cycle: " + key + " (remove one of these after: entries or ref()s)");
        }
      } else if (color[u] == 0) {
        visit(*ut);
      }
    }
    stack.pop_back();
    color[t.id] = 2;
  };
  for (const auto& t : spec.tasks) {
    if (color[t.id] == 0) visit(t);
  }
  return spec;
}

PipelineSpec LoadPipelineOrThrow(const std::string& path,
                                 const std::map<std::string, std::string>& extra_vars,
                                 const std::string* content) {
  std::vector<Diagnostic> diagnostics;
  PipelineSpec spec = LoadPipeline(path, extra_vars, &diagnostics, content);
  if (!diagnostics.empty()) {
    std::string msg = std::to_string(diagnostics.size()) + " problem" +
                      (diagnostics.size() == 1 ? "" : "s") + " in the pipeline file:";
    for (const auto& d : diagnostics) msg += "\n  " + FormatDiagnostic(d);
    msg += "\n(run 'sluice validate " + path + "' after fixing them)";
    throw InvalidInput(msg);
  }
  return spec;
}

void RegisterTaskKind(TaskKind kind) {
  std::lock_guard<std::mutex> lock(kind_registry_mu);
  std::string name = kind.name;
  KindRegistry()[name] = std::move(kind);
}

const TaskKind* FindTaskKind(const std::string& name) {
  std::lock_guard<std::mutex> lock(kind_registry_mu);
  auto it = KindRegistry().find(name);
  return it == KindRegistry().end() ? nullptr : &it->second;
}

}  // namespace sluice::pipeline
