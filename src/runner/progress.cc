#include "runner/progress.h"

#include <mutex>
#include <ostream>

#include "common/secrets.h"
#include "common/strings.h"
#include "common/time.h"

namespace sluice::runner {
namespace {
std::mutex progress_mu;
}

ProgressLine::ProgressLine(std::ostream& out, bool tty) : out_(out), tty_(tty) {}

void ProgressLine::Update(const std::string& text) {
  std::lock_guard<std::mutex> lock(progress_mu);
  if (tty_) {
    out_ << "\r\033[K" << RedactSecrets(text) << std::flush;
    status_shown_ = true;
    return;
  }
  double now = SteadySeconds();
  if (now - last_plain_ >= 10) {
    out_ << text << "\n" << std::flush;
    last_plain_ = now;
  }
}

void ProgressLine::Print(const std::string& line) {
  std::lock_guard<std::mutex> lock(progress_mu);
  if (tty_ && status_shown_) {
    out_ << "\r\033[K";
    status_shown_ = false;
  }
  out_ << RedactSecrets(line) << "\n" << std::flush;
}

void ProgressLine::Clear() {
  std::lock_guard<std::mutex> lock(progress_mu);
  if (tty_ && status_shown_) out_ << "\r\033[K" << std::flush;
  status_shown_ = false;
}

std::string FormatProgress(const std::string& label, double fraction, uint64_t done, uint64_t total,
                           double elapsed, bool bytes, const std::string& detail) {
  std::string text = "[" + label + "]";
  auto fmt = [&](double v) {
    return bytes ? HumanBytes(v) : HumanCount(static_cast<uint64_t>(v)) + " rows";
  };
  if (fraction >= 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, " %3.0f%%", fraction * 100);
    text += pct;
  }
  if (total > 0 && fraction >= 0) {
    text +=
        " " + fmt(fraction * static_cast<double>(total)) + " of " + fmt(static_cast<double>(total));
    if (elapsed > 0.5) {
      double rate = fraction * static_cast<double>(total) / elapsed;
      text += ", " + fmt(rate) + "/s";
      if (fraction > 0.01) text += ", ETA " + HumanSeconds(elapsed * (1 - fraction) / fraction);
    }
  } else if (done > 0) {
    text += " " + fmt(static_cast<double>(done));
    if (elapsed > 0.5) text += ", " + fmt(static_cast<double>(done) / elapsed) + "/s";
  }
  if (!detail.empty()) text += " " + detail;
  text += " (" + HumanSeconds(elapsed) + ")";
  return text;
}

}  // namespace sluice::runner
