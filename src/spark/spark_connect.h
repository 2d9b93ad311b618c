#pragma once

// A Spark Connect client (gRPC, the protocol of Spark 4.3: docs/decisions.md §18): one session
// on a Spark Connect server that runs SQL on the cluster behind it. sluice sends SQL and has
// Spark write Parquet; it never decodes Arrow.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "engine/engine.h"

namespace sluice::spark {

struct SparkOptions {
  std::string host;
  int port = 15002;
  std::string token;                 // sent as "authorization: Bearer <token>" when set
  std::string user;                  // user_context.user_id; "" = the OS user
  int connect_timeout_seconds = 30;  // reaching the server, and every short call
};

// sc://host[:port] (port 15002). Throws InvalidInput naming the URL.
SparkOptions ParseRemote(const std::string& url);
std::string FormatRemote(const SparkOptions& o);

// Where a running statement is, from Spark's execution_progress messages.
struct JobProgress {
  int64_t stages = 0;
  int64_t stages_done = 0;
  int64_t tasks = 0;
  int64_t tasks_done = 0;
  int64_t inflight = 0;
  int64_t input_bytes = 0;  // read by the stages so far
};

// A session on a Spark Connect server. Execute and Analyze may be called from one thread at a
// time; Interrupt from any thread. Every call ends by the cancel token (Ctrl-C, a task's
// timeout), which also interrupts the operation on the server.
class SparkSession {
 public:
  // Connects and asks for the server's version. Throws Error(kConnection, retryable) when the
  // server cannot be reached within the timeout, InvalidInput for a refused token.
  static std::unique_ptr<SparkSession> Connect(const SparkOptions& options);
  virtual ~SparkSession() = default;

  virtual const std::string& version() const = 0;
  // "sc://host:port", for messages.
  virtual std::string Describe() const = 0;

  // Runs one SQL statement (a command: DDL, SET, INSERT OVERWRITE DIRECTORY ...) to its end.
  // A dropped stream is reattached. Throws InvalidInput with Spark's message (error class,
  // SQLSTATE) for SQL Spark rejects, kCancelled when cancel fires, kConnection when the server
  // goes away. Without a cancel token the statement must be short: it ends after the connect
  // timeout.
  virtual void Execute(const std::string& sql, const CancelToken* cancel,
                       const std::function<void(const JobProgress&)>& progress = nullptr) = 0;

  // The columns a query would produce (Spark's AnalyzePlan), with sluice's type names
  // (BIGINT, DECIMAL(22,2), VARCHAR, TIMESTAMP, ...). Throws InvalidInput with Spark's message.
  virtual std::vector<engine::Column> Analyze(const std::string& sql) = 0;

  // The values of Spark configuration keys that are set (Config's GetOption); unset keys are
  // left out.
  virtual std::map<std::string, std::string> GetConf(const std::vector<std::string>& keys) = 0;

  // Interrupts every operation of this session on the server. Thread-safe.
  virtual void Interrupt() = 0;
};

// Spark's error message, shortened for a user: the first line with the error class and
// SQLSTATE, and the query context line when Spark gives one.
std::string ShortSparkMessage(const std::string& message);

}  // namespace sluice::spark
