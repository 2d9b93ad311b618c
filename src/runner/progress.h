#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

namespace sluice::runner {

// Renders progress of long work: "[task] 45% 1.2 GB of 2.7 GB, 310 MB/s, ETA 5s".
// On a terminal, Update rewrites one status line at most every 200 ms; elsewhere it prints a
// plain line at most every 10 s. Thread-safe.
class ProgressLine {
 public:
  ProgressLine(std::ostream& out, bool tty);
  // Replaces the status line (tty) or prints it when due (not a tty).
  void Update(const std::string& text);
  // Prints a permanent line, above the status line on a terminal.
  void Print(const std::string& line);
  // Clears the status line.
  void Clear();

 private:
  std::ostream& out_;
  bool tty_;
  double last_plain_ = 0;
  bool status_shown_ = false;
};

// Formats one progress text. done and total in the unit of `bytes` (bytes when true, rows
// otherwise); total 0 means unknown.
std::string FormatProgress(const std::string& label, double fraction, uint64_t done, uint64_t total,
                           double elapsed_seconds, bool bytes, const std::string& detail = "");

}  // namespace sluice::runner
