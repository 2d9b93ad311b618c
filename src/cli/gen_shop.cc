#include "cli/gen_shop.h"

#include "common/error.h"

namespace sluice::cli {

GenShopReport GenerateShop(const pipeline::ConnectionSpec& connection, const std::string& base_dir,
                           const GenShopOptions& options) {
  throw Internal("gen shop: being written");
}

}  // namespace sluice::cli
