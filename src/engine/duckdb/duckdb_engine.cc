// The only file that includes DuckDB. It uses DuckDB's C API: stable across releases, quick to
// compile, and enough for everything sluice asks of the engine (see docs/decisions.md).
#include <duckdb.h>

#include <atomic>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>

#include "common/error.h"
#include "common/strings.h"
#include "engine/engine.h"
#include "engine/exact_parse.h"

namespace sluice::engine {

// ColumnData reads DuckDB's vector layouts: little-endian integers, 128-bit values as
// {uint64 lower, int64 upper}, UUIDs with the top bit flipped (DuckDB stores them so).
int64_t ColumnData::GetInt(size_t row) const {
  switch (physical_bytes) {
    case 1:
      return static_cast<const int8_t*>(data)[row];
    case 2:
      return static_cast<const int16_t*>(data)[row];
    case 4:
      return static_cast<const int32_t*>(data)[row];
    default:
      return static_cast<const int64_t*>(data)[row];
  }
}

uint64_t ColumnData::GetUInt(size_t row) const {
  switch (physical_bytes) {
    case 1:
      return static_cast<const uint8_t*>(data)[row];
    case 2:
      return static_cast<const uint16_t*>(data)[row];
    case 4:
      return static_cast<const uint32_t*>(data)[row];
    default:
      return static_cast<const uint64_t*>(data)[row];
  }
}

__int128 ColumnData::GetInt128(size_t row) const {
  if (physical_bytes != 16) return GetInt(row);
  const auto* h = static_cast<const duckdb_hugeint*>(data) + row;
  __int128 v = (static_cast<__int128>(h->upper) << 64) | static_cast<__int128>(h->lower);
  if (id == TypeId::kUuid) v ^= static_cast<__int128>(1) << 127;
  return v;
}

double ColumnData::GetDouble(size_t row) const {
  if (physical_bytes == 4) return static_cast<const float*>(data)[row];
  return static_cast<const double*>(data)[row];
}

namespace {

// Maps a DuckDB type to a TypeId and the bytes per value of its vectors.
void DescribeType(duckdb_logical_type t, ColumnData* c) {
  switch (duckdb_get_type_id(t)) {
    case DUCKDB_TYPE_BOOLEAN:
      c->id = TypeId::kBoolean;
      c->physical_bytes = 1;
      break;
    case DUCKDB_TYPE_TINYINT:
      c->id = TypeId::kTinyint;
      c->physical_bytes = 1;
      break;
    case DUCKDB_TYPE_SMALLINT:
      c->id = TypeId::kSmallint;
      c->physical_bytes = 2;
      break;
    case DUCKDB_TYPE_INTEGER:
      c->id = TypeId::kInteger;
      c->physical_bytes = 4;
      break;
    case DUCKDB_TYPE_BIGINT:
      c->id = TypeId::kBigint;
      c->physical_bytes = 8;
      break;
    case DUCKDB_TYPE_UTINYINT:
      c->id = TypeId::kUTinyint;
      c->physical_bytes = 1;
      break;
    case DUCKDB_TYPE_USMALLINT:
      c->id = TypeId::kUSmallint;
      c->physical_bytes = 2;
      break;
    case DUCKDB_TYPE_UINTEGER:
      c->id = TypeId::kUInteger;
      c->physical_bytes = 4;
      break;
    case DUCKDB_TYPE_UBIGINT:
      c->id = TypeId::kUBigint;
      c->physical_bytes = 8;
      break;
    case DUCKDB_TYPE_HUGEINT:
      c->id = TypeId::kHugeint;
      c->physical_bytes = 16;
      break;
    case DUCKDB_TYPE_FLOAT:
      c->id = TypeId::kFloat;
      c->physical_bytes = 4;
      break;
    case DUCKDB_TYPE_DOUBLE:
      c->id = TypeId::kDouble;
      c->physical_bytes = 8;
      break;
    case DUCKDB_TYPE_DATE:
      c->id = TypeId::kDate;
      c->physical_bytes = 4;
      break;
    case DUCKDB_TYPE_TIME:
      c->id = TypeId::kTime;
      c->physical_bytes = 8;
      break;
    case DUCKDB_TYPE_TIMESTAMP:
      c->id = TypeId::kTimestamp;
      c->physical_bytes = 8;
      break;
    case DUCKDB_TYPE_TIMESTAMP_TZ:
      c->id = TypeId::kTimestampTz;
      c->physical_bytes = 8;
      break;
    case DUCKDB_TYPE_INTERVAL:
      c->id = TypeId::kInterval;
      c->physical_bytes = 16;
      break;
    case DUCKDB_TYPE_VARCHAR:
      c->id = TypeId::kVarchar;
      break;
    case DUCKDB_TYPE_BLOB:
      c->id = TypeId::kBlob;
      break;
    case DUCKDB_TYPE_UUID:
      c->id = TypeId::kUuid;
      c->physical_bytes = 16;
      break;
    case DUCKDB_TYPE_DECIMAL: {
      c->id = TypeId::kDecimal;
      c->width = duckdb_decimal_width(t);
      c->scale = duckdb_decimal_scale(t);
      switch (duckdb_decimal_internal_type(t)) {
        case DUCKDB_TYPE_SMALLINT:
          c->physical_bytes = 2;
          break;
        case DUCKDB_TYPE_INTEGER:
          c->physical_bytes = 4;
          break;
        case DUCKDB_TYPE_BIGINT:
          c->physical_bytes = 8;
          break;
        default:
          c->physical_bytes = 16;
          break;
      }
      break;
    }
    default:
      c->id = TypeId::kOther;
      break;
  }
}

std::string TypeName(duckdb_logical_type type) {
  char* s = duckdb_logical_type_get_alias(type);
  if (s == nullptr) {
    // DuckDB 1.4 has no "type to string" in the C API for every type; build the common ones.
    duckdb_type id = duckdb_get_type_id(type);
    switch (id) {
      case DUCKDB_TYPE_BOOLEAN:
        return "BOOLEAN";
      case DUCKDB_TYPE_TINYINT:
        return "TINYINT";
      case DUCKDB_TYPE_SMALLINT:
        return "SMALLINT";
      case DUCKDB_TYPE_INTEGER:
        return "INTEGER";
      case DUCKDB_TYPE_BIGINT:
        return "BIGINT";
      case DUCKDB_TYPE_UTINYINT:
        return "UTINYINT";
      case DUCKDB_TYPE_USMALLINT:
        return "USMALLINT";
      case DUCKDB_TYPE_UINTEGER:
        return "UINTEGER";
      case DUCKDB_TYPE_UBIGINT:
        return "UBIGINT";
      case DUCKDB_TYPE_HUGEINT:
        return "HUGEINT";
      case DUCKDB_TYPE_UHUGEINT:
        return "UHUGEINT";
      case DUCKDB_TYPE_FLOAT:
        return "FLOAT";
      case DUCKDB_TYPE_DOUBLE:
        return "DOUBLE";
      case DUCKDB_TYPE_DATE:
        return "DATE";
      case DUCKDB_TYPE_TIME:
        return "TIME";
      case DUCKDB_TYPE_TIMESTAMP:
        return "TIMESTAMP";
      case DUCKDB_TYPE_TIMESTAMP_TZ:
        return "TIMESTAMP WITH TIME ZONE";
      case DUCKDB_TYPE_TIMESTAMP_S:
        return "TIMESTAMP_S";
      case DUCKDB_TYPE_TIMESTAMP_MS:
        return "TIMESTAMP_MS";
      case DUCKDB_TYPE_TIMESTAMP_NS:
        return "TIMESTAMP_NS";
      case DUCKDB_TYPE_INTERVAL:
        return "INTERVAL";
      case DUCKDB_TYPE_VARCHAR:
        return "VARCHAR";
      case DUCKDB_TYPE_BLOB:
        return "BLOB";
      case DUCKDB_TYPE_UUID:
        return "UUID";
      case DUCKDB_TYPE_DECIMAL:
        return "DECIMAL(" + std::to_string(duckdb_decimal_width(type)) + "," +
               std::to_string(duckdb_decimal_scale(type)) + ")";
      case DUCKDB_TYPE_LIST:
        return "LIST";
      case DUCKDB_TYPE_STRUCT:
        return "STRUCT";
      case DUCKDB_TYPE_MAP:
        return "MAP";
      case DUCKDB_TYPE_ENUM:
        return "ENUM";
      case DUCKDB_TYPE_BIT:
        return "BIT";
      default:
        return "UNKNOWN";
    }
  }
  std::string out = s;
  duckdb_free(s);
  return out;
}

// RowSources reach DuckDB through the table function sluice_source(id): a session registers
// the source under a fresh id for the duration of one COPY, and the function's callbacks look
// it up. The registry is process-wide because DuckDB's callbacks carry no session.
struct SourceSlot {
  RowSource* source = nullptr;
  std::vector<duckdb_logical_type> types;
  std::vector<TypeId> ids;
  std::exception_ptr error;  // what Fill threw, rethrown by CopySourceToParquet
};

std::mutex g_sources_mu;
std::map<int64_t, SourceSlot*> g_sources;              // Guarded by g_sources_mu
std::mt19937_64 g_source_ids{std::random_device{}()};  // Guarded by g_sources_mu

int64_t RegisterSource(SourceSlot* slot) {
  std::lock_guard<std::mutex> lock(g_sources_mu);
  // Random ids: SQL a user writes cannot guess one and read a source it does not own.
  int64_t id;
  do {
    id = static_cast<int64_t>(g_source_ids() >> 1);
  } while (id == 0 || g_sources.count(id));
  g_sources[id] = slot;
  return id;
}

void UnregisterSource(int64_t id) {
  std::lock_guard<std::mutex> lock(g_sources_mu);
  g_sources.erase(id);
}

duckdb_logical_type LogicalType(const SourceColumn& c) {
  switch (c.id) {
    case TypeId::kBoolean:
      return duckdb_create_logical_type(DUCKDB_TYPE_BOOLEAN);
    case TypeId::kTinyint:
      return duckdb_create_logical_type(DUCKDB_TYPE_TINYINT);
    case TypeId::kSmallint:
      return duckdb_create_logical_type(DUCKDB_TYPE_SMALLINT);
    case TypeId::kInteger:
      return duckdb_create_logical_type(DUCKDB_TYPE_INTEGER);
    case TypeId::kBigint:
      return duckdb_create_logical_type(DUCKDB_TYPE_BIGINT);
    case TypeId::kUTinyint:
      return duckdb_create_logical_type(DUCKDB_TYPE_UTINYINT);
    case TypeId::kUSmallint:
      return duckdb_create_logical_type(DUCKDB_TYPE_USMALLINT);
    case TypeId::kUInteger:
      return duckdb_create_logical_type(DUCKDB_TYPE_UINTEGER);
    case TypeId::kUBigint:
      return duckdb_create_logical_type(DUCKDB_TYPE_UBIGINT);
    case TypeId::kHugeint:
      return duckdb_create_logical_type(DUCKDB_TYPE_HUGEINT);
    case TypeId::kFloat:
      return duckdb_create_logical_type(DUCKDB_TYPE_FLOAT);
    case TypeId::kDouble:
      return duckdb_create_logical_type(DUCKDB_TYPE_DOUBLE);
    case TypeId::kDecimal:
      return duckdb_create_decimal_type(c.width, c.scale);
    case TypeId::kDate:
      return duckdb_create_logical_type(DUCKDB_TYPE_DATE);
    case TypeId::kTime:
      return duckdb_create_logical_type(DUCKDB_TYPE_TIME);
    case TypeId::kTimestamp:
      return duckdb_create_logical_type(DUCKDB_TYPE_TIMESTAMP);
    case TypeId::kTimestampTz:
      return duckdb_create_logical_type(DUCKDB_TYPE_TIMESTAMP_TZ);
    case TypeId::kInterval:
      return duckdb_create_logical_type(DUCKDB_TYPE_INTERVAL);
    case TypeId::kBlob:
      return duckdb_create_logical_type(DUCKDB_TYPE_BLOB);
    case TypeId::kUuid:
      return duckdb_create_logical_type(DUCKDB_TYPE_UUID);
    case TypeId::kVarchar:
    case TypeId::kOther:
      break;
  }
  return duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
}

// One output chunk of sluice_source, as a RowSource sees it.
class DuckDbChunk : public OutputChunk {
 public:
  DuckDbChunk(duckdb_data_chunk chunk, size_t columns) {
    vectors_.resize(columns);
    data_.resize(columns);
    validity_.assign(columns, nullptr);
    for (size_t c = 0; c < columns; c++) {
      vectors_[c] = duckdb_data_chunk_get_vector(chunk, c);
      data_[c] = duckdb_vector_get_data(vectors_[c]);
    }
  }
  size_t capacity() const override { return duckdb_vector_size(); }
  void* Data(size_t column) override { return data_[column]; }
  void SetNull(size_t column, size_t row) override {
    if (validity_[column] == nullptr) {
      duckdb_vector_ensure_validity_writable(vectors_[column]);
      validity_[column] = duckdb_vector_get_validity(vectors_[column]);
    }
    duckdb_validity_set_row_invalid(validity_[column], row);
  }
  void SetString(size_t column, size_t row, const char* data, size_t size) override {
    duckdb_vector_assign_string_element_len(vectors_[column], row, data, size);
  }

 private:
  std::vector<duckdb_vector> vectors_;
  std::vector<void*> data_;
  std::vector<uint64_t*> validity_;
};

void SourceBind(duckdb_bind_info info) {
  duckdb_value v = duckdb_bind_get_parameter(info, 0);
  int64_t id = duckdb_get_int64(v);
  duckdb_destroy_value(&v);
  SourceSlot* slot = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_sources_mu);
    auto it = g_sources.find(id);
    if (it != g_sources.end()) slot = it->second;
  }
  if (slot == nullptr) {
    duckdb_bind_set_error(info, "sluice_source: no source with this id (it is internal to sluice)");
    return;
  }
  for (const auto& c : slot->source->columns()) {
    duckdb_logical_type t = LogicalType(c);
    duckdb_bind_add_result_column(info, c.name.c_str(), t);
    duckdb_destroy_logical_type(&t);
    slot->ids.push_back(c.id);
  }
  duckdb_bind_set_bind_data(info, slot, nullptr);
}

void SourceInit(duckdb_init_info info) { duckdb_init_set_max_threads(info, 1); }

void SourceScan(duckdb_function_info info, duckdb_data_chunk output) {
  auto* slot = static_cast<SourceSlot*>(duckdb_function_get_bind_data(info));
  try {
    DuckDbChunk chunk(output, slot->ids.size());
    size_t n = slot->source->Fill(chunk);
    for (size_t c = 0; c < slot->ids.size(); c++) {
      if (slot->ids[c] != TypeId::kUuid) continue;
      // DuckDB keeps UUIDs with the top bit flipped, so that they sort as signed numbers.
      auto* v = static_cast<__int128*>(chunk.Data(c));
      for (size_t r = 0; r < n; r++) v[r] ^= static_cast<__int128>(1) << 127;
    }
    duckdb_data_chunk_set_size(output, n);
  } catch (const std::exception& e) {
    slot->error = std::current_exception();
    duckdb_function_set_error(info, e.what());
  }
}

void RegisterSourceFunction(duckdb_connection con) {
  duckdb_table_function f = duckdb_create_table_function();
  duckdb_table_function_set_name(f, "sluice_source");
  duckdb_logical_type bigint = duckdb_create_logical_type(DUCKDB_TYPE_BIGINT);
  duckdb_table_function_add_parameter(f, bigint);
  duckdb_destroy_logical_type(&bigint);
  duckdb_table_function_set_bind(f, SourceBind);
  duckdb_table_function_set_init(f, SourceInit);
  duckdb_table_function_set_function(f, SourceScan);
  duckdb_state state = duckdb_register_table_function(con, f);
  duckdb_destroy_table_function(&f);
  if (state != DuckDBSuccess) throw Internal("cannot register the sluice_source table function");
}

class DuckDbSession : public Session {
 public:
  explicit DuckDbSession(duckdb_connection con) : con_(con) {}
  ~DuckDbSession() override { duckdb_disconnect(&con_); }

  void Execute(const std::string& sql) override {
    duckdb_result result;
    Run(sql, &result);
    duckdb_destroy_result(&result);
  }

  Table Query(const std::string& sql, size_t max_rows) override {
    Table table;
    Stream(sql, [&](const Batch& batch) {
      if (table.columns.empty()) table.columns = batch.columns;
      if (table.rows.size() + batch.num_rows > max_rows) {
        throw InvalidInput("query returned more than " + std::to_string(max_rows) +
                           " rows; add a LIMIT");
      }
      for (size_t r = 0; r < batch.num_rows; r++) {
        std::vector<std::optional<std::string>> row;
        row.reserve(batch.columns.size());
        for (size_t c = 0; c < batch.columns.size(); c++) row.push_back(batch.cells[c][r]);
        table.rows.push_back(std::move(row));
      }
    });
    if (table.columns.empty()) table.columns = last_columns_;
    return table;
  }

  void Stream(const std::string& sql, const std::function<void(const Batch&)>& on_batch) override {
    // Values are rendered to text by DuckDB itself (exact DECIMAL, timestamps, nested types):
    // the query is wrapped in a cast to VARCHAR when it is a query that can be wrapped.
    std::string body = StripSqlTerminator(sql);
    std::vector<Column> declared;
    std::string to_run = sql;
    try {
      declared = Describe(body);
      std::string wrapped = "SELECT COLUMNS(*)::VARCHAR FROM (" + body + ")";
      Describe(wrapped);
      to_run = wrapped;
    } catch (const Error&) {
      declared.clear();
    }
    duckdb_result result;
    Run(to_run, &result);
    Batch batch;
    idx_t ncols = duckdb_column_count(&result);
    for (idx_t c = 0; c < ncols; c++) {
      if (c < declared.size() && ncols == declared.size()) {
        batch.columns.push_back(declared[c]);
        continue;
      }
      duckdb_logical_type t = duckdb_column_logical_type(&result, c);
      batch.columns.push_back({duckdb_column_name(&result, c), TypeName(t)});
      duckdb_destroy_logical_type(&t);
    }
    last_columns_ = batch.columns;
    try {
      for (;;) {
        duckdb_data_chunk chunk = duckdb_fetch_chunk(result);
        if (chunk == nullptr) break;
        ChunkToBatch(chunk, &batch);
        duckdb_destroy_data_chunk(&chunk);
        on_batch(batch);
      }
    } catch (...) {
      duckdb_destroy_result(&result);
      throw;
    }
    const char* err = duckdb_result_error(&result);
    if (err != nullptr) {
      std::string msg = err;
      duckdb_error_type type = duckdb_result_error_type(&result);
      duckdb_destroy_result(&result);
      throw Convert(type, msg);
    }
    duckdb_destroy_result(&result);
  }

  void StreamTyped(const std::string& sql,
                   const std::function<void(const TypedBatch&)>& on_batch) override {
    // Types DuckDB stores in ways we do not decode (lists, structs, enums, ...) are cast to
    // VARCHAR in SQL first, so every column is either a known layout or text.
    std::string body = StripSqlTerminator(sql);
    std::vector<Column> declared = Describe(body);
    std::vector<std::string> select;
    for (const auto& c : declared) {
      bool known =
          !(StartsWith(c.type, "STRUCT") || StartsWith(c.type, "MAP") || EndsWith(c.type, "[]") ||
            c.type == "LIST" || c.type == "ENUM" || c.type == "UNKNOWN" || c.type == "BIT" ||
            c.type == "UHUGEINT" || StartsWith(c.type, "TIMESTAMP_") ||
            c.type == "TIME WITH TIME ZONE" || c.type == "UNION");
      select.push_back(known ? SqlIdentifier(c.name)
                             : SqlIdentifier(c.name) + "::VARCHAR AS " + SqlIdentifier(c.name));
    }
    duckdb_result result;
    Run("SELECT " + Join(select, ", ") + " FROM (" + body + ")", &result);
    TypedBatch batch;
    batch.columns = declared;
    idx_t ncols = duckdb_column_count(&result);
    batch.data.resize(ncols);
    for (idx_t c = 0; c < ncols; c++) {
      duckdb_logical_type t = duckdb_column_logical_type(&result, c);
      DescribeType(t, &batch.data[c]);
      duckdb_destroy_logical_type(&t);
    }
    try {
      for (;;) {
        duckdb_data_chunk chunk = duckdb_fetch_chunk(result);
        if (chunk == nullptr) break;
        batch.num_rows = duckdb_data_chunk_get_size(chunk);
        for (idx_t c = 0; c < ncols; c++) {
          auto& col = batch.data[c];
          duckdb_vector vec = duckdb_data_chunk_get_vector(chunk, c);
          col.data = duckdb_vector_get_data(vec);
          col.validity = duckdb_vector_get_validity(vec);
          col.text.clear();
          if (col.id == TypeId::kVarchar || col.id == TypeId::kBlob || col.id == TypeId::kOther) {
            auto* s = static_cast<duckdb_string_t*>(const_cast<void*>(col.data));
            col.text.reserve(batch.num_rows);
            for (idx_t r = 0; r < batch.num_rows; r++) {
              col.text.emplace_back(duckdb_string_t_data(s + r), duckdb_string_t_length(s[r]));
            }
          }
        }
        try {
          on_batch(batch);
        } catch (...) {
          duckdb_destroy_data_chunk(&chunk);
          throw;
        }
        duckdb_destroy_data_chunk(&chunk);
      }
    } catch (...) {
      duckdb_destroy_result(&result);
      throw;
    }
    const char* err = duckdb_result_error(&result);
    if (err != nullptr) {
      std::string msg = err;
      duckdb_error_type type = duckdb_result_error_type(&result);
      duckdb_destroy_result(&result);
      throw Convert(type, msg);
    }
    duckdb_destroy_result(&result);
  }

  uint64_t CopyToParquet(const std::string& select_sql, const std::string& path) override {
    // ROW_GROUP_SIZE and compression: DuckDB's defaults (122880 rows, snappy) read well in
    // both DuckDB and Spark.
    // Parquet has no 128-bit integer and DuckDB would write HUGEINT as DOUBLE, losing digits:
    // such columns are stored as DECIMAL(38,0) instead, and a value that does not fit fails
    // the write instead of being rounded.
    std::string body = StripSqlTerminator(select_sql);
    std::vector<std::string> replace;
    // Parquet's INTERVAL keeps milliseconds: a finer value fails the write, naming the column.
    for (const auto& c : Describe(body)) {
      std::string col = SqlIdentifier(c.name);
      if (c.type == "HUGEINT" || c.type == "UHUGEINT") {
        replace.push_back("CAST(" + col + " AS DECIMAL(38,0)) AS " + col);
      } else if (c.type == "INTERVAL") {
        replace.push_back("CASE WHEN date_part('microsecond', " + col +
                          ") % 1000 <> 0 THEN error('column " + ReplaceAll(c.name, "'", "''") +
                          ": INTERVAL ' || " + col +
                          "::VARCHAR || ' has sub-millisecond precision, which the lake (Parquet "
                          "INTERVAL) cannot store; round it to milliseconds') ELSE " +
                          col + " END AS " + col);
      }
    }
    if (!replace.empty())
      body = "SELECT * REPLACE (" + Join(replace, ", ") + ") FROM (" + body + ")";
    duckdb_result result;
    Run("COPY (" + body + ") TO " + SqlLiteral(path) + " (FORMAT parquet)", &result);
    uint64_t rows = 0;
    if (duckdb_column_count(&result) > 0 && duckdb_row_count(&result) > 0) {
      rows = static_cast<uint64_t>(duckdb_value_int64(&result, 0, 0));
    }
    duckdb_destroy_result(&result);
    return rows;
  }

  uint64_t CopySourceToParquet(RowSource& source, const std::string& path) override {
    SourceSlot slot;
    slot.source = &source;
    int64_t id = RegisterSource(&slot);
    duckdb_result result;
    // DuckDB's progress tracking walks every pipeline after each task, and a source's tasks
    // are small: it cost a fifth of an import's CPU. The source's owner counts rows instead.
    Execute("SET enable_progress_bar = false");
    try {
      Run("COPY (SELECT * FROM sluice_source(" + std::to_string(id) + ")) TO " + SqlLiteral(path) +
              " (FORMAT parquet)",
          &result);
      Execute("SET enable_progress_bar = true");
    } catch (...) {
      if (!interrupted_) Execute("SET enable_progress_bar = true");
      UnregisterSource(id);
      // The source's own error (a lost connection, a value out of range) is the one to report.
      if (slot.error) std::rethrow_exception(slot.error);
      throw;
    }
    UnregisterSource(id);
    uint64_t rows = 0;
    if (duckdb_column_count(&result) > 0 && duckdb_row_count(&result) > 0) {
      rows = static_cast<uint64_t>(duckdb_value_int64(&result, 0, 0));
    }
    duckdb_destroy_result(&result);
    return rows;
  }

  std::vector<Column> Describe(const std::string& select_sql) override {
    duckdb_prepared_statement stmt;
    if (duckdb_prepare(con_, select_sql.c_str(), &stmt) != DuckDBSuccess) {
      std::string msg = duckdb_prepare_error(stmt);
      duckdb_destroy_prepare(&stmt);
      throw InvalidInput(msg);
    }
    std::vector<Column> cols;
    idx_t n = duckdb_prepared_statement_column_count(stmt);
    for (idx_t i = 0; i < n; i++) {
      duckdb_logical_type t = duckdb_prepared_statement_column_logical_type(stmt, i);
      const char* name = duckdb_prepared_statement_column_name(stmt, i);
      cols.push_back({name ? name : "", TypeName(t)});
      duckdb_free(const_cast<char*>(name));
      duckdb_destroy_logical_type(&t);
    }
    duckdb_destroy_prepare(&stmt);
    return cols;
  }

  void Interrupt() override {
    interrupted_ = true;
    duckdb_interrupt(con_);
  }

  Progress GetProgress() override {
    duckdb_query_progress_type p = duckdb_query_progress(con_);
    Progress out;
    out.fraction = p.percentage < 0 ? -1 : p.percentage / 100.0;
    out.rows_processed = p.rows_processed;
    return out;
  }

 private:
  void Run(const std::string& sql, duckdb_result* result) {
    if (interrupted_) throw Cancelled("query interrupted");
    if (duckdb_query(con_, sql.c_str(), result) != DuckDBSuccess) {
      std::string msg = duckdb_result_error(result) ? duckdb_result_error(result) : "unknown error";
      duckdb_error_type type = duckdb_result_error_type(result);
      duckdb_destroy_result(result);
      throw Convert(type, msg);
    }
    // DuckDB ignores an interrupt that arrives before a query starts: check again.
    if (interrupted_) {
      duckdb_destroy_result(result);
      throw Cancelled("query interrupted");
    }
  }

  Error Convert(duckdb_error_type type, const std::string& msg) {
    if (type == DUCKDB_ERROR_INTERRUPT || interrupted_) return Cancelled("query interrupted");
    switch (type) {
      case DUCKDB_ERROR_IO:
        return IoError(msg);
      case DUCKDB_ERROR_OUT_OF_MEMORY: {
        // sluice always gives DuckDB a folder to spill to (<state>/spill or
        // engine.temp_directory): the query needs more memory than it can spill. DuckDB's own
        // "Possible solutions" name SQL settings the pipeline file sets otherwise.
        std::string what = msg.substr(0, msg.find("\n\nPossible solutions"));
        return Error(ErrorKind::kIo,
                     what +
                         " (the query needs more memory than engine.memory_limit allows even "
                         "spilling to disk: raise engine.memory_limit or set engine.threads "
                         "lower; a window function over many rows holds every column it carries, "
                         "see docs/performance.md#memory)",
                     true);
      }
      case DUCKDB_ERROR_INTERNAL:
      case DUCKDB_ERROR_FATAL:
        return Internal(msg);
      default:
        return InvalidInput(msg);
    }
  }

  static void ChunkToBatch(duckdb_data_chunk chunk, Batch* batch) {
    idx_t n = duckdb_data_chunk_get_size(chunk);
    idx_t ncols = duckdb_data_chunk_get_column_count(chunk);
    batch->num_rows = n;
    batch->cells.assign(ncols, {});
    for (idx_t c = 0; c < ncols; c++) {
      auto& out = batch->cells[c];
      out.resize(n);
      duckdb_vector vec = duckdb_data_chunk_get_vector(chunk, c);
      uint64_t* validity = duckdb_vector_get_validity(vec);
      duckdb_logical_type t = duckdb_vector_get_column_type(vec);
      duckdb_type id = duckdb_get_type_id(t);
      void* data = duckdb_vector_get_data(vec);
      for (idx_t r = 0; r < n; r++) {
        if (validity && !duckdb_validity_row_is_valid(validity, r)) continue;
        out[r] = Render(id, t, data, r);
      }
      duckdb_destroy_logical_type(&t);
    }
  }

  static std::string Render(duckdb_type id, duckdb_logical_type t, void* data, idx_t r) {
    switch (id) {
      case DUCKDB_TYPE_BOOLEAN:
        return static_cast<bool*>(data)[r] ? "true" : "false";
      case DUCKDB_TYPE_TINYINT:
        return std::to_string(static_cast<int8_t*>(data)[r]);
      case DUCKDB_TYPE_SMALLINT:
        return std::to_string(static_cast<int16_t*>(data)[r]);
      case DUCKDB_TYPE_INTEGER:
        return std::to_string(static_cast<int32_t*>(data)[r]);
      case DUCKDB_TYPE_BIGINT:
        return std::to_string(static_cast<int64_t*>(data)[r]);
      case DUCKDB_TYPE_UTINYINT:
        return std::to_string(static_cast<uint8_t*>(data)[r]);
      case DUCKDB_TYPE_USMALLINT:
        return std::to_string(static_cast<uint16_t*>(data)[r]);
      case DUCKDB_TYPE_UINTEGER:
        return std::to_string(static_cast<uint32_t*>(data)[r]);
      case DUCKDB_TYPE_UBIGINT:
        return std::to_string(static_cast<uint64_t*>(data)[r]);
      case DUCKDB_TYPE_VARCHAR:
      case DUCKDB_TYPE_BLOB: {
        auto* s = static_cast<duckdb_string_t*>(data) + r;
        return std::string(duckdb_string_t_data(s), duckdb_string_t_length(*s));
      }
      default:
        break;
    }
    (void)t;
    // Other types only reach here for statements Stream could not wrap in a cast to VARCHAR
    // (PRAGMA, SHOW and the like), which return text columns.
    return "?";
  }

  duckdb_connection con_;
  std::atomic<bool> interrupted_{false};
  std::vector<Column> last_columns_;
};

// ---------------------------------------------------------------------------------------------
// Exact reads for CSV columns (Engine::ExactReadType). DuckDB's CSV reader parses numbers, dates
// and times itself, by type id, and rounds or truncates what does not fit. A declared column
// with an exact reading is read as text, and a scalar function registered here turns the text
// into the declared type by the strict rules of exact_parse.h, or NULL where the value does not
// fit. The function is volatile: DuckDB then computes it once per row and keeps a filter on its
// result above it, where a pure function (or a cast) would be pushed below the projection into
// the filter and computed twice, which cost a tenth of a CSV import's CPU.

using exact::Kind;

// Reads text into row r of a vector of t's declared type; false when the value does not fit
// exactly.
bool ReadExact(const exact::Target& t, std::string_view text, void* out, idx_t r) {
  int64_t small = 0;
  __int128 big = 0;
  if (!exact::Read(t, text, &small, &big)) return false;
  switch (t.bytes) {
    case 16: {
      auto* h = static_cast<duckdb_hugeint*>(out) + r;
      h->lower = static_cast<uint64_t>(big);
      h->upper = static_cast<int64_t>(static_cast<unsigned __int128>(big) >> 64);
      break;
    }
    case 8:
      static_cast<int64_t*>(out)[r] = small;
      break;
    case 4:
      static_cast<int32_t*>(out)[r] = static_cast<int32_t>(small);
      break;
    case 2:
      static_cast<int16_t*>(out)[r] = static_cast<int16_t>(small);
      break;
    default:
      static_cast<int8_t*>(out)[r] = static_cast<int8_t>(small);
      break;
  }
  return true;
}

// VARCHAR -> the declared type, NULL where the text does not fit exactly. Runs on several
// engine threads at once: it reads only its arguments.
void ExactFromText(duckdb_function_info info, duckdb_data_chunk input, duckdb_vector output) {
  const auto* t = static_cast<const exact::Target*>(duckdb_scalar_function_get_extra_info(info));
  idx_t count = duckdb_data_chunk_get_size(input);
  duckdb_vector text = duckdb_data_chunk_get_vector(input, 0);
  auto* in = static_cast<duckdb_string_t*>(duckdb_vector_get_data(text));
  uint64_t* valid = duckdb_vector_get_validity(text);
  void* out = duckdb_vector_get_data(output);
  duckdb_vector_ensure_validity_writable(output);
  uint64_t* out_valid = duckdb_vector_get_validity(output);
  for (idx_t r = 0; r < count; r++) {
    if (valid != nullptr && !duckdb_validity_row_is_valid(valid, r)) {
      duckdb_validity_set_row_invalid(out_valid, r);
      continue;
    }
    std::string_view value(duckdb_string_t_data(&in[r]), duckdb_string_t_length(in[r]));
    if (!ReadExact(*t, value, out, r)) duckdb_validity_set_row_invalid(out_valid, r);
  }
}

// What exact reading a declared type gets, or nullopt when the reader's own parsing is exact
// (VARCHAR, BOOLEAN, BLOB, UUID, ...) or not one sluice checks.
std::optional<exact::Target> ExactTypeFor(duckdb_logical_type type) {
  exact::Target t;
  auto integer = [&](int bytes, bool is_signed) {
    t.kind = is_signed ? Kind::kSigned : Kind::kUnsigned;
    t.bytes = bytes;
    if (bytes == 16) {
      t.max = ~(static_cast<__int128>(1) << 127);
      t.min = -t.max - 1;
    } else if (is_signed) {
      t.max = (static_cast<__int128>(1) << (8 * bytes - 1)) - 1;
      t.min = -t.max - 1;
    } else {
      t.max = (static_cast<__int128>(1) << (8 * bytes)) - 1;
    }
  };
  switch (duckdb_get_type_id(type)) {
    case DUCKDB_TYPE_TINYINT:
      integer(1, true);
      break;
    case DUCKDB_TYPE_SMALLINT:
      integer(2, true);
      break;
    case DUCKDB_TYPE_INTEGER:
      integer(4, true);
      break;
    case DUCKDB_TYPE_BIGINT:
      integer(8, true);
      break;
    case DUCKDB_TYPE_HUGEINT: {
      // The lake stores HUGEINT as DECIMAL(38,0): 38 digits, not quite HUGEINT's 39.
      integer(16, true);
      __int128 limit = 1;
      for (int i = 0; i < 38; i++) limit *= 10;
      t.max = limit - 1;
      t.min = -t.max;
      t.declared = "HUGEINT (38 digits in the lake)";
      return t;
    }
    case DUCKDB_TYPE_UTINYINT:
      integer(1, false);
      break;
    case DUCKDB_TYPE_USMALLINT:
      integer(2, false);
      break;
    case DUCKDB_TYPE_UINTEGER:
      integer(4, false);
      break;
    case DUCKDB_TYPE_UBIGINT:
      integer(8, false);
      break;
    case DUCKDB_TYPE_DECIMAL: {
      t.kind = Kind::kDecimal;
      t.width = duckdb_decimal_width(type);
      t.scale = duckdb_decimal_scale(type);
      t.bytes = t.width <= 4 ? 2 : t.width <= 9 ? 4 : t.width <= 18 ? 8 : 16;
      break;
    }
    case DUCKDB_TYPE_FLOAT:
      t.kind = Kind::kFloat;
      t.bytes = 4;
      break;
    case DUCKDB_TYPE_DOUBLE:
      t.kind = Kind::kDouble;
      t.bytes = 8;
      break;
    case DUCKDB_TYPE_DATE:
      t.kind = Kind::kDate;
      t.bytes = 4;
      break;
    case DUCKDB_TYPE_TIME:
      t.kind = Kind::kTime;
      break;
    case DUCKDB_TYPE_TIMESTAMP:
      t.kind = Kind::kTimestamp;
      break;
    case DUCKDB_TYPE_TIMESTAMP_MS:
      t.kind = Kind::kTimestamp;
      t.digits = 3;
      break;
    case DUCKDB_TYPE_TIMESTAMP_S:
      t.kind = Kind::kTimestamp;
      t.digits = 0;
      break;
    case DUCKDB_TYPE_TIMESTAMP_TZ:
      t.kind = Kind::kTimestamp;
      t.with_zone = true;
      break;
    default:
      return std::nullopt;
  }
  t.declared = TypeName(type);
  return t;
}

void RegisterExactFunction(duckdb_connection con, const std::string& name,
                           duckdb_logical_type declared, const exact::Target& t) {
  duckdb_scalar_function f = duckdb_create_scalar_function();
  duckdb_logical_type varchar = duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
  duckdb_scalar_function_set_name(f, name.c_str());
  duckdb_scalar_function_add_parameter(f, varchar);
  duckdb_scalar_function_set_return_type(f, declared);
  duckdb_scalar_function_set_function(f, ExactFromText);
  duckdb_scalar_function_set_extra_info(f, new exact::Target(t),
                                        [](void* p) { delete static_cast<exact::Target*>(p); });
  duckdb_scalar_function_set_volatile(f);
  duckdb_state state = duckdb_register_scalar_function(con, f);
  duckdb_destroy_logical_type(&varchar);
  duckdb_destroy_scalar_function(&f);
  if (state != DuckDBSuccess) throw Internal("cannot register the exact reading of " + t.declared);
}

class DuckDbEngine : public Engine {
 public:
  explicit DuckDbEngine(const EngineOptions& options) {
    duckdb_config config;
    duckdb_create_config(&config);
    auto set = [&](const char* key, const std::string& value) {
      if (value.empty()) return;
      if (duckdb_set_config(config, key, value.c_str()) != DuckDBSuccess) {
        duckdb_destroy_config(&config);
        throw InvalidInput(std::string("engine option ") + key + " = '" + value +
                           "' is not valid for DuckDB");
      }
    };
    set("memory_limit", options.memory_limit);
    set("temp_directory", options.temp_directory);
    if (options.threads > 0) set("threads", std::to_string(options.threads));

    char* err = nullptr;
    if (duckdb_open_ext(nullptr, &db_, config, &err) != DuckDBSuccess) {
      std::string msg = err ? err : "unknown error";
      duckdb_free(err);
      duckdb_destroy_config(&config);
      throw InvalidInput("cannot start DuckDB: " + msg);
    }
    duckdb_destroy_config(&config);
    duckdb_connection con;
    if (duckdb_connect(db_, &con) != DuckDBSuccess) throw Internal("cannot connect to DuckDB");
    try {
      RegisterSourceFunction(con);
    } catch (...) {
      duckdb_disconnect(&con);
      duckdb_close(&db_);
      throw;
    }
    duckdb_disconnect(&con);
  }
  ~DuckDbEngine() override { duckdb_close(&db_); }

  std::unique_ptr<Session> Connect() override {
    duckdb_connection con;
    if (duckdb_connect(db_, &con) != DuckDBSuccess) throw Internal("cannot connect to DuckDB");
    auto session = std::make_unique<DuckDbSession>(con);
    // DuckDB tracks query progress only with its progress bar on; sluice draws its own, so
    // DuckDB's printing stays off.
    session->Execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false");
    return session;
  }

  std::string name() const override { return "duckdb"; }

  std::optional<exact::Target> ExactReadType(const std::string& declared_type) override {
    std::lock_guard<std::mutex> lock(exact_mu_);
    auto known = exact_types_.find(declared_type);
    if (known != exact_types_.end()) return known->second;
    duckdb_connection con;
    if (duckdb_connect(db_, &con) != DuckDBSuccess) throw Internal("cannot connect to DuckDB");
    std::optional<exact::Target> target;
    duckdb_prepared_statement stmt = nullptr;
    duckdb_logical_type declared = nullptr;
    auto cleanup = [&] {
      if (declared) duckdb_destroy_logical_type(&declared);
      duckdb_destroy_prepare(&stmt);
      duckdb_disconnect(&con);
    };
    try {
      // A type the engine does not know is left for the reader to report.
      std::string sql = "SELECT CAST(NULL AS " + declared_type + ")";
      if (duckdb_prepare(con, sql.c_str(), &stmt) == DuckDBSuccess) {
        declared = duckdb_prepared_statement_column_logical_type(stmt, 0);
        target = ExactTypeFor(declared);
        if (target) {
          std::string name = "sluice_exact_" + ToLower(TypeName(declared));
          for (char& c : name) {
            if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
          }
          target->read_function = name;
          if (registered_.insert(name).second) RegisterExactFunction(con, name, declared, *target);
        }
      }
    } catch (...) {
      cleanup();
      throw;
    }
    cleanup();
    exact_types_[declared_type] = target;
    return target;
  }

 private:
  duckdb_database db_ = nullptr;
  std::mutex exact_mu_;
  // Guarded by exact_mu_: declared type as written -> its exact reading (nullopt: none)
  std::map<std::string, std::optional<exact::Target>> exact_types_;
  std::set<std::string> registered_;  // Guarded by exact_mu_: function names
};

}  // namespace

// The name Describe gives the same type, so a source's columns and a written file's schema
// compare equal.
std::string SqlTypeName(const SourceColumn& column) {
  duckdb_logical_type t = LogicalType(column);
  std::string name = TypeName(t);
  duckdb_destroy_logical_type(&t);
  return name;
}

std::unique_ptr<Engine> MakeDuckDbEngine(const EngineOptions& options) {
  return std::make_unique<DuckDbEngine>(options);
}

}  // namespace sluice::engine
