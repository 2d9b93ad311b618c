#include "spark/spark_connect.h"

#include <grpcpp/grpcpp.h>
#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "common/error.h"
#include "common/strings.h"
#include "spark/connect/base.grpc.pb.h"

namespace sluice::spark {
namespace {

namespace sc = ::spark::connect;

constexpr const char* kClientType = "sluice";
// How often a dropped stream is reattached before the statement fails.
constexpr int kReattachTries = 5;

std::string Uuid() {
  std::ifstream in("/proc/sys/kernel/random/uuid");
  std::string id;
  if (in && std::getline(in, id) && id.size() == 36) return id;
  // Fallback: a version-4 UUID from a random generator.
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  uint64_t a = gen(), b = gen();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string OsUser() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  return "sluice";
}

std::string TypeName(const sc::DataType& t) {
  switch (t.kind_case()) {
    case sc::DataType::kBoolean:
      return "BOOLEAN";
    case sc::DataType::kByte:
      return "TINYINT";
    case sc::DataType::kShort:
      return "SMALLINT";
    case sc::DataType::kInteger:
      return "INTEGER";
    case sc::DataType::kLong:
      return "BIGINT";
    case sc::DataType::kFloat:
      return "FLOAT";
    case sc::DataType::kDouble:
      return "DOUBLE";
    case sc::DataType::kDecimal: {
      int p = t.decimal().has_precision() ? t.decimal().precision() : 10;
      int s = t.decimal().has_scale() ? t.decimal().scale() : 0;
      return "DECIMAL(" + std::to_string(p) + "," + std::to_string(s) + ")";
    }
    case sc::DataType::kString:
    case sc::DataType::kChar:
    case sc::DataType::kVarChar:
      return "VARCHAR";
    case sc::DataType::kBinary:
      return "BLOB";
    case sc::DataType::kDate:
      return "DATE";
    case sc::DataType::kTimestamp:
      return "TIMESTAMP WITH TIME ZONE";
    case sc::DataType::kTimestampNtz:
      return "TIMESTAMP";
    case sc::DataType::kNull:
      return "NULL";
    case sc::DataType::kArray:
      return TypeName(t.array().element_type()) + "[]";
    case sc::DataType::kStruct:
      return "STRUCT";
    case sc::DataType::kMap:
      return "MAP";
    default:
      return "OTHER";
  }
}

bool IsAnalysisError(const std::string& message) {
  // Spark's error classes for SQL it rejects carry SQLSTATE class 42 (syntax or access rule
  // violation) or 22 (data exception) or 0A (feature not supported).
  return message.find("SQLSTATE: 42") != std::string::npos ||
         message.find("SQLSTATE: 0A") != std::string::npos ||
         message.find("ParseException") != std::string::npos ||
         message.find("AnalysisException") != std::string::npos;
}

class SparkSessionImpl : public SparkSession {
 public:
  explicit SparkSessionImpl(const SparkOptions& o) : o_(o), session_id_(Uuid()) {
    if (o_.user.empty()) o_.user = OsUser();
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    channel_ = grpc::CreateCustomChannel(o_.host + ":" + std::to_string(o_.port),
                                         grpc::InsecureChannelCredentials(), args);
    stub_ = sc::SparkConnectService::NewStub(channel_);
  }

  ~SparkSessionImpl() override {
    if (!opened_) return;
    // Frees the session's state on the server; best effort, briefly.
    sc::ReleaseSessionRequest req;
    req.set_session_id(session_id_);
    *req.mutable_user_context() = User();
    req.set_client_type(kClientType);
    sc::ReleaseSessionResponse resp;
    grpc::ClientContext ctx;
    Prepare(ctx, 5);
    stub_->ReleaseSession(&ctx, req, &resp);
  }

  void Open() {
    // Waits for the channel to connect; a refused connection fails at once (the task's retry
    // policy tries again later) instead of waiting out the timeout.
    auto deadline =
        std::chrono::system_clock::now() + std::chrono::seconds(o_.connect_timeout_seconds);
    grpc_connectivity_state state = channel_->GetState(true);
    while (state != GRPC_CHANNEL_READY) {
      if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
        throw Error(ErrorKind::kConnection,
                    "cannot connect to the Spark Connect server " + Describe() +
                        " (connection refused or failed; check engine.remote: and that the "
                        "server is running)",
                    true);
      }
      if (!channel_->WaitForStateChange(state, deadline)) {
        throw Error(ErrorKind::kConnection,
                    "the Spark Connect server " + Describe() + " did not answer within " +
                        std::to_string(o_.connect_timeout_seconds) +
                        " s (check engine.remote: and that the server is running)",
                    true);
      }
      state = channel_->GetState(true);
    }
    sc::AnalyzePlanRequest req = AnalyzeRequest();
    req.mutable_spark_version();
    sc::AnalyzePlanResponse resp;
    grpc::ClientContext ctx;
    Prepare(ctx, o_.connect_timeout_seconds);
    grpc::Status st = stub_->AnalyzePlan(&ctx, req, &resp);
    if (!st.ok()) throw Translate(st, "connecting to " + Describe());
    version_ = resp.spark_version().version();
    server_session_ = resp.server_side_session_id();
    opened_ = true;
  }

  const std::string& version() const override { return version_; }

  std::string Describe() const override { return FormatRemote(o_); }

  void Execute(const std::string& sql, const CancelToken* cancel,
               const std::function<void(const JobProgress&)>& progress) override {
    sc::ExecutePlanRequest req;
    req.set_session_id(session_id_);
    *req.mutable_user_context() = User();
    req.set_client_type(kClientType);
    std::string op = Uuid();
    req.set_operation_id(op);
    if (!server_session_.empty()) req.set_client_observed_server_side_session_id(server_session_);
    req.mutable_plan()
        ->mutable_command()
        ->mutable_sql_command()
        ->mutable_input()
        ->mutable_sql()
        ->set_query(sql);
    req.add_request_options()->mutable_reattach_options()->set_reattachable(true);

    std::string last_response;
    bool complete = false;
    for (int attempt = 0; !complete; attempt++) {
      grpc::ClientContext ctx;
      // A statement with a cancel token ends by it (Ctrl-C, the task's timeout); one without
      // (a session's SETs, validate's views) is short and ends by the connect timeout, even
      // when the server stops answering.
      Prepare(ctx, cancel ? 0 : o_.connect_timeout_seconds);
      int hook = -1;
      std::atomic<bool> stopped{false};
      if (cancel) {
        hook = const_cast<CancelToken*>(cancel)->OnCancel([&ctx, &stopped, this, op] {
          stopped = true;
          InterruptOperation(op);
          ctx.TryCancel();
        });
      }
      std::unique_ptr<grpc::ClientReader<sc::ExecutePlanResponse>> reader;
      if (attempt == 0) {
        reader = stub_->ExecutePlan(&ctx, req);
      } else {
        sc::ReattachExecuteRequest re;
        re.set_session_id(session_id_);
        *re.mutable_user_context() = User();
        re.set_client_type(kClientType);
        re.set_operation_id(op);
        if (!last_response.empty()) re.set_last_response_id(last_response);
        reader = stub_->ReattachExecute(&ctx, re);
      }
      sc::ExecutePlanResponse resp;
      JobProgress jp;
      while (reader->Read(&resp)) {
        if (!resp.response_id().empty()) last_response = resp.response_id();
        if (!resp.server_side_session_id().empty()) server_session_ = resp.server_side_session_id();
        if (resp.has_result_complete()) complete = true;
        if (resp.has_execution_progress() && progress) {
          const auto& ep = resp.execution_progress();
          jp = JobProgress{};
          jp.stages = ep.stages_size();
          jp.inflight = ep.num_inflight_tasks();
          for (const auto& s : ep.stages()) {
            jp.tasks += s.num_tasks();
            jp.tasks_done += s.num_completed_tasks();
            jp.stages_done += s.done() ? 1 : 0;
            jp.input_bytes += s.input_bytes_read();
          }
          progress(jp);
        }
      }
      grpc::Status st = reader->Finish();
      if (cancel) const_cast<CancelToken*>(cancel)->RemoveOnCancel(hook);
      if (stopped || (cancel && cancel->cancelled())) {
        throw Cancelled("the Spark job was interrupted on " + Describe() + ": " +
                        (cancel ? cancel->reason() : std::string("cancelled")));
      }
      if (st.ok() && complete) break;
      bool dropped = st.error_code() == grpc::StatusCode::UNAVAILABLE ||
                     (st.ok() && !complete);  // the stream ended early (a proxy, a timeout)
      if (!dropped || attempt + 1 >= kReattachTries) {
        if (st.ok()) {
          throw Error(ErrorKind::kConnection,
                      "the Spark Connect stream from " + Describe() +
                          " ended before the statement finished, " +
                          std::to_string(kReattachTries) + " times",
                      true);
        }
        throw Translate(st, "Spark");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500 << attempt));
    }
    Release(op);
  }

  std::vector<engine::Column> Analyze(const std::string& sql) override {
    sc::AnalyzePlanRequest req = AnalyzeRequest();
    req.mutable_schema()->mutable_plan()->mutable_root()->mutable_sql()->set_query(sql);
    sc::AnalyzePlanResponse resp;
    grpc::ClientContext ctx;
    Prepare(ctx, std::max(o_.connect_timeout_seconds, 120));
    grpc::Status st = stub_->AnalyzePlan(&ctx, req, &resp);
    if (!st.ok()) throw Translate(st, "Spark");
    std::vector<engine::Column> out;
    const auto& schema = resp.schema().schema();
    if (schema.has_struct_()) {
      for (const auto& f : schema.struct_().fields())
        out.push_back({f.name(), TypeName(f.data_type())});
    }
    return out;
  }

  std::map<std::string, std::string> GetConf(const std::vector<std::string>& keys) override {
    sc::ConfigRequest req;
    req.set_session_id(session_id_);
    *req.mutable_user_context() = User();
    req.set_client_type(kClientType);
    for (const auto& k : keys) req.mutable_operation()->mutable_get_option()->add_keys(k);
    sc::ConfigResponse resp;
    grpc::ClientContext ctx;
    Prepare(ctx, o_.connect_timeout_seconds);
    grpc::Status st = stub_->Config(&ctx, req, &resp);
    if (!st.ok()) throw Translate(st, "reading Spark's configuration");
    std::map<std::string, std::string> out;
    for (const auto& kv : resp.pairs()) {
      if (kv.has_value()) out[kv.key()] = kv.value();
    }
    return out;
  }

  void Interrupt() override {
    sc::InterruptRequest req;
    req.set_session_id(session_id_);
    *req.mutable_user_context() = User();
    req.set_client_type(kClientType);
    req.set_interrupt_type(sc::InterruptRequest::INTERRUPT_TYPE_ALL);
    sc::InterruptResponse resp;
    grpc::ClientContext ctx;
    Prepare(ctx, 10);
    stub_->Interrupt(&ctx, req, &resp);
  }

 private:
  sc::UserContext User() const {
    sc::UserContext u;
    u.set_user_id(o_.user);
    u.set_user_name(o_.user);
    return u;
  }

  sc::AnalyzePlanRequest AnalyzeRequest() const {
    sc::AnalyzePlanRequest req;
    req.set_session_id(session_id_);
    *req.mutable_user_context() = User();
    req.set_client_type(kClientType);
    return req;
  }

  // Metadata and a deadline (seconds; 0 = none: the cancel token ends the call).
  void Prepare(grpc::ClientContext& ctx, int seconds) const {
    if (!o_.token.empty()) ctx.AddMetadata("authorization", "Bearer " + o_.token);
    if (seconds > 0) {
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
    }
  }

  void InterruptOperation(const std::string& op) {
    sc::InterruptRequest req;
    req.set_session_id(session_id_);
    *req.mutable_user_context() = User();
    req.set_client_type(kClientType);
    req.set_interrupt_type(sc::InterruptRequest::INTERRUPT_TYPE_OPERATION_ID);
    req.set_operation_id(op);
    sc::InterruptResponse resp;
    grpc::ClientContext ctx;
    Prepare(ctx, 5);
    stub_->Interrupt(&ctx, req, &resp);
  }

  void Release(const std::string& op) {
    sc::ReleaseExecuteRequest req;
    req.set_session_id(session_id_);
    *req.mutable_user_context() = User();
    req.set_client_type(kClientType);
    req.set_operation_id(op);
    req.mutable_release_all();
    sc::ReleaseExecuteResponse resp;
    grpc::ClientContext ctx;
    Prepare(ctx, 10);
    stub_->ReleaseExecute(&ctx, req, &resp);
  }

  Error Translate(const grpc::Status& st, const std::string& what) const {
    std::string msg = st.error_message();
    switch (st.error_code()) {
      case grpc::StatusCode::UNAVAILABLE:
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return Error(ErrorKind::kConnection,
                     what + ": Spark Connect server " + Describe() + " is unreachable (" + msg +
                         "); check engine.remote: and that the server is running",
                     true);
      case grpc::StatusCode::UNAUTHENTICATED:
      case grpc::StatusCode::PERMISSION_DENIED:
        return InvalidInput(what + ": " + Describe() + " refused the session (" + msg +
                            "); set engine.token: to the server's "
                            "spark.connect.authenticate.token, e.g. ${env:SPARK_CONNECT_TOKEN}");
      case grpc::StatusCode::CANCELLED:
        return Cancelled(what + ": the call to " + Describe() + " was cancelled");
      default:
        break;
    }
    if (IsAnalysisError(msg)) return InvalidInput(what + ": " + ShortSparkMessage(msg));
    return IoError(what + " on " + Describe() + " failed: " + ShortSparkMessage(msg));
  }

  SparkOptions o_;
  std::string session_id_;
  std::string server_session_;
  std::string version_;
  bool opened_ = false;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<sc::SparkConnectService::Stub> stub_;
};

}  // namespace

SparkOptions ParseRemote(const std::string& url) {
  if (!StartsWith(url, "sc://")) {
    throw InvalidInput("engine.remote '" + url + "' is not a Spark Connect URL (sc://host:15002)");
  }
  std::string rest = url.substr(5);
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  if (auto semi = rest.find(';'); semi != std::string::npos) rest.resize(semi);
  SparkOptions o;
  auto colon = rest.rfind(':');
  o.host = rest.substr(0, colon);
  if (colon != std::string::npos) {
    std::string port = rest.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::atoi(port.c_str()) < 1 ||
        std::atoi(port.c_str()) > 65535) {
      throw InvalidInput("engine.remote '" + url + "': port '" + port +
                         "' is not a number from 1 to 65535");
    }
    o.port = std::atoi(port.c_str());
  }
  if (o.host.empty()) throw InvalidInput("engine.remote '" + url + "' names no host");
  return o;
}

std::string FormatRemote(const SparkOptions& o) {
  return "sc://" + o.host + ":" + std::to_string(o.port);
}

std::string ShortSparkMessage(const std::string& message) {
  // The first line that says something.
  std::string first;
  size_t pos = 0;
  while (first.empty() && pos < message.size()) {
    size_t nl = message.find('\n', pos);
    first = Trim(message.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    pos = nl == std::string::npos ? message.size() : nl + 1;
  }
  // The query context: "== SQL (line 3, position 8) ==".
  auto ctx = message.find("== SQL");
  if (ctx != std::string::npos) {
    auto end = message.find("==", ctx + 6);
    std::string where =
        end == std::string::npos ? "" : Trim(message.substr(ctx + 3, end - ctx - 3));
    if (where.find("line") != std::string::npos) first += " (" + where + ")";
  }
  return first;
}

std::unique_ptr<SparkSession> SparkSession::Connect(const SparkOptions& options) {
  auto s = std::make_unique<SparkSessionImpl>(options);
  s->Open();
  return s;
}

}  // namespace sluice::spark
