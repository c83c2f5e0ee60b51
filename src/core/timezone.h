// Time zones from the system's tz database (TZif files under /usr/share/zoneinfo, RFC 8536) and
// calendar windows in them: the minute, hour, day, ISO week (from Monday) or month a moment falls
// in, as unix seconds. The standard library of this toolchain has no time zones of its own.
#pragma once

#include "core/result.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw {

class TimeZone {
public:
  // "UTC", or an IANA name ("Europe/Berlin") read from `dir`. Errors name the zone.
  static Result<std::shared_ptr<const TimeZone>>
  load(std::string_view name, const std::string &dir = "/usr/share/zoneinfo");
  // Parses a TZif file's bytes.
  static Result<std::shared_ptr<const TimeZone>> parse(std::string_view name,
                                                       std::string_view bytes);
  static std::shared_ptr<const TimeZone> utc();

  const std::string &name() const { return name_; }
  // Seconds east of UTC at unix time `t`.
  int32_t offset_at(int64_t t) const;
  // The unix time of local wall-clock time `local` (seconds since the local epoch).
  int64_t to_utc(int64_t local) const;

private:
  std::string name_;
  std::vector<int64_t> transitions_; // UTC, ascending
  std::vector<int32_t> offsets_;     // the offset from each transition on
  int32_t initial_ = 0;              // before the first transition
};

enum class CalendarWindow { kMinute, kHour, kDay, kWeek, kMonth };

struct WindowBounds {
  int64_t start = 0, end = 0; // unix seconds, [start, end)
};

// The calendar window of `now` (unix seconds) in `tz`.
WindowBounds calendar_window(const TimeZone &tz, CalendarWindow w, int64_t now);

// "2026-12-01T00:00:00Z" (UTC, seconds) for unix time `t`.
std::string format_utc(int64_t t);
// RFC 3339 with its offset honoured ("2027-01-01T00:00:00Z", "2027-01-01T09:00:00+01:00", fractions
// ignored) to unix seconds; nullopt when malformed.
std::optional<int64_t> parse_rfc3339_exact(std::string_view s);

} // namespace aigw
