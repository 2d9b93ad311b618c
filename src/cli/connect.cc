#include "cli/connect.h"

#include <curl/curl.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>

#include "common/strings.h"

namespace sluice::cli {

std::string RedactUrl(const std::string& url) {
  auto scheme = url.find("://");
  auto at = url.rfind('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

pipeline::ConnectionSpec ConnectionFromUrl(const std::string& raw_url, const Args& a) {
  // Shown redacted: a URL that holds a password is refused below anyway.
  const std::string shown = RedactUrl(raw_url);
  const std::string usage = "--connect " + shown +
                            ": write postgresql://USER@HOST:PORT/DATABASE or "
                            "mysql://USER@HOST:PORT/DATABASE";
  pipeline::ConnectionSpec c;
  c.name = "target";
  std::string url = raw_url;
  if (StartsWith(url, "jdbc:")) url = url.substr(5);
  auto pos = url.find("://");
  if (pos == std::string::npos) throw UsageError(usage);
  std::string scheme = ToLower(url.substr(0, pos));
  if (scheme == "postgresql" || scheme == "postgres") {
    c.type = "postgres";
  } else if (scheme == "mysql" || scheme == "mariadb") {
    c.type = "mysql";
  } else {
    throw UsageError("--connect " + shown + ": scheme '" + scheme + "' is not postgresql or mysql");
  }
  std::unique_ptr<CURLU, void (*)(CURLU*)> u(curl_url(), curl_url_cleanup);
  if (!u ||
      curl_url_set(u.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    throw UsageError(usage);
  }
  auto part = [&](CURLUPart what, unsigned flags = CURLU_URLDECODE) -> std::optional<std::string> {
    char* v = nullptr;
    if (curl_url_get(u.get(), what, &v, flags) != CURLUE_OK || v == nullptr) return std::nullopt;
    std::string out = v;
    curl_free(v);
    return out;
  };
  if (part(CURLUPART_PASSWORD)) {
    throw UsageError(
        "--connect: a password in the URL would show in the process list; use "
        "--password-file FILE (mode 0600) or --password-env NAME");
  }
  std::string host = part(CURLUPART_HOST).value_or("");
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);  // an IPv6 address
  }
  if (host.empty()) throw UsageError("--connect " + shown + ": no host");
  c.options["host"] = host;
  if (auto port = part(CURLUPART_PORT)) c.options["port"] = *port;
  if (auto user = part(CURLUPART_USER)) c.options["user"] = *user;
  std::string path = part(CURLUPART_PATH).value_or("");
  if (path.size() <= 1) throw UsageError("--connect " + shown + ": no /DATABASE");
  c.options["database"] = path.substr(1);
  // ?sslmode=verify-full&sslrootcert=ca.pem&connect_timeout=10s: the connection options of a
  // pipeline file (docs/load.md), in the URL as JDBC users write them.
  if (auto query = part(CURLUPART_QUERY, 0)) {
    const std::vector<std::string> allowed = {"ssl_mode",    "sslmode",         "ssl_ca",
                                              "sslrootcert", "connect_timeout", "read_timeout"};
    for (const auto& kv : Split(*query, '&')) {
      auto eq = kv.find('=');
      std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
      int n = 0;
      char* decoded = curl_easy_unescape(nullptr, v.c_str(), static_cast<int>(v.size()), &n);
      if (decoded != nullptr) {
        v.assign(decoded, static_cast<size_t>(n));
        curl_free(decoded);
      }
      if (k == "user" || k == "password") {
        throw UsageError("--connect: put no " + k +
                         " in the URL's parameters; use --username, "
                         "--password-file or --password-env");
      }
      if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
        throw UsageError("--connect: unknown URL parameter '" + k +
                         "' (known: " + Join(allowed, ", ") + ")");
      }
      c.options[k] = v;
    }
  }
  if (a.Has("username")) c.options["user"] = a.Get("username");
  if (a.Has("password-file")) {
    std::string f = a.Get("password-file");
    c.options["password"] = "${file:" + std::filesystem::absolute(f).string() + "}";
  } else if (a.Has("password-env")) {
    c.options["password"] = "${env:" + a.Get("password-env") + "}";
  }
  if (!c.options.count("user"))
    throw UsageError("--connect: no user (write USER@HOST or --username)");
  return c;
}

pipeline::PipelineSpec OneTaskSpec(const Args& a, const std::string& what) {
  pipeline::PipelineSpec spec;
  if (a.Has("pipeline")) {
    auto base = pipeline::LoadPipelineOrThrow(a.Get("pipeline"), ParseVars(a));
    spec.file = base.file;
    spec.dir = base.dir;
    spec.lake = base.lake;
    spec.state_dir = base.state_dir;
    spec.engine_options = base.engine_options;
    spec.name = base.name + "_" + what;
  } else {
    spec.dir = std::filesystem::current_path().string();
    spec.file = spec.dir + "/(sluice " + what + ")";
    spec.lake = std::filesystem::absolute(a.Get("lake")).string();
    spec.state_dir = spec.lake + "/_" + what + "_state";
    spec.name = what;
  }
  return spec;
}

}  // namespace sluice::cli
