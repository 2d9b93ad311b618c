#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

std::string Trim(std::string_view s);
// Trims s and drops the semicolons that end a SQL statement, so it can be nested in another.
std::string StripSqlTerminator(std::string_view s);
std::vector<std::string> Split(std::string_view s, char sep);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);
bool StartsWith(std::string_view s, std::string_view prefix);
bool EndsWith(std::string_view s, std::string_view suffix);
std::string ToLower(std::string_view s);
std::string ReplaceAll(std::string s, std::string_view from, std::string_view to);

// Returns s as a SQL string literal: 'it''s'.
std::string SqlLiteral(std::string_view s);
// Returns s as a double-quoted SQL identifier: "my ""col""".
std::string SqlIdentifier(std::string_view s);

// True for [A-Za-z_][A-Za-z0-9_]*.
bool IsIdentifier(std::string_view s);

// Formats a byte count as "1.5 GB", a count as "12,345,678", seconds as "1m02s" / "3.2s".
std::string HumanBytes(double bytes);
// A size as people write it: "500000", "64MB", "1.5GB", "512KiB" (KB = 1000, KiB = 1024), or
// nullopt.
std::optional<uint64_t> ParseBytes(std::string_view text);
std::string HumanCount(uint64_t n);
std::string HumanSeconds(double seconds);

// Returns the closest candidate to word by edit distance, or "" when none is close.
std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace sluice
