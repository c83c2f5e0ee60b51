// redis:// URLs, as every Redis flag takes them.
#include "ratelimit/redis_url.h"

#include <gtest/gtest.h>

using aigw::ratelimit::parse_redis_url;

TEST(RedisUrl, HostAndPort) {
  auto t = parse_redis_url("redis://cache.internal:6380/");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "cache.internal");
  EXPECT_EQ(t->port, 6380);
  auto d = parse_redis_url("redis://10.0.0.7");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "10.0.0.7");
  EXPECT_EQ(d->port, 6379);
  auto db = parse_redis_url("redis://h:6379/0");
  ASSERT_TRUE(db);
  EXPECT_EQ(db->host, "h");
  EXPECT_EQ(db->port, 6379);
  auto noport = parse_redis_url("redis://h/0");
  ASSERT_TRUE(noport);
  EXPECT_EQ(noport->host, "h");
}

TEST(RedisUrl, BracketedIpv6) {
  auto t = parse_redis_url("redis://[::1]:7000");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->port, 7000);
  auto d = parse_redis_url("redis://[fd00::2]");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "fd00::2");
  EXPECT_EQ(d->port, 6379);
}

TEST(RedisUrl, Malformed) {
  for (const char *bad : {"http://127.0.0.1:6379", "redis://", "redis://host:", "redis://host:0",
                          "redis://host:65536", "redis://host:12ab", "redis://[::1",
                          "redis://[::1]x", "redis://:6379", "redis://host:99999999999",
                          "redis://fd00::2", "redis://h:6379/1", "redis://h/x"})
    EXPECT_FALSE(parse_redis_url(bad)) << bad;
}
