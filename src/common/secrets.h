#pragma once

#include <string>
#include <string_view>

namespace sluice {

// The values of ${env:..} and ${file:..} secrets, kept so that no message, log line or state
// row shows them: every sluice::Error, task log line and recorded error passes through
// RedactSecrets. Thread-safe.

// Remembers a resolved secret's value. Values shorter than 3 characters are not remembered:
// masking them would garble every message and protect nothing.
void RegisterSecret(std::string_view value);

// text with every remembered secret value replaced by "***".
std::string RedactSecrets(std::string text);

}  // namespace sluice
