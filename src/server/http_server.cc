#include "server/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "common/error.h"
#include "common/strings.h"

namespace sluice::server {

std::string Request::Header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? "" : it->second;
}

std::string Request::Query(const std::string& name, const std::string& fallback) const {
  auto it = query.find(name);
  return it == query.end() ? fallback : it->second;
}

std::string Request::Cookie(const std::string& name) const {
  for (const auto& part : Split(Header("cookie"), ';')) {
    std::string p = Trim(part);
    auto eq = p.find('=');
    if (eq != std::string::npos && p.substr(0, eq) == name) return p.substr(eq + 1);
  }
  return "";
}

bool IsLoopback(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr a4{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  return false;
}

struct HttpServer::Impl {
  Handler handler;
  MHD_Daemon* daemon = nullptr;
};

namespace {

// The state of one request while its body arrives.
struct Pending {
  Request request;
  bool too_large = false;
};

MHD_Result CollectHeader(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* map = static_cast<std::map<std::string, std::string>*>(cls);
  if (key != nullptr) (*map)[ToLower(key)] = value ? value : "";
  return MHD_YES;
}

MHD_Result CollectArgument(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* map = static_cast<std::map<std::string, std::string>*>(cls);
  if (key != nullptr) (*map)[key] = value ? value : "";
  return MHD_YES;
}

std::string PeerOf(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == nullptr || info->client_addr == nullptr) return "";
  char buf[INET6_ADDRSTRLEN] = {};
  const sockaddr* sa = info->client_addr;
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

MHD_Result Send(MHD_Connection* connection, const Response& r) {
  MHD_Response* response = MHD_create_response_from_buffer(
      r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, "Content-Type", r.content_type.c_str());
  // Every answer: no sniffing, no framing by other sites, nothing cached that holds run data.
  MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(response, "X-Frame-Options", "DENY");
  MHD_add_response_header(response, "Referrer-Policy", "same-origin");
  for (const auto& [k, v] : r.headers) MHD_add_response_header(response, k.c_str(), v.c_str());
  MHD_Result rc = MHD_queue_response(connection, static_cast<unsigned>(r.status), response);
  MHD_destroy_response(response);
  return rc;
}

MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url, const char* method,
                     const char*, const char* upload_data, size_t* upload_data_size,
                     void** con_cls) {
  auto* impl = static_cast<HttpServer::Impl*>(cls);
  auto* pending = static_cast<Pending*>(*con_cls);
  if (pending == nullptr) {
    pending = new Pending();
    pending->request.method = method;
    pending->request.path = url;
    MHD_get_connection_values(connection, MHD_HEADER_KIND, CollectHeader,
                              &pending->request.headers);
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, CollectArgument,
                              &pending->request.query);
    pending->request.peer = PeerOf(connection);
    *con_cls = pending;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    if (pending->request.body.size() + *upload_data_size > HttpServer::kMaxBody) {
      pending->too_large = true;
    } else {
      pending->request.body.append(upload_data, *upload_data_size);
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  Response r;
  if (pending->too_large) {
    r.status = 413;
    r.body = "{\"error\": \"the request body is larger than 1 MiB\"}";
  } else {
    try {
      r = impl->handler(pending->request);
    } catch (const std::exception& e) {
      r.status = 500;
      r.body = std::string("{\"error\": \"internal error\"}");
    }
  }
  return Send(connection, r);
}

void OnCompleted(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  delete static_cast<Pending*>(*con_cls);
  *con_cls = nullptr;
}

}  // namespace

HttpServer::HttpServer(const std::string& host, int port, Handler handler)
    : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  sockaddr_in a4{};
  sockaddr_in6 a6{};
  const sockaddr* addr = nullptr;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
  std::string h = host == "localhost" ? "127.0.0.1" : host;
  if (inet_pton(AF_INET, h.c_str(), &a4.sin_addr) == 1) {
    a4.sin_family = AF_INET;
    a4.sin_port = htons(static_cast<uint16_t>(port));
    addr = reinterpret_cast<const sockaddr*>(&a4);
  } else if (inet_pton(AF_INET6, h.c_str(), &a6.sin6_addr) == 1) {
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(static_cast<uint16_t>(port));
    addr = reinterpret_cast<const sockaddr*>(&a6);
    flags |= MHD_USE_IPv6;
  } else {
    throw InvalidInput("--listen " + host +
                       ": not an IP address (write 127.0.0.1:8080 or [::1]:8080)");
  }
  impl_->daemon = MHD_start_daemon(
      flags, static_cast<uint16_t>(port), nullptr, nullptr, &OnRequest, impl_.get(),
      MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_THREAD_POOL_SIZE, 4u,
      // A client that sends nothing for 30 s is dropped: no connection holds a thread forever.
      MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 256u,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(256 * 1024),
      MHD_OPTION_NOTIFY_COMPLETED, &OnCompleted, nullptr, MHD_OPTION_END);
  if (impl_->daemon == nullptr) {
    throw IoError("cannot listen on " + host + ":" + std::to_string(port) +
                      " (the port is taken, or the address is not one of this machine's)",
                  false);
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(impl_->daemon, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info ? info->port : port;
}

HttpServer::~HttpServer() {
  if (impl_ && impl_->daemon) MHD_stop_daemon(impl_->daemon);
}

}  // namespace sluice::server
