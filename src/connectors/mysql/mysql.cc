// The MySQL/MariaDB connector: Connector/C connections, LOAD DATA LOCAL INFILE streamed from
// memory, and the lake -> MySQL type mapping. Only this folder includes the client library.
#include "connectors/mysql/mysql.h"

#include <errmsg.h>
#include <mysql.h>
#include <poll.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "common/cancel.h"
#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"

namespace sluice::connectors::mysql {
namespace {

// Session settings every connection gets. STRICT_ALL_TABLES makes the server refuse a value it
// would otherwise clip or truncate; NO_AUTO_VALUE_ON_ZERO keeps a loaded 0 in an AUTO_INCREMENT
// column; no NO_BACKSLASH_ESCAPES, because Literal() escapes with backslashes.
constexpr const char* kSqlMode =
    "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO";

constexpr int64_t kMicrosPerDay = 86400000000LL;

// Thrown on the producer thread when the client library stopped reading (the server refused
// or dropped the statement): the statement's own error is the one to report.
struct Abandoned {};

// The bytes of one LOAD DATA LOCAL INFILE: filled by the producer thread, drained by the
// client library's read callback on the thread that runs the statement.
struct InfileStream {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> chunks;  // Guarded by mu
  bool finished = false;           // Guarded by mu: the producer returned or threw
  bool abandoned = false;          // Guarded by mu: the client library stopped reading
  std::exception_ptr error;        // Guarded by mu: what the producer threw
  // Used by the reading thread only.
  std::string current;
  size_t pos = 0;
  std::thread producer;
  const std::function<void(InfileWriter&)>* produce = nullptr;

  void Push(std::string&& chunk) {
    std::unique_lock<std::mutex> lock(mu);
    // A few chunks in flight keep both sides busy without holding the dataset in memory.
    cv.wait(lock, [&] { return chunks.size() < 4 || abandoned; });
    if (abandoned) throw Abandoned{};
    chunks.push_back(std::move(chunk));
    cv.notify_all();
  }

  void Finish(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
    error = e;
    cv.notify_all();
  }

  int Read(char* buf, unsigned int len) {
    if (pos == current.size()) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return !chunks.empty() || finished; });
      if (chunks.empty()) return error ? -1 : 0;
      current = std::move(chunks.front());
      chunks.pop_front();
      pos = 0;
      cv.notify_all();
    }
    size_t n = std::min<size_t>(len, current.size() - pos);
    std::memcpy(buf, current.data() + pos, n);
    pos += n;
    return static_cast<int>(n);
  }

  void Abandon() {
    {
      std::lock_guard<std::mutex> lock(mu);
      abandoned = true;
      cv.notify_all();
    }
    if (producer.joinable()) producer.join();
  }
};

int InfileInit(void** ptr, const char* /*filename*/, void* userdata) {
  auto* s = static_cast<InfileStream*>(userdata);
  *ptr = s;
  // The producer starts only now, when the server has accepted the statement and asks for
  // the data: a refused LOAD DATA leaves the engine's result unread for the fallback.
  s->producer = std::thread([s] {
    InfileWriter writer(s);
    try {
      (*s->produce)(writer);
      writer.Flush(0);
      s->Finish(nullptr);
    } catch (...) {
      s->Finish(std::current_exception());
    }
  });
  return 0;
}

int InfileRead(void* ptr, char* buf, unsigned int len) {
  return static_cast<InfileStream*>(ptr)->Read(buf, len);
}

void InfileEnd(void* ptr) {
  if (ptr != nullptr) static_cast<InfileStream*>(ptr)->Abandon();
}

int InfileError(void* /*ptr*/, char* buf, unsigned int len) {
  std::snprintf(buf, len, "sluice: reading the data for LOAD DATA failed");
  return CR_UNKNOWN_ERROR;
}

std::string ErrorText(MYSQL* conn) {
  const char* e = mysql_error(conn);
  return e && *e ? e : "unknown error";
}

bool LostConnection(unsigned code) {
  switch (code) {
    case CR_CONNECTION_ERROR:   // 2002
    case CR_CONN_HOST_ERROR:    // 2003
    case CR_SERVER_GONE_ERROR:  // 2006
    case CR_SERVER_LOST:        // 2013
    case 2055:                  // lost connection at '%s', system error
    case 1053:                  // server shutdown in progress
    case 1927:                  // connection was killed (MariaDB)
    case 4031:                  // disconnected for inactivity (MariaDB)
      return true;
    default:
      return false;
  }
}

void AppendDigits(std::string& out, uint64_t v, int width) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  for (int pad = width - static_cast<int>(r.ptr - buf); pad > 0; pad--) out.push_back('0');
  out.append(buf, r.ptr);
}

void AppendDate(std::string& out, int64_t days) {
  auto [y, m, d] = CivilFromDays(days);
  // MySQL's DATE and DATETIME hold years 1000..9999 by the manual and 1..9999 in practice.
  if (y < 1 || y > 9999) {
    throw InvalidInput("the date is outside the years 0001..9999 that MySQL can store");
  }
  AppendDigits(out, static_cast<uint64_t>(y), 4);
  out.push_back('-');
  AppendDigits(out, m, 2);
  out.push_back('-');
  AppendDigits(out, d, 2);
}

void AppendTimeOfDay(std::string& out, int64_t micros) {
  AppendDigits(out, static_cast<uint64_t>(micros / 3600000000LL), 2);
  out.push_back(':');
  AppendDigits(out, static_cast<uint64_t>(micros / 60000000 % 60), 2);
  out.push_back(':');
  AppendDigits(out, static_cast<uint64_t>(micros / 1000000 % 60), 2);
  out.push_back('.');
  AppendDigits(out, static_cast<uint64_t>(micros % 1000000), 6);
}

void AppendUnscaled(std::string& out, __int128 v, int scale) {
  bool negative = v < 0;
  unsigned __int128 mag =
      negative ? static_cast<unsigned __int128>(-(v + 1)) + 1 : static_cast<unsigned __int128>(v);
  char digits[48];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + static_cast<int>(mag % 10));
    mag /= 10;
  } while (mag > 0);
  while (n <= scale) digits[n++] = '0';  // at least one integer digit
  if (negative) out.push_back('-');
  for (int i = n - 1; i >= 0; i--) {
    out.push_back(digits[i]);
    if (i == scale && scale > 0) out.push_back('.');
  }
}

void AppendDouble(std::string& out, double v) {
  if (!std::isfinite(v)) {
    throw InvalidInput("MySQL cannot store NaN or infinity in FLOAT or DOUBLE");
  }
  // The shortest text that reads back as exactly this double; a FLOAT widened to double reads
  // back as the same double, which the server narrows to the same float.
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void AppendUuid(std::string& out, __int128 v) {
  static const char kHex[] = "0123456789abcdef";
  auto u = static_cast<unsigned __int128>(v);
  char s[36];
  int pos = 35;
  for (int i = 0; i < 32; i++) {
    if (pos == 8 || pos == 13 || pos == 18 || pos == 23) s[pos--] = '-';
    s[pos--] = kHex[static_cast<unsigned>(u & 0xF)];
    u >>= 4;
  }
  out.append(s, 36);
}

// LOAD DATA ... FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n': the
// terminators, the escape character and NUL are escaped, every other byte passes as it is.
void AppendLoadDataText(std::string& out, std::string_view s) {
  size_t start = 0;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    const char* esc = nullptr;
    switch (c) {
      case '\\':
        esc = "\\\\";
        break;
      case '\t':
        esc = "\\t";
        break;
      case '\n':
        esc = "\\n";
        break;
      case '\r':
        esc = "\\r";
        break;
      case '\0':
        esc = "\\0";
        break;
      default:
        continue;
    }
    out.append(s.data() + start, i - start);
    out.append(esc, 2);
    start = i + 1;
  }
  out.append(s.data() + start, s.size() - start);
}

void AppendSqlText(std::string& out, std::string_view s) {
  out.push_back('\'');
  for (char c : s) {
    switch (c) {
      case '\\':
        out.append("\\\\");
        break;
      case '\'':
        out.append("\\'");
        break;
      case '\0':
        out.append("\\0");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\x1a':
        out.append("\\Z");
        break;
      default:
        out.push_back(c);
    }
  }
  out.push_back('\'');
}

void AppendHex(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  out.append("X'");
  for (unsigned char c : s) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xF]);
  }
  out.push_back('\'');
}

std::string NormalizeSslMode(const std::string& name, const std::string& value) {
  std::string v = ToLower(ReplaceAll(value, "-", "_"));
  if (v == "disabled" || v == "disable") return "DISABLED";
  if (v == "preferred" || v == "prefer") return "PREFERRED";
  if (v == "required" || v == "require") return "REQUIRED";
  if (v == "verify_ca") return "VERIFY_CA";
  if (v == "verify_identity" || v == "verify_full") return "VERIFY_IDENTITY";
  throw InvalidInput("connection '" + name + "': ssl_mode '" + value +
                     "' is unknown (use DISABLED, PREFERRED, REQUIRED, VERIFY_CA or "
                     "VERIFY_IDENTITY)");
}

}  // namespace

void InfileWriter::Flush(size_t min_bytes) {
  if (buf_.size() < min_bytes || buf_.empty()) return;
  std::string chunk;
  chunk.reserve(buf_.capacity());
  std::swap(chunk, buf_);
  static_cast<InfileStream*>(stream_)->Push(std::move(chunk));
}

// Guards the MYSQL handle against a cancel callback running on another thread while the
// connection closes.
struct Connection::CancelState {
  std::mutex mu;
  MYSQL* conn = nullptr;  // Guarded by mu; null once closed
};

Options OptionsFromConnection(const pipeline::ConnectionSpec& spec, const std::string& base_dir) {
  Options o;
  o.name = spec.name;
  auto get = [&](const char* key, std::string* out) {
    auto v = pipeline::ConnectionOption(spec, key, base_dir);
    if (v) *out = *v;
    return v.has_value();
  };
  get("host", &o.host);
  get("database", &o.database);
  get("user", &o.user);
  get("password", &o.password);
  std::string port;
  if (get("port", &port)) {
    unsigned v = 0;
    auto r = std::from_chars(port.data(), port.data() + port.size(), v);
    if (r.ec != std::errc() || r.ptr != port.data() + port.size() || v == 0 || v > 65535) {
      throw InvalidInput("connection '" + spec.name + "': port '" + port +
                         "' is not a TCP port (1..65535)");
    }
    o.port = v;
  }
  std::string mode;
  if (get("ssl_mode", &mode) || get("sslmode", &mode))
    o.ssl_mode = NormalizeSslMode(spec.name, mode);
  if (!get("ssl_ca", &o.ssl_ca)) get("sslrootcert", &o.ssl_ca);
  o.connect_timeout_seconds =
      pipeline::ConnectionSeconds(spec, "connect_timeout", base_dir, o.connect_timeout_seconds);
  o.read_timeout_seconds =
      pipeline::ConnectionSeconds(spec, "read_timeout", base_dir, o.read_timeout_seconds);
  if (o.database.empty()) throw InvalidInput("connection '" + spec.name + "' needs database:");
  if (o.user.empty()) throw InvalidInput("connection '" + spec.name + "' needs user:");
  return o;
}

std::unique_ptr<Connection> Connection::Open(const Options& o, CancelToken* cancel) {
  // mysql_init initializes the library on first use, which is not thread-safe; loads of one
  // run may start on several threads at once.
  static std::once_flag library_once;
  std::call_once(library_once, [] { mysql_library_init(0, nullptr, nullptr); });
  MYSQL* conn = mysql_init(nullptr);
  if (conn == nullptr) throw Internal("mysql_init: out of memory");
  unsigned int timeout = static_cast<unsigned int>(o.connect_timeout_seconds);
  unsigned int on = 1;
  my_bool yes = 1, no = 0;
  mysql_optionsv(conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  if (o.read_timeout_seconds > 0) {
    unsigned int read_timeout = static_cast<unsigned int>(o.read_timeout_seconds);
    mysql_optionsv(conn, MYSQL_OPT_READ_TIMEOUT, &read_timeout);
  }
  mysql_optionsv(conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  mysql_optionsv(conn, MYSQL_OPT_LOCAL_INFILE, &on);
  if (o.ssl_mode != "DISABLED") {
    // Connector/C 3.3 treats "enforce" without verification as PREFERRED (plain text when the
    // server has no TLS); REQUIRED is checked after connecting.
    mysql_optionsv(conn, MYSQL_OPT_SSL_ENFORCE, &yes);
    bool verify = o.ssl_mode == "VERIFY_CA" || o.ssl_mode == "VERIFY_IDENTITY";
    mysql_optionsv(conn, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, verify ? &yes : &no);
    if (!o.ssl_ca.empty()) mysql_optionsv(conn, MYSQL_OPT_SSL_CA, o.ssl_ca.c_str());
  }
  std::string where = "connection '" + o.name + "' (mysql " + o.user + "@" + o.host + ":" +
                      std::to_string(o.port) + "/" + o.database + ")";
  // The password goes to the library as an argument, never into a string we build. The
  // connect runs step by step (the client library's non-blocking API), so that neither a
  // server that stops answering nor Ctrl-C or a timeout holds it longer than connect_timeout.
  mysql_optionsv(conn, MYSQL_OPT_NONBLOCK, 0);
  MYSQL* connected = nullptr;
  int status = mysql_real_connect_start(&connected, conn, o.host.c_str(), o.user.c_str(),
                                        o.password.empty() ? nullptr : o.password.c_str(),
                                        o.database.c_str(), o.port, nullptr, 0);
  double deadline = SteadySeconds() + o.connect_timeout_seconds;
  while (status != 0) {
    short events = static_cast<short>(((status & MYSQL_WAIT_READ) ? POLLIN : 0) |
                                      ((status & MYSQL_WAIT_WRITE) ? POLLOUT : 0) |
                                      ((status & MYSQL_WAIT_EXCEPT) ? POLLPRI : 0));
    int ready = 0;
    for (;;) {
      if (cancel != nullptr && cancel->cancelled()) {
        mysql_close(conn);
        throw Cancelled(where + ": " + cancel->reason());
      }
      if (SteadySeconds() > deadline) {
        ready = MYSQL_WAIT_TIMEOUT;
        break;
      }
      struct pollfd p = {static_cast<int>(mysql_get_socket(conn)), events, 0};
      int rc = ::poll(&p, 1, 100);
      if (rc > 0) {
        ready = ((p.revents & (POLLIN | POLLHUP | POLLERR)) ? MYSQL_WAIT_READ : 0) |
                ((p.revents & (POLLOUT | POLLHUP | POLLERR)) ? MYSQL_WAIT_WRITE : 0) |
                ((p.revents & POLLPRI) ? MYSQL_WAIT_EXCEPT : 0);
        break;
      }
      if (rc < 0 && errno != EINTR) {
        ready = MYSQL_WAIT_TIMEOUT;
        break;
      }
    }
    if (ready == MYSQL_WAIT_TIMEOUT && SteadySeconds() > deadline) {
      mysql_close(conn);
      throw Error(ErrorKind::kConnection,
                  where + ": no answer within connect_timeout (" +
                      std::to_string(o.connect_timeout_seconds) +
                      "s) (is the server running and reachable?)",
                  true);
    }
    status = mysql_real_connect_cont(&connected, conn, ready);
  }
  if (connected == nullptr) {
    unsigned code = mysql_errno(conn);
    std::string msg = ErrorText(conn);
    mysql_close(conn);
    if (code == 1045 || code == 1698) {
      throw Error(ErrorKind::kConnection,
                  where + ": " + msg + " (check user: and the password secret)", false);
    }
    if (code == 1044 || code == 1049) {
      throw Error(ErrorKind::kNotFound,
                  where + ": " + msg + " (create the database or grant access to it)", false);
    }
    bool reach = LostConnection(code) || code == CR_UNKNOWN_HOST;
    throw Error(ErrorKind::kConnection,
                where + ": " + msg +
                    (reach ? " (is the server running and reachable?)"
                           : " (check the connection's options, ssl_mode and ssl_ca)"),
                LostConnection(code));
  }
  if ((o.ssl_mode == "REQUIRED" || o.ssl_mode == "VERIFY_CA" || o.ssl_mode == "VERIFY_IDENTITY") &&
      mysql_get_ssl_cipher(conn) == nullptr) {
    mysql_close(conn);
    throw Error(ErrorKind::kConnection,
                where + ": the server does not offer TLS, and ssl_mode is " + o.ssl_mode +
                    " (enable TLS on the server, or set ssl_mode: PREFERRED)",
                false);
  }
  std::unique_ptr<Connection> c(new Connection(conn, o));
  if (cancel != nullptr) {
    c->cancel_ = cancel;
    std::weak_ptr<CancelState> weak = c->cancel_state_;
    // mariadb_cancel shuts the socket down, so a statement blocked in the server returns at
    // once with "connection lost"; Fail() then reports the cancellation instead.
    c->cancel_id_ = cancel->OnCancel([weak] {
      if (auto s = weak.lock()) {
        std::lock_guard<std::mutex> lock(s->mu);
        if (s->conn != nullptr) mariadb_cancel(s->conn);
      }
    });
  }
  // English messages: sluice reads the server's "at row N" and "Records: N" lines.
  c->Exec(std::string("SET SESSION sql_mode = '") + kSqlMode +
          "', time_zone = '+00:00', lc_messages = 'en_US'");
  auto packet = c->Query("SELECT @@max_allowed_packet");
  if (!packet.empty() && packet[0][0]) c->max_allowed_packet_ = std::stoull(*packet[0][0]);
  return c;
}

Connection::Connection(MYSQL* conn, Options options)
    : conn_(conn), options_(std::move(options)), cancel_state_(std::make_shared<CancelState>()) {
  cancel_state_->conn = conn;
}

Connection::~Connection() {
  if (cancel_ != nullptr && cancel_id_ >= 0) cancel_->RemoveOnCancel(cancel_id_);
  {
    std::lock_guard<std::mutex> lock(cancel_state_->mu);
    cancel_state_->conn = nullptr;
  }
  mysql_close(conn_);
}

std::string Connection::Describe() const {
  return options_.user + "@" + options_.host + ":" + std::to_string(options_.port) + "/" +
         options_.database;
}

std::string Connection::ServerVersion() const { return mysql_get_server_info(conn_); }

unsigned Connection::warning_count() const { return mysql_warning_count(conn_); }

std::optional<uint64_t> Connection::records_taken() const {
  const char* info = mysql_info(conn_);
  if (info == nullptr) return std::nullopt;
  auto number_after = [&](std::string_view label) -> std::optional<uint64_t> {
    std::string_view s(info);
    auto pos = s.find(label);
    if (pos == std::string_view::npos) return std::nullopt;
    s.remove_prefix(pos + label.size());
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end == s.data()) return std::nullopt;
    return v;
  };
  auto records = number_after("Records:");
  if (!records) return std::nullopt;
  return *records - std::min(*records, number_after("Skipped:").value_or(0));
}

void Connection::Fail(const std::string& what) {
  last_error_.code = mysql_errno(conn_);
  last_error_.sqlstate = mysql_sqlstate(conn_);
  last_error_.message = ErrorText(conn_);
  Raise(what);
}

void Connection::Raise(const std::string& what) {
  if (cancel_ != nullptr && cancel_->cancelled()) throw Cancelled(cancel_->reason());
  unsigned code = last_error_.code;
  const std::string& state = last_error_.sqlstate;
  std::string text = "mysql " + Describe() + ": " + what + ": " + last_error_.message;
  if (LostConnection(code)) {
    throw Error(ErrorKind::kConnection, text + " (the connection was lost)", true);
  }
  if (code == 1213 || code == 1205) {
    throw Error(ErrorKind::kConnection, text + " (another attempt may succeed)", true);
  }
  if (code == 1049 || code == 1146) throw NotFound(text);
  if (code >= 2000 && code < 3000) throw Error(ErrorKind::kConnection, text, false);
  if (IsRowError(code) || StartsWith(state, "22") || StartsWith(state, "23") ||
      StartsWith(state, "42")) {
    throw InvalidInput(text);
  }
  throw Error(ErrorKind::kIo, text, false);
}

uint64_t Connection::Exec(const std::string& sql) {
  if (mysql_real_query(conn_, sql.data(), sql.size()) != 0) Fail(sql.substr(0, 200));
  if (mysql_field_count(conn_) > 0) {
    MYSQL_RES* r = mysql_store_result(conn_);
    if (r == nullptr) Fail(sql.substr(0, 200));
    mysql_free_result(r);
    return 0;
  }
  return mysql_affected_rows(conn_);
}

std::vector<Row> Connection::Query(const std::string& sql) {
  if (mysql_real_query(conn_, sql.data(), sql.size()) != 0) Fail(sql.substr(0, 200));
  std::vector<Row> rows;
  MYSQL_RES* r = mysql_store_result(conn_);
  if (r == nullptr) {
    if (mysql_field_count(conn_) == 0) return rows;
    Fail(sql.substr(0, 200));
  }
  unsigned n = mysql_num_fields(r);
  while (MYSQL_ROW row = mysql_fetch_row(r)) {
    unsigned long* lengths = mysql_fetch_lengths(r);
    Row out;
    out.reserve(n);
    for (unsigned i = 0; i < n; i++) {
      if (row[i] == nullptr) {
        out.emplace_back(std::nullopt);
      } else {
        out.emplace_back(std::string(row[i], lengths[i]));
      }
    }
    rows.push_back(std::move(out));
  }
  mysql_free_result(r);
  return rows;
}

uint64_t Connection::LoadLocal(const std::string& load_sql,
                               const std::function<void(InfileWriter&)>& produce) {
  last_error_ = {};  // an exception of produce is not the server's
  InfileStream stream;
  stream.produce = &produce;
  mysql_set_local_infile_handler(conn_, InfileInit, InfileRead, InfileEnd, InfileError, &stream);
  int rc = mysql_real_query(conn_, load_sql.data(), load_sql.size());
  // The library calls InfileEnd (which joins the producer) whenever it called InfileInit; this
  // is for the paths where it did not get that far.
  stream.Abandon();
  mysql_set_local_infile_default(conn_);
  std::exception_ptr error;
  {
    std::lock_guard<std::mutex> lock(stream.mu);
    error = stream.error;
  }
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const Abandoned&) {
      // The statement's own error below says why the library stopped reading.
    }
  }
  if (rc != 0) Fail("LOAD DATA LOCAL INFILE");
  return mysql_affected_rows(conn_);
}

std::vector<ServerError> Connection::Warnings(size_t max) {
  std::vector<ServerError> out;
  for (const auto& r : Query("SHOW WARNINGS LIMIT " + std::to_string(max))) {
    ServerError w;
    w.sqlstate = r[0].value_or("");  // the level: Note, Warning, Error
    w.code = static_cast<unsigned>(std::stoul(r[1].value_or("0")));
    w.message = r[2].value_or("");
    out.push_back(std::move(w));
  }
  return out;
}

bool LocalInfileRefused(unsigned code) {
  return code == 1148 || code == 4166 || code == 3948 || code == 2068;
}

bool IsRowError(unsigned code) {
  switch (code) {
    case 1048:  // column cannot be null
    case 1062:  // duplicate entry
    case 1586:  // duplicate entry for key
    case 1216:  // foreign key: no parent (old)
    case 1217:  // foreign key: row is referenced (old)
    case 1451:  // foreign key: row is referenced
    case 1452:  // foreign key: no parent row
    case 1263:  // NULL supplied to NOT NULL column
    case 1264:  // out of range value
    case 1265:  // data truncated
    case 1292:  // incorrect date/time value
    case 1366:  // incorrect integer/decimal/string value
    case 1367:  // illegal value
    case 1406:  // data too long
    case 1690:  // value is out of range
    case 3140:  // invalid JSON text (MySQL)
    case 3819:  // check constraint violated (MySQL)
    case 4025:  // CONSTRAINT failed (MariaDB; JSON columns too)
      return true;
    default:
      return false;
  }
}

std::string MySqlType(const engine::Column& c, bool key, int key_chars,
                      const std::string& bin_collation) {
  const std::string& t = c.type;
  if (t == "BOOLEAN") return "TINYINT(1)";
  if (t == "TINYINT") return "TINYINT";
  if (t == "SMALLINT") return "SMALLINT";
  if (t == "INTEGER") return "INT";
  if (t == "BIGINT") return "BIGINT";
  if (t == "UTINYINT") return "TINYINT UNSIGNED";
  if (t == "USMALLINT") return "SMALLINT UNSIGNED";
  if (t == "UINTEGER") return "INT UNSIGNED";
  if (t == "UBIGINT") return "BIGINT UNSIGNED";
  if (t == "HUGEINT" || t == "UHUGEINT") return "DECIMAL(39,0)";
  if (t == "FLOAT") return "FLOAT";
  if (t == "DOUBLE") return "DOUBLE";
  if (StartsWith(t, "DECIMAL")) return t;
  if (t == "DATE") return "DATE";
  if (t == "TIME") return "TIME(6)";
  if (t == "TIMESTAMP" || t == "TIMESTAMP WITH TIME ZONE" || t == "TIMESTAMP_S" ||
      t == "TIMESTAMP_MS") {
    return "DATETIME(6)";
  }
  if (t == "UUID") return "CHAR(36)";
  if (t == "INTERVAL") return "VARCHAR(100)";
  if (t == "TIMESTAMP_NS" || t == "TIME WITH TIME ZONE") return "VARCHAR(64)";
  if (t == "BLOB") return key ? "VARBINARY(" + std::to_string(4 * key_chars) + ")" : "LONGBLOB";
  // Text keys compare byte for byte, as in the lake: 'a' and 'A' are different keys.
  if (key) {
    return "VARCHAR(" + std::to_string(key_chars) + ") CHARACTER SET utf8mb4 COLLATE " +
           bin_collation;
  }
  if (t == "JSON") return "JSON";
  // VARCHAR, and nested and other types, which arrive as text (engine::Session::StreamTyped).
  return "LONGTEXT";
}

std::string SelectExpression(const engine::Column& c) {
  if (c.type == "INTERVAL") {
    return "CAST(" + SqlIdentifier(c.name) + " AS VARCHAR) AS " + SqlIdentifier(c.name);
  }
  return SqlIdentifier(c.name);
}

void AppendValue(const engine::ColumnData& c, size_t row, ValueFormat f, std::string& out) {
  using engine::TypeId;
  const bool sql = f == ValueFormat::kSqlLiteral;
  if (c.IsNull(row)) {
    out.append(sql ? "NULL" : "\\N");
    return;
  }
  char buf[48];
  switch (c.id) {
    case TypeId::kBoolean:
      out.push_back(c.GetBool(row) ? '1' : '0');
      return;
    case TypeId::kTinyint:
    case TypeId::kSmallint:
    case TypeId::kInteger:
    case TypeId::kBigint: {
      auto r = std::to_chars(buf, buf + sizeof buf, c.GetInt(row));
      out.append(buf, r.ptr);
      return;
    }
    case TypeId::kUTinyint:
    case TypeId::kUSmallint:
    case TypeId::kUInteger:
    case TypeId::kUBigint: {
      auto r = std::to_chars(buf, buf + sizeof buf, c.GetUInt(row));
      out.append(buf, r.ptr);
      return;
    }
    case TypeId::kHugeint:
      return AppendUnscaled(out, c.GetInt128(row), 0);
    case TypeId::kDecimal:
      return AppendUnscaled(out, c.GetInt128(row), c.scale);
    case TypeId::kFloat:
    case TypeId::kDouble:
      return AppendDouble(out, c.GetDouble(row));
    case TypeId::kDate:
      if (sql) out.push_back('\'');
      AppendDate(out, c.GetInt(row));
      if (sql) out.push_back('\'');
      return;
    case TypeId::kTime:
      if (sql) out.push_back('\'');
      AppendTimeOfDay(out, c.GetInt(row));
      if (sql) out.push_back('\'');
      return;
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz: {
      // Micros since 1970-01-01 UTC; TIMESTAMP WITH TIME ZONE is written as its UTC time.
      int64_t us = c.GetInt(row);
      int64_t days = us / kMicrosPerDay;
      int64_t rem = us % kMicrosPerDay;
      if (rem < 0) {
        rem += kMicrosPerDay;
        days--;
      }
      if (sql) out.push_back('\'');
      AppendDate(out, days);
      out.push_back(' ');
      AppendTimeOfDay(out, rem);
      if (sql) out.push_back('\'');
      return;
    }
    case TypeId::kUuid:
      if (sql) out.push_back('\'');
      AppendUuid(out, c.GetInt128(row));
      if (sql) out.push_back('\'');
      return;
    case TypeId::kInterval:
      throw Internal("INTERVAL values must be read as text (SelectExpression)");
    case TypeId::kBlob:
      if (sql) return AppendHex(out, c.text[row]);
      return AppendLoadDataText(out, c.text[row]);
    case TypeId::kVarchar:
    case TypeId::kOther:
      if (sql) return AppendSqlText(out, c.text[row]);
      return AppendLoadDataText(out, c.text[row]);
  }
}

std::string Ident(std::string_view name) {
  return "`" + ReplaceAll(std::string(name), "`", "``") + "`";
}

std::string Literal(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  AppendSqlText(out, s);
  return out;
}

}  // namespace sluice::connectors::mysql
