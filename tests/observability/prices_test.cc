#include "observability/ledger.h"
#include "observability/prices.h"

#include <gtest/gtest.h>

namespace aigw::observability {
namespace {

TEST(PriceCatalog, FindsByNameLongestPrefixAndAfterAProviderPrefix) {
  PriceCatalog c;
  ASSERT_NE(c.find("gpt-4o-mini"), nullptr);
  EXPECT_DOUBLE_EQ(c.find("gpt-4o-mini-2024-07-18")->input, 0.15); // not gpt-4o's 2.50
  EXPECT_DOUBLE_EQ(c.find("gpt-4o-2024-08-06")->input, 2.50);
  EXPECT_DOUBLE_EQ(c.find("claude-3-5-haiku-latest")->output, 4);
  EXPECT_DOUBLE_EQ(c.find("us.anthropic.claude-sonnet-4-5-20250929-v1:0")->input, 3);
  EXPECT_DOUBLE_EQ(c.find("amazon.nova-micro-v1:0")->input, 0.035);
  EXPECT_EQ(c.find("my-own-model"), nullptr);
  EXPECT_EQ(c.find(""), nullptr);
}

TEST(PriceCatalog, CostCountsCacheReadsAndWritesAtTheirPrices) {
  PriceCatalog c;
  api::TokenUsage u;
  u.input = 1000000;
  u.cached_input = 400000;
  u.cache_creation_input = 100000;
  u.output = 200000;
  // claude-3-5-haiku: 0.5M plain × 0.80 + 0.4M × 0.08 + 0.1M × 1 + 0.2M × 4
  EXPECT_NEAR(*c.cost("claude-3-5-haiku", u), 0.40 + 0.032 + 0.1 + 0.8, 1e-12);
  EXPECT_FALSE(c.cost("unpriced", u));
}

TEST(PriceCatalog, MergeOverridesFieldsAndNamesBadOnes) {
  PriceCatalog c;
  auto n = c.merge_json(R"({"gpt-4o": {"output": 12}, "mine": {"input": 1, "output": 2}})");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 2u);
  EXPECT_DOUBLE_EQ(c.find("gpt-4o")->output, 12);
  EXPECT_DOUBLE_EQ(c.find("gpt-4o")->input, 2.50); // kept
  EXPECT_DOUBLE_EQ(c.find("mine-v2")->input, 1);
  auto bad = c.merge_json(R"({"x": {"input": -1}})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("model \"x\".input"), std::string::npos);
  EXPECT_FALSE(c.merge_json(R"({"x": {"inptu": 1}})"));
  EXPECT_FALSE(c.merge_json("[]"));
}

TEST(UsageLedger, LineCarriesKeyTokensAndCost) {
  PriceCatalog c;
  ExchangeRecord r;
  r.request_id = "r1";
  r.client_id = "team \"a\"";
  r.model = "gpt-4o-mini";
  r.usage.input = 1000;
  r.usage.output = 500;
  r.usage.total = 1500;
  r.status = 200;
  std::string line = ledger_line(r, &c, 1764681313914);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_NE(line.find(R"("time":"2025-12-02T13:15:13.914Z")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("key":"team \"a\"")"), std::string::npos);
  EXPECT_NE(line.find(R"("cost_usd":0.000450000)"), std::string::npos) << line;
}

// The stream's entries are the line's members one by one: names in order, values unquoted.
TEST(UsageLedger, FieldsAreTheLinesMembers) {
  PriceCatalog c;
  ExchangeRecord r;
  r.request_id = "r2";
  r.client_id = "team-b";
  r.model = "claude-3-5-haiku-latest";
  r.usage.input = 10;
  r.usage.output = 2;
  r.status = 429;
  r.stream = true;
  r.cache = "hit";
  auto fields = ledger_fields(r, &c, 1764681313914);
  std::string names;
  for (const auto &f : fields)
    names += std::string(f.name) + ",";
  EXPECT_EQ(names, "time,request_id,key,route,backend,model,input_tokens,cached_input_tokens,"
                   "cache_write_tokens,output_tokens,reasoning_tokens,total_tokens,cost_usd,status,"
                   "stream,cache,");
  EXPECT_EQ(fields[2].value, "team-b");
  EXPECT_TRUE(fields[2].text);
  EXPECT_EQ(fields[13].value, "429");
  EXPECT_FALSE(fields[13].text);
  EXPECT_EQ(fields[14].value, "true");
  EXPECT_EQ(ledger_line(fields), ledger_line(r, &c, 1764681313914));
  std::string line = ledger_line(fields);
  EXPECT_EQ(line.rfind(R"({"time":"2025-12-02T13:15:13.914Z","request_id":"r2",)", 0), 0u) << line;
  EXPECT_NE(line.find(R"("status":429,"stream":true,"cache":"hit"})"), std::string::npos) << line;
}

} // namespace
} // namespace aigw::observability
