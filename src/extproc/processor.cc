// ext_proc phases; see processor.h.
#include "extproc/processor.h"

#include "core/clock.h"
#include "observability/tracing.h"
#include "pipeline/headers.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace aigw::extproc {
namespace {

constexpr std::string_view kInternalId = "x-ai-eg-internal-req-id";
constexpr std::string_view kBackendAttribute =
    "xds.upstream_host_metadata.filter_metadata['aigateway.envoy.io']['per_route_rule_backend_name'"
    "]";
// The backend's name on the cluster instead (endpoint pickers, or no host metadata).
constexpr std::string_view kClusterBackendAttribute =
    "xds.cluster_metadata.filter_metadata['aigateway.envoy.io']['per_route_rule_backend_name']";
constexpr std::string_view kUpstreamHostAttribute =
    "xds.upstream_host_metadata.filter_metadata['aigateway.envoy.io']['upstream_host']";
// Upstream's internal/internalapi: InternalMetadataRouteNameKey = "aigw_route_name".
constexpr std::string_view kRouteAttribute =
    "xds.route_metadata.filter_metadata['aigateway.envoy.io']['aigw_route_name']";

void set_header(pb::HeaderMutation *m, std::string_view name, std::string_view value) {
  auto *o = m->add_set_headers();
  o->mutable_header()->set_key(std::string(name));
  o->mutable_header()->set_raw_value(std::string(value));
  o->set_append_action(envoy::config::core::v3::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
}

pb::ProcessingResponse immediate(const pipeline::LocalReply &reply) {
  pb::ProcessingResponse r;
  auto *ir = r.mutable_immediate_response();
  ir->mutable_status()->set_code(static_cast<envoy::type::v3::StatusCode>(reply.status));
  auto *m = ir->mutable_headers();
  if (!reply.content_type.empty()) {
    set_header(m, "content-type", reply.content_type);
    set_header(m, "content-length", std::to_string(reply.body.size()));
  }
  for (const auto &[name, value] : reply.headers)
    set_header(m, name, value);
  ir->set_body(reply.body);
  return r;
}

std::optional<std::string> attribute(const pb::ProcessingRequest &req, std::string_view key) {
  for (const auto &[filter, st] : req.attributes()) {
    auto it = st.fields().find(std::string(key));
    if (it != st.fields().end() && it->second.has_string_value()) return it->second.string_value();
  }
  return std::nullopt;
}

// The request's dynamic metadata (metadata_context, the namespaces Envoy forwards:
// GatewayConfig's metadataForwardingNamespaces), read by a credentialOverride.
pipeline::MetadataLookup metadata_of(const pb::ProcessingRequest &req) {
  return [&req](std::string_view ns, std::string_view key,
                std::string_view field) -> std::optional<std::string> {
    const auto &fm = req.metadata_context().filter_metadata();
    auto nit = fm.find(std::string(ns));
    if (nit == fm.end()) return std::nullopt;
    auto kit = nit->second.fields().find(std::string(key));
    if (kit == nit->second.fields().end()) return std::nullopt;
    const google::protobuf::Value *v = &kit->second;
    if (!field.empty()) {
      if (!v->has_struct_value()) return std::nullopt;
      auto fit = v->struct_value().fields().find(std::string(field));
      if (fit == v->struct_value().fields().end()) return std::nullopt;
      v = &fit->second;
    }
    if (!v->has_string_value()) return std::nullopt;
    return v->string_value();
  };
}

google::protobuf::Struct &metadata_ns(pb::ProcessingResponse &r) {
  auto &ns = (*r.mutable_dynamic_metadata()->mutable_fields())["io.envoy.ai_gateway"];
  return *ns.mutable_struct_value();
}
void add_metadata(pb::ProcessingResponse &r, const std::string &key, std::string_view value) {
  (*metadata_ns(r).mutable_fields())[key].set_string_value(std::string(value));
}
void add_metadata(pb::ProcessingResponse &r, const std::string &key, double value) {
  (*metadata_ns(r).mutable_fields())[key].set_number_value(value);
}

std::string trim_slashes(std::string_view v) {
  while (!v.empty() && v.back() == '/')
    v.remove_suffix(1);
  return std::string(v);
}

} // namespace

std::string header_value(const pb::HttpHeaders &h, std::string_view name) {
  for (const auto &hv : h.headers().headers())
    if (hv.key() == name) return hv.raw_value().empty() ? hv.value() : hv.raw_value();
  return {};
}

void ProcessorContext::set_prefixes(std::string_view root, std::string_view endpoint_prefixes) {
  root_prefix = trim_slashes(root);
  for (std::string_view rest = endpoint_prefixes; !rest.empty();) {
    auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    auto colon = item.find(':');
    if (colon == std::string_view::npos) continue;
    if (item.substr(0, colon) == "openai") openai_prefix = trim_slashes(item.substr(colon + 1));
    if (item.substr(0, colon) == "cohere") cohere_prefix = trim_slashes(item.substr(colon + 1));
    if (item.substr(0, colon) == "anthropic")
      anthropic_prefix = trim_slashes(item.substr(colon + 1));
    if (item.substr(0, colon) == "typesafe") typesafe_prefix = trim_slashes(item.substr(colon + 1));
  }
}

std::shared_ptr<RequestEntry> RequestRegistry::create(std::string id) {
  auto e = std::make_shared<RequestEntry>();
  e->internal_id = id;
  std::lock_guard lock(mu_);
  entries_[std::move(id)] = e;
  return e;
}
void RequestRegistry::insert(const std::string &id, std::shared_ptr<RequestEntry> entry) {
  std::lock_guard lock(mu_);
  entries_[id] = std::move(entry);
}
std::shared_ptr<RequestEntry> RequestRegistry::find(const std::string &id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : it->second;
}
void RequestRegistry::erase(const std::string &id) {
  std::lock_guard lock(mu_);
  entries_.erase(id);
}
size_t RequestRegistry::size() {
  std::lock_guard lock(mu_);
  return entries_.size();
}

Stream::~Stream() {
  if (!router_ || !entry_) return; // the router stream owns the request
  // Locks in the order the phases take them: the request's, then the registry's.
  std::lock_guard lock(entry_->mu);
  finish(*entry_);
  registry_.erase(entry_->internal_id);
}

// A VirtualKey's buckets settled to what the answer cost, or refunded.
void Stream::settle(const pipeline::Settlement &s) {
  if (s.cache.key && ctx_.response_cache)
    ctx_.response_cache->put(*s.cache.key, *s.cache.value, unix_now() + s.cache.ttl_seconds);
  const auto &part = s.route;
  if (!ctx_.key_budgets || !part.hits || part.hits->empty() || part.keep) return;
  int64_t now = unix_now();
  if (part.costs)
    ratelimit::settle(*ctx_.key_budgets, *part.hits, *part.costs, now);
  else
    ratelimit::refund(*ctx_.key_budgets, *part.hits, now);
}

void Stream::finish(RequestEntry &e) {
  if (e.finished || !e.exchange) return;
  e.finished = true;
  settle(e.exchange->complete(false));
  observability::observe_exchange(e.exchange->record(), 0, ctx_.observe);
}

pb::ProcessingResponse Stream::process(const pb::ProcessingRequest &req) {
  std::unique_lock<std::mutex> lock;
  phase_lock_ = &lock;
  lock_entry();
  auto response = dispatch(req);
  phase_lock_ = nullptr;
  return response;
}

pb::ProcessingResponse Stream::dispatch(const pb::ProcessingRequest &req) {
  if (req.has_request_headers()) {
    if (attribute(req, kBackendAttribute) || attribute(req, kClusterBackendAttribute)) {
      router_ = false;
      return upstream_request_headers(req);
    }
    return router_request_headers(req.request_headers());
  }
  if (req.has_request_body()) return router_request_body(req.request_body());
  if (req.has_response_headers()) return response_headers(req.response_headers());
  if (req.has_response_body()) return response_body(req.response_body());
  pb::ProcessingResponse r; // trailers: nothing to do
  if (req.has_request_trailers()) r.mutable_request_trailers();
  if (req.has_response_trailers()) r.mutable_response_trailers();
  return r;
}

std::string Stream::map_path(std::string_view path) const {
  // -rootPrefix: the endpoints live under it ("/" by default).
  const auto &root = ctx_.root_prefix;
  if (!root.empty()) {
    if (path.substr(0, root.size()) != root) return {};
    path.remove_prefix(root.size());
  }
  // -endpointPrefixes: where the OpenAI and Cohere endpoints live under the root prefix
  // (upstream's defaults: openai "/", cohere "/cohere").
  const auto &cohere = ctx_.cohere_prefix;
  if (path.substr(0, cohere.size()) == cohere &&
      path.substr(cohere.size()).starts_with("/v2/rerank"))
    return "/cohere" + std::string(path.substr(cohere.size()));
  const auto &anthropic = ctx_.anthropic_prefix; // upstream's anthropic:/anthropic
  if (path.substr(0, anthropic.size()) == anthropic &&
      (path.substr(anthropic.size()).starts_with("/v1/messages") ||
       path.substr(anthropic.size()).starts_with("/v1/models")))
    return "/anthropic" + std::string(path.substr(anthropic.size()));
  const auto &typesafe = ctx_.typesafe_prefix; // v1.2's endpointConfig.typesafe
  if (path.substr(0, typesafe.size()) == typesafe &&
      path.substr(typesafe.size()).starts_with("/v1/systemone"))
    return "/typesafe" + std::string(path.substr(typesafe.size()));
  if (path.substr(0, ctx_.openai_prefix.size()) == ctx_.openai_prefix)
    return std::string(path.substr(ctx_.openai_prefix.size()));
  return {};
}

pb::ProcessingResponse Stream::router_request_headers(const pb::HttpHeaders &h) {
  std::string path = header_value(h, ":path");
  std::string mapped = map_path(path);
  if (mapped.empty()) return immediate(pipeline::unsupported_path(path));
  auto entry = std::make_shared<RequestEntry>();
  entry->original_path = path;
  for (const auto &hv : h.headers().headers())
    entry->headers.emplace_back(hv.key(), hv.raw_value().empty() ? hv.value() : hv.raw_value());
  entry->exchange =
      std::make_unique<pipeline::Exchange>(ctx_.store->current(), ctx_.options, ctx_.services);
  auto &ex = *entry->exchange;
  auto *owner = entry.get();
  pipeline::RequestHead head;
  auto find = [owner](std::string_view name) -> std::optional<std::string_view> {
    for (const auto &[k, v] : owner->headers)
      if (k == name) return std::string_view(v);
    return std::nullopt;
  };
  head.headers = find;
  head.method = find(":method").value_or("GET");
  head.host = find(":authority").value_or("");
  head.target = mapped;
  if (auto reply = ex.on_request_headers(head)) {
    finish(*entry);
    return immediate(*reply);
  }
  // As upstream: <x-request-id>-<random>, so retries and concurrent copies never collide.
  std::string id = ex.record().request_id + "-" + observability::random_hex(8);
  entry->internal_id = id;
  entry_ = std::move(entry);
  lock_entry();
  registry_.insert(id, entry_);
  pb::ProcessingResponse r;
  set_header(r.mutable_request_headers()->mutable_response()->mutable_header_mutation(),
             kInternalId, id);
  return r;
}

pb::ProcessingResponse Stream::router_request_body(const pb::HttpBody &b) {
  if (!entry_) return immediate(pipeline::error_reply(500, "request body before its headers"));
  auto &ex = *entry_->exchange;
  if (auto reply = ex.on_request_body(b.body(), false)) {
    finish(*entry_);
    return immediate(*reply);
  }
  pb::ProcessingResponse r;
  auto *common = r.mutable_request_body()->mutable_response();
  auto *m = common->mutable_header_mutation();
  set_header(m, "x-ai-eg-model", ex.parsed().model);
  set_header(m, "x-ai-eg-original-path", entry_->original_path);
  set_header(m, "x-envoy-original-path", entry_->original_path);
  common->set_clear_route_cache(true);
  return r;
}

pb::ProcessingResponse Stream::upstream_request_headers(const pb::ProcessingRequest &req) {
  std::string id = header_value(req.request_headers(), kInternalId);
  entry_ = registry_.find(id);
  lock_entry();
  if (!entry_ || !entry_->exchange)
    return immediate(pipeline::error_reply(500, "no request with internal id \"" + id + "\""));
  auto &ex = *entry_->exchange;
  auto backend = attribute(req, kBackendAttribute);
  if (!backend) backend = attribute(req, kClusterBackendAttribute);
  // The endpoint Envoy will reach comes from its metadata only: a client's
  // x-ai-eg-upstream-host is never trusted.
  auto metadata = metadata_of(req);
  auto next = ex.use_backend(*backend, attribute(req, kRouteAttribute).value_or(""),
                             attribute(req, kUpstreamHostAttribute).value_or(""), &metadata);
  if (next == pipeline::Next::kFetchToken)
    next = ex.on_token(Error::upstream(
        500,
        "backend " + ex.backend().key +
            ": under Envoy the control plane exchanges OAuth credentials; configure the "
            "backend's accessToken",
        false));
  if (next == pipeline::Next::kCheckQuota) // quotas are Envoy's rate limit filter's here
    next = ex.on_quota(ratelimit::Verdict{});
  if (next == pipeline::Next::kReply) return immediate(ex.take_reply());
  // The response cache, once and before the budgets: a hit is answered here, costing nothing.
  if (const auto *key = ex.cache_lookup(); key && !entry_->cache_checked) {
    entry_->cache_checked = true;
    std::optional<std::string> found;
    if (ctx_.response_cache) found = ctx_.response_cache->get(*key, unix_now());
    if (ex.on_cache(std::move(found))) return immediate(ex.cached_reply());
  }
  // A VirtualKey's budgets, once (Envoy's retries come back here).
  if (auto *c = ctx_.key_budgets && !entry_->admitted ? ex.admission() : nullptr) {
    entry_->admitted = true;
    const auto *estimate = c->estimate.empty() ? nullptr : &c->estimate;
    if (auto r = ex.on_admitted(ratelimit::admit(*ctx_.key_budgets, c->hits, c->now, estimate)))
      return immediate(*r);
  }
  return upstream_call(ex);
}

pb::ProcessingResponse Stream::upstream_call(pipeline::Exchange &ex) {
  const auto &call = ex.call();
  pb::ProcessingResponse r;
  auto *common = r.mutable_request_headers()->mutable_response();
  auto *m = common->mutable_header_mutation();
  auto overridden = [&](std::string_view name) {
    for (const auto &[k, v] : call.headers)
      if (pipeline::iequals(k, name)) return true;
    return false;
  };
  for (const auto &rm : call.mutation->remove)
    m->add_remove_headers(rm);
  for (const auto &rm : call.remove_headers)
    m->add_remove_headers(rm);
  for (const auto &[k, v] : call.mutation->set)
    if (pipeline::mutation_may_set(k) && !overridden(k)) set_header(m, k, v);
  m->add_remove_headers("x-ai-eg-upstream-host");
  set_header(m, ":path", call.path);
  set_header(m, "x-ai-eg-model", call.model);
  set_header(m, "content-length", std::to_string(call.body.size()));
  if (!call.authorization.empty()) set_header(m, "authorization", call.authorization);
  for (const auto &[k, v] : call.headers)
    set_header(m, k, v);
  common->set_status(pb::CommonResponse::CONTINUE_AND_REPLACE);
  common->mutable_body_mutation()->set_body(std::string(call.body));
  // Envoy drops content-length under CONTINUE_AND_REPLACE; upstream's header_mutation filter
  // restores it from this metadata.
  add_metadata(r, "content_length", static_cast<double>(call.body.size()));
  add_metadata(r, "backend_name", ex.record().backend);
  return r;
}

pb::ProcessingResponse Stream::response_headers(const pb::HttpHeaders &h) {
  pb::ProcessingResponse r;
  auto *m = r.mutable_response_headers()->mutable_response()->mutable_header_mutation();
  if (!entry_ || !entry_->exchange || !entry_->exchange->attempted()) return r; // a local reply
  auto &ex = *entry_->exchange;
  HeaderLookup provider_headers = [&h](std::string_view name) -> std::optional<std::string_view> {
    for (const auto &hv : h.headers().headers())
      if (hv.key() == name)
        return hv.raw_value().empty() ? std::string_view(hv.value())
                                      : std::string_view(hv.raw_value());
    return std::nullopt;
  };
  auto plan = ex.on_response_headers(
      std::atoi(header_value(h, ":status").c_str()), header_value(h, "content-type"),
      header_value(h, "x-amzn-errortype"), false, header_value(h, "content-encoding"),
      header_value(h, "x-amzn-requestid"), &provider_headers);
  if (plan.streaming) {
    r.mutable_mode_override()->set_response_body_mode(
        envoy::extensions::filters::http::ext_proc::v3::ProcessingMode::STREAMED);
    m->add_remove_headers("content-length");
  }
  if (plan.mode != pipeline::BodyMode::kRelay) { // the body is replaced
    m->add_remove_headers("content-length");
    m->add_remove_headers("content-encoding");
  }
  if (plan.drop_content_type) m->add_remove_headers("content-type");
  if (!plan.content_type.empty()) set_header(m, "content-type", plan.content_type);
  if (ex.record().cache == "miss") set_header(m, "x-aigw-cache", "miss");
  return r;
}

pb::ProcessingResponse Stream::response_body(const pb::HttpBody &b) {
  pb::ProcessingResponse r;
  auto *common = r.mutable_response_body()->mutable_response();
  if (!entry_ || !entry_->exchange || !entry_->exchange->attempted() || entry_->finished) return r;
  auto &ex = *entry_->exchange;
  bool end = b.end_of_stream();
  auto replace = [&](std::string body) {
    common->set_status(pb::CommonResponse::CONTINUE_AND_REPLACE);
    common->mutable_body_mutation()->set_body(std::move(body));
  };
  switch (ex.body_mode()) {
  case pipeline::BodyMode::kRelay: ex.observe(b.body()); break;
  case pipeline::BodyMode::kTranslate: {
    std::string out;
    ex.translate(b.body(), end, out);
    replace(std::move(out));
    break;
  }
  case pipeline::BodyMode::kGather: {
    bool more = ex.gather(b.body());
    if (more && !end) {
      replace(""); // held back: the answer is translated whole
      return r;
    }
    auto g = ex.finish_gathered(more);
    if (g.local) {
      finish(*entry_);
      return immediate(g.reply);
    }
    if (!g.reply.content_type.empty())
      set_header(common->mutable_header_mutation(), "content-type", g.reply.content_type);
    replace(std::move(g.reply.body));
    break;
  }
  }
  if (end) {
    settle(ex.complete(true));
    if (ex.record().status >= 200 && ex.record().status < 300) completion_metadata(ex, r);
    finish(*entry_);
  }
  return r;
}

// Usage, costs and the request's facts at the end of a successful answer, as upstream puts them
// in the io.envoy.ai_gateway dynamic metadata.
void Stream::completion_metadata(pipeline::Exchange &ex, pb::ProcessingResponse &r) {
  const auto &rec = ex.record();
  for (const auto &[k, v] : rec.costs)
    add_metadata(r, k, static_cast<double>(v));
  add_metadata(r, "model_name_override", rec.request_model);
  add_metadata(r, "backend_name", rec.backend);
  add_metadata(r, "ai_service_backend_name", observability::ai_service_backend(rec.backend));
  if (!rec.response_model.empty()) add_metadata(r, "response_model", rec.response_model);
  if (!rec.route.empty()) add_metadata(r, "route_name", rec.route);
  if (rec.stream && rec.first_byte) {
    // Token latencies in milliseconds.
    using ms = std::chrono::duration<double, std::milli>;
    double total = ms(std::chrono::steady_clock::now() - rec.start).count();
    double ttft = ms(*rec.first_byte - rec.start).count();
    add_metadata(r, "token_latency_ttft", ttft);
    if (rec.usage.output && *rec.usage.output > 1)
      add_metadata(r, "token_latency_itl",
                   (total - ttft) / static_cast<double>(*rec.usage.output - 1));
  }
}

} // namespace aigw::extproc
