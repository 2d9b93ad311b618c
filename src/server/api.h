#pragma once

// The REST API under /api/v1/ (docs/ui.md): reads the catalog's pipelines, their state stores
// and lakes, and starts runs, backfills and cancels as processes of their own. Thread-safe.

#include <memory>
#include <mutex>
#include <string>

#include "engine/engine.h"
#include "scheduler/launcher.h"
#include "server/catalog.h"
#include "server/http_server.h"

namespace sluice::server {

class Api {
 public:
  explicit Api(Catalog* catalog);
  ~Api();

  // Answers a request whose path starts with /api/v1/ (auth already checked).
  Response Handle(const Request& r);
  // Reaps the processes the API started (called now and then by the server).
  void Reap();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The OpenAPI 3 description of the API, as JSON.
std::string OpenApiJson();

}  // namespace sluice::server
