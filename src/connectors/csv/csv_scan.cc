#include "connectors/csv/csv_scan.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cerrno>
#include <memory>

#include "common/cancel.h"
#include "common/error.h"

namespace sluice::connectors::csv {
namespace {

constexpr uint64_t kNone = UINT64_MAX;

// One bit per byte of p[0, len) that is a line feed, a carriage return or one of a, b: the only
// bytes that change the scanner's state. Records are long and such bytes rare, so the scanner
// visits a few positions per 64 bytes instead of every byte.
uint64_t InterestingBits(const unsigned char* p, size_t len, unsigned char a, unsigned char b) {
  uint64_t m = 0;
  size_t i = 0;
#if defined(__SSE2__)
  if (len == 64) {
    const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    const __m128i va = _mm_set1_epi8(static_cast<char>(a)),
                  vb = _mm_set1_epi8(static_cast<char>(b));
    for (int k = 0; k < 4; k++) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
      __m128i x = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)));
      m |= static_cast<uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(x))) << (16 * k);
    }
    return m;
  }
#endif
  for (; i < len; i++) {
    unsigned char c = p[i];
    if (c == '\n' || c == '\r' || c == a || c == b) m |= uint64_t{1} << i;
  }
  return m;
}

}  // namespace

const char* LineEndingName(LineEnding e) {
  switch (e) {
    case LineEnding::kLf:
      return "LF";
    case LineEnding::kCrLf:
      return "CRLF";
    case LineEnding::kCr:
      return "CR";
    case LineEnding::kNone:
      break;
  }
  return "none";
}

Scanner::Scanner(const Dialect& dialect, std::vector<uint64_t> record_lines, uint64_t long_record)
    : d_(dialect), long_record_(long_record), wanted_(std::move(record_lines)) {
  if (d_.escape == 0) d_.escape = d_.quote;
}

// A line outside quotes starts at `start` (on physical line terminators_ + 1).
void Scanner::StartLine(uint64_t start) {
  uint64_t number = outside_lines_ + 1;
  while (next_wanted_ < wanted_.size() && wanted_[next_wanted_] <= number) {
    if (wanted_[next_wanted_] == number) located_.push_back({number, start, terminators_ + 1});
    next_wanted_++;
  }
}

void Scanner::NoteEnding(LineEnding ending, uint64_t line) {
  if (stats_.first_ending == LineEnding::kNone) {
    stats_.first_ending = ending;
  } else if (ending != stats_.first_ending && stats_.mixed_line == 0) {
    stats_.mixed_line = line;
    stats_.mixed_ending = ending;
  }
}

void Scanner::EndRecord(uint64_t pos, uint64_t next_start) {
  if (pos == record_start_) {
    stats_.blank_lines++;
  } else {
    stats_.records++;
    uint64_t length = pos - record_start_;
    if (long_record_ > 0 && length > long_record_) {
      stats_.long_records_total++;
      if (stats_.long_records.size() < ScanStats::kMaxLongRecords) {
        stats_.long_records.push_back({record_start_, record_line_, record_outside_line_, length});
      }
    }
    if (length > stats_.longest_record) {
      stats_.longest_record = length;
      stats_.longest_record_offset = record_start_;
      stats_.longest_record_line = record_line_;
    }
  }
  record_start_ = next_start;
  record_line_ = terminators_ + 1;
  record_outside_line_ = outside_lines_ + 2;  // EndRecord runs before outside_lines_ counts it
}

void Scanner::Terminator(uint64_t pos, bool cr) {
  terminators_++;
  last_terminator_end_ = pos + 1;
  if (cr) cr_at_ = pos;
  cr_ended_record_ = false;
}

void Scanner::Feed(const char* data, size_t n) {
  if (n == 0) return;
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  if (!bom_checked_) {
    // A UTF-8 byte order mark may arrive split over pieces.
    static const unsigned char kBom[3] = {0xEF, 0xBB, 0xBF};
    bool mismatch = false;
    for (size_t k = 0; k < n && pos_ + k < 3 && !mismatch; k++) mismatch = p[k] != kBom[pos_ + k];
    if (mismatch || pos_ + n >= 3) {
      bom_checked_ = true;
      if (!mismatch) record_start_ = 3;
      StartLine(record_start_);
    }
  }
  if (deferred_cr_line_ != 0) {
    // A CR ended the last piece: its line ends in CRLF when this piece starts with LF.
    NoteEnding(p[0] == '\n' ? LineEnding::kCrLf : LineEnding::kCr, deferred_cr_line_);
    StartLine(p[0] == '\n' ? pos_ + 1 : pos_);
    deferred_cr_line_ = 0;
  }
  const unsigned char quote = static_cast<unsigned char>(d_.quote ? d_.quote : '\n');
  const unsigned char escape =
      static_cast<unsigned char>(d_.escape && d_.escape != d_.quote ? d_.escape : '\n');
  for (size_t base = 0; base < n; base += 64) {
    size_t len = std::min<size_t>(64, n - base);
    uint64_t mask = InterestingBits(p + base, len, quote, escape);
    while (mask != 0) {
      size_t i = base + static_cast<size_t>(__builtin_ctzll(mask));
      mask &= mask - 1;
      uint64_t pos = pos_ + i;
      unsigned char c = p[i];
      if (pending_close_ != kNone) {
        // The quote before closed the field, unless this is the second quote of a pair.
        bool doubled = c == d_.quote && pos == pending_close_ + 1;
        pending_close_ = kNone;
        if (doubled) continue;
        in_quotes_ = false;
      }
      if (c == '\n' || c == '\r') {
        if (c == '\n' && pos > 0 && cr_at_ == pos - 1) {
          // The LF of a CRLF: the CR already ended the line.
          if (cr_ended_record_) record_start_ = pos + 1;
          last_terminator_end_ = pos + 1;
          cr_at_ = kNone;
          continue;
        }
        bool outside = !in_quotes_;
        Terminator(pos, c == '\r');
        if (outside) {
          EndRecord(pos, pos + 1);
          outside_lines_++;
          cr_ended_record_ = c == '\r';
          if (c == '\n') {
            NoteEnding(LineEnding::kLf, terminators_);
            StartLine(pos + 1);
            if (pos + 1 >= next_checkpoint_) {
              stats_.checkpoints.push_back({pos + 1, terminators_, outside_lines_});
              next_checkpoint_ = pos + 1 + ScanStats::kCheckpointBytes;
            }
          } else if (i + 1 < n) {
            bool crlf = p[i + 1] == '\n';
            NoteEnding(crlf ? LineEnding::kCrLf : LineEnding::kCr, terminators_);
            StartLine(crlf ? pos + 2 : pos + 1);
          } else {
            deferred_cr_line_ = terminators_;  // settled by the first byte of the next piece
          }
        }
        continue;
      }
      if (in_quotes_) {
        if (pos < skip_until_) continue;  // escaped
        if (c == d_.escape && d_.escape != d_.quote) {
          skip_until_ = pos + 2;
        } else if (c == d_.quote) {
          if (d_.escape == d_.quote) {
            pending_close_ = pos;
          } else {
            in_quotes_ = false;
          }
        }
        continue;
      }
      if (c == d_.quote && d_.quote != 0) {
        unsigned char before = i > 0 ? p[i - 1] : last_;
        if (pos == record_start_ || before == static_cast<unsigned char>(d_.delimiter)) {
          in_quotes_ = true;
        }
      }
    }
  }
  pos_ += n;
  last_ = p[n - 1];
}

void Scanner::Finish() {
  if (pending_close_ != kNone) {
    in_quotes_ = false;
    pending_close_ = kNone;
  }
  if (!bom_checked_) {
    bom_checked_ = true;
    StartLine(0);
  }
  if (deferred_cr_line_ != 0) {
    NoteEnding(LineEnding::kCr, deferred_cr_line_);
    StartLine(pos_);
    deferred_cr_line_ = 0;
  }
  if (in_quotes_) stats_.open_quote_at_end = true;
  // Bytes after the last line ending form a last line (and record) without one.
  uint64_t last_line_start = terminators_ == 0 ? 0 : last_terminator_end_;
  bool last_line = pos_ > last_line_start;
  if (pos_ > record_start_) EndRecord(pos_, pos_);
  stats_.bytes = pos_;
  stats_.lines = terminators_ + (last_line ? 1 : 0);
}

namespace {

struct FileStamp {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
};

FileStamp StampOf(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
          static_cast<uint64_t>(st.st_ino)};
}

Error Changed(const std::string& path, uint64_t expected, uint64_t now) {
  return IoError("'" + path + "' changed while it was read (" + std::to_string(expected) +
                     " bytes when the import started, " + std::to_string(now) +
                     " now): the producer may still be writing it; nothing was published, run "
                     "again once the file is complete",
                 true);
}

}  // namespace

namespace {

// Reads a file in fixed pieces and hands them to feed (UTF-16 as one byte per code unit), then
// checks that the file did not change while it was read. Returns whether the file began with a
// UTF-16 byte order mark.
bool ReadPieces(const std::string& path, uint64_t expected_size, CancelToken* cancel, bool utf16,
                const std::function<void(const char*, size_t)>& feed, size_t piece = 0,
                uint64_t start = 0, uint64_t end = 0) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(ErrnoMessage("cannot reopen '" + path + "'", errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) throw IoError(ErrnoMessage("cannot stat '" + path + "'", errno));
  FileStamp before = StampOf(st);
  if (before.size != expected_size) throw Changed(path, expected_size, before.size);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  if (end == 0) end = expected_size;
  if (start > 0 && ::lseek(fd, static_cast<off_t>(start), SEEK_SET) < 0) {
    throw IoError(ErrnoMessage("cannot read '" + path + "'", errno));
  }

  const size_t kBuffer = piece > 0 ? piece : 4u << 20;
  std::unique_ptr<char[]> buf(new char[kBuffer]);
  std::unique_ptr<char[]> narrow(utf16 ? new char[kBuffer / 2 + 1] : nullptr);
  uint64_t total = 0;
  bool big_endian = false, bom = false;
  int carry = -1;  // a UTF-16 byte left over from the last read
  for (;;) {
    if (cancel) cancel->ThrowIfCancelled();
    size_t want = static_cast<size_t>(std::min<uint64_t>(kBuffer, end - start - total));
    if (want == 0) break;
    ssize_t n = ::read(fd, buf.get(), want);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError(ErrnoMessage("cannot read '" + path + "'", errno));
    }
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
    if (!utf16) {
      feed(buf.get(), static_cast<size_t>(n));
      continue;
    }
    // UTF-16: one byte per code unit (ASCII as itself, anything else as 0x80), which is all
    // the structure needs.
    const auto* b = reinterpret_cast<const unsigned char*>(buf.get());
    size_t i = 0, out = 0;
    if (total == static_cast<uint64_t>(n) && n >= 2) {
      if (b[0] == 0xFE && b[1] == 0xFF) big_endian = true;
      bom = (b[0] == 0xFE && b[1] == 0xFF) || (b[0] == 0xFF && b[1] == 0xFE);
      if (bom) i = 2;
    }
    auto emit = [&](unsigned char lo, unsigned char hi) {
      unsigned unit = big_endian ? (lo << 8 | hi) : (hi << 8 | lo);
      narrow[out++] = static_cast<char>(unit < 0x80 ? unit : 0x80);
    };
    if (carry >= 0 && i < static_cast<size_t>(n)) {
      emit(static_cast<unsigned char>(carry), b[i++]);
      carry = -1;
    }
    for (; i + 1 < static_cast<size_t>(n); i += 2) emit(b[i], b[i + 1]);
    if (i < static_cast<size_t>(n)) carry = b[i];
    feed(narrow.get(), out);
  }
  if (::fstat(fd, &st) != 0) throw IoError(ErrnoMessage("cannot stat '" + path + "'", errno));
  FileStamp after = StampOf(st);
  if (total != end - start || after.size != before.size || after.mtime_ns != before.mtime_ns ||
      after.inode != before.inode) {
    throw Changed(path, expected_size, total != end - start ? start + total : after.size);
  }
  return bom;
}

}  // namespace

ScanStats ScanFile(const std::string& path, const Dialect& dialect, uint64_t expected_size,
                   const std::vector<uint64_t>& record_lines, std::vector<Located>* located,
                   CancelToken* cancel, bool utf16, uint64_t long_record) {
  Scanner scanner(dialect, record_lines, long_record);
  bool bom = ReadPieces(path, expected_size, cancel, utf16,
                        [&](const char* p, size_t n) { scanner.Feed(p, n); });
  scanner.Finish();
  if (located) {
    *located = scanner.located();
    // UTF-16: the scanner counted code units after the byte order mark; callers want bytes.
    if (utf16) {
      for (auto& l : *located) l.offset = l.offset * 2 + (bom ? 2 : 0);
    }
  }
  return scanner.stats();
}

namespace {

// One bit per byte of p[0, len) that is a line feed, a carriage return, or one of a, b, c.
uint64_t FieldBits(const unsigned char* p, size_t len, unsigned char a, unsigned char b,
                   unsigned char c) {
  uint64_t m = 0;
#if defined(__SSE2__)
  if (len == 64) {
    const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    const __m128i va = _mm_set1_epi8(static_cast<char>(a)),
                  vb = _mm_set1_epi8(static_cast<char>(b)),
                  vc = _mm_set1_epi8(static_cast<char>(c));
    for (int k = 0; k < 4; k++) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
      __m128i x =
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)),
                       _mm_or_si128(_mm_cmpeq_epi8(v, va),
                                    _mm_or_si128(_mm_cmpeq_epi8(v, vb), _mm_cmpeq_epi8(v, vc))));
      m |= static_cast<uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(x))) << (16 * k);
    }
    return m;
  }
#endif
  for (size_t i = 0; i < len; i++) {
    unsigned char x = p[i];
    if (x == '\n' || x == '\r' || x == a || x == b || x == c) m |= uint64_t{1} << i;
  }
  return m;
}

// The value of a quoted field written as raw (opening quote included): doubled quotes or escapes
// resolved, the closing quote and anything after it dropped (the reader rejects such a row).
std::string Unquote(std::string_view raw, char quote, char escape) {
  std::string out;
  for (size_t i = 1; i < raw.size(); i++) {
    char c = raw[i];
    if (escape != quote && c == escape && i + 1 < raw.size()) {
      out.push_back(raw[++i]);
    } else if (c == quote) {
      if (escape == quote && i + 1 < raw.size() && raw[i + 1] == quote) {
        out.push_back(quote);
        i++;
      } else {
        break;
      }
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

void ScanFields(
    const std::string& path, const Dialect& dialect, uint64_t expected_size, bool header,
    const std::vector<size_t>& columns, const std::vector<uint64_t>& skip,
    const std::function<void(const RecordText&, const std::vector<FieldText>&)>& on_record,
    CancelToken* cancel, bool utf16, size_t piece, const FieldRange& range) {
  const char quote = dialect.quote;
  const char escape = dialect.escape ? dialect.escape : dialect.quote;
  const auto uq = static_cast<unsigned char>(quote ? quote : '\n');
  const auto ue = static_cast<unsigned char>(escape && escape != quote ? escape : '\n');
  const auto ud = static_cast<unsigned char>(dialect.delimiter);
  constexpr uint64_t kNoPos = UINT64_MAX;

  uint64_t base = range.from.offset;  // file offset of the piece being read
  uint64_t terminators = range.from.lines_before, outside_lines = range.from.record_lines_before;
  bool header_done = !header || base > 0, first = base == 0;
  RecordText rec;
  rec.offset = base;
  rec.line = terminators + 1;
  rec.record_line = outside_lines + 1;
  size_t field = 0, skip_at = 0;
  uint64_t field_start = base;
  bool field_quoted = false, in_quotes = false, cr_ended_record = false;
  uint64_t pending_close = kNoPos, skip_until = 0, cr_at = kNoPos;
  std::string partial;  // a wanted field's bytes from earlier pieces
  std::vector<FieldText> fields(columns.size());
  size_t next_wanted = 0;  // index into columns of the next wanted field at or after `field`

  auto wanted_slot = [&]() -> int {
    while (next_wanted < columns.size() && columns[next_wanted] < field) next_wanted++;
    return next_wanted < columns.size() && columns[next_wanted] == field
               ? static_cast<int>(next_wanted)
               : -1;
  };
  const char* data = nullptr;
  auto end_field = [&](uint64_t end) {
    int slot = wanted_slot();
    if (slot < 0) return;
    std::string_view here;
    if (end > base) {
      uint64_t from = std::max(field_start, base);
      here = std::string_view(data + (from - base), static_cast<size_t>(end - from));
    }
    std::string raw;
    std::string_view whole = here;
    if (!partial.empty()) {
      raw = partial;
      raw.append(here);
      whole = raw;
      partial.clear();
    }
    FieldText& f = fields[static_cast<size_t>(slot)];
    f.quoted = field_quoted;
    if (field_quoted) {
      f.text = Unquote(whole, quote, escape);
    } else {
      f.text.assign(whole);
    }
  };
  auto end_record = [&](uint64_t end) {
    if (end != rec.offset) {  // not a blank line
      while (skip_at < skip.size() && skip[skip_at] < rec.record_line) skip_at++;
      bool skipped = skip_at < skip.size() && skip[skip_at] == rec.record_line;
      if (!header_done) {
        header_done = true;
      } else if (!skipped) {
        rec.length = end - rec.offset;
        on_record(rec, fields);
      }
    }
    for (auto& f : fields) {
      f.text.clear();
      f.quoted = false;
    }
    field = 0;
    next_wanted = 0;
    field_quoted = false;
    partial.clear();
  };
  auto feed = [&](const char* piece, size_t n) {
    data = piece;
    const auto* p = reinterpret_cast<const unsigned char*>(piece);
    if (first) {
      first = false;
      if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) rec.offset = field_start = 3;
    }
    for (size_t blk = 0; blk < n; blk += 64) {
      size_t len = std::min<size_t>(64, n - blk);
      uint64_t mask = FieldBits(p + blk, len, ud, uq, ue);
      while (mask != 0) {
        size_t i = blk + static_cast<size_t>(__builtin_ctzll(mask));
        mask &= mask - 1;
        uint64_t pos = base + i;
        unsigned char c = p[i];
        if (pending_close != kNoPos) {
          bool doubled = c == uq && quote && pos == pending_close + 1;
          pending_close = kNoPos;
          if (doubled) continue;
          in_quotes = false;
        }
        if (c == '\n' || c == '\r') {
          if (c == '\n' && pos > 0 && cr_at == pos - 1) {  // the LF of a CRLF
            if (cr_ended_record) rec.offset = field_start = pos + 1;
            cr_at = kNoPos;
            continue;
          }
          terminators++;
          if (c == '\r') cr_at = pos;
          cr_ended_record = false;
          if (in_quotes) continue;
          end_field(pos);
          end_record(pos);
          outside_lines++;
          rec.offset = field_start = pos + 1;
          rec.line = terminators + 1;
          rec.record_line = outside_lines + 1;
          cr_ended_record = c == '\r';
          continue;
        }
        if (in_quotes) {
          if (pos < skip_until) continue;
          if (escape != quote && c == static_cast<unsigned char>(escape)) {
            skip_until = pos + 2;
          } else if (quote && c == uq) {
            if (escape == quote) {
              pending_close = pos;
            } else {
              in_quotes = false;
            }
          }
          continue;
        }
        if (c == ud) {
          end_field(pos);
          field++;
          field_start = pos + 1;
          field_quoted = false;
          continue;
        }
        if (quote && c == uq && pos == field_start) {
          in_quotes = true;
          field_quoted = true;
        }
      }
    }
    // A wanted field that goes on in the next piece keeps its bytes so far.
    uint64_t end = base + n;
    if (wanted_slot() >= 0 && field_start < end) {
      uint64_t from = std::max(field_start, base);
      partial.append(piece + (from - base), static_cast<size_t>(end - from));
    }
    base = end;
  };
  ReadPieces(path, expected_size, cancel, utf16, feed, piece, range.from.offset, range.end);
  if (pending_close != kNoPos) in_quotes = false;
  data = nullptr;
  end_field(base);
  end_record(base);
}

}  // namespace sluice::connectors::csv
