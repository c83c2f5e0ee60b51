#include "core/timezone.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace aigw {
namespace {

std::shared_ptr<const TimeZone> zone(const char *name) {
  if (!std::filesystem::exists(std::string("/usr/share/zoneinfo/") + name)) return nullptr;
  auto z = TimeZone::load(name);
  EXPECT_TRUE(z) << (z ? "" : z.error().message);
  return z ? *z : nullptr;
}

TEST(TimeZone, UtcWindowsAreCalendarAligned) {
  auto utc = TimeZone::utc();
  int64_t t = *parse_rfc3339_exact("2026-12-02T23:41:07Z"); // a Wednesday
  auto day = calendar_window(*utc, CalendarWindow::kDay, t);
  EXPECT_EQ(format_utc(day.start), "2026-12-02T00:00:00Z");
  EXPECT_EQ(format_utc(day.end), "2026-12-03T00:00:00Z");
  auto week = calendar_window(*utc, CalendarWindow::kWeek, t);
  EXPECT_EQ(format_utc(week.start), "2026-11-30T00:00:00Z"); // the Monday
  EXPECT_EQ(format_utc(week.end), "2026-12-07T00:00:00Z");
  auto month = calendar_window(*utc, CalendarWindow::kMonth, t);
  EXPECT_EQ(format_utc(month.start), "2026-12-01T00:00:00Z");
  EXPECT_EQ(format_utc(month.end), "2027-01-01T00:00:00Z");
  auto hour = calendar_window(*utc, CalendarWindow::kHour, t);
  EXPECT_EQ(format_utc(hour.start), "2026-12-02T23:00:00Z");
  auto feb =
      calendar_window(*utc, CalendarWindow::kMonth, *parse_rfc3339_exact("2028-02-29T12:00:00Z"));
  EXPECT_EQ(format_utc(feb.end), "2028-03-01T00:00:00Z");
}

TEST(TimeZone, WindowsFollowTheZonesMidnightAndItsDaylightSaving) {
  auto berlin = zone("Europe/Berlin");
  if (!berlin) GTEST_SKIP() << "no tzdata";
  // 23:30 UTC on 2 December is 00:30 on 3 December in Berlin (UTC+1).
  int64_t t = *parse_rfc3339_exact("2026-12-02T23:30:00Z");
  EXPECT_EQ(berlin->offset_at(t), 3600);
  auto day = calendar_window(*berlin, CalendarWindow::kDay, t);
  EXPECT_EQ(format_utc(day.start), "2026-12-02T23:00:00Z");
  EXPECT_EQ(format_utc(day.end), "2026-12-03T23:00:00Z");
  // Summer time (UTC+2); the month of March 2026 spans the change on its last Sunday.
  EXPECT_EQ(berlin->offset_at(*parse_rfc3339_exact("2026-07-01T12:00:00Z")), 7200);
  auto march = calendar_window(*berlin, CalendarWindow::kMonth,
                               *parse_rfc3339_exact("2026-03-15T12:00:00Z"));
  EXPECT_EQ(format_utc(march.start), "2026-02-28T23:00:00Z");
  EXPECT_EQ(format_utc(march.end), "2026-03-31T22:00:00Z");
  auto ny = zone("America/New_York");
  if (!ny) return;
  auto week =
      calendar_window(*ny, CalendarWindow::kWeek, *parse_rfc3339_exact("2026-12-07T03:00:00Z"));
  // Monday 7 December 03:00 UTC is still Sunday evening in New York: the week began the 30th.
  EXPECT_EQ(format_utc(week.start), "2026-11-30T05:00:00Z");
}

TEST(TimeZone, BadNamesAndFilesAreErrorsNamingTheZone) {
  auto bad = TimeZone::load("Mars/Olympus_Mons");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("Mars/Olympus_Mons"), std::string::npos);
  EXPECT_FALSE(TimeZone::load("../../etc/passwd"));
  EXPECT_FALSE(TimeZone::parse("X", "not a tzif file"));
}

TEST(TimeZone, Rfc3339WithOffsets) {
  EXPECT_EQ(parse_rfc3339_exact("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339_exact("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parse_rfc3339_exact("1970-01-01T00:00:00.250Z"), 0);
  EXPECT_FALSE(parse_rfc3339_exact("2026-13-01T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_exact("2026-12-01"));
  EXPECT_FALSE(parse_rfc3339_exact("2026-12-01T00:00:00"));
}

} // namespace
} // namespace aigw
