#pragma once

// Who may use the UI: without a token, anyone who can reach the loopback address it listens on;
// with a token (a file of mode 0600), whoever presents it, as `Authorization: Bearer TOKEN` or
// through the session cookie that POST /api/v1/login sets. Changes (POST) also need the UI's
// own origin and a JSON body, against cross-site requests. Thread-safe.

#include <mutex>
#include <set>
#include <string>

#include "server/http_server.h"

namespace sluice::server {

class Auth {
 public:
  // Reads a token file: a regular file of mode 0600 or 0400 holding at least 16 characters
  // (surrounding whitespace ignored). Throws Error(kInvalidInput) saying what is wrong.
  static std::string LoadToken(const std::string& path);

  // token "" = no token: only loopback clients, with a loopback Host header.
  explicit Auth(std::string token) : token_(std::move(token)) {}

  bool required() const { return !token_.empty(); }
  // Whether r carries the token or a session of it.
  bool Authorized(const Request& r);
  // Why a request may not be served at all ("" when it may): a Host header that is not a
  // loopback name while no token protects the UI (DNS rebinding).
  std::string HostProblem(const Request& r) const;
  // Why a POST may not change anything ("" when it may).
  std::string CsrfProblem(const Request& r) const;
  // Checks a token given to the login form; on success returns a Set-Cookie value.
  bool Login(const std::string& token, std::string* set_cookie);

 private:
  std::string token_;
  std::mutex mu_;
  std::set<std::string> sessions_;  // Guarded by mu_
};

}  // namespace sluice::server
