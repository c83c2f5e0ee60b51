// Time zones and calendar windows; see timezone.h.
#include "core/timezone.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace aigw {
namespace {

uint32_t be32(std::string_view b, size_t at) {
  return (uint32_t(uint8_t(b[at])) << 24) | (uint32_t(uint8_t(b[at + 1])) << 16) |
         (uint32_t(uint8_t(b[at + 2])) << 8) | uint32_t(uint8_t(b[at + 3]));
}

int64_t be64(std::string_view b, size_t at) {
  return static_cast<int64_t>((uint64_t(be32(b, at)) << 32) | be32(b, at + 4));
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 64 || n.front() == '/' || n.find("..") != std::string_view::npos)
    return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '_' || c == '-' || c == '+';
  });
}

using namespace std::chrono;

int64_t days_to_seconds(sys_days d) { return int64_t(d.time_since_epoch().count()) * 86400; }

} // namespace

std::shared_ptr<const TimeZone> TimeZone::utc() {
  static const auto z = [] {
    auto t = std::make_shared<TimeZone>();
    t->name_ = "UTC";
    return std::shared_ptr<const TimeZone>(t);
  }();
  return z;
}

Result<std::shared_ptr<const TimeZone>> TimeZone::load(std::string_view name,
                                                       const std::string &dir) {
  if (name == "UTC" || name == "Etc/UTC") return utc();
  if (!valid_name(name))
    return Error::config("\"" + std::string(name) + "\" is not a time zone name");
  std::ifstream f(dir + "/" + std::string(name), std::ios::binary);
  if (!f)
    return Error::config("unknown time zone \"" + std::string(name) + "\" (no " + dir + "/" +
                         std::string(name) + "; is tzdata installed?)");
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse(name, ss.str());
}

Result<std::shared_ptr<const TimeZone>> TimeZone::parse(std::string_view name, std::string_view b) {
  auto bad = [&](const char *what) {
    return Error::config("time zone \"" + std::string(name) + "\": " + what);
  };
  if (b.size() < 44 || b.substr(0, 4) != "TZif") return bad("not a TZif file");
  auto counts = [&](size_t at, uint32_t(&c)[6]) {
    for (int i = 0; i < 6; ++i)
      c[i] = be32(b, at + 20 + 4 * size_t(i));
  };
  // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  uint32_t c[6];
  counts(0, c);
  bool v2 = b[4] >= '2';
  size_t time_size = 4, at = 44;
  if (v2) { // skip the 32-bit block for the 64-bit one
    size_t v1 = size_t(c[3]) * 5 + size_t(c[4]) * 6 + c[5] + size_t(c[2]) * 8 + c[1] + c[0];
    at += v1;
    if (b.size() < at + 44 || b.substr(at, 4) != "TZif") return bad("truncated TZif file");
    counts(at, c);
    at += 44;
    time_size = 8;
  }
  size_t need = size_t(c[3]) * (time_size + 1) + size_t(c[4]) * 6;
  if (c[4] == 0 || c[4] > 256 || c[3] > 100000 || b.size() < at + need)
    return bad("truncated TZif file");
  auto z = std::make_shared<TimeZone>();
  z->name_ = std::string(name);
  std::vector<int32_t> type_offsets(c[4]);
  size_t types_at = at + size_t(c[3]) * (time_size + 1);
  for (uint32_t i = 0; i < c[4]; ++i)
    type_offsets[i] = static_cast<int32_t>(be32(b, types_at + 6 * size_t(i)));
  z->initial_ = type_offsets[0];
  for (uint32_t i = 0; i < c[3]; ++i) {
    int64_t t = time_size == 8 ? be64(b, at + 8 * size_t(i))
                               : static_cast<int32_t>(be32(b, at + 4 * size_t(i)));
    uint8_t idx = static_cast<uint8_t>(b[at + size_t(c[3]) * time_size + i]);
    if (idx >= c[4]) return bad("a transition names an unknown local time type");
    if (!z->transitions_.empty() && t <= z->transitions_.back()) continue;
    z->transitions_.push_back(t);
    z->offsets_.push_back(type_offsets[idx]);
  }
  return std::shared_ptr<const TimeZone>(z);
}

int32_t TimeZone::offset_at(int64_t t) const {
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), t);
  if (it == transitions_.begin()) return initial_;
  return offsets_[size_t(it - transitions_.begin()) - 1];
}

int64_t TimeZone::to_utc(int64_t local) const {
  // The offset in force at the result: a guess from the offset at `local` read as UTC, then
  // the offset at the guess (around a transition the wall time settles on one side of it).
  int64_t guess = local - offset_at(local);
  return local - offset_at(guess);
}

WindowBounds calendar_window(const TimeZone &tz, CalendarWindow w, int64_t now) {
  int64_t local = now + tz.offset_at(now);
  auto floor_div = [](int64_t a, int64_t m) { return a >= 0 ? a / m : -((-a + m - 1) / m); };
  switch (w) {
  case CalendarWindow::kMinute:
  case CalendarWindow::kHour: {
    int64_t len = w == CalendarWindow::kMinute ? 60 : 3600;
    int64_t start = floor_div(local, len) * len;
    return {tz.to_utc(start), tz.to_utc(start + len)};
  }
  case CalendarWindow::kDay:
  case CalendarWindow::kWeek: {
    int64_t day = floor_div(local, 86400);
    if (w == CalendarWindow::kWeek) {
      // 1970-01-01 was a Thursday: days since a Monday are (day + 3) mod 7.
      int64_t since_monday = ((day + 3) % 7 + 7) % 7;
      day -= since_monday;
    }
    int64_t len_days = w == CalendarWindow::kWeek ? 7 : 1;
    return {tz.to_utc(day * 86400), tz.to_utc((day + len_days) * 86400)};
  }
  case CalendarWindow::kMonth: {
    sys_days d{days{floor_div(local, 86400)}};
    year_month_day ymd{d};
    year_month_day first{ymd.year(), ymd.month(), day{1}};
    year_month_day next = first + months{1};
    return {tz.to_utc(days_to_seconds(sys_days{first})),
            tz.to_utc(days_to_seconds(sys_days{next}))};
  }
  }
  return {now, now + 1};
}

std::string format_utc(int64_t t) {
  sys_days d{days{t >= 0 ? t / 86400 : -((-t + 86399) / 86400)}};
  int64_t s = t - days_to_seconds(d);
  year_month_day ymd{d};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lldZ", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

std::optional<int64_t> parse_rfc3339_exact(std::string_view s) {
  auto num = [&](size_t at, size_t n) -> std::optional<int> {
    if (at + n > s.size()) return std::nullopt;
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  auto y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2),
       se = num(17, 2);
  if (!y || !mo || !d || !h || !mi || !se || s.size() < 20 || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
    return std::nullopt;
  year_month_day ymd{year{*y}, month{unsigned(*mo)}, day{unsigned(*d)}};
  if (!ymd.ok() || *h > 23 || *mi > 59 || *se > 60) return std::nullopt;
  size_t at = 19;
  if (at < s.size() && s[at] == '.') {
    ++at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9')
      ++at;
  }
  int64_t t = days_to_seconds(sys_days{ymd}) + *h * 3600 + *mi * 60 + *se;
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z') && at + 1 == s.size()) return t;
  if (at + 6 == s.size() && (s[at] == '+' || s[at] == '-') && s[at + 3] == ':') {
    auto oh = num(at + 1, 2), om = num(at + 4, 2);
    if (!oh || !om || *oh > 23 || *om > 59) return std::nullopt;
    int64_t off = *oh * 3600 + *om * 60;
    return s[at] == '+' ? t - off : t + off;
  }
  return std::nullopt;
}

} // namespace aigw
