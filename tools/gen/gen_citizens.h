#pragma once

// Generator behind `sluice gen citizens`: a deterministic, realistic citizens CSV with a chosen
// share of duplicate and malformed rows, used as the sample daily input of the example pipeline.

#include <cstdint>
#include <functional>
#include <string>

namespace sluice::gen {

struct GenCitizensOptions {
  uint64_t rows = 10000;          // data rows to write (duplicates and malformed rows included)
  double duplicate_rate = 0.02;   // fraction of rows that repeat an earlier citizen_id
  double malformed_rate = 0.001;  // fraction of rows that are malformed
  uint64_t seed = 42;
  std::string out_path;  // file to write; "-" means stdout
};

struct GenCitizensStats {
  uint64_t rows = 0;        // data rows written (header excluded)
  uint64_t duplicates = 0;  // rows repeating an earlier citizen_id (exact or updated)
  uint64_t malformed = 0;   // rows a strict parser must reject
  uint64_t bytes = 0;       // bytes written, header included
};

// Writes the CSV. Same options (seed included) => byte-identical output. Calls progress
// (bytes_written, rows_written) about every 8 MiB and once at the end. Throws
// sluice::Error (kIo, a std::runtime_error) naming the path and strerror on any I/O failure (open,
// write, close).
GenCitizensStats GenerateCitizens(const GenCitizensOptions& options,
                                  const std::function<void(uint64_t, uint64_t)>& progress);

}  // namespace sluice::gen
