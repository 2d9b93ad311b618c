#include "server/ui_server.h"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/strings.h"
#include "server/api.h"
#include "server/assets.h"
#include "server/auth.h"
#include "server/catalog.h"
#include "server/http_server.h"

namespace sluice::server {
namespace {

std::string ContentTypeOf(const std::string& path) {
  if (EndsWith(path, ".js")) return "text/javascript; charset=utf-8";
  if (EndsWith(path, ".css")) return "text/css; charset=utf-8";
  if (EndsWith(path, ".svg")) return "image/svg+xml";
  if (EndsWith(path, ".json")) return "application/json";
  return "text/html; charset=utf-8";
}

// The pages may load only this server's own scripts and styles, and nothing may frame them:
// even a value that slipped into the page as HTML could not run.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

Response Message(int status, const std::string& text) {
  Response r;
  r.status = status;
  r.body = nlohmann::json{{"error", text}}.dump();
  return r;
}

}  // namespace

void ParseListen(const std::string& listen, std::string* host, int* port) {
  std::string h, p;
  if (!listen.empty() && listen[0] == '[') {
    auto close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      throw InvalidInput("--listen " + listen + ": write [ADDRESS]:PORT for IPv6");
    }
    h = listen.substr(1, close - 1);
    p = listen.substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos) throw InvalidInput("--listen " + listen + ": write HOST:PORT");
    h = listen.substr(0, colon);
    p = listen.substr(colon + 1);
  }
  if (h.empty()) h = "127.0.0.1";
  char* end = nullptr;
  long n = std::strtol(p.c_str(), &end, 10);
  if (p.empty() || *end != '\0' || n < 0 || n > 65535) {
    throw InvalidInput("--listen " + listen + ": the port must be a number from 0 to 65535");
  }
  *host = h;
  *port = static_cast<int>(n);
}

struct UiServer::Impl {
  std::unique_ptr<Catalog> catalog;
  std::unique_ptr<Auth> auth;
  std::unique_ptr<Api> api;
  std::unique_ptr<HttpServer> http;
  std::string host;
  std::string assets_dir;  // SLUICE_UI_ASSETS_DIR: serve the files from disk (for UI work)
  std::atomic<bool> stop{false};
  std::thread reaper;

  Response Asset(const std::string& path) {
    Response r;
    r.content_type = ContentTypeOf(path);
    r.headers.push_back({"Content-Security-Policy", kContentSecurityPolicy});
    if (!assets_dir.empty()) {
      std::ifstream in(assets_dir + path, std::ios::binary);
      if (!in) return Message(404, "no file " + path);
      r.body.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      r.headers.push_back({"Cache-Control", "no-store"});
      return r;
    }
    for (const auto& a : Assets()) {
      if (path == a.path) {
        r.body.assign(reinterpret_cast<const char*>(a.data), a.size);
        r.headers.push_back({"Cache-Control", "no-cache"});
        return r;
      }
    }
    return Message(404, "no file " + path);
  }

  Response Handle(const Request& r) {
    if (std::string problem = auth->HostProblem(r); !problem.empty()) return Message(403, problem);
    if (StartsWith(r.path, "/api/")) return HandleApi(r);
    if (r.method != "GET" && r.method != "HEAD") return Message(405, "pages are read with GET");
    // The app's files; every other path is a page of the app (it routes on the path).
    if (r.path.find('.') != std::string::npos && r.path.find('/', 1) == std::string::npos) {
      return Asset(r.path);
    }
    return Asset("/index.html");
  }

  Response HandleApi(const Request& r) {
    if (r.path == "/api/openapi.json") {
      Response out;
      out.body = OpenApiJson();
      return out;
    }
    if (r.path == "/api/v1/session") {
      Response out;
      out.body =
          nlohmann::json{{"token_required", auth->required()}, {"signed_in", auth->Authorized(r)}}
              .dump();
      return out;
    }
    if (r.method == "POST") {
      if (std::string problem = auth->CsrfProblem(r); !problem.empty()) {
        return Message(403, problem);
      }
    }
    if (r.path == "/api/v1/login" && r.method == "POST") {
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      std::string cookie;
      if (j.is_object() && j.contains("token") && j["token"].is_string() &&
          auth->Login(j["token"].get<std::string>(), &cookie)) {
        Response out;
        out.status = 204;
        out.headers.push_back({"Set-Cookie", cookie});
        return out;
      }
      return Message(401, auth->required() ? "wrong token" : "this UI needs no token");
    }
    if (!auth->Authorized(r)) {
      Response out = Message(401, "send the token: Authorization: Bearer TOKEN, or sign in");
      out.headers.push_back({"WWW-Authenticate", "Bearer"});
      return out;
    }
    if (!StartsWith(r.path, "/api/v1/")) return Message(404, "no API call " + r.path);
    return api->Handle(r);
  }
};

UiServer::UiServer(const UiOptions& o) : impl_(std::make_unique<Impl>()) {
  int port = 0;
  ParseListen(o.listen, &impl_->host, &port);
  std::string token;
  if (!o.token_file.empty()) token = Auth::LoadToken(o.token_file);
  if (token.empty() && !IsLoopback(impl_->host)) {
    throw InvalidInput("--listen " + o.listen +
                       ": listening beyond this machine needs a token; pass --token-file FILE "
                       "(mode 0600), or listen on 127.0.0.1");
  }
  if (const char* dir = std::getenv("SLUICE_UI_ASSETS_DIR"); dir && *dir) impl_->assets_dir = dir;
  impl_->catalog = std::make_unique<Catalog>(o.paths, o.vars);
  impl_->catalog->Refresh(true);
  impl_->auth = std::make_unique<Auth>(token);
  impl_->api = std::make_unique<Api>(impl_->catalog.get());
  Impl* impl = impl_.get();
  impl_->http = std::make_unique<HttpServer>(impl_->host, port,
                                             [impl](const Request& r) { return impl->Handle(r); });
  impl_->reaper = std::thread([impl] {
    while (!impl->stop) {
      impl->api->Reap();
      for (int i = 0; i < 10 && !impl->stop; i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  });
}

UiServer::~UiServer() {
  impl_->stop = true;
  impl_->reaper.join();
  impl_->http.reset();  // no request is being handled after this
}

std::string UiServer::url() const {
  std::string h =
      impl_->host.find(':') != std::string::npos ? "[" + impl_->host + "]" : impl_->host;
  return "http://" + h + ":" + std::to_string(impl_->http->port()) + "/";
}

}  // namespace sluice::server
