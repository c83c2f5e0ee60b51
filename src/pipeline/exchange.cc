// The request lifecycle; see exchange.h and docs/lifecycle.md.
#include "pipeline/exchange.h"

#include "auth/aws_sigv4.h"
#include "auth/client_auth.h"
#include "auth/static_auth.h"
#include "core/clock.h"
#include "core/json_scan.h"
#include "core/strings.h"
#include "core/timezone.h"
#include "observability/prices.h"
#include "observability/tracing.h"
#include "pipeline/errors.h"
#include "pipeline/headers.h"
#include "ratelimit/costs.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <random>
#include <thread>

namespace aigw::pipeline {
namespace {

// Schemas whose models continue a final assistant message (a prefill) instead of answering it.
bool takes_prefill(api::Schema s) {
  return s == api::Schema::kAnthropic || s == api::Schema::kAWSAnthropic ||
         s == api::Schema::kGCPAnthropic || s == api::Schema::kAWSBedrock;
}

using Clock = std::chrono::steady_clock;

// The models a configuration names (exact model matches and overrides): always kept as metric
// labels, whatever the cap on client-chosen values.
std::vector<std::string> configured_models(const control::Snapshot &snap) {
  std::vector<std::string> out;
  for (const auto &m : snap.models)
    out.push_back(m.id);
  for (const auto &rule : snap.rules)
    for (const auto &ref : rule.refs)
      if (!ref.model_name_override.empty()) out.push_back(ref.model_name_override);
  for (const auto &[name, ref] : snap.refs_by_name)
    if (!ref.model_name_override.empty()) out.push_back(ref.model_name_override);
  return out;
}

// Every value the gateway itself puts in the provider's request head must be one a header may
// hold: a 400 naming the header otherwise (the model as the field "model").
std::optional<Error> bad_call_value(const UpstreamCall &c, std::string_view request_id) {
  if (!is_valid_request_target(c.path)) return invalid_request_target();
  if (!is_valid_header_value(c.model)) return invalid_header_value("x-ai-eg-model");
  if (!is_valid_header_value(c.authorization)) return invalid_header_value("authorization");
  if (!is_valid_header_value(request_id)) return invalid_header_value("x-request-id");
  for (const auto &[name, value] : c.headers)
    if (!is_valid_header_value(value)) return invalid_header_value(name);
  if (c.mutation)
    for (const auto &[name, value] : c.mutation->set)
      if (mutation_may_set(name) && !is_valid_header_value(value))
        return invalid_header_value(name);
  return std::nullopt;
}

} // namespace

std::string make_request_id() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   std::hash<std::thread::id>{}(std::this_thread::get_id()));
  uint64_t a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(((b >> 48) & 0x3fff) | 0x8000),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

Exchange::Exchange(std::shared_ptr<const control::Snapshot> snap, const ExchangeOptions &options,
                   const ExchangeServices &services)
    : snap_(std::move(snap)), opts_(options), svc_(services) {}

// --- 1. The request head -------------------------------------------------------------------

Reply Exchange::on_request_headers(const RequestHead &head) {
  // The method, target and host are kept as the exchange's own copies: a host's views need not
  // outlive this call (only the header lookup must).
  rec_.method = std::string(head.method);
  rec_.path = std::string(head.target);
  host_ = std::string(head.host);
  head_ = {rec_.method, rec_.path, host_, head.headers, head.client_address};
  auto header = [&](std::string_view name) {
    auto v = head_.headers ? head_.headers(name) : std::nullopt;
    return v ? *v : std::string_view();
  };
  auto rid = header("x-request-id");
  rec_.request_id = rid.empty() ? make_request_id() : std::string(rid);
  rec_.session_id = std::string(header("agent-session-id"));
  rec_.user_agent = std::string(header("user-agent"));
  rec_.forwarded_for = std::string(header("x-forwarded-for"));
  if (opts_.tracing) {
    rec_.parent = observability::parse_traceparent(header("traceparent"));
    rec_.trace.trace_id = rec_.parent ? rec_.parent->trace_id : observability::random_hex(16);
    rec_.trace.span_id = observability::random_hex(8);
    rec_.trace.sampled = !rec_.parent || rec_.parent->sampled;
  }
  if (svc_.metrics)
    for (const auto &a : svc_.metrics->header_attributes())
      rec_.metric_header_values.emplace_back(header(a.header));
  auto ep = match_endpoint(head_.method, head_.target);
  endpoint_ = ep.endpoint;
  endpoint_path_ = ep.path; // a view into rec_.path
  if (auto q = head_.target.find('?'); q != std::string_view::npos) query_ = head_.target.substr(q);
  if (ep.endpoint == Endpoint::kUnknown) return answer(unsupported_path(head_.target));
  if (!ep.method_allowed)
    return answer(method_not_allowed(head_.method, ep.path, is_local_endpoint(ep.endpoint)));
  // SecurityPolicy: the Gateway's now, unless some route has its own (then once the route is
  // known); the model lists answer under the Gateway's.
  if (!snap_->route_auth || is_local_endpoint(ep.endpoint))
    if (auto r = authenticate(snap_->gateway_auth.get())) return r;
  if (identity_ && !identity_->remove_params.empty())
    ep = match_endpoint(head_.method, head_.target); // the target was rebuilt: views re-taken
  if (ep.endpoint == Endpoint::kModels) return answer(models_reply(*snap_, host_));
  if (ep.endpoint == Endpoint::kAnthropicModels)
    return answer(anthropic_models_reply(*snap_, host_));
  if (ep.endpoint == Endpoint::kModel) return answer(model_reply(*snap_, host_, ep.model_id));
  return std::nullopt;
}

Reply Exchange::authenticate(const auth::ClientAuth *policy) {
  if (!policy || authed_ == policy) return std::nullopt;
  authed_ = policy;
  if (opts_.verify_clients && !policy->unenforced.empty()) {
    // Access control only Envoy performs: refused, never let through unchecked.
    std::string msg = "SecurityPolicy " + policy->key + " uses " + policy->unenforced.front() +
                      ", which only Envoy enforces; aigw run refuses requests under it";
    rec_.error = msg;
    if (svc_.metrics) svc_.metrics->health().auth_failures.fetch_add(1, std::memory_order_relaxed);
    return answer(is_anthropic_endpoint(endpoint_) ? typed_error_reply("permission_error", 403, msg)
                                                   : error_reply(403, msg));
  }
  if (!opts_.verify_clients) {
    adopt_identity(auth::identify_verified(*policy, head_.headers, query_));
    return std::nullopt;
  }
  auto r = auth::authenticate(*policy, head_.headers, query_, svc_.jwks, unix_now());
  if (!r.identity) {
    rec_.error =
        "client authentication failed (SecurityPolicy " + policy->key + "): " + r.failure.message;
    if (svc_.metrics) svc_.metrics->health().auth_failures.fetch_add(1, std::memory_order_relaxed);
    return answer(unauthorized(is_anthropic_endpoint(endpoint_), r.failure.message,
                               r.failure.www_authenticate));
  }
  adopt_identity(std::move(*r.identity));
  return std::nullopt;
}

void Exchange::adopt_identity(auth::ClientIdentity id) {
  rec_.client_id = id.client_id;
  // A credential in the query goes neither to the provider nor into the access log.
  if (!id.remove_params.empty() && !query_.empty())
    replace_query(auth::strip_query_params(query_, id.remove_params));
  identity_ = std::move(id);
}

void Exchange::replace_query(std::string query) {
  // The exchange's target is rebuilt with `query`, the views into it re-pointed.
  size_t path_at = endpoint_path_.empty() ? 0 : endpoint_path_.data() - rec_.path.data();
  size_t query_at = query_.data() - rec_.path.data();
  std::string target = rec_.path.substr(0, query_at) + query;
  rec_.path = std::move(target);
  head_.target = rec_.path;
  head_.method = rec_.method;
  if (!endpoint_path_.empty())
    endpoint_path_ = std::string_view(rec_.path).substr(path_at, endpoint_path_.size());
  query_ = std::string_view(rec_.path).substr(query_at);
}

Reply Exchange::answer(LocalReply r) {
  rec_.status = r.status;
  // A request refused before its credential was taken out (a bad path, a 401) is logged with
  // the values of the query parameters a SecurityPolicy reads redacted.
  if (!query_.empty() && snap_ && !snap_->credential_params.empty()) {
    std::string redacted = auth::redact_query_params(query_, snap_->credential_params);
    if (redacted != query_) replace_query(std::move(redacted));
  }
  return r;
}

// --- 2. The body: parse, and (aigw run) the route -------------------------------------------

Reply Exchange::on_request_body(std::string body, bool route) {
  body_ = std::move(body);
  if (opts_.tracing) rec_.request_body = body_;
  auto content_type = head_.headers ? head_.headers("content-type") : std::nullopt;
  // (A body read with room after it is parsed in place: a 10 MB body is not copied for it.)
  bool padded = body_.capacity() >= body_.size() + kJsonPadding;
  auto parsed = parse_request_body(endpoint_, body_, content_type.value_or(""), padded);
  if (!parsed) {
    rec_.error = parsed.error().message;
    return answer(error_reply(400, parsed.error().message));
  }
  parsed_ = std::move(*parsed);
  rec_.model = parsed_.model;
  rec_.stream = parsed_.stream;
  rec_.operation = operation_name(endpoint_);
  // x-ai-eg-model is always the gateway's: the body's model, whatever the client sent.
  lookup_ = [this](std::string_view name) -> std::optional<std::string_view> {
    if (name == "x-ai-eg-model") return std::string_view(parsed_.model);
    // What the SecurityPolicy set (forwardClientIDHeader, claimToHeaders) is the request's, for
    // routing and rate limits too, as Envoy's later filters see it.
    // What it took out (a credential, a client's copy of a claim header) is not.
    if (identity_) {
      for (const auto &[n, v] : identity_->set_headers)
        if (n == name) return std::string_view(v);
      for (const auto &n : identity_->remove_headers)
        if (n == name) return std::nullopt;
    }
    return head_.headers ? head_.headers(name) : std::nullopt;
  };
  if (!route) return std::nullopt;
  rule_ = select_rule(*snap_, lookup_, head_.host);
  // The route's SecurityPolicy; the route is then chosen again over what the policy verified
  // (a client's own copy of a claim header chose nothing), until route and policy agree.
  auto policy_of = [&] {
    return rule_ ? snap_->routes[rule_->route_index].client_auth.get() : snap_->gateway_auth.get();
  };
  for (int round = 0; round < 3 && policy_of() && policy_of() != authed_; ++round) {
    if (auto r = authenticate(policy_of())) return r;
    rule_ = select_rule(*snap_, lookup_, head_.host);
  }
  if (policy_of() && policy_of() != authed_) {
    rec_.error = "the route chosen after authentication is under another SecurityPolicy";
    return answer(
        unauthorized(is_anthropic_endpoint(endpoint_), "Client authentication failed.", ""));
  }
  if (!rule_) {
    rec_.error = "no matching route";
    // The Anthropic SDKs read Anthropic's error shape.
    return answer(is_anthropic_endpoint(endpoint_) ? anthropic_route_not_found()
                                                   : route_not_found());
  }
  route_ = &snap_->routes[rule_->route_index];
  rec_.route = route_->key;
  if (auto r = check_virtual_key()) return r;
  deadline_ = Clock::now() + rule_->request_timeout;
  // x-aigw-deadline-ms: the client's own bound on the whole request (every attempt), within the
  // route's timeout.
  if (auto d = lookup_("x-aigw-deadline-ms")) {
    uint64_t ms = 0;
    auto [end, ec] = std::from_chars(d->data(), d->data() + d->size(), ms);
    if (ec != std::errc() || end != d->data() + d->size() || ms == 0 || ms > 86400000) {
      rec_.error = "bad x-aigw-deadline-ms";
      return answer(error_reply(400, "x-aigw-deadline-ms must be a whole number of milliseconds "
                                     "from 1 to 86400000, got \"" +
                                         std::string(d->substr(0, 32)) + "\""));
    }
    deadline_ = std::min(deadline_, Clock::now() + std::chrono::milliseconds(ms));
  }
  max_attempts_ = max_attempts(*rule_);
  thread_local uint64_t picks = 0;
  picker_.emplace(*rule_,
                  (++picks + std::hash<std::string>{}(rec_.request_id)) * 0x9E3779B97F4A7C15ULL,
                  hash_key());
  plan_cache();
  return std::nullopt;
}

// --- 2b. The response cache ------------------------------------------------------------------

void Exchange::plan_cache() {
  if (!opts_.response_cache || !route_ || !route_->response_cache_ttl) return;
  if (endpoint_ != Endpoint::kChatCompletions && endpoint_ != Endpoint::kCompletions &&
      endpoint_ != Endpoint::kEmbeddings && endpoint_ != Endpoint::kMessages)
    return;
  auto canonical = canonical_json(body_);
  if (!canonical) return;
  // The caller: who the SecurityPolicy authenticated, else the credential the client sent (a
  // digest of it: the key holds no secret), else anyone.
  std::string caller;
  if (identity_) {
    caller = "id:" + identity_->client_id;
  } else {
    for (std::string_view h : {"authorization", "x-api-key", "api-key", "x-goog-api-key"})
      if (auto v = lookup_(h)) caller.append(h).append("=").append(*v).append("\n");
    if (!caller.empty()) caller = "cred:" + response_cache_key({caller});
  }
  std::string rule = rule_ ? std::to_string(rule_->rule_index) : std::string();
  auto beta = lookup_("anthropic-beta").value_or("");
  cache_key_ =
      response_cache_key({"v1", endpoint_path_, route_->key, rule, caller, beta, *canonical});
}

bool Exchange::on_cache(std::optional<std::string> entry) {
  std::optional<CachedAnswer> a;
  if (entry) a = decode_cached(*entry);
  if (!a || a->stream != parsed_.stream || a->chunks.empty()) {
    rec_.cache = "miss";
    rl_headers_.emplace_back("x-aigw-cache", "miss");
    if (svc_.metrics) svc_.metrics->health().cache_misses.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  hit_ = std::move(a);
  rec_.cache = "hit";
  rec_.status = 200;
  rec_.response_model = hit_->model;
  rec_.first_byte = Clock::now();
  // Behind Envoy the backend was chosen before the lookup: no attempt is made after all.
  end_attempt();
  rec_.backend.clear();
  rec_.attempts = 0;
  if (svc_.metrics) svc_.metrics->health().cache_hits.fetch_add(1, std::memory_order_relaxed);
  return true;
}

HeaderList Exchange::cached_headers() const {
  HeaderList h{{"x-aigw-cache", "hit"}};
  if (hit_)
    h.emplace_back("age", std::to_string(std::max<int64_t>(0, unix_now() - hit_->stored_at)));
  return h;
}

LocalReply Exchange::cached_reply() const {
  LocalReply r{200, hit_->content_type, {}, cached_headers()};
  r.body.reserve(hit_->size());
  for (const auto &c : hit_->chunks)
    r.body += c;
  return r;
}

void Exchange::capture(std::string_view piece) {
  if (!capture_ || piece.empty()) return;
  capture_bytes_ += piece.size();
  if (capture_bytes_ > opts_.response_cache_max_entry) { // too large to keep
    capture_.reset();
    return;
  }
  if (capture_->stream || capture_->chunks.empty())
    capture_->chunks.emplace_back(piece);
  else
    capture_->chunks.back().append(piece);
}

void Exchange::store_capture() {
  if (!capture_ || capture_->chunks.empty() || stream_broke_ || rec_.continuations ||
      rec_.usage_estimated || !route_ || !route_->response_cache_ttl)
    return;
  capture_->usage = rec_.usage;
  capture_->model = rec_.response_model;
  capture_->stored_at = unix_now();
  cache_value_ = encode_cached(*capture_);
  capture_.reset();
  settlement_.cache = {&cache_key_, &cache_value_, route_->response_cache_ttl->count()};
  if (svc_.metrics) svc_.metrics->health().cache_stores.fetch_add(1, std::memory_order_relaxed);
}

// --- 3. Admission ----------------------------------------------------------------------------

Reply Exchange::check_virtual_key() {
  key_checked_ = true;
  vkey_ = snap_->virtual_key(rec_.client_id);
  if (!vkey_) return std::nullopt;
  rec_.virtual_key = vkey_->key;
  bool anthropic = is_anthropic_endpoint(endpoint_);
  if (vkey_->expired(unix_now())) {
    rec_.error = "VirtualKey " + vkey_->key + " expired";
    return answer(unauthorized(
        anthropic, "This API key expired at " + format_utc(*vkey_->expires_at) + ".", ""));
  }
  if (!parsed_.model.empty() && !vkey_->allows_model(parsed_.model)) {
    std::string model = parsed_.model.substr(0, 128);
    rec_.error = "VirtualKey " + vkey_->key + " may not use model " + model;
    return answer(
        model_not_allowed(anthropic, "This API key may not use model \"" + model + "\"."));
  }
  return std::nullopt;
}

BudgetCheck *Exchange::admission() {
  bool route_limits = opts_.route_budgets && route_ && !route_->rate_limits.empty();
  bool key_limits = vkey_ && !vkey_->budgets.empty();
  if (!route_limits && !key_limits) return nullptr;
  admission_.now = unix_now();
  if (route_limits)
    admission_.hits = ratelimit::match_rate_limits(route_->rate_limits, lookup_, admission_.now);
  if (key_limits) // the key's budgets, admitted with the route's in one step
    for (auto &h : vkey_->hits(admission_.now))
      admission_.hits.push_back(std::move(h));
  if (std::any_of(admission_.hits.begin(), admission_.hits.end(),
                  [](const auto &h) { return h.limit->rule.reserve_then_settle; })) {
    // Reserve-then-settle: what this request may cost, from its prompt and max_tokens.
    auto est = ratelimit::estimate_usage(body_.size(), parsed_.max_tokens);
    admission_.estimate =
        ratelimit::compute_costs(route_->costs, {est, parsed_.model, "", route_->key}, nullptr);
  }
  return &admission_;
}

void Exchange::fail_open(std::string_view what) {
  if (svc_.budget_store_failed_open)
    svc_.budget_store_failed_open->fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("rate limit store {} unavailable: admitting {} without a {} check",
               svc_.budget_store, rec_.request_id, what);
}

// The store's verdict on `check`, for budgets and quotas alike: a refusal is a 429; a store that
// could not answer is a 503 when failing closed, else the request goes on unchecked (warned and
// counted). Either way nothing is left to settle for these buckets.
Reply Exchange::verdict_on(BudgetCheck &check, const std::optional<ratelimit::Verdict> &verdict,
                           std::string_view what, std::string_view refusal) {
  if (!verdict) {
    check.hits.clear();
    if (opts_.ratelimit_fail_closed) {
      rec_.error = "rate limit store unavailable";
      return answer(error_reply(503, "the rate limit store is unavailable"));
    }
    fail_open(what);
    return std::nullopt;
  }
  if (verdict->allowed) return std::nullopt;
  check.hits.clear(); // refused: nothing was charged or reserved
  rec_.error = std::string(what) + " exceeded";
  if (svc_.metrics) svc_.metrics->health().rate_limited.fetch_add(1, std::memory_order_relaxed);
  return answer(rate_limited(*verdict, refusal));
}

Reply Exchange::on_admitted(std::optional<ratelimit::Verdict> verdict) {
  if (verdict) rl_headers_ = ratelimit_headers(*verdict);
  if (verdict && rec_.cache == "miss") rl_headers_.emplace_back("x-aigw-cache", "miss");
  if (verdict && !verdict->allowed && vkey_)
    if (const auto *b = vkey_->budget_of(verdict->refused_by))
      return key_budget_spent(*verdict, *b);
  return verdict_on(admission_, verdict, "rate limit", "Rate limit exceeded for this route");
}

Reply Exchange::key_budget_spent(const ratelimit::Verdict &v,
                                 const ratelimit::CompiledVirtualKey::Budget &b) {
  admission_.hits.clear(); // refused: nothing was charged
  using K = api::VirtualKeyBudget::Kind;
  std::string amount = b.spec.kind == K::kDollars  ? ratelimit::format_dollars(b.spec.limit)
                       : b.spec.kind == K::kTokens ? std::to_string(b.spec.limit) + " tokens"
                                                   : std::to_string(b.spec.limit) + " requests";
  std::string left = b.spec.kind == K::kDollars ? ratelimit::format_dollars(v.remaining)
                                                : std::to_string(v.remaining);
  int64_t resets = unix_now() + v.reset_seconds;
  std::string window = b.spec.window; // "day", "month"
  for (auto &c : window)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string msg = "Budget exceeded for this API key: " + amount + " per " + window + " (" +
                    vkey_->tz->name() + "), " + left + " remaining; it resets at " +
                    format_utc(resets) + ".";
  rec_.error = "VirtualKey " + vkey_->key + ": " + b.spec.field + " spent";
  if (svc_.metrics) svc_.metrics->health().rate_limited.fetch_add(1, std::memory_order_relaxed);
  HeaderList extra;
  if (b.spec.kind == K::kDollars) {
    extra.emplace_back("x-aigw-budget-limit-usd",
                       ratelimit::format_dollars(b.spec.limit).substr(1));
    extra.emplace_back("x-aigw-budget-remaining-usd",
                       ratelimit::format_dollars(v.remaining).substr(1));
  }
  extra.emplace_back("x-aigw-budget-reset", format_utc(resets));
  return answer(budget_exceeded(is_anthropic_endpoint(endpoint_), v, msg, std::move(extra)));
}

// --- 4. Attempts -----------------------------------------------------------------------------

Next Exchange::exhausted() {
  rec_.error = last_error_;
  return fail(typed_error_reply(last_status_ == 501   ? "NotImplemented"
                                : last_status_ == 504 ? "GatewayTimeout"
                                : last_status_ == 422 ? "invalid_request_error"
                                                      : "OpenAIBackendError",
                                last_status_, last_error_, rl_headers_));
}

Next Exchange::next_attempt() {
  end_attempt();
  while (picker_ && attempt_ < max_attempts_ && Clock::now() < deadline_) {
    const auto *ref = picker_->next(attempts_per_priority(*rule_));
    if (!ref) {
      if (picker_->overflowed()) {
        // Every backend is at its circuit breaker's limit: Envoy's overflow answer.
        last_status_ = 503;
        last_error_ = "upstream connect error or disconnect/reset before headers. reset reason: "
                      "overflow";
        if (svc_.metrics)
          svc_.metrics->health().circuit_open.fetch_add(1, std::memory_order_relaxed);
      }
      break;
    }
    ++attempt_;
    if (auto n = begin_attempt(*ref, {})) return *n;
  }
  if (attempt_ > 0 && Clock::now() >= deadline_ && last_status_ != 504) {
    last_status_ = 504;
    last_error_ = "upstream request timeout";
  }
  return exhausted();
}

// ConsistentHash: the header's or cookie's value this request carries.
std::optional<std::string> Exchange::hash_key() const {
  if (!rule_->load_balancer ||
      rule_->load_balancer->type != api::LoadBalancerPolicy::Type::kConsistentHash)
    return std::nullopt;
  const auto &lb = *rule_->load_balancer;
  switch (lb.hash) {
  case api::LoadBalancerPolicy::Hash::kHeader:
    if (auto v = lookup_(lb.hash_name)) return std::string(*v);
    return std::nullopt;
  case api::LoadBalancerPolicy::Hash::kSourceIP:
    if (auto v = lookup_("x-forwarded-for")) return std::string(v->substr(0, v->find(',')));
    if (!head_.client_address.empty()) return std::string(head_.client_address);
    return std::nullopt;
  case api::LoadBalancerPolicy::Hash::kCookie: {
    auto cookies = lookup_("cookie");
    if (!cookies) return std::nullopt;
    std::string_view c = *cookies;
    while (!c.empty()) {
      auto semi = c.find(';');
      auto pair = c.substr(0, semi);
      while (!pair.empty() && pair.front() == ' ')
        pair.remove_prefix(1);
      auto eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == lb.hash_name)
        return std::string(pair.substr(eq + 1));
      if (semi == std::string_view::npos) break;
      c.remove_prefix(semi + 1);
    }
    return std::nullopt;
  }
  }
  return std::nullopt;
}

Next Exchange::use_backend(std::string_view per_rule_name, std::string_view route_name,
                           std::string_view upstream_host, const MetadataLookup *metadata) {
  metadata_ = metadata;
  struct Clear {
    const MetadataLookup *&m;
    ~Clear() { m = nullptr; }
  } clear{metadata_};
  auto it = snap_->refs_by_name.find(per_rule_name);
  if (it == snap_->refs_by_name.end())
    return fail(
        error_reply(500, "backend \"" + std::string(per_rule_name) + "\" is not configured"));
  route_ = snap_->route_named(route_name);
  bool known = route_ != nullptr;
  if (!route_ && !snap_->routes.empty()) route_ = &snap_->routes.front(); // the global costs
  rec_.route = std::string(route_name);
  // Envoy checked the route's policy: its identity is read back (not another route's).
  if (known && !authed_) (void)authenticate(route_->client_auth.get());
  if (!key_checked_)
    if (auto r = check_virtual_key()) return fail(std::move(*r));
  if (attempt_ == 0) plan_cache();
  ++attempt_;
  if (auto n = begin_attempt(it->second, upstream_host)) return *n;
  return exhausted();
}

std::optional<Next> Exchange::begin_attempt(const control::CompiledBackendRef &ref,
                                            std::string_view upstream_host) {
  ref_ = &ref;
  const auto &backend = *ref.backend;
  rec_.attempts = static_cast<int>(attempt_);
  rec_.backend = backend.key;
  rec_.model_override = ref.model_name_override;
  auto schema = backend.schema_kind;
  if (continuing_ && !takes_prefill(schema)) {
    last_status_ = 502;
    last_error_ = "backend " + std::string(observability::ai_service_backend(backend.key)) +
                  " (schema " + backend.schema + ") cannot continue an answer from a prefill";
    return std::nullopt;
  }
  if (!backend.supported || !translate::schema_serves(schema, endpoint_)) {
    // As upstream v1.2: an endpoint the backend's schema does not serve is a 422.
    last_status_ = backend.supported ? 422 : 501;
    last_error_ = "backend " + std::string(observability::ai_service_backend(backend.key)) +
                  " (schema " + backend.schema + ") does not serve " + std::string(endpoint_path_);
    return std::nullopt;
  }
  if (attempt_ > 1 && svc_.metrics) {
    svc_.metrics->health().retries.fetch_add(1, std::memory_order_relaxed);
    if (prev_backend_ != backend.key)
      svc_.metrics->health().fallbacks.fetch_add(1, std::memory_order_relaxed);
  }
  prev_backend_ = backend.key;
  end_attempt();
  in_flight_ = backend.state.get();
  if (in_flight_) in_flight_->in_flight.fetch_add(1, std::memory_order_relaxed);
  attempt_start_ = Clock::now();
  rec_.provider = translate::provider_name(schema);
  // SigV4 signs the endpoint Envoy will reach when its metadata names it (as upstream), with the
  // region corrected from that host.
  signer_ = &backend;
  if (!upstream_host.empty() && backend.auth_type == "AWSCredentials") {
    adjusted_ = std::make_unique<control::CompiledBackend>(backend);
    adjusted_->host_header = std::string(upstream_host);
    auto colon = upstream_host.rfind(':');
    adjusted_->aws_signing_region = auth::bedrock_region_from_host(
        colon == std::string_view::npos ? upstream_host : upstream_host.substr(0, colon),
        backend.aws_region);
    signer_ = adjusted_.get();
  }
  return encode();
}

Next Exchange::encode() {
  const auto &ref = *ref_;
  const auto &backend = *ref.backend;
  translator_ = translate::make_translator(backend.schema_kind, endpoint_);
  call_ = UpstreamCall{};
  call_.method = head_.method;
  call_.model = ref.model_name_override.empty() ? std::string_view(parsed_.model)
                                                : std::string_view(ref.model_name_override);
  rec_.request_model = std::string(call_.model);
  translate::TranslateInput tin;
  tin.endpoint = endpoint_;
  tin.body = body_;
  tin.parsed = &parsed_;
  tin.model = call_.model;
  tin.model_override = ref.model_name_override;
  tin.query = query_;
  tin.path_prefix = backend.path_prefix;
  tin.version = backend.schema_version;
  // As upstream: usage is always asked of a stream when any cost is configured.
  tin.inject_include_usage =
      endpoint_ == Endpoint::kChatCompletions && parsed_.stream && !parsed_.include_usage &&
      (snap_->any_costs || opts_.always_count_usage || (vkey_ && !vkey_->budgets.empty()));
  tin.request_id = rec_.request_id;
  std::optional<std::string> beta;
  if (endpoint_ == Endpoint::kMessages && backend.schema_kind == api::Schema::kAWSAnthropic)
    if ((beta = filtered_header("anthropic-beta"))) tin.anthropic_beta = *beta;
  injected_usage_ = tin.inject_include_usage;
  // Re-translated from the pristine request on every attempt.
  auto up = translator_->request(tin);
  if (!up) {
    int code = up.error().code ? up.error().code : 422;
    rec_.error = up.error().message;
    return fail(error_reply(code, up.error().message, rl_headers_));
  }
  translated_body_ = std::move(up->body);
  call_.body = translated_body_ ? std::string_view(*translated_body_) : std::string_view(body_);
  mutated_body_.reset(); // HTTPBodyMutation, after translation and before signing
  if (!ref.body_mutation.set.empty() || !ref.body_mutation.remove.empty()) {
    mutated_body_ =
        apply_body_mutation(call_.body, ref.body_mutation.set, ref.body_mutation.remove);
    call_.body = *mutated_body_;
  }
  call_.path = std::move(up->path);
  if (!call_.path.starts_with("/")) {
    // GCP: the auth step owns the project and location part of the path.
    call_.path = backend.gcp_project.empty()
                     ? "/" + call_.path
                     : "/v1/projects/" + backend.gcp_project + "/locations/" + backend.gcp_region +
                           "/" + call_.path;
  }
  call_.headers = std::move(up->headers);
  if (identity_) { // what the SecurityPolicy forwards, and the credential it takes out
    for (const auto &h : identity_->set_headers)
      call_.headers.push_back(h);
    for (const auto &h : identity_->remove_headers)
      call_.remove_headers.push_back(h);
  }
  filter_header_values();
  if (!rec_.trace.span_id.empty()) // the provider continues this request's trace
    call_.headers.emplace_back("traceparent", observability::format_traceparent(rec_.trace));
  // Authentication, last, over the final path and body.
  if (auto n = override_credential()) return *n;
  auto outcome = auth::apply_static_auth(*signer_, call_.method, call_.path, call_.body, unix_now(),
                                         call_.authorization, call_.headers);
  if (!outcome) {
    rec_.error = outcome.error().message;
    return fail(error_reply(500, outcome.error().message, rl_headers_));
  }
  if (*outcome == auth::AuthOutcome::kNeedsToken) return Next::kFetchToken;
  return quota_step();
}

namespace {
// A comma-separated header value through one headerValueFilter: the values kept, joined by
// commas; nullopt when none was taken out.
std::optional<std::string> filtered_values(std::string_view sent,
                                           const api::AIServiceBackend::HeaderValueFilter &f) {
  std::string kept;
  bool changed = false;
  std::string_view rest = sent;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view v = trim_ows(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (v.empty()) continue;
    bool listed = std::find(f.values.begin(), f.values.end(), v) != f.values.end();
    if (listed != f.allowlist) {
      changed = true;
      continue;
    }
    if (!kept.empty()) kept += ',';
    kept.append(v);
  }
  if (!changed) return std::nullopt;
  return kept;
}
} // namespace

std::optional<std::string> Exchange::filtered_header(std::string_view name) const {
  auto sent = lookup_(name);
  if (!sent) return std::nullopt;
  for (const auto &f : signer_->header_value_filters)
    if (f.name == name)
      if (auto kept = filtered_values(*sent, f)) return kept;
  return std::string(*sent);
}

void Exchange::filter_header_values() {
  for (const auto &f : signer_->header_value_filters) {
    auto sent = lookup_(f.name);
    if (!sent) continue;
    auto kept = filtered_values(*sent, f);
    if (!kept) continue;
    if (kept->empty())
      call_.remove_headers.push_back(f.name);
    else
      call_.headers.emplace_back(f.name, std::move(*kept));
  }
}

std::optional<Next> Exchange::override_credential() {
  const auto &co = signer_->credential_override;
  if (!co) return std::nullopt;
  auto read = [&](std::string_view header, std::string_view field) -> std::string {
    std::optional<std::string> v;
    if (!co->header.empty()) {
      if (auto h = lookup_(header)) v = std::string(*h);
    } else if (metadata_ && *metadata_) {
      v = (*metadata_)(co->metadata_namespace, co->metadata_key, field);
    }
    return std::string(v ? trim_ows(*v) : std::string_view());
  };
  auto missing = [&]() -> std::optional<Next> {
    if (co->fallback) return std::nullopt; // the configured credential
    rec_.error = "per-request credential missing";
    return fail(typed_error_reply("Unauthorized", 401, "missing upstream credential", rl_headers_));
  };
  const auto &type = signer_->auth_type;
  if (type == "AWSCredentials") {
    auth::AwsCredentials c;
    c.access_key_id = read(co->header + "access-key-id", "accessKeyId");
    c.secret_access_key = read(co->header + "secret-access-key", "secretAccessKey");
    c.session_token = read(co->header + "session-token", "sessionToken");
    if (c.access_key_id.empty() && c.secret_access_key.empty() && c.session_token.empty())
      return missing();
    if (c.access_key_id.empty() || c.secret_access_key.empty()) {
      rec_.error = "incomplete per-request AWS credential";
      return fail(error_reply(400,
                              "incomplete per-request AWS credential: access key ID and secret "
                              "access key must both be present",
                              rl_headers_));
    }
    auto outcome = auth::apply_static_auth(*signer_, call_.method, call_.path, call_.body,
                                           unix_now(), call_.authorization, call_.headers, &c);
    if (!outcome) return fail(error_reply(500, outcome.error().message, rl_headers_));
    return quota_step();
  }
  std::string v = read(co->header, "");
  if (v.empty()) return missing();
  if (type == "AnthropicAPIKey")
    call_.headers.emplace_back("x-api-key", std::move(v));
  else if (type == "AzureAPIKey")
    call_.headers.emplace_back("api-key", std::move(v));
  else
    call_.authorization = "Bearer " + v; // APIKey, and the OAuth token of Azure and GCP
  return quota_step();
}

Next Exchange::on_token(Result<std::string> token) {
  if (!token) {
    last_status_ = token.error().code ? token.error().code : 503;
    last_error_ = token.error().message;
    if (token.error().retryable) return next_attempt();
    rec_.error = last_error_;
    return fail(error_reply(last_status_, last_error_, rl_headers_));
  }
  call_.authorization = "Bearer " + *token;
  return quota_step();
}

Next Exchange::quota_step() {
  // QuotaPolicy: this backend's quota for the model it is asked for (Shared mode).
  quota_spec_ = ref_->backend->quota_for(call_.model);
  quota_ = BudgetCheck{};
  if (!quota_spec_) return ready();
  quota_.now = unix_now();
  quota_.hits = ratelimit::match_rate_limits(quota_spec_->buckets, lookup_, quota_.now);
  quota_.any_allows = true;
  return Next::kCheckQuota;
}

Next Exchange::on_quota(std::optional<ratelimit::Verdict> verdict) {
  if (auto r = verdict_on(quota_, verdict, "quota",
                          "Quota exceeded for model " + std::string(call_.model) + " on " +
                              ref_->backend->key))
    return fail(std::move(*r));
  return ready();
}

Next Exchange::ready() {
  call_.mutation = &ref_->header_mutation;
  if (auto bad = bad_call_value(call_, rec_.request_id)) return fail(refuse_call(*bad));
  return Next::kSend;
}

Next Exchange::fail(LocalReply reply) {
  rec_.status = reply.status;
  reply_ = std::move(reply);
  return Next::kReply;
}

LocalReply Exchange::take_reply() {
  if (!reply_) exhausted(); // nothing answered yet: the last failure is the answer
  LocalReply r = std::move(*reply_);
  reply_.reset();
  return r;
}

LocalReply Exchange::refuse_call(const Error &e) {
  rec_.error = e.message;
  rec_.status = e.code ? e.code : 400;
  return error_reply(rec_.status, e.message, rl_headers_);
}

bool Exchange::on_attempt_failed(AttemptFailure failure, std::string_view detail) {
  if (failure != AttemptFailure::kTimeout && failure != AttemptFailure::kIdle && svc_.metrics)
    svc_.metrics->health().upstream_connect_failures.fetch_add(1, std::memory_order_relaxed);
  static constexpr std::string_view kReset =
      "upstream connect error or disconnect/reset before headers. reset reason: ";
  switch (failure) {
  case AttemptFailure::kConnect: last_error_ = std::string(kReset) + std::string(detail); break;
  case AttemptFailure::kReset: last_error_ = std::string(kReset) + "connection termination"; break;
  case AttemptFailure::kTimeout: last_error_ = "upstream request timeout"; break;
  case AttemptFailure::kIdle: last_error_ = "upstream stream idle timeout"; break;
  }
  last_status_ =
      failure == AttemptFailure::kTimeout || failure == AttemptFailure::kIdle ? 504 : 503;
  spdlog::debug("attempt {} to {} failed: {}", attempt_, ref_ ? ref_->backend->key : "",
                last_error_);
  // A timeout is the request's (or its client's) deadline, not the backend's failing: only
  // connect failures, resets and idle streams count against it.
  if (failure != AttemptFailure::kTimeout) report_outcome(0, true);
  end_attempt();
  bool again = rule_ && RetryDecision{rule_->retry}.on_failure(failure) && Clock::now() < deadline_;
  if (!again) exhausted();
  return again;
}

// --- Hedging --------------------------------------------------------------------------------

struct Exchange::AttemptSlot {
  const control::CompiledBackendRef *ref = nullptr;
  const control::CompiledBackend *signer = nullptr;
  std::unique_ptr<control::CompiledBackend> adjusted;
  std::unique_ptr<translate::Translator> translator;
  std::optional<std::string> translated_body, mutated_body;
  UpstreamCall call;
  control::BackendState *in_flight = nullptr;
  Clock::time_point attempt_start;
  std::string backend, model_override, request_model;
  std::string_view provider;
  const control::CompiledModelQuota *quota_spec = nullptr;
  BudgetCheck quota;
};

Exchange::~Exchange() {
  end_attempt();
  if (parked_ && parked_->in_flight)
    parked_->in_flight->in_flight.fetch_sub(1, std::memory_order_relaxed);
}

std::optional<std::chrono::milliseconds> Exchange::hedge_delay() const {
  if (!rule_ || !rule_->hedge_after || parsed_.stream || parked_ || quota_spec_)
    return std::nullopt;
  if (attempt_ >= max_attempts_ || Clock::now() >= deadline_) return std::nullopt;
  return rule_->hedge_after;
}

void Exchange::swap_parked() {
  auto &p = *parked_;
  std::swap(ref_, p.ref);
  std::swap(signer_, p.signer);
  std::swap(adjusted_, p.adjusted);
  std::swap(translator_, p.translator);
  std::swap(translated_body_, p.translated_body);
  std::swap(mutated_body_, p.mutated_body);
  std::swap(call_, p.call);
  std::swap(in_flight_, p.in_flight);
  std::swap(attempt_start_, p.attempt_start);
  std::swap(rec_.backend, p.backend);
  std::swap(rec_.model_override, p.model_override);
  std::swap(rec_.request_model, p.request_model);
  std::swap(rec_.provider, p.provider);
  std::swap(quota_spec_, p.quota_spec);
  std::swap(quota_, p.quota);
  // The call's body views the body it was encoded to (a moved string keeps its buffer, but the
  // view is set again so that it never depends on that).
  call_.body = mutated_body_      ? std::string_view(*mutated_body_)
               : translated_body_ ? std::string_view(*translated_body_)
                                  : std::string_view(body_);
}

void Exchange::park_attempt() {
  parked_ = std::make_unique<AttemptSlot>();
  swap_parked(); // the slot holds the attempt; the exchange's own fields are empty
  in_flight_ = nullptr;
}

void Exchange::hedge_sent() {
  ++rec_.hedges;
  if (svc_.metrics) svc_.metrics->health().hedges.fetch_add(1, std::memory_order_relaxed);
}

void Exchange::take_parked() {
  if (!parked_) return;
  end_attempt(); // the hedge is dropped (or could not be sent)
  swap_parked();
  parked_.reset();
  rec_.hedge_won = false;
  // What encoding the hedge may have concluded (no backend left) is not this request's answer.
  reply_.reset();
  rec_.error.clear();
}

void Exchange::drop_parked(bool hedge_won) {
  if (!parked_) return;
  if (parked_->in_flight) parked_->in_flight->in_flight.fetch_sub(1, std::memory_order_relaxed);
  parked_.reset();
  rec_.hedge_won = hedge_won;
  if (hedge_won && svc_.metrics)
    svc_.metrics->health().hedges_won.fetch_add(1, std::memory_order_relaxed);
}

void Exchange::end_attempt() {
  if (!in_flight_) return;
  in_flight_->in_flight.fetch_sub(1, std::memory_order_relaxed);
  in_flight_ = nullptr;
}

void Exchange::report_outcome(int status, bool local_failure) {
  if (!ref_ || !rule_ || !rule_->passive_health_check) return;
  auto *st = ref_->backend->state.get();
  if (!st) return;
  const auto &p = *rule_->passive_health_check;
  bool eject = false;
  if (local_failure && p.split_external_local_origin_errors) {
    uint32_t n = st->consecutive_local.fetch_add(1, std::memory_order_relaxed) + 1;
    eject = p.consecutive_local_origin_failures && n >= p.consecutive_local_origin_failures;
  } else {
    // Without the split, a failure before a response counts as Envoy counts it: a 503.
    if (local_failure) status = 503;
    if (!local_failure) st->consecutive_local.store(0, std::memory_order_relaxed);
    if (status >= 500) {
      uint32_t n = st->consecutive_5xx.fetch_add(1, std::memory_order_relaxed) + 1;
      eject = p.consecutive_5xx_errors && n >= p.consecutive_5xx_errors;
    } else {
      st->consecutive_5xx.store(0, std::memory_order_relaxed);
    }
    if (status == 502 || status == 503 || status == 504) {
      uint32_t n = st->consecutive_gateway.fetch_add(1, std::memory_order_relaxed) + 1;
      eject = eject || (p.consecutive_gateway_errors && n >= p.consecutive_gateway_errors);
    } else {
      st->consecutive_gateway.store(0, std::memory_order_relaxed);
    }
  }
  int64_t now = control::steady_ms();
  if (!eject) {
    // Healthy again past its last ejection: the next ejection starts from the base time.
    if (status > 0 && status < 500 && st->ejections.load(std::memory_order_relaxed) > 0 &&
        st->ejected_until_ms.load(std::memory_order_relaxed) < now)
      st->ejections.store(0, std::memory_order_relaxed);
    return;
  }
  // maxEjectionPercent of the rule's backends may be out at once (at least one, as Envoy).
  size_t out = 0;
  for (const auto &r : rule_->refs)
    if (r.backend->state && r.backend->state->ejected_until_ms.load() > now) ++out;
  size_t allowed = std::max<size_t>(1, rule_->refs.size() * p.max_ejection_percent / 100);
  if (out >= allowed) return;
  uint32_t times = st->ejections.fetch_add(1, std::memory_order_relaxed) + 1;
  auto ms = std::min<int64_t>(p.base_ejection_time.count() * times, 300000);
  st->ejected_until_ms.store(now + ms, std::memory_order_relaxed);
  st->consecutive_5xx.store(0, std::memory_order_relaxed);
  st->consecutive_gateway.store(0, std::memory_order_relaxed);
  st->consecutive_local.store(0, std::memory_order_relaxed);
  spdlog::warn("backend {} ejected for {} ms (passive health check: {} failures in a row)",
               ref_->backend->key, ms, local_failure ? "local-origin" : "5xx/gateway");
  if (svc_.metrics) svc_.metrics->health().ejections.fetch_add(1, std::memory_order_relaxed);
}

namespace {
// Seconds until an RFC 3339 time (Anthropic's *-reset), from now; nullopt when unreadable.
std::optional<int64_t> seconds_until(std::string_view t) {
  auto at = parse_rfc3339(t);
  if (!at) return std::nullopt;
  return *at - unix_now();
}

std::optional<double> number(const HeaderLookup &headers, std::string_view name) {
  auto v = headers(name);
  if (!v || v->empty()) return std::nullopt;
  double x = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
  if (ec != std::errc()) return std::nullopt;
  return x;
}
} // namespace

void Exchange::read_rate_limits(int status, const HeaderLookup &headers) {
  auto *st = ref_ ? ref_->backend->state.get() : nullptr;
  if (!st) return;
  int64_t now = control::steady_ms();
  // Remaining quota, the lowest fraction among what the provider reports.
  struct Pair {
    std::string_view remaining, limit, reset;
    bool rfc3339;
  };
  static constexpr Pair kPairs[] = {
      {"x-ratelimit-remaining-tokens", "x-ratelimit-limit-tokens", "x-ratelimit-reset-tokens",
       false},
      {"x-ratelimit-remaining-requests", "x-ratelimit-limit-requests", "x-ratelimit-reset-requests",
       false},
      {"anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-limit",
       "anthropic-ratelimit-tokens-reset", true},
      {"anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-limit",
       "anthropic-ratelimit-requests-reset", true},
      {"anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-input-tokens-limit",
       "anthropic-ratelimit-input-tokens-reset", true},
      {"anthropic-ratelimit-output-tokens-remaining", "anthropic-ratelimit-output-tokens-limit",
       "anthropic-ratelimit-output-tokens-reset", true},
  };
  std::optional<int32_t> permille;
  int64_t valid_ms = 60000; // without a reset time, what was said holds for a minute
  for (const auto &p : kPairs) {
    auto rem = number(headers, p.remaining), lim = number(headers, p.limit);
    if (!rem || !lim || *lim <= 0) continue;
    auto pm = static_cast<int32_t>(std::clamp(*rem * 1000 / *lim, 0.0, 1000.0));
    if (permille && *permille <= pm) continue;
    permille = pm;
    if (auto r = headers(p.reset)) {
      if (p.rfc3339) {
        if (auto secs = seconds_until(*r)) valid_ms = std::clamp<int64_t>(*secs * 1000, 0, 3600000);
      } else if (auto d = api::parse_duration(*r)) {
        valid_ms = std::clamp<int64_t>(d->count(), 0, 3600000);
      }
    }
  }
  if (permille) {
    st->remaining_permille.store(*permille, std::memory_order_relaxed);
    st->remaining_until_ms.store(now + valid_ms, std::memory_order_relaxed);
  }
  // A 429 (or a 503 that says when to come back): the backend rests for its retry-after.
  if (status == 429 || (status == 503 && headers("retry-after"))) {
    int64_t ms = status == 429 ? 1000 : 0;
    if (auto v = number(headers, "retry-after-ms"))
      ms = static_cast<int64_t>(*v);
    else if (auto v = number(headers, "retry-after"))
      ms = static_cast<int64_t>(*v * 1000);
    ms = std::clamp<int64_t>(ms, 0, 300000);
    if (ms > 0) {
      st->cooldown_until_ms.store(now + ms, std::memory_order_relaxed);
      if (svc_.metrics) svc_.metrics->health().cooldowns.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

Clock::time_point Exchange::attempt_deadline() const {
  if (rule_ && rule_->retry && rule_->retry->per_retry_timeout)
    return std::min(deadline_, Clock::now() + *rule_->retry->per_retry_timeout);
  return deadline_;
}

// --- 5. The response -------------------------------------------------------------------------

ResponsePlan Exchange::on_response_headers(int status, std::string_view content_type,
                                           std::string_view amzn_error_type, bool may_retry,
                                           std::string_view content_encoding,
                                           std::string_view provider_request_id,
                                           const HeaderLookup *headers) {
  ResponsePlan plan;
  capture_.reset();
  capture_bytes_ = 0;
  bool last = attempt_ >= max_attempts_;
  // Behind Envoy (may_retry false) Envoy balances and ejects: nothing is learned here. A streamed
  // 200 is the backend's success only once the stream ends well (complete() reports it).
  bool learn = learn_ = may_retry;
  if (learn && !(status == 200 && parsed_.stream)) report_outcome(status, false);
  // Quota and latency steer the choice among a rule's refs: a rule with one learns nothing from
  // them (and its requests skip the header lookups).
  bool steers = learn && rule_ && rule_->refs.size() > 1;
  if (steers && headers) read_rate_limits(status, *headers);
  if (auto *st = steers && ref_ ? ref_->backend->state.get() : nullptr) {
    // Peak EWMA of the time to the response head: a slower sample is taken at once, a faster
    // one blends in with a 10 s time constant.
    auto now = Clock::now();
    int64_t sample =
        std::chrono::duration_cast<std::chrono::microseconds>(now - attempt_start_).count();
    int64_t now_ms = control::steady_ms();
    int64_t prev = st->ewma_us.load(std::memory_order_relaxed);
    double dt = static_cast<double>(now_ms - st->ewma_at_ms.load(std::memory_order_relaxed));
    double w = std::exp(-std::max(dt, 0.0) / 10000.0);
    int64_t next = sample > prev ? sample
                                 : static_cast<int64_t>(static_cast<double>(prev) * w +
                                                        static_cast<double>(sample) * (1 - w));
    st->ewma_us.store(next, std::memory_order_relaxed);
    st->ewma_at_ms.store(now_ms, std::memory_order_relaxed);
  }
  if (status == 429 && may_retry && rule_ && !last && Clock::now() < deadline_ &&
      RetryDecision{rule_->retry}.on_status(429)) {
    last_status_ = status;
    last_error_ = "upstream status 429";
    end_attempt();
    plan.retry = true;
    return plan;
  }
  if (may_retry && status >= 500 && rule_ &&
      RetryDecision{rule_->retry}.on_status(static_cast<unsigned>(status)) && !last &&
      Clock::now() < deadline_) {
    spdlog::debug("attempt {} to {} answered {}; retrying", attempt_, ref_->backend->key, status);
    last_status_ = status;
    last_error_ = "upstream status " + std::to_string(status);
    end_attempt();
    plan.retry = true;
    return plan;
  }
  status_ = status;
  rec_.status = status;
  content_type_ = std::string(content_type);
  amzn_error_type_ = std::string(amzn_error_type);
  gathered_.clear();
  overflow_ = false;
  translator_->set_provider_request_id(provider_request_id);
  bool rewrites = translator_->rewrites_response();
  plan.drop_content_type = status >= 300 || rewrites;
  plan.drop_content_encoding = rewrites;
  plan.streaming = parsed_.stream && status == 200;
  if (status >= 300) {
    plan.mode = BodyMode::kGather;
  } else if (rewrites) {
    plan.mode = plan.streaming ? BodyMode::kTranslate : BodyMode::kGather;
    plan.content_type = translator_->response_content_type(plan.streaming);
    plan.sse = plan.streaming;
  } else {
    plan.mode = BodyMode::kRelay;
    plan.sse = content_type.find("text/event-stream") != std::string_view::npos;
  }
  mode_ = plan.mode;
  sse_ = plan.mode == BodyMode::kRelay && plan.sse;
  scanner_.set_anthropic(is_anthropic_endpoint(endpoint_));
  // Audio and images carry no usage: not worth keeping to scan.
  scan_body_ = !(content_type.starts_with("audio/") || content_type.starts_with("image/") ||
                 content_type.starts_with("application/octet-stream"));
  usage_filter_.reset();
  relay_through_ = false;
  // A streamed answer that can still be replaced: held until content begins (aigw run only:
  // behind Envoy the response head is Envoy's once the provider sent it).
  guard_.reset();
  bool continuable = rule_ && rule_->stream_continuation &&
                     (endpoint_ == Endpoint::kChatCompletions || endpoint_ == Endpoint::kMessages);
  if (continuing_ && status == 200 && plan.streaming && plan.sse) {
    // The client has the head and part of the answer: this attempt's events go on in its body,
    // from its first content (a continuation of a continuation keeps gathering the text).
    plan.continuing = true;
    if (plan.mode == BodyMode::kRelay) {
      plan.mode = mode_ = BodyMode::kTranslate;
      relay_through_ = true;
    }
    continuation_.emplace();
    guard_.emplace();
    guard_->collect_text();
  } else if (may_retry && plan.streaming && plan.sse && content_encoding.empty() && !last &&
             Clock::now() < deadline_) {
    plan.hold = true;
    guard_.emplace();
    if (continuable) guard_->collect_text(); // what the client read, should it need a prefill
  }
  if (sse_ && plan.streaming && injected_usage_ && content_encoding.empty()) {
    // The client did not ask for the usage chunk the gateway asked for: filtered out. The
    // body is rewritten (no content-length), its content type kept.
    plan.mode = mode_ = BodyMode::kTranslate;
    usage_filter_.emplace();
  }
  // The response cache keeps what reaches the client of a 200 (not a continuation's, nor a
  // body still encoded).
  if (!cache_key_.empty() && status == 200 && !plan.continuing && content_encoding.empty()) {
    capture_.emplace();
    capture_->stream = parsed_.stream;
    capture_->content_type =
        plan.content_type.empty() ? std::string(content_type) : std::string(plan.content_type);
  }
  return plan;
}

void Exchange::observe(std::string_view piece) {
  if (piece.empty()) return;
  if (guard_) guard_->feed(piece);
  capture(piece);
  if (!rec_.first_byte) rec_.first_byte = Clock::now();
  // Past max_usage_body only the end of the body is kept: OpenAI-shaped answers put `usage`
  // last, so it is still found there.
  if (sse_) {
    scanner_.feed(piece);
  } else if (!scan_body_) {
    return;
  } else if (overflow_) {
    tail_.feed(piece);
  } else if (gathered_.size() + piece.size() > opts_.max_usage_body) {
    overflow_ = true;
    tail_.feed(gathered_);
    tail_.feed(piece);
    std::string().swap(gathered_);
  } else {
    gathered_.append(piece);
  }
}

void Exchange::translate(std::string_view piece, bool end, std::string &out) {
  size_t before = out.size();
  if (relay_through_) { // a passthrough stream continued: bytes as they come, usage scanned
    scanner_.feed(piece);
    out.append(piece);
  } else if (usage_filter_) {
    scanner_.feed(piece);
    usage_filter_->feed(piece, end, out);
  } else {
    if (!piece.empty()) translator_->stream_chunk(piece, out);
    if (end) translator_->stream_end(out);
  }
  if (continuation_) { // a continued stream: its preamble dropped
    std::string fresh = out.substr(before);
    out.resize(before);
    continuation_->feed(fresh, end, out);
  }
  if (guard_ && out.size() > before) guard_->feed(std::string_view(out).substr(before));
  if (out.size() > before) capture(std::string_view(out).substr(before));
  if (out.size() > before && !rec_.first_byte) rec_.first_byte = Clock::now();
}

StreamGuard::State Exchange::hold_state(bool body_done) {
  if (!guard_) return StreamGuard::State::kCommitted;
  if (body_done) guard_->on_end();
  auto st = guard_->state();
  // An end without content is a failure only when the provider reported no usage either: one
  // that counted tokens considered its (empty) answer complete.
  if (st == StreamGuard::State::kFailed && !guard_->saw_error_event() &&
      (sse_ || usage_filter_ || relay_through_ ? scanner_.usage() : translator_->usage()).any())
    st = StreamGuard::State::kCommitted;
  // Committed: nothing more to watch, unless the text is gathered for a continuation.
  if (st == StreamGuard::State::kCommitted && !(rule_ && rule_->stream_continuation))
    guard_.reset();
  return st;
}

namespace {
std::string_view failure_reason(StreamFailure why) {
  switch (why) {
  case StreamFailure::kReset: return "reset";
  case StreamFailure::kIdle: return "idle";
  case StreamFailure::kTimeout: return "timeout";
  case StreamFailure::kErrorEvent: return "error_event";
  case StreamFailure::kEmpty: return "empty";
  }
  return "reset";
}

void add_usage(api::TokenUsage &into, const api::TokenUsage &from) {
  auto add = [](std::optional<uint64_t> &a, const std::optional<uint64_t> &b) {
    if (b) a = a.value_or(0) + *b;
  };
  add(into.input, from.input);
  add(into.output, from.output);
  add(into.total, from.total);
  add(into.cached_input, from.cached_input);
  add(into.cache_creation_input, from.cache_creation_input);
  add(into.reasoning, from.reasoning);
}
} // namespace

bool Exchange::retry_stream(StreamFailure why, std::string_view detail) {
  last_error_ = "stream failed before content (" + std::string(failure_reason(why)) + ")" +
                (detail.empty() ? "" : ": " + std::string(detail));
  last_status_ = why == StreamFailure::kIdle || why == StreamFailure::kTimeout ? 504 : 502;
  bool again = attempt_ < max_attempts_ && Clock::now() < deadline_;
  if (!again) return false; // stream_error() ends it (and counts it)
  if (why != StreamFailure::kTimeout)
    report_outcome(why == StreamFailure::kIdle ? 504 : 502, false);
  end_attempt();
  if (svc_.metrics) svc_.metrics->record_stream_failure(failure_reason(why), 0);
  spdlog::debug("attempt {} to {}: {}; failing over", attempt_, ref_->backend->key, last_error_);
  // What the dropped attempt reported is still charged: that backend served it.
  add_usage(failed_usage_, sse_ || usage_filter_ ? scanner_.usage() : translator_->usage());
  ++rec_.failovers;
  rec_.error.clear(); // the next attempt's outcome is the request's
  scanner_ = SseUsageScanner();
  guard_.reset();
  capture_.reset();
  status_ = 0;
  rec_.first_byte.reset();
  return true;
}

bool Exchange::continue_stream(StreamFailure why) {
  if (!rule_ || !rule_->stream_continuation || !guard_ || guard_->non_text()) return false;
  if (endpoint_ != Endpoint::kChatCompletions && endpoint_ != Endpoint::kMessages) return false;
  if (attempt_ >= max_attempts_ || Clock::now() >= deadline_) return false;
  if (std::none_of(rule_->refs.begin(), rule_->refs.end(),
                   [](const auto &r) { return takes_prefill(r.backend->schema_kind); }))
    return false; // no backend of the rule could carry it on
  if (!continuing_) original_body_ = body_;
  std::string partial = partial_text_ + guard_->text();
  if (partial.empty()) return false;
  // The request again, the answer so far as the last (assistant) message: a prefill.
  auto spans = json::scan_object(original_body_);
  const json::Member *messages = spans ? spans->find("messages") : nullptr;
  if (!messages || messages->value_end <= messages->value_begin + 1 ||
      original_body_[messages->value_end - 1] != ']')
    return false;
  bool empty = original_body_.find_first_not_of(" \t\r\n", messages->value_begin + 1) ==
               messages->value_end - 1;
  std::string prefill =
      empty ? "{\"role\":\"assistant\",\"content\":" : ",{\"role\":\"assistant\",\"content\":";
  json::append_quoted(prefill, partial);
  prefill += '}';
  body_ = json::splice(original_body_, messages->value_end - 1, messages->value_end - 1, prefill);
  partial_text_ = std::move(partial);
  // What the broken attempt served is charged: its usage if it said, else an estimate of the
  // prompt and of the text it streamed.
  api::TokenUsage served =
      sse_ || usage_filter_ || relay_through_ ? scanner_.usage() : translator_->usage();
  if (!served.any()) {
    served = ratelimit::estimate_usage(original_body_.size(), 0, 0);
    served.output = guard_->text().size() / 4 + 1;
    served.total = served.input.value_or(0) + *served.output;
    rec_.usage_estimated = true;
  }
  add_usage(failed_usage_, served);
  if (why != StreamFailure::kTimeout)
    report_outcome(why == StreamFailure::kIdle ? 504 : 502, false);
  end_attempt();
  if (svc_.metrics) svc_.metrics->record_stream_failure(failure_reason(why), 2);
  ++rec_.continuations;
  rec_.error.clear(); // the continuation's outcome is the request's
  continuing_ = true;
  guard_.reset();
  continuation_.reset();
  scanner_ = SseUsageScanner();
  status_ = 0;
  return true;
}

void Exchange::stream_error(StreamFailure why, std::string_view detail, std::string &out,
                            bool report) {
  stream_broke_ = true;
  guard_.reset();
  capture_.reset();
  if (report && why != StreamFailure::kTimeout)
    report_outcome(why == StreamFailure::kIdle ? 504 : 502, false);
  if (svc_.metrics) svc_.metrics->record_stream_failure(failure_reason(why), 1);
  std::string message = why == StreamFailure::kIdle      ? "the provider's stream went idle"
                        : why == StreamFailure::kTimeout ? "the request timed out"
                        : why == StreamFailure::kEmpty
                            ? "the provider's stream ended without content"
                            : "the provider's stream broke";
  if (!detail.empty()) message += ": " + std::string(detail);
  if (rec_.error.empty()) rec_.error = "stream cut: " + message;
  std::string quoted;
  json::append_quoted(quoted, message);
  if (is_anthropic_endpoint(endpoint_)) {
    out += "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":";
    out += quoted + "}}\n\n";
  } else if (endpoint_ == Endpoint::kResponses) {
    out += "event: error\ndata: {\"type\":\"error\",\"code\":\"upstream_error\",\"message\":";
    out += quoted + ",\"param\":null}\n\n";
  } else {
    out += "data: {\"error\":{\"message\":" + quoted;
    out += ",\"type\":\"upstream_error\",\"param\":null,\"code\":\"stream_error\"}}\n\n";
  }
}

bool Exchange::gather(std::string_view piece) {
  size_t bound = status_ >= 300 ? opts_.max_error_body : opts_.max_usage_body;
  gathered_.append(piece);
  if (gathered_.size() > bound) overflow_ = true;
  return !overflow_;
}

Exchange::Gathered Exchange::finish_gathered(bool complete) {
  const auto &key = ref_->backend->key;
  if (status_ >= 300) {
    if (overflow_) {
      // Cut JSON is not JSON: the client gets a well-formed error of our own instead.
      rec_.error = "upstream status " + std::to_string(status_) + " with an error body over " +
                   std::to_string(opts_.max_error_body) + " bytes";
      rec_.status = 502;
      return {typed_error_reply("BadGateway", 502,
                                "the error response from " + key + " (status " +
                                    std::to_string(status_) + ") exceeds " +
                                    std::to_string(opts_.max_error_body) + " bytes",
                                rl_headers_),
              true};
    }
    LocalReply r{status_, content_type_, {}, rl_headers_};
    if (endpoint_ == Endpoint::kCompletions) // as upstream: completions errors pass through
      r.body = std::move(gathered_);
    else
      std::tie(r.body, r.content_type) =
          translator_->error_body(status_, content_type_, amzn_error_type_, gathered_);
    // A provider may echo the credential it was sent: it never reaches the client.
    scrub_secrets(r.body, sent_secrets(call_.authorization, call_.headers));
    rec_.error = "upstream status " + std::to_string(status_);
    return {std::move(r), false};
  }
  if (overflow_ || !complete) {
    rec_.status = 502;
    rec_.error = "upstream body unreadable or too large";
    return {typed_error_reply("BadGateway", 502,
                              "the response from " + key + " could not be read whole", rl_headers_),
            true};
  }
  auto out = translator_->response_body(gathered_);
  if (!out) {
    rec_.status = 502;
    rec_.error = out.error().message;
    return {typed_error_reply("BadGateway", 502, out.error().message, rl_headers_), true};
  }
  translated_ok_ = true;
  if (opts_.tracing) rec_.response_body = *out;
  if (capture_) {
    capture_->content_type = std::string(translator_->response_content_type(false));
    capture(*out);
  }
  return {{status_, std::string(translator_->response_content_type(false)), std::move(*out),
           rl_headers_},
          false};
}

// --- 6. Completion ---------------------------------------------------------------------------

bool Exchange::account_usage(bool answered_whole) {
  if (sse_) {
    rec_.usage = scanner_.usage();
    rec_.response_model = scanner_.model();
    if (scanner_.saw_error() && rec_.error.empty()) rec_.error = "upstream stream error event";
  } else if (mode_ != BodyMode::kRelay) {
    rec_.usage = translator_->usage();
    rec_.response_model = translator_->response_model();
  } else if (overflow_) {
    rec_.usage = tail_.usage();
    rec_.response_model = tail_.model();
    if (!rec_.usage.any() && answered_whole) {
      // Counted and logged, never silent: an unmeasured success still settles what it
      // reserved, so a budget is not bypassed by answering big.
      if (svc_.metrics)
        svc_.metrics->health().unmeasured_responses.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("request {}: no usage found in a {}-byte answer from {}", rec_.request_id,
                   tail_.total(), ref_->backend->key);
      return false;
    }
  } else if (!gathered_.empty()) {
    auto facts = is_anthropic_endpoint(endpoint_) ? extract_anthropic_json(gathered_)
                                                  : extract_from_json(gathered_);
    rec_.usage = facts.usage;
    rec_.response_model = std::move(facts.model);
    if (opts_.tracing) rec_.response_body = gathered_;
  }
  own_usage_ = rec_.usage.any(); // the answering attempt's own, before what dropped ones reported
  if (failed_usage_.any()) add_usage(rec_.usage, failed_usage_);
  if (rec_.response_model.empty()) rec_.response_model = std::string(call_.model);
  return true;
}

Settlement Exchange::complete(bool answered_whole) {
  if (completed_) return {};
  completed_ = true;
  end_attempt();
  if (svc_.metrics && svc_.metrics->known_models_generation() != snap_->generation)
    svc_.metrics->set_known_models(snap_->generation, configured_models(*snap_));
  settlement_.route.hits = &admission_.hits; // refunded unless settled below
  // A quota is charged on success only (admission charged what it asks up front).
  bool answered = status_ >= 200 && status_ < 300 && translator_;
  if (!answered) return settlement_; // nothing but refunds
  bool measured = account_usage(answered_whole);
  // A stream whose usage arrived is charged even when the client left before its very end (as
  // upstream v1.2: a disconnect right after the final frame loses nothing).
  bool streamed_usage = rec_.usage.any() && (sse_ || mode_ == BodyMode::kTranslate);
  bool whole = (answered_whole || streamed_usage) && (mode_ != BodyMode::kGather || translated_ok_);
  // A streamed 200 that ended well is its backend's success (passive health checks).
  if (learn_ && parsed_.stream && status_ == 200 && !stream_broke_ && answered_whole)
    report_outcome(200, false);
  if (measured && stream_broke_ && !own_usage_) {
    // A stream cut after content, before its usage came: charged as admission estimates it
    // (the prompt, and max_tokens or 1024 out), never refunded; the log line says so.
    auto est = ratelimit::estimate_usage(body_.size(), parsed_.max_tokens);
    add_usage(est, failed_usage_);
    rec_.usage = est;
    rec_.usage_estimated = true;
  }
  if (!measured) {
    settlement_.route.keep = true; // unmeasured: the reservation stands as the charge
    return settlement_;
  }
  if (!whole) return settlement_;
  // Costs are computed, and budgets and quotas charged, when a successful answer completes,
  // whichever way it was relayed.
  ratelimit::CostInput in{rec_.usage, call_.model, ref_->per_rule_name, rec_.route};
  if (route_ && !route_->costs.empty()) {
    std::vector<std::string> errors;
    rec_.costs = ratelimit::compute_costs(route_->costs, in, &errors);
    for (const auto &e : errors)
      spdlog::warn("request {}: cost {}", rec_.request_id, e);
  }
  settlement_.route.costs = &rec_.costs;
  if (vkey_ && !vkey_->budgets.empty()) {
    // The key's token and dollar budgets are charged what this answer consumed.
    key_costs_ = rec_.costs;
    key_costs_.emplace_back(ratelimit::kKeyTokensCost, rec_.usage.total.value_or(0));
    auto usd = observability::process_prices().cost(call_.model, rec_.usage);
    key_costs_.emplace_back(ratelimit::kKeyDollarsCost,
                            usd ? static_cast<uint64_t>(std::llround(*usd * 1e6)) : 0);
    settlement_.route.costs = &key_costs_;
  }
  if (quota_spec_ && !quota_.hits.empty()) {
    quota_costs_ = ratelimit::compute_costs({quota_spec_->cost}, in, nullptr);
    settlement_.quota.hits = &quota_.hits;
    settlement_.quota.costs = &quota_costs_;
  }
  store_capture();
  return settlement_;
}

} // namespace aigw::pipeline
