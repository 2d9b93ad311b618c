#include "webhdfs/webhdfs.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace sluice::webhdfs {
namespace {

TEST(WebHdfsUrlTest, ParsesHostPortAndPath) {
  auto u = ParseWebHdfsUrl("webhdfs://nn.example.com:50070/lake/raw");
  EXPECT_FALSE(u.https);
  EXPECT_EQ(u.host, "nn.example.com");
  EXPECT_EQ(u.port, 50070);
  EXPECT_EQ(u.path, "/lake/raw");
  auto s = ParseWebHdfsUrl("swebhdfs://nn");
  EXPECT_TRUE(s.https);
  EXPECT_EQ(s.port, 0);
  EXPECT_EQ(s.path, "/");
  EXPECT_TRUE(IsWebHdfsUrl("webhdfs://x/y"));
  EXPECT_FALSE(IsWebHdfsUrl("hdfs://x/y"));
}

TEST(WebHdfsUrlTest, RefusesWhatItCannotUseWithTheFix) {
  for (const char* bad : {"webhdfs:///lake", "webhdfs://nn:0/x", "webhdfs://nn:99999/x",
                          "webhdfs://nn:port/x", "webhdfs://etl@nn/x", "hdfs://nn/x"}) {
    try {
      ParseWebHdfsUrl(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(WebHdfsUrlTest, OptionsTakeTheDefaultPortOfTheScheme) {
  auto o = OptionsFor(nullptr, ParseWebHdfsUrl("swebhdfs://nn/x"), "etl");
  EXPECT_EQ(o.port, 9871);
  EXPECT_TRUE(o.https);
  EXPECT_EQ(o.user, "etl");
  EXPECT_EQ(FormatWebHdfsUrl(o, "/x"), "swebhdfs://nn:9871/x");
  auto p = OptionsFor(nullptr, ParseWebHdfsUrl("webhdfs://nn/x"));
  EXPECT_EQ(p.port, 9870);
  EXPECT_FALSE(p.user.empty()) << "the OS user";
}

}  // namespace
}  // namespace sluice::webhdfs
