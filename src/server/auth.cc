#include "server/auth.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

#include "common/error.h"
#include "common/strings.h"

namespace sluice::server {
namespace {

// Equal without telling by its timing where they differ.
bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); i++) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string RandomHex(int bytes) {
  std::random_device rd;  // /dev/urandom
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < bytes; i++) {
    unsigned v = rd() & 0xff;
    out += hex[v >> 4];
    out += hex[v & 15];
  }
  return out;
}

// The host part of a Host header or an origin's authority: "127.0.0.1", "::1", "localhost".
std::string HostName(std::string authority) {
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    return close == std::string::npos ? authority : authority.substr(1, close - 1);
  }
  auto colon = authority.rfind(':');
  return colon == std::string::npos ? authority : authority.substr(0, colon);
}

}  // namespace

std::string Auth::LoadToken(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw InvalidInput("--token-file " + path + ": cannot read it (" + std::strerror(errno) + ")");
  }
  if (!S_ISREG(st.st_mode)) throw InvalidInput("--token-file " + path + ": not a regular file");
  mode_t mode = st.st_mode & 0777;
  if (mode != 0600 && mode != 0400) {
    char m[8];
    std::snprintf(m, sizeof m, "%03o", static_cast<unsigned>(mode));
    throw InvalidInput("--token-file " + path + ": its mode is " + m +
                       "; others could read the token (chmod 600 " + path + ")");
  }
  std::ifstream in(path);
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  token = Trim(token);
  if (token.size() < 16 || token.find_first_of(" \t\r\n") != std::string::npos) {
    throw InvalidInput("--token-file " + path +
                       ": the token must be one word of at least 16 characters (for example: "
                       "head -c 24 /dev/urandom | base64 > " +
                       path + ")");
  }
  return token;
}

bool Auth::Authorized(const Request& r) {
  if (token_.empty()) return true;
  std::string h = r.Header("authorization");
  if (StartsWith(h, "Bearer ") && SameSecret(Trim(h.substr(7)), token_)) return true;
  std::string session = r.Cookie("sluice_session");
  if (session.empty()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.count(session) > 0;
}

std::string Auth::HostProblem(const Request& r) const {
  if (!token_.empty()) return "";
  std::string host = HostName(r.Header("host"));
  if (host.empty() || IsLoopback(host)) return "";
  return "the Host header '" + r.Header("host") +
         "' is not this machine's loopback address; without --token-file the UI answers only "
         "requests made to 127.0.0.1 or localhost";
}

std::string Auth::CsrfProblem(const Request& r) const {
  std::string type = ToLower(r.Header("content-type"));
  if (!StartsWith(type, "application/json")) {
    return "a change must be sent as JSON (Content-Type: application/json)";
  }
  std::string origin = r.Header("origin");
  if (!origin.empty()) {
    auto scheme = origin.find("://");
    std::string authority = scheme == std::string::npos ? origin : origin.substr(scheme + 3);
    if (authority != r.Header("host")) {
      return "the request comes from another site (Origin " + origin + ")";
    }
  }
  std::string site = r.Header("sec-fetch-site");
  if (!site.empty() && site != "same-origin" && site != "none") {
    return "the request comes from another site (Sec-Fetch-Site: " + site + ")";
  }
  return "";
}

bool Auth::Login(const std::string& token, std::string* set_cookie) {
  if (token_.empty() || !SameSecret(Trim(token), token_)) return false;
  std::string session = RandomHex(32);
  {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_.insert(session);
  }
  *set_cookie = "sluice_session=" + session + "; Path=/; HttpOnly; SameSite=Strict";
  return true;
}

}  // namespace sluice::server
