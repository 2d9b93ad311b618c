// The PostgreSQL connector: libpq connections, binary COPY, and the lake -> PostgreSQL type
// mapping. Only this folder includes libpq.
#include "connectors/postgres/postgres.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "common/cancel.h"
#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"

namespace sluice::connectors::postgres {
namespace {

// PostgreSQL's epoch for dates and timestamps is 2000-01-01.
constexpr int32_t kPgEpochDays = 10957;
constexpr int64_t kPgEpochMicros = 946684800000000LL;

void PutBig16(std::string& b, uint16_t v) {
  char c[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  b.append(c, 2);
}
void PutBig32(std::string& b, uint32_t v) {
  char c[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  b.append(c, 4);
}
void PutBig64(std::string& b, uint64_t v) {
  PutBig32(b, static_cast<uint32_t>(v >> 32));
  PutBig32(b, static_cast<uint32_t>(v));
}

// Splits a magnitude with `scale` fraction digits into base-10000 groups aligned on the decimal
// point, most significant first; returns the weight (position of the first group). U is
// uint64_t when the value fits, for speed, else unsigned __int128.
template <typename U>
int NumericGroups(U mag, int scale, uint16_t* groups, int* count) {
  U pow10 = 1;
  for (int i = 0; i < scale; i++) pow10 *= 10;
  U ip = mag / pow10, fp = mag % pow10;
  uint16_t frac[10], ints[10];
  int nfrac = (scale + 3) / 4, nint = 0;
  int rem = scale % 4;
  for (int g = 0; g < nfrac; g++) {
    if (g == 0 && rem != 0) {
      // The last group holds only `rem` digits: scale them up to a whole group.
      U m = rem == 1 ? 10 : rem == 2 ? 100 : 1000;
      frac[g] = static_cast<uint16_t>((fp % m) * (10000 / m));
      fp /= m;
    } else {
      frac[g] = static_cast<uint16_t>(fp % 10000);
      fp /= 10000;
    }
  }
  while (ip > 0) {
    ints[nint++] = static_cast<uint16_t>(ip % 10000);
    ip /= 10000;
  }
  int n = 0;
  for (int i = nint - 1; i >= 0; i--) groups[n++] = ints[i];
  for (int i = nfrac - 1; i >= 0; i--) groups[n++] = frac[i];
  *count = n;
  return nint - 1;
}

// Encodes an unscaled integer with `scale` fraction digits as PostgreSQL NUMERIC: base-10000
// digit groups aligned on the decimal point, with weight (position of the first group) and
// display scale, in canonical form (no leading or trailing zero groups).
void EncodeNumeric(__int128 unscaled, int scale, CopyWriter& out) {
  bool negative = unscaled < 0;
  unsigned __int128 mag = negative ? static_cast<unsigned __int128>(-(unscaled + 1)) + 1
                                   : static_cast<unsigned __int128>(unscaled);
  uint16_t groups[24];
  int n = 0;
  // The 64-bit path needs 10^scale to fit too (scale <= 19).
  int weight = mag <= UINT64_MAX && scale <= 19
                   ? NumericGroups<uint64_t>(static_cast<uint64_t>(mag), scale, groups, &n)
                   : NumericGroups<unsigned __int128>(mag, scale, groups, &n);
  int first = 0;
  while (first < n && groups[first] == 0) {
    first++;
    weight--;
  }
  int last = n;
  while (last > first && groups[last - 1] == 0) last--;
  if (first == last) weight = 0;
  std::string& b = out.buffer();
  uint32_t ndigits = static_cast<uint32_t>(last - first);
  PutBig32(b, 8 + 2 * ndigits);
  PutBig16(b, static_cast<uint16_t>(ndigits));
  PutBig16(b, static_cast<uint16_t>(static_cast<int16_t>(weight)));
  PutBig16(b, ndigits == 0 ? 0 : (negative ? 0x4000 : 0x0000));
  PutBig16(b, static_cast<uint16_t>(scale));
  for (int i = first; i < last; i++) PutBig16(b, groups[i]);
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0, n = s.size();
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      if (c == 0) return false;  // PostgreSQL text cannot hold NUL
      i++;
      continue;
    }
    int len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + static_cast<size_t>(len) > n) return false;
    for (int k = 1; k < len; k++) {
      if ((p[i + static_cast<size_t>(k)] & 0xC0) != 0x80) return false;
    }
    i += static_cast<size_t>(len);
  }
  return true;
}

}  // namespace

void CopyWriter::BeginRow(int16_t fields) { PutBig16(buf_, static_cast<uint16_t>(fields)); }
void CopyWriter::Null() { PutBig32(buf_, 0xFFFFFFFFu); }
void CopyWriter::Field(const void* data, uint32_t n) {
  PutBig32(buf_, n);
  buf_.append(static_cast<const char*>(data), n);
}
void CopyWriter::Int16(int16_t v) {
  PutBig32(buf_, 2);
  PutBig16(buf_, static_cast<uint16_t>(v));
}
void CopyWriter::Int32(int32_t v) {
  PutBig32(buf_, 4);
  PutBig32(buf_, static_cast<uint32_t>(v));
}
void CopyWriter::Int64(int64_t v) {
  PutBig32(buf_, 8);
  PutBig64(buf_, static_cast<uint64_t>(v));
}

std::string Ident(const std::string& name) { return SqlIdentifier(name); }

Options OptionsFromConnection(const pipeline::ConnectionSpec& spec, const std::string& base_dir) {
  Options o;
  o.name = spec.name;
  auto get = [&](const char* key, std::string* out) {
    auto v = pipeline::ConnectionOption(spec, key, base_dir);
    if (v) *out = *v;
    return v.has_value();
  };
  get("host", &o.host);
  get("port", &o.port);
  get("database", &o.database);
  get("user", &o.user);
  get("password", &o.password);
  // MySQL's spellings are accepted too (a URL or file shared between both kinds of server):
  // ssl_mode DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY and ssl_ca.
  std::string mode;
  if (get("sslmode", &mode) || get("ssl_mode", &mode)) {
    std::string m = ToLower(mode);
    const std::map<std::string, std::string> aliases = {{"disabled", "disable"},
                                                        {"preferred", "prefer"},
                                                        {"required", "require"},
                                                        {"verify_ca", "verify-ca"},
                                                        {"verify_identity", "verify-full"}};
    if (auto it = aliases.find(m); it != aliases.end()) m = it->second;
    const std::vector<std::string> valid = {"disable", "allow",     "prefer",
                                            "require", "verify-ca", "verify-full"};
    if (std::find(valid.begin(), valid.end(), m) == valid.end()) {
      throw InvalidInput("connection '" + spec.name + "': sslmode '" + mode +
                         "' is not one of disable, allow, prefer, require, verify-ca, "
                         "verify-full");
    }
    o.sslmode = m;
  }
  if (!get("sslrootcert", &o.sslrootcert)) get("ssl_ca", &o.sslrootcert);
  o.connect_timeout_seconds =
      pipeline::ConnectionSeconds(spec, "connect_timeout", base_dir, o.connect_timeout_seconds);
  o.read_timeout_seconds =
      pipeline::ConnectionSeconds(spec, "read_timeout", base_dir, o.read_timeout_seconds);
  if (o.database.empty()) throw InvalidInput("connection '" + spec.name + "' needs database:");
  if (o.user.empty()) throw InvalidInput("connection '" + spec.name + "' needs user:");
  return o;
}

std::unique_ptr<Connection> Connection::Open(const Options& o, CancelToken* cancel) {
  std::string timeout = std::to_string(o.connect_timeout_seconds);
  // Keywords, not a connection string: the password never passes through a string a log or
  // error could show.
  std::vector<const char*> keys = {
      "host",           "port", "dbname", "user", "sslmode", "connect_timeout", "application_name",
      "client_encoding"};
  std::vector<const char*> values = {
      o.host.c_str(),    o.port.c_str(),  o.database.c_str(), o.user.c_str(),
      o.sslmode.c_str(), timeout.c_str(), "sluice",           "UTF8"};
  if (!o.password.empty()) {
    keys.push_back("password");
    values.push_back(o.password.c_str());
  }
  if (!o.sslrootcert.empty()) {
    keys.push_back("sslrootcert");
    values.push_back(o.sslrootcert.c_str());
  }
  // libpq has no read timeout; keepalives notice a server (or network) that went silent, and
  // tcp_user_timeout one that stops acknowledging: either ends a blocked read.
  std::string idle = std::to_string(std::max(1, o.read_timeout_seconds / 3));
  std::string user_timeout = std::to_string(o.read_timeout_seconds * 1000);
  if (o.read_timeout_seconds > 0) {
    for (const auto& [k, v] : std::vector<std::pair<const char*, const char*>>{
             {"keepalives", "1"},
             {"keepalives_idle", idle.c_str()},
             {"keepalives_interval", idle.c_str()},
             {"keepalives_count", "3"},
             {"tcp_user_timeout", user_timeout.c_str()}}) {
      keys.push_back(k);
      values.push_back(v);
    }
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  std::string where = "connection '" + o.name + "' (postgres " + o.user + "@" + o.host + ":" +
                      o.port + "/" + o.database + ")";
  auto fail = [&](PGconn* conn, const std::string& msg) {
    PQfinish(conn);
    bool auth = msg.find("password") != std::string::npos ||
                msg.find("authentication") != std::string::npos;
    throw Error(ErrorKind::kConnection,
                where + ": " + msg +
                    (auth ? " (check user: and the password secret)"
                          : " (is the server running and reachable?)"),
                !auth);
  };
  // Connected step by step, so that neither a server that stops answering nor Ctrl-C can hold
  // the connect longer than connect_timeout.
  PGconn* conn = PQconnectStartParams(keys.data(), values.data(), 0);
  if (conn == nullptr) throw Internal("libpq: out of memory");
  if (PQstatus(conn) == CONNECTION_BAD) fail(conn, Trim(PQerrorMessage(conn)));
  double deadline = SteadySeconds() + o.connect_timeout_seconds;
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED) fail(conn, Trim(PQerrorMessage(conn)));
    short events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    for (;;) {
      if (cancel != nullptr && cancel->cancelled()) {
        PQfinish(conn);
        throw Cancelled(where + ": " + cancel->reason());
      }
      if (SteadySeconds() > deadline) {
        fail(conn, "no answer within connect_timeout (" +
                       std::to_string(o.connect_timeout_seconds) + "s)");
      }
      struct pollfd p = {PQsocket(conn), events, 0};
      int rc = ::poll(&p, 1, 100);
      if (rc > 0 || (rc < 0 && errno != EINTR)) break;
    }
    st = PQconnectPoll(conn);
  }
  PQsetnonblocking(conn, 1);
  auto c = std::unique_ptr<Connection>(new Connection(conn, o));
  if (cancel != nullptr) {
    c->token_ = cancel;
    std::weak_ptr<std::atomic<bool>> flag = c->cancelled_;
    c->token_id_ = cancel->OnCancel([flag] {
      if (auto f = flag.lock()) *f = true;
    });
  }
  return c;
}

Connection::Connection(PGconn* conn, Options options)
    : conn_(conn),
      server_cancel_(PQgetCancel(conn), PQfreeCancel),
      options_(std::move(options)),
      cancelled_(std::make_shared<std::atomic<bool>>(false)) {}

Connection::~Connection() {
  if (token_ != nullptr) token_->RemoveOnCancel(token_id_);
  FreeCopyOutBuffer();
  PQfinish(conn_);
}

void Connection::Cancel() { *cancelled_ = true; }

bool Connection::CancelRequested() const {
  return *cancelled_ || (token_ != nullptr && token_->cancelled());
}

void Connection::StartServerCancel() {
  // PQcancel waits for the server to close the cancel connection, with no deadline: it runs on
  // a thread of its own, which ends when the server answers (or the process exits), while the
  // statement's own wait keeps its deadline.
  std::shared_ptr<PGcancel> c = server_cancel_;
  if (!c) return;
  std::thread([c] {
    char err[256];
    PQcancel(c.get(), err, sizeof err);
  }).detach();
}

void Connection::Abandon() {
  // Shut the socket down: the server sees the connection close (and rolls back an open
  // transaction once it runs again), and nothing on this side can block on it any more.
  if (!broken_ && PQsocket(conn_) >= 0) ::shutdown(PQsocket(conn_), SHUT_RDWR);
  broken_ = true;
}

short Connection::Wait(short events) {
  double started = SteadySeconds();
  for (;;) {
    if (CancelRequested()) {
      if (cancel_sent_at_ < 0) {
        StartServerCancel();
        cancel_sent_at_ = SteadySeconds();
      } else if (SteadySeconds() - cancel_sent_at_ > kCancelGraceSeconds) {
        Abandon();
        throw Cancelled(
            Describe() + ": " +
            (token_ != nullptr && token_->cancelled() ? token_->reason() + "; " : std::string()) +
            "the server did not end the statement within " + std::to_string(kCancelGraceSeconds) +
            "s of the cancel request, so the connection was closed");
      }
    }
    struct pollfd p = {PQsocket(conn_), events, 0};
    int rc = ::poll(&p, 1, 100);
    if (rc > 0) return p.revents;
    if (rc < 0 && errno != EINTR) {
      Abandon();
      throw Error(ErrorKind::kConnection,
                  ErrnoMessage(Describe() + ": waiting for the server", errno), true);
    }
    if (options_.read_timeout_seconds > 0 &&
        SteadySeconds() - started > options_.read_timeout_seconds) {
      Abandon();
      throw Error(ErrorKind::kConnection,
                  Describe() + ": the server sent nothing for " +
                      std::to_string(options_.read_timeout_seconds) +
                      "s (read_timeout), so the connection was closed (raise read_timeout: if "
                      "a statement is expected to take longer)",
                  true);
    }
  }
}

void Connection::Flush(const std::string& during) {
  for (;;) {
    int r = PQflush(conn_);
    if (r == 0) return;
    if (r < 0) Fail(during + "sending to the server", nullptr);
    short ready = Wait(POLLIN | POLLOUT);
    if ((ready & POLLIN) && !PQconsumeInput(conn_))
      Fail(during + "reading from the server", nullptr);
  }
}

PGresult* Connection::NextResult(const std::string& during) {
  while (PQisBusy(conn_)) {
    Wait(POLLIN);
    if (!PQconsumeInput(conn_)) Fail(during + "reading from the server", nullptr);
  }
  return PQgetResult(conn_);
}

void Connection::Send(int sent, const std::string& what) {
  if (!sent) Fail(what, nullptr);
  Flush();
}

PGresult* Connection::Finish(const std::string& what, bool want_tuples) {
  // Every result is read, so the connection is ready for the next statement even after an
  // error; the first error is the one reported.
  // Owned here until returned: NextResult may throw (a connection lost meanwhile).
  using Result = std::unique_ptr<PGresult, void (*)(PGresult*)>;
  Result keep(nullptr, PQclear);
  Result error(nullptr, PQclear);
  while (PGresult* next = NextResult()) {
    Result r(next, PQclear);
    ExecStatusType st = PQresultStatus(r.get());
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT) {
      return r.release();  // the caller goes on with the COPY
    }
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
    if (!ok && error == nullptr) {
      error = std::move(r);
      continue;
    }
    keep = std::move(r);
  }
  if (error != nullptr) Fail(what, error.release());  // Fail frees it
  if (keep == nullptr) throw Internal(Describe() + ": '" + what + "' returned no result");
  if (want_tuples && PQresultStatus(keep.get()) != PGRES_TUPLES_OK) {
    throw Internal(Describe() + ": '" + what + "' returned no rows");
  }
  return keep.release();
}

std::string Connection::Describe() const {
  return "connection '" + options_.name + "' (" + options_.user + "@" + options_.host + ":" +
         options_.port + "/" + options_.database + ")";
}

int Connection::ServerVersion() const { return PQserverVersion(conn_); }

void Connection::Fail(const std::string& what, PGresult* result) {
  std::string msg = result ? Trim(PQresultErrorMessage(result)) : "";
  if (msg.empty()) msg = Trim(PQerrorMessage(conn_));
  auto field = [&](int code) {
    const char* v = result ? PQresultErrorField(result, code) : nullptr;
    return std::string(v ? v : "");
  };
  std::string state = field(PG_DIAG_SQLSTATE);
  last_error_ = {state, field(PG_DIAG_COLUMN_NAME), field(PG_DIAG_CONSTRAINT_NAME),
                 field(PG_DIAG_MESSAGE_DETAIL)};
  PQclear(result);
  std::string text = Describe() + ": " + what + ": " + ReplaceAll(msg, "\n", " ");
  // Our own Cancel() wins over whatever the server made of it: the statement may fail with
  // "canceling statement", or with an unrelated error or a closed connection that raced it.
  if (CancelRequested()) {
    *cancelled_ = false;
    throw Cancelled(text);
  }
  bool lost = broken_ || PQstatus(conn_) != CONNECTION_OK || StartsWith(state, "08") ||
              state == "57P01" || state == "57P02" || state == "57P03";
  if (lost) throw Error(ErrorKind::kConnection, text + " (the connection was lost)", true);
  if (state == "57014") throw Cancelled(text);  // our own Cancel()
  if (state == "40001" || state == "40P01" || state == "55P03") {
    throw Error(ErrorKind::kConnection, text, true);
  }
  if (StartsWith(state, "22") || StartsWith(state, "23") || StartsWith(state, "42")) {
    throw InvalidInput(text);
  }
  throw Error(ErrorKind::kIo, text, false);
}

void Connection::BeginStatement() {
  FreeCopyOutBuffer();
  if (broken_) {
    throw Error(ErrorKind::kConnection, Describe() + ": the connection was closed earlier", true);
  }
  if (token_ != nullptr && token_->cancelled())
    throw Cancelled(Describe() + ": " + token_->reason());
  *cancelled_ = false;
  cancel_sent_at_ = -1;
}

void Connection::FreeCopyOutBuffer() {
  if (copy_out_buffer_ != nullptr) PQfreemem(copy_out_buffer_);
  copy_out_buffer_ = nullptr;
}

void Connection::Exec(const std::string& sql) {
  BeginStatement();
  Send(PQsendQuery(conn_, sql.c_str()), sql.substr(0, 200));
  PQclear(Finish(sql.substr(0, 200), false));
}

std::vector<Row> Connection::Query(const std::string& sql, const std::vector<std::string>& params) {
  BeginStatement();
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  Send(PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                         values.data(), nullptr, nullptr, 0),
       sql.substr(0, 200));
  PGresult* r = Finish(sql.substr(0, 200), true);
  std::vector<Row> rows;
  int n = PQntuples(r), m = PQnfields(r);
  for (int i = 0; i < n; i++) {
    Row row;
    for (int j = 0; j < m; j++) {
      if (PQgetisnull(r, i, j)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(
            std::string(PQgetvalue(r, i, j), static_cast<size_t>(PQgetlength(r, i, j))));
      }
    }
    rows.push_back(std::move(row));
  }
  PQclear(r);
  return rows;
}

void Connection::BeginCopy(const std::string& copy_sql, CopyWriter& w) {
  BeginStatement();
  Send(PQsendQuery(conn_, copy_sql.c_str()), copy_sql.substr(0, 200));
  PGresult* r = Finish(copy_sql.substr(0, 200), false);
  if (PQresultStatus(r) != PGRES_COPY_IN) {
    PQclear(r);
    throw Internal(Describe() + ": '" + copy_sql.substr(0, 200) + "' did not start a COPY");
  }
  PQclear(r);
  static const char kHeader[] = "PGCOPY\n\377\r\n\0";
  w.buffer().append(kHeader, 11);
  PutBig32(w.buffer(), 0);  // flags
  PutBig32(w.buffer(), 0);  // header extension length
}

void Connection::SendCopy(CopyWriter& w) {
  std::string& b = w.buffer();
  size_t sent = 0;
  while (sent < b.size()) {
    int n = static_cast<int>(std::min<size_t>(b.size() - sent, 1u << 30));
    int rc = PQputCopyData(conn_, b.data() + sent, n);
    if (rc == 1) {
      sent += static_cast<size_t>(n);
    } else if (rc == 0) {
      // libpq's buffer is full: wait until the server takes more.
      short ready = Wait(POLLIN | POLLOUT);
      if ((ready & POLLIN) && !PQconsumeInput(conn_))
        Fail("COPY: reading from the server", nullptr);
      if (PQflush(conn_) < 0) Fail("sending COPY data", nullptr);
    } else {
      // The server ended the COPY (an error, or the connection went away): its result says why.
      b.clear();
      FinishCopy();
      throw Error(ErrorKind::kConnection, Describe() + ": sending COPY data failed", true);
    }
  }
  b.clear();
  Flush("COPY: ");
}

uint64_t Connection::EndCopy(CopyWriter& w) {
  PutBig16(w.buffer(), 0xFFFF);  // trailer
  SendCopy(w);
  int rc;
  while ((rc = PQputCopyEnd(conn_, nullptr)) == 0) Wait(POLLOUT);
  if (rc < 0) Fail("COPY", nullptr);
  Flush("COPY: ");
  return FinishCopy();
}

void Connection::AbortCopy(const std::string& why) noexcept {
  try {
    int rc;
    while ((rc = PQputCopyEnd(conn_, why.c_str())) == 0) Wait(POLLOUT);
    Flush();
    while (PGresult* r = NextResult()) PQclear(r);
  } catch (...) {
    Abandon();  // the connection is unusable; the caller reports its own error
  }
}

uint64_t Connection::FinishCopy() {
  // Owned here: reading the results after it may throw (a connection lost meanwhile).
  std::unique_ptr<PGresult, void (*)(PGresult*)> end(NextResult("COPY: "), PQclear);
  if (PQresultStatus(end.get()) != PGRES_COMMAND_OK) {
    // Name the row: PostgreSQL reports it as "COPY <table>, line N" in the context.
    std::string context = end && PQresultErrorField(end.get(), PG_DIAG_CONTEXT)
                              ? PQresultErrorField(end.get(), PG_DIAG_CONTEXT)
                              : "";
    std::string what = "COPY";
    auto pos = context.find("line ");
    if (pos != std::string::npos) {
      what = "COPY refused row " + std::to_string(std::atoll(context.c_str() + pos + 5));
    }
    while (PGresult* rest = NextResult()) PQclear(rest);
    Fail(what, end.release());  // Fail frees it
  }
  uint64_t rows = std::strtoull(PQcmdTuples(end.get()), nullptr, 10);
  end.reset();
  while (PGresult* rest = NextResult()) PQclear(rest);
  return rows;
}

std::vector<Connection::ResultColumn> Connection::DescribeResult(const std::string& sql) {
  BeginStatement();
  Send(PQsendQuery(conn_, sql.c_str()), sql.substr(0, 200));
  PGresult* r = Finish(sql.substr(0, 200), true);
  std::vector<ResultColumn> columns;
  for (int i = 0; i < PQnfields(r); i++) {
    columns.push_back({PQfname(r, i), static_cast<uint32_t>(PQftype(r, i)), PQfmod(r, i)});
  }
  PQclear(r);
  return columns;
}

void Connection::BeginCopyOut(const std::string& copy_sql) {
  BeginStatement();
  Send(PQsendQuery(conn_, copy_sql.c_str()), copy_sql.substr(0, 200));
  PGresult* r = Finish(copy_sql.substr(0, 200), false);
  ExecStatusType s = PQresultStatus(r);
  PQclear(r);
  if (s != PGRES_COPY_OUT) {
    throw Internal(Describe() + ": '" + copy_sql.substr(0, 200) +
                   "' did not start a COPY TO STDOUT");
  }
}

bool Connection::NextCopyOut(std::string_view* data) {
  FreeCopyOutBuffer();
  for (;;) {
    char* buf = nullptr;
    int n = PQgetCopyData(conn_, &buf, 1);
    if (n > 0) {
      copy_out_buffer_ = buf;
      *data = std::string_view(buf, static_cast<size_t>(n));
      return true;
    }
    if (n == 0) {  // nothing yet
      Wait(POLLIN);
      if (!PQconsumeInput(conn_)) Fail("reading the COPY result", nullptr);
      continue;
    }
    // -1: the server sent everything; its result says whether the statement succeeded. -2: an
    // error, which the result or the connection describes.
    // Owned here: reading the results after it may throw (a connection lost meanwhile).
    std::unique_ptr<PGresult, void (*)(PGresult*)> end(NextResult(), PQclear);
    bool ok = n == -1 && PQresultStatus(end.get()) == PGRES_COMMAND_OK;
    // Still in COPY state (a -2 from a failed read) would return the COPY result forever.
    if (PQresultStatus(end.get()) != PGRES_COPY_OUT) {
      while (PGresult* rest = NextResult()) PQclear(rest);
    }
    if (!ok) Fail("reading the COPY result", end.release());  // Fail frees it
    return false;
  }
}

void Connection::AbortCopyOut() noexcept {
  FreeCopyOutBuffer();
  if (broken_ || PQstatus(conn_) != CONNECTION_OK) return;
  // Ask the server to stop sending, then read what it still sends; a server that does not stop
  // within the grace period loses the connection.
  try {
    *cancelled_ = true;
    for (;;) {
      char* buf = nullptr;
      int n = PQgetCopyData(conn_, &buf, 1);
      if (n > 0) {
        PQfreemem(buf);
        continue;
      }
      if (n == 0) {
        Wait(POLLIN);
        if (!PQconsumeInput(conn_)) break;
        continue;
      }
      break;
    }
    while (PGresult* r = NextResult()) {
      bool copy = PQresultStatus(r) == PGRES_COPY_OUT;
      PQclear(r);
      if (copy) break;
    }
  } catch (...) {
    Abandon();
  }
  *cancelled_ = false;
  cancel_sent_at_ = -1;
}

std::string PgType(const engine::Column& c) {
  const std::string& t = c.type;
  if (t == "BOOLEAN") return "boolean";
  if (t == "TINYINT" || t == "SMALLINT" || t == "UTINYINT") return "smallint";
  if (t == "INTEGER" || t == "USMALLINT") return "integer";
  if (t == "BIGINT" || t == "UINTEGER") return "bigint";
  if (t == "UBIGINT") return "numeric(20,0)";
  if (t == "HUGEINT") return "numeric(39,0)";
  if (t == "FLOAT") return "real";
  if (t == "DOUBLE") return "double precision";
  if (StartsWith(t, "DECIMAL")) return "numeric" + t.substr(7);
  if (t == "DATE") return "date";
  // Spelled as format_type() prints them, so a target's types can be compared with these.
  if (t == "TIME") return "time without time zone";
  if (t == "TIMESTAMP") return "timestamp without time zone";
  if (t == "TIMESTAMP WITH TIME ZONE") return "timestamp with time zone";
  if (t == "INTERVAL") return "interval";
  if (t == "VARCHAR") return "text";
  if (t == "BLOB") return "bytea";
  if (t == "UUID") return "uuid";
  if (t == "JSON") return "jsonb";
  // Nested and other types arrive as text (engine::Session::StreamTyped).
  return "text";
}

void EncodeValue(const engine::ColumnData& c, const std::string& declared_type, size_t row,
                 CopyWriter& out) {
  using engine::TypeId;
  if (c.IsNull(row)) return out.Null();
  switch (c.id) {
    case TypeId::kBoolean: {
      char v = c.GetBool(row) ? 1 : 0;
      return out.Field(&v, 1);
    }
    case TypeId::kTinyint:
    case TypeId::kSmallint:
    case TypeId::kUTinyint:
      return out.Int16(
          static_cast<int16_t>(c.id == TypeId::kUTinyint ? c.GetUInt(row) : c.GetInt(row)));
    case TypeId::kInteger:
    case TypeId::kUSmallint:
      return out.Int32(
          static_cast<int32_t>(c.id == TypeId::kUSmallint ? c.GetUInt(row) : c.GetInt(row)));
    case TypeId::kBigint:
    case TypeId::kUInteger:
      return out.Int64(c.id == TypeId::kUInteger ? static_cast<int64_t>(c.GetUInt(row))
                                                 : c.GetInt(row));
    case TypeId::kUBigint:
      return EncodeNumeric(static_cast<__int128>(c.GetUInt(row)), 0, out);
    case TypeId::kHugeint:
      return EncodeNumeric(c.GetInt128(row), 0, out);
    case TypeId::kDecimal:
      return EncodeNumeric(c.GetInt128(row), c.scale, out);
    case TypeId::kFloat: {
      float f = static_cast<float>(c.GetDouble(row));
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      PutBig32(out.buffer(), 4);
      return PutBig32(out.buffer(), bits);
    }
    case TypeId::kDouble: {
      double d = c.GetDouble(row);
      uint64_t bits;
      std::memcpy(&bits, &d, 8);
      PutBig32(out.buffer(), 8);
      return PutBig64(out.buffer(), bits);
    }
    case TypeId::kDate:
      return out.Int32(static_cast<int32_t>(c.GetInt(row) - kPgEpochDays));
    case TypeId::kTime:
      return out.Int64(c.GetInt(row));
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz:
      return out.Int64(c.GetInt(row) - kPgEpochMicros);
    case TypeId::kInterval: {
      engine::Interval iv = c.GetInterval(row);
      PutBig32(out.buffer(), 16);
      PutBig64(out.buffer(), static_cast<uint64_t>(iv.micros));
      PutBig32(out.buffer(), static_cast<uint32_t>(iv.days));
      return PutBig32(out.buffer(), static_cast<uint32_t>(iv.months));
    }
    case TypeId::kUuid: {
      unsigned __int128 v = static_cast<unsigned __int128>(c.GetInt128(row));
      PutBig32(out.buffer(), 16);
      PutBig64(out.buffer(), static_cast<uint64_t>(v >> 64));
      return PutBig64(out.buffer(), static_cast<uint64_t>(v));
    }
    case TypeId::kBlob:
      return out.Field(c.text[row].data(), static_cast<uint32_t>(c.text[row].size()));
    case TypeId::kVarchar:
    case TypeId::kOther: {
      std::string_view s = c.text[row];
      if (!ValidUtf8(s)) {
        throw InvalidInput(
            "a value is not valid UTF-8 text (or contains a NUL byte), which "
            "PostgreSQL text cannot store; clean it in a model or load it as BLOB");
      }
      if (declared_type == "JSON") {
        PutBig32(out.buffer(), static_cast<uint32_t>(s.size() + 1));
        out.buffer().push_back(1);  // jsonb binary format version
        out.buffer().append(s.data(), s.size());
        return;
      }
      return out.Field(s.data(), static_cast<uint32_t>(s.size()));
    }
  }
}

}  // namespace sluice::connectors::postgres
