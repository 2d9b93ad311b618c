#include "common/error.h"

#include <cstring>

namespace sluice {

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidInput:
      return "invalid input";
    case ErrorKind::kNotFound:
      return "not found";
    case ErrorKind::kIo:
      return "I/O error";
    case ErrorKind::kConnection:
      return "connection error";
    case ErrorKind::kCancelled:
      return "cancelled";
    case ErrorKind::kInternal:
      return "internal error";
  }
  return "error";
}

std::string ErrnoMessage(const std::string& what, int errnum) {
  return what + ": " + std::strerror(errnum);
}

}  // namespace sluice
