#pragma once

// The web UI's files (src/server/assets/), built into the binary by cmake/embed.cmake.

#include <cstddef>
#include <string>
#include <vector>

namespace sluice::server {

struct Asset {
  const char* path;  // "/app.js"
  const unsigned char* data;
  size_t size;
};

const std::vector<Asset>& Assets();

}  // namespace sluice::server
