#pragma once

// A small HTTP/1.1 server on GNU libmicrohttpd (docs/decisions.md section 15): a pool of
// threads polling the sockets, a deadline on every connection, a cap on connections and on
// request bodies. The handler sees a whole request (body read) and returns a whole response.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sluice::server {

struct Request {
  std::string method;                          // GET, POST, ...
  std::string path;                            // decoded, without the query string
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names in lowercase
  std::string body;
  std::string peer;  // the client's address

  std::string Header(const std::string& lowercase_name) const;
  std::string Query(const std::string& name, const std::string& fallback = "") const;
  std::string Cookie(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using Handler = std::function<Response(const Request&)>;

class HttpServer {
 public:
  // Listens on host (an IPv4 or IPv6 address, or localhost) and port (0: any free port).
  // Throws Error(kIo) naming the address when it cannot.
  HttpServer(const std::string& host, int port, Handler handler);
  ~HttpServer();  // stops: waits for the requests being handled
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

  // Limits: requests whose body is larger are refused with 413.
  static constexpr size_t kMaxBody = 1 << 20;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

// True for loopback addresses: 127.0.0.0/8, ::1, localhost.
bool IsLoopback(const std::string& host);

}  // namespace sluice::server
