// MCP session id encryption: round trips, tampering, seeds and rotation.
#include "core/base64.h"
#include "mcp/session_crypto.h"

#include <gtest/gtest.h>

namespace aigw::mcp {
namespace {

TEST(SessionCrypto, RoundTripsWithAFreshSaltAndNonceEachTime) {
  SessionCrypto c("seed-1", 1000);
  const std::string text = "route@subject@backend:c2Vzcw==:1f";
  std::string a = c.encrypt(text);
  std::string b = c.encrypt("route@subject@backend:c2Vzcw==:1f");
  EXPECT_NE(a, b);
  EXPECT_EQ(c.decrypt(a), "route@subject@backend:c2Vzcw==:1f");
  // one salt per process (its key derived once), a fresh nonce per id
  EXPECT_EQ(base64_decode(a)->substr(0, 16), base64_decode(b)->substr(0, 16));
  EXPECT_NE(base64_decode(a)->substr(16, 12), base64_decode(b)->substr(16, 12));
  SessionCrypto replica("seed-1", 1000); // another process with the same seed reads them
  EXPECT_EQ(replica.decrypt(a), "route@subject@backend:c2Vzcw==:1f");
  EXPECT_EQ(c.decrypt(b), "route@subject@backend:c2Vzcw==:1f");
  // salt 16 + nonce 12 + text + tag 16, base64
  EXPECT_EQ(base64_decode(a)->size(), 16u + 12u + text.size() + 16u);
}

TEST(SessionCrypto, AnAlteredIdOrAnotherSeedIsRefused) {
  SessionCrypto c("seed-1", 1000);
  std::string id = c.encrypt("hello");
  auto raw = *base64_decode(id);
  raw[raw.size() - 20] ^= 1;
  EXPECT_FALSE(c.decrypt(base64_encode(raw)));
  EXPECT_FALSE(c.decrypt("not base64 !"));
  EXPECT_FALSE(c.decrypt(base64_encode("short")));
  SessionCrypto other("seed-2", 1000);
  EXPECT_FALSE(other.decrypt(id));
}

TEST(SessionCrypto, AFallbackSeedReadsIdsWrittenBeforeARotation) {
  SessionCrypto before("old-seed", 1000);
  std::string id = before.encrypt("session");
  SessionCrypto after("new-seed", 1000, "old-seed", 1000);
  EXPECT_EQ(after.decrypt(id), "session");
  EXPECT_EQ(after.decrypt(after.encrypt("new")), "new");
  EXPECT_FALSE(before.decrypt(after.encrypt("new"))); // new ids use the new seed
}

} // namespace
} // namespace aigw::mcp
