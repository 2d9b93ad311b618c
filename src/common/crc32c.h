#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sluice {

// CRC-32C (Castagnoli), the checksum HDFS uses for blocks. Extend(crc, ...) continues a
// running checksum; start with crc = 0. Uses the SSE4.2 instruction when the CPU has it.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

// Returns the CRC-32C of a whole file as 8 hex digits. Throws Error(kIo) when unreadable.
std::string Crc32cOfFile(const std::string& path);

}  // namespace sluice
