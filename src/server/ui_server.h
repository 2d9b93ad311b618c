#pragma once

// `sluice ui` and `sluice scheduler --ui`: the pages, the API and the login, on one HTTP server.

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace sluice::server {

struct UiOptions {
  std::vector<std::string> paths;  // pipeline folders and files
  std::map<std::string, std::string> vars;
  std::string listen = "127.0.0.1:8080";
  std::string token_file;  // "" = no token: loopback only
};

class UiServer {
 public:
  // Checks the options (a non-loopback address without a token, a bad token file: Error
  // kInvalidInput with the reason) and starts serving.
  explicit UiServer(const UiOptions& options);
  ~UiServer();
  UiServer(const UiServer&) = delete;
  UiServer& operator=(const UiServer&) = delete;

  // "http://127.0.0.1:8080/"
  std::string url() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Splits HOST:PORT ("127.0.0.1:8080", "[::1]:8080", ":8080" = 127.0.0.1); throws
// Error(kInvalidInput) when malformed.
void ParseListen(const std::string& listen, std::string* host, int* port);

}  // namespace sluice::server
