// The response cache's pieces: canonical request bodies, the stored entry's encoding, and the
// in-memory store's expiry and byte bound.
#include "pipeline/response_cache.h"

#include <gtest/gtest.h>

namespace aigw::pipeline {
namespace {

TEST(CanonicalJson, SortsMembersAtEveryDepthAndDropsWhitespace) {
  auto a = canonical_json(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"n":1})");
  auto b = canonical_json(R"( { "n" : 1, "messages" : [ { "content":"hi", "role":"user" } ],
                               "model" : "m" } )");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*a, R"({"messages":[{"content":"hi","role":"user"}],"model":"m","n":1})");
}

TEST(CanonicalJson, KeepsStringsAndNumbersAsWrittenAndArraysInOrder) {
  auto a = canonical_json(R"({"t":0.70,"s":"a, b} \"c\" ","x":[3,1,2],"e":{},"f":[]})");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, R"({"e":{},"f":[],"s":"a, b} \"c\" ","t":0.70,"x":[3,1,2]})");
  // Different values are different requests.
  EXPECT_NE(*canonical_json(R"({"t":0.7})"), *canonical_json(R"({"t":0.8})"));
  EXPECT_NE(*canonical_json(R"([1,2])"), *canonical_json(R"([2,1])"));
}

TEST(CanonicalJson, RefusesWhatIsNotJson) {
  EXPECT_FALSE(canonical_json(R"({"a":1)"));
  EXPECT_FALSE(canonical_json(R"({"a":1} x)"));
  EXPECT_FALSE(canonical_json(R"({"a" 1})"));
  EXPECT_FALSE(canonical_json(R"("open)"));
  EXPECT_FALSE(canonical_json(std::string(300, '[') + std::string(300, ']'))); // too deep
}

TEST(ResponseCacheKey, EveryPartCountsAndPartsDoNotRunTogether) {
  auto k = response_cache_key({"a", "bc"});
  EXPECT_EQ(k.size(), 64u);
  EXPECT_EQ(k, response_cache_key({"a", "bc"}));
  EXPECT_NE(k, response_cache_key({"ab", "c"}));
  EXPECT_NE(k, response_cache_key({"a", "bd"}));
}

TEST(CachedAnswer, EncodesAndDecodesEveryField) {
  CachedAnswer a;
  a.content_type = "text/event-stream";
  a.stream = true;
  a.chunks = {"data: {\"a\":1}\n\n", "", "data: [DONE]\n\n", std::string("bin\0ary:12:", 11)};
  a.usage.input = 9;
  a.usage.output = 3;
  a.usage.total = 12;
  a.usage.reasoning = 0;
  a.model = "gpt-4o-mini";
  a.stored_at = 1796000000;
  auto d = decode_cached(encode_cached(a));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->content_type, a.content_type);
  EXPECT_TRUE(d->stream);
  EXPECT_EQ(d->chunks, a.chunks);
  EXPECT_EQ(d->usage.input, 9u);
  EXPECT_EQ(d->usage.total, 12u);
  EXPECT_EQ(d->usage.reasoning, 0u);
  EXPECT_FALSE(d->usage.cached_input);
  EXPECT_EQ(d->model, a.model);
  EXPECT_EQ(d->stored_at, a.stored_at);
  EXPECT_EQ(d->size(), a.size());
}

TEST(CachedAnswer, RefusesWhatItDidNotWrite) {
  CachedAnswer a;
  a.content_type = "application/json";
  a.chunks = {"{}"};
  a.stored_at = 1;
  std::string e = encode_cached(a);
  EXPECT_FALSE(decode_cached(""));
  EXPECT_FALSE(decode_cached("garbage"));
  EXPECT_FALSE(decode_cached(e.substr(0, e.size() - 1)));
  EXPECT_FALSE(decode_cached(e + "x"));
  std::string lying = e;
  lying.replace(lying.rfind("2:{}"), 4, "9:{}");
  EXPECT_FALSE(decode_cached(lying));
}

TEST(ResponseCache, HitsUntilItsEntryExpires) {
  ResponseCache c(1 << 20);
  c.put("k", "v", 100);
  EXPECT_EQ(c.get("k", 99), "v");
  EXPECT_FALSE(c.get("k", 100));
  EXPECT_FALSE(c.get("k", 99)) << "an expired entry is dropped";
  EXPECT_EQ(c.entries(), 0u);
  c.put("k", "v1", 200);
  c.put("k", "v2", 200);
  EXPECT_EQ(c.get("k", 1), "v2");
  EXPECT_EQ(c.entries(), 1u);
}

TEST(ResponseCache, StaysWithinItsBytesEvictingTheLeastRecentlyUsed) {
  ResponseCache c(16 * 1000); // 1000 bytes a shard
  for (int i = 0; i < 400; ++i)
    c.put("key" + std::to_string(i), std::string(90, 'x'), 1000);
  EXPECT_LE(c.bytes(), 16u * 1000);
  EXPECT_GT(c.entries(), 16u);
  // The newest survive; the oldest went first.
  EXPECT_TRUE(c.get("key399", 1));
  EXPECT_FALSE(c.get("key0", 1));
  // An entry larger than a shard is never held.
  c.put("huge", std::string(5000, 'y'), 1000);
  EXPECT_FALSE(c.get("huge", 1));
}

} // namespace
} // namespace aigw::pipeline
