// VirtualKey decoding (aigw's own resource); see resources.h and docs/virtual-keys.md.
#include "api/resources.h"
#include "core/timezone.h"

#include <yaml-cpp/yaml.h>

namespace aigw::api {
namespace {

// "25", "25.5", "0.000001": US dollars to micro-dollars (at most 6 decimals).
std::optional<uint64_t> micro_dollars(std::string_view s) {
  if (s.starts_with("$")) s.remove_prefix(1);
  uint64_t whole = 0, frac = 0;
  size_t i = 0, digits = 0, frac_digits = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++digits) {
    if (whole > 1'000'000'000'000ull) return std::nullopt;
    whole = whole * 10 + uint64_t(s[i] - '0');
  }
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++frac_digits) {
      if (frac_digits == 6) return std::nullopt;
      frac = frac * 10 + uint64_t(s[i] - '0');
    }
    if (frac_digits == 0) return std::nullopt;
  }
  if (i != s.size() || digits == 0) return std::nullopt;
  for (size_t k = frac_digits; k < 6; ++k)
    frac *= 10;
  return whole * 1'000'000 + frac;
}

void decode_budget(const Field &b, const std::string &field, VirtualKey &k) {
  VirtualKeyBudget out;
  out.field = field;
  out.window = b["window"].str_or("");
  if (out.window != "Minute" && out.window != "Hour" && out.window != "Day" &&
      out.window != "Week" && out.window != "Month")
    b["window"].fail("must be Minute, Hour, Day, Week or Month, got \"" + out.window + "\"");
  int kinds = 0;
  if (b["requests"].present()) {
    ++kinds;
    out.kind = VirtualKeyBudget::Kind::kRequests;
    out.limit = static_cast<uint64_t>(b["requests"].integer(1, INT64_MAX).value_or(0));
  }
  if (b["tokens"].present()) {
    ++kinds;
    out.kind = VirtualKeyBudget::Kind::kTokens;
    out.limit = static_cast<uint64_t>(b["tokens"].integer(1, INT64_MAX).value_or(0));
  }
  if (Field d = b["dollars"]; d.present()) {
    ++kinds;
    out.kind = VirtualKeyBudget::Kind::kDollars;
    std::string text = d.node().IsScalar() ? d.node().as<std::string>() : "";
    auto v = micro_dollars(text);
    if (!v || *v == 0)
      d.fail("must be a positive amount of US dollars with at most 6 decimals (\"25\", "
             "\"0.50\"), got \"" +
             text + "\"");
    else
      out.limit = *v;
  }
  if (kinds != 1) b.fail("needs exactly one of requests, tokens or dollars");
  k.budgets.push_back(std::move(out));
}

} // namespace

void decode_virtual_key(const Field &doc, const ObjectMeta &meta, Resources &out) {
  VirtualKey k;
  k.meta = meta;
  Field spec = doc["spec"];
  if (!spec.present()) {
    spec.fail("is required");
    return;
  }
  k.client_id = spec["clientID"].required_str().value_or("");
  if (Field models = spec["allowedModels"]; models.present()) {
    if (models.is_sequence() && models.size() == 0)
      models.fail("must be a non-empty list of model names (a trailing * matches a prefix)");
    for (size_t i = 0; i < models.size(); ++i)
      if (auto m = models.at(i).required_str()) {
        if (m->find('*') != std::string::npos && m->find('*') + 1 != m->size())
          models.at(i).fail("\"" + *m + "\": '*' may only end a name");
        k.allowed_models.push_back(*m);
      }
  }
  if (Field e = spec["expiresAt"]; e.present()) {
    auto text = e.str_or("");
    if (auto t = parse_rfc3339_exact(text))
      k.expires_at = *t;
    else
      e.fail("must be an RFC 3339 time (2027-01-01T00:00:00Z), got \"" + text + "\"");
  }
  if (Field tz = spec["timeZone"]; tz.present()) {
    k.time_zone = tz.str_or("");
    if (auto z = TimeZone::load(k.time_zone); !z) tz.fail(z.error().message);
  }
  Field budgets = spec["budgets"];
  if (budgets.size() > 16)
    budgets.fail("at most 16 budgets, got " + std::to_string(budgets.size()));
  for (size_t i = 0; i < budgets.size(); ++i)
    decode_budget(budgets.at(i), "spec.budgets[" + std::to_string(i) + "]", k);
  out.virtual_keys.push_back(std::move(k));
}

} // namespace aigw::api
