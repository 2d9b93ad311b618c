#pragma once

#include <stdexcept>
#include <string>

#include "common/secrets.h"

namespace sluice {

// What went wrong, coarse enough for the runner's retry policy and the exit code.
enum class ErrorKind {
  kInvalidInput,  // the user's file, option or data is wrong; retrying does not help
  kNotFound,      // a file, dataset, table or task that should exist does not
  kIo,            // the local or remote file system failed
  kConnection,    // a server could not be reached or dropped the connection
  kCancelled,     // Ctrl-C, a timeout, or a lost lease stopped the work
  kInternal,      // a bug in sluice
};

// The one error type of the project. Messages name the object, the cause and the fix.
// retryable() is read by the runner: true means another attempt may succeed. A secret's value
// never reaches a message: it is masked here (common/secrets.h).
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, bool retryable = false)
      : std::runtime_error(RedactSecrets(message)), kind_(kind), retryable_(retryable) {}

  ErrorKind kind() const { return kind_; }
  bool retryable() const { return retryable_; }

 private:
  ErrorKind kind_;
  bool retryable_;
};

// Returns a short lowercase name of kind, e.g. "invalid input".
const char* ErrorKindName(ErrorKind kind);

inline Error InvalidInput(const std::string& message) {
  return Error(ErrorKind::kInvalidInput, message);
}
inline Error NotFound(const std::string& message) { return Error(ErrorKind::kNotFound, message); }
inline Error IoError(const std::string& message, bool retryable = true) {
  return Error(ErrorKind::kIo, message, retryable);
}
inline Error Cancelled(const std::string& message) { return Error(ErrorKind::kCancelled, message); }
inline Error Internal(const std::string& message) { return Error(ErrorKind::kInternal, message); }

// Returns "<what>: <strerror(errnum)>".
std::string ErrnoMessage(const std::string& what, int errnum);

}  // namespace sluice
