#pragma once

namespace sluice {

constexpr const char* kVersion = "0.1.0";

}  // namespace sluice
