// Placeholder until the reader lands.
#include "connectors/mysql/mysql_import.h"

#include "common/error.h"

namespace sluice::connectors::mysql {

struct RowReader::State {};

ImportPlan PlanImport(Connection&, const std::string&, const std::vector<std::string>&,
                      const ImportOptions&) {
  throw Internal("not yet");
}
RowReader::RowReader(Connection& conn, ImportPlan plan, ImportOptions options)
    : conn_(conn), plan_(std::move(plan)), options_(std::move(options)) {}
RowReader::~RowReader() = default;
void RowReader::Start(const std::string&) { throw Internal("not yet"); }
size_t RowReader::Fill(engine::OutputChunk&, size_t) { return 0; }

}  // namespace sluice::connectors::mysql
