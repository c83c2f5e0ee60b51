// The scopes of a JWT as upstream reads them: `scope` and `scp`, each a string of words
// separated by any whitespace, or an array of such strings.
#include "auth/jwt.h"

#include <gtest/gtest.h>

namespace aigw::auth {
namespace {

TEST(JwtScopes, ScopeAndScpAsStringsOrArrays) {
  EXPECT_EQ(jwt_scopes(R"({"scope":"a  b\tc"})"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(jwt_scopes(R"({"scp":"user.read mail.send"})"), // Entra ID writes a string
            (std::vector<std::string>{"user.read", "mail.send"}));
  EXPECT_EQ(jwt_scopes(R"({"scp":["x","y z"],"scope":["w"]})"),
            (std::vector<std::string>{"w", "x", "y", "z"}));
  EXPECT_TRUE(jwt_scopes(R"({"scope":5})").empty());
  EXPECT_TRUE(jwt_scopes("not json").empty());
}

} // namespace
} // namespace aigw::auth
