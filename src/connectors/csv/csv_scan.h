#pragma once

// An independent reading of a CSV file's structure: how many records it holds, where its lines
// start, which line endings it uses, and its longest record. csv_import checks the engine's
// count against it (rows read = loaded + rejected must hold for every file, whatever the engine
// does with a record it cannot read), and takes the physical line numbers of rejected rows
// from it. It streams the file through a fixed buffer, so memory does not grow with the input.
//
// The rules follow the engine's reader (DuckDB's read_csv with strict_mode):
// - A record ends at a line ending outside quotes: LF, CRLF or a lone CR.
// - A quote opens a quoted field only at the start of a field (the start of a record, or right
//   after a delimiter); elsewhere it is an ordinary character.
// - Inside quotes, a doubled quote (escape == quote) or escape + any character (escape !=
//   quote) is part of the value; line endings are part of the value.
// - A blank line (nothing between two line endings) is not a record.
// - A UTF-8 byte order mark at the start is not part of the first record.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sluice {
class CancelToken;
}

namespace sluice::connectors::csv {

struct Dialect {
  char delimiter = ',';
  char quote = '"';   // 0: no quoting
  char escape = '"';  // 0: none; equal to quote: a quote is written twice inside quotes
};

enum class LineEnding : uint8_t { kNone, kLf, kCrLf, kCr };

// "LF", "CRLF", "CR" or "none".
const char* LineEndingName(LineEnding e);

// A record longer than the scanner's threshold.
struct LongRecord {
  uint64_t offset = 0;       // where it starts
  uint64_t line = 0;         // its first physical line
  uint64_t record_line = 0;  // the reader's number for it, see Located
  uint64_t length = 0;       // bytes, without its line ending
};

// A record boundary to start a reading from: the record at offset starts after lines_before
// line endings, record_lines_before of them outside quotes.
struct Checkpoint {
  uint64_t offset = 0;
  uint64_t lines_before = 0;
  uint64_t record_lines_before = 0;
};

struct ScanStats {
  uint64_t bytes = 0;                  // bytes read
  uint64_t records = 0;                // records, the header included; blank lines are not records
  uint64_t blank_lines = 0;            // line endings outside quotes with nothing before them
  uint64_t lines = 0;                  // physical lines: line endings, plus a last line without one
  uint64_t longest_record = 0;         // bytes, without its line ending
  uint64_t longest_record_offset = 0;  // where it starts
  uint64_t longest_record_line = 0;    // its first physical line, 1-based
  LineEnding first_ending = LineEnding::kNone;  // of the first record that has one
  uint64_t mixed_line = 0;  // first physical line ending unlike the first record; 0 = none
  LineEnding mixed_ending = LineEnding::kNone;  // how that line ends
  bool open_quote_at_end = false;               // the file ends inside a quoted field
  // Records longer than the threshold given to the scanner, the first kMaxLongRecords of them.
  std::vector<LongRecord> long_records;
  uint64_t long_records_total = 0;
  static constexpr size_t kMaxLongRecords = 10000;
  // Record boundaries about every kCheckpointBytes (after LF line endings), where a reading of
  // the file's fields can start: ScanFields reads the parts between them in parallel.
  std::vector<Checkpoint> checkpoints;
  static constexpr uint64_t kCheckpointBytes = 32u << 20;
};

// Where a record starts, found by the number the engine's reader gives it: 1 + the line endings
// outside quotes before it (blank lines count, line breaks inside quoted values do not).
struct Located {
  uint64_t record_line = 0;  // the reader's number
  uint64_t offset = 0;       // 0-based byte offset of the record's first byte
  uint64_t line = 0;         // 1-based physical line, counting every line ending
};

// Reads a CSV byte stream fed to it in pieces of any size. Not thread-safe.
class Scanner {
 public:
  // record_lines: the reader's numbers (ascending) of records to locate, see located().
  // long_record: records longer than this many bytes are listed in stats().long_records
  // (0 = none).
  explicit Scanner(const Dialect& dialect, std::vector<uint64_t> record_lines = {},
                   uint64_t long_record = 0);

  // Feeds the next n bytes of the file.
  void Feed(const char* data, size_t n);
  // Ends the input; stats() and located() are complete after this.
  void Finish();

  const ScanStats& stats() const { return stats_; }
  const std::vector<Located>& located() const { return located_; }

 private:
  void Terminator(uint64_t pos, bool cr);
  void EndRecord(uint64_t pos, uint64_t next_start);
  void NoteEnding(LineEnding ending, uint64_t line);
  void Quote(uint64_t pos, unsigned char before);
  void StartLine(uint64_t start);

  Dialect d_;
  uint64_t long_record_;
  ScanStats stats_;
  std::vector<uint64_t> wanted_;  // record lines to locate
  size_t next_wanted_ = 0;
  uint64_t outside_lines_ = 0;  // line endings outside quotes so far
  std::vector<Located> located_;

  uint64_t pos_ = 0;                  // file offset of the next byte fed
  unsigned char last_ = 0;            // the last byte fed (for a quote at the start of a piece)
  uint64_t record_start_ = 0;         // where the current record starts
  uint64_t record_line_ = 1;          // the physical line it starts on
  uint64_t record_outside_line_ = 1;  // the reader's number for it
  uint64_t terminators_ = 0;          // line endings seen so far, inside quotes too
  uint64_t last_terminator_end_ = 0;  // the offset after the last line ending
  uint64_t deferred_cr_line_ = 0;     // a CR outside quotes ended the last piece: its line
  uint64_t next_checkpoint_ = ScanStats::kCheckpointBytes;
  uint64_t cr_at_ = UINT64_MAX;   // position of the last CR (a following LF joins it)
  bool cr_ended_record_ = false;  // that CR ended a record (outside quotes)
  bool in_quotes_ = false;
  uint64_t pending_close_ = UINT64_MAX;  // a quote inside quotes that may be a doubled one
  uint64_t skip_until_ = 0;              // escape != quote: the escaped byte is literal
  bool bom_checked_ = false;
};

// Scans the file at path. expected_size is its size when the engine read it: a file that is
// not that size now, or shrinks or grows while it is scanned, was changed while it was read,
// which throws Error(kIo, retryable) saying so. Throws Error(kIo) when the file cannot be
// read, Error(kCancelled) when cancel fires. utf16 reads the file as UTF-16 (BOM-detected,
// little-endian by default), one byte per code unit, so offsets are in code units.
// record_lines and long_record as for Scanner.
ScanStats ScanFile(const std::string& path, const Dialect& dialect, uint64_t expected_size,
                   const std::vector<uint64_t>& record_lines, std::vector<Located>* located,
                   CancelToken* cancel, bool utf16 = false, uint64_t long_record = 0);

// One field of a record, as the reader sees it: unquoted, doubled quotes and escapes resolved.
struct FieldText {
  std::string text;
  bool quoted = false;  // it was written in quotes
};

// A record ScanFields hands over.
struct RecordText {
  uint64_t record_line = 0;  // the reader's number, see Located
  uint64_t offset = 0;       // of its first byte
  uint64_t length = 0;       // bytes, without its line ending
  uint64_t line = 0;         // 1-based physical line
};

// The part of a file a ScanFields call reads: from a checkpoint (start = 0 for the beginning)
// to the next one (end = 0 for the end of the file).
struct FieldRange {
  Checkpoint from;
  uint64_t end = 0;
};

// Reads the fields `columns` (0-based, ascending) of every record of range but the header
// (when header) and the records whose reader number is in skip (ascending), and hands them to
// on_record; a record with fewer fields gets empty ones. For the rare path: csv_import uses it
// only to find the rows a check after the reader refused. Calls on different ranges may run on
// different threads. Throws as ScanFile. piece: the read size (0 = 4 MB), for tests.
void ScanFields(
    const std::string& path, const Dialect& dialect, uint64_t expected_size, bool header,
    const std::vector<size_t>& columns, const std::vector<uint64_t>& skip,
    const std::function<void(const RecordText&, const std::vector<FieldText>&)>& on_record,
    CancelToken* cancel, bool utf16 = false, size_t piece = 0, const FieldRange& range = {});

}  // namespace sluice::connectors::csv
