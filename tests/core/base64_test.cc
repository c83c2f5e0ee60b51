#include "core/base64.h"

#include <gtest/gtest.h>

namespace aigw {
namespace {

TEST(Base64, RoundTrips) {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "sk-secret-key\n"})
    EXPECT_EQ(base64_decode(base64_encode(s)).value(), s);
  EXPECT_EQ(base64_encode("hello"), "aGVsbG8=");
}

TEST(Base64, RejectsGarbage) {
  EXPECT_FALSE(base64_decode("a$b"));
  EXPECT_FALSE(base64_decode("aGVs=bG8"));
}

} // namespace
} // namespace aigw
