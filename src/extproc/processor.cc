// ext_proc phases; see processor.h.
#include "extproc/processor.h"

#include "auth/static_auth.h"
#include "core/json_scan.h"
#include "observability/tracing.h"
#include "pipeline/errors.h"
#include "pipeline/headers.h"
#include "pipeline/usage.h"
#include "auth/aws_sigv4.h"
#include "ratelimit/costs.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace aigw::extproc {
namespace {

constexpr std::string_view kInternalId = "x-ai-eg-internal-req-id";
constexpr std::string_view kBackendAttribute =
    "xds.upstream_host_metadata.filter_metadata['aigateway.envoy.io']['per_route_rule_backend_name'"
    "]";
constexpr std::string_view kUpstreamHostAttribute =
    "xds.upstream_host_metadata.filter_metadata['aigateway.envoy.io']['upstream_host']";
constexpr std::string_view kRouteAttribute =
    "xds.route_metadata.filter_metadata['aigateway.envoy.io']['route_name']";

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void set_header(pb::HeaderMutation *m, std::string_view name, std::string_view value) {
  auto *o = m->add_set_headers();
  o->mutable_header()->set_key(std::string(name));
  o->mutable_header()->set_raw_value(std::string(value));
  o->set_append_action(envoy::config::core::v3::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
}

pb::ProcessingResponse immediate(int status, std::string_view content_type, std::string body) {
  pb::ProcessingResponse r;
  auto *ir = r.mutable_immediate_response();
  ir->mutable_status()->set_code(static_cast<envoy::type::v3::StatusCode>(status));
  if (!content_type.empty()) {
    set_header(ir->mutable_headers(), "content-type", content_type);
    set_header(ir->mutable_headers(), "content-length", std::to_string(body.size()));
  }
  ir->set_body(std::move(body));
  return r;
}

std::optional<std::string> attribute(const pb::ProcessingRequest &req, std::string_view key) {
  for (const auto &[filter, st] : req.attributes()) {
    auto it = st.fields().find(std::string(key));
    if (it != st.fields().end() && it->second.has_string_value()) return it->second.string_value();
  }
  return std::nullopt;
}

void add_metadata(pb::ProcessingResponse &r, const std::string &key, const std::string &value) {
  auto &ns = (*r.mutable_dynamic_metadata()->mutable_fields())["io.envoy.ai_gateway"];
  (*ns.mutable_struct_value()->mutable_fields())[key].set_string_value(value);
}
void add_metadata(pb::ProcessingResponse &r, const std::string &key, uint64_t value) {
  auto &ns = (*r.mutable_dynamic_metadata()->mutable_fields())["io.envoy.ai_gateway"];
  (*ns.mutable_struct_value()->mutable_fields())[key].set_number_value(static_cast<double>(value));
}

} // namespace

std::string header_value(const pb::HttpHeaders &h, std::string_view name) {
  for (const auto &hv : h.headers().headers())
    if (hv.key() == name) return hv.raw_value().empty() ? hv.value() : hv.raw_value();
  return {};
}

std::shared_ptr<RequestState> RequestRegistry::create(std::string id) {
  auto s = std::make_shared<RequestState>();
  s->id = id;
  std::lock_guard lock(mu_);
  states_[std::move(id)] = s;
  return s;
}
std::shared_ptr<RequestState> RequestRegistry::find(const std::string &id) {
  std::lock_guard lock(mu_);
  auto it = states_.find(id);
  return it == states_.end() ? nullptr : it->second;
}
void RequestRegistry::erase(const std::string &id) {
  std::lock_guard lock(mu_);
  states_.erase(id);
}
size_t RequestRegistry::size() {
  std::lock_guard lock(mu_);
  return states_.size();
}

Stream::~Stream() {
  if (router_ && state_) registry_.erase(state_->id); // the router stream owns the request
}

pb::ProcessingResponse Stream::process(const pb::ProcessingRequest &req) {
  if (!cfg_) cfg_ = config_();
  std::unique_lock<std::mutex> lock;
  phase_lock_ = &lock;
  lock_state();
  auto response = dispatch(req);
  phase_lock_ = nullptr;
  return response;
}

pb::ProcessingResponse Stream::dispatch(const pb::ProcessingRequest &req) {
  if (req.has_request_headers()) {
    if (attribute(req, kBackendAttribute)) {
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

pb::ProcessingResponse Stream::router_request_headers(const pb::HttpHeaders &h) {
  std::string path = header_value(h, ":path");
  std::string method = header_value(h, ":method");
  // -rootPrefix: the endpoints live under it ("/" by default).
  std::string_view local = path;
  std::string_view prefix = root_prefix_;
  while (!prefix.empty() && prefix.back() == '/')
    prefix.remove_suffix(1);
  if (!prefix.empty()) {
    if (local.substr(0, prefix.size()) != prefix)
      return immediate(404, "", "unsupported path: " + path);
    local.remove_prefix(prefix.size());
  }
  // -endpointPrefixes: where the OpenAI and Cohere endpoints live under the root prefix
  // (upstream's defaults: openai "/", cohere "/cohere").
  std::string openai_prefix, cohere_prefix = "/cohere";
  for (std::string_view rest = endpoint_prefixes_; !rest.empty();) {
    auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    auto colon = item.find(':');
    if (colon == std::string_view::npos) continue;
    std::string value(item.substr(colon + 1));
    while (!value.empty() && value.back() == '/')
      value.pop_back();
    if (item.substr(0, colon) == "openai") openai_prefix = value;
    if (item.substr(0, colon) == "cohere") cohere_prefix = value;
  }
  std::string mapped;
  if (local.substr(0, cohere_prefix.size()) == cohere_prefix &&
      local.substr(cohere_prefix.size()).starts_with("/v2/rerank"))
    mapped = "/cohere" + std::string(local.substr(cohere_prefix.size()));
  else if (local.substr(0, openai_prefix.size()) == openai_prefix)
    mapped = std::string(local.substr(openai_prefix.size()));
  auto ep = pipeline::match_endpoint(method, mapped);
  if (ep.endpoint == pipeline::Endpoint::kUnknown)
    return immediate(404, "", "unsupported path: " + path);
  if (ep.endpoint == pipeline::Endpoint::kModels) {
    std::string body = "{\"object\":\"list\",\"data\":[";
    for (size_t i = 0; i < cfg_->models.size(); ++i) {
      if (i) body += ',';
      body += "{\"id\":";
      json::append_quoted(body, cfg_->models[i].id);
      body += ",\"object\":\"model\",\"created\":" + std::to_string(cfg_->models[i].created) +
              ",\"owned_by\":";
      json::append_quoted(body, cfg_->models[i].owned_by);
      body += '}';
    }
    body += "]}";
    return immediate(200, "application/json", body);
  }
  std::string rid = header_value(h, "x-request-id");
  state_ = registry_.create((rid.empty() ? observability::random_hex(8) : rid) + "-" +
                            observability::random_hex(8));
  lock_state();
  state_->endpoint = ep.endpoint;
  state_->original_path = path;
  pb::ProcessingResponse r;
  set_header(r.mutable_request_headers()->mutable_response()->mutable_header_mutation(),
             kInternalId, state_->id);
  return r;
}

pb::ProcessingResponse Stream::router_request_body(const pb::HttpBody &b) {
  if (!state_)
    return immediate(
        500, "application/json",
        pipeline::error_body("InternalServerError", 500, "request body before its headers"));
  state_->body = b.body();
  auto parsed = pipeline::parse_request_body(state_->endpoint, state_->body);
  if (!parsed)
    return immediate(400, "application/json",
                     pipeline::error_body("BadRequest", 400, parsed.error().message));
  state_->parsed = std::move(*parsed);
  pb::ProcessingResponse r;
  auto *common = r.mutable_request_body()->mutable_response();
  auto *m = common->mutable_header_mutation();
  set_header(m, "x-ai-eg-model", state_->parsed.model);
  set_header(m, "x-ai-eg-original-path", state_->original_path);
  set_header(m, "x-envoy-original-path", state_->original_path);
  common->set_clear_route_cache(true);
  return r;
}

pb::ProcessingResponse Stream::upstream_request_headers(const pb::ProcessingRequest &req) {
  const auto &h = req.request_headers();
  std::string id = header_value(h, kInternalId);
  state_ = registry_.find(id);
  lock_state();
  if (!state_)
    return immediate(500, "application/json",
                     pipeline::error_body("InternalServerError", 500,
                                          "no request with internal id \"" + id + "\""));
  std::string name = *attribute(req, kBackendAttribute);
  auto it = cfg_->backends.find(name);
  if (it == cfg_->backends.end())
    return immediate(500, "application/json",
                     pipeline::error_body("InternalServerError", 500,
                                          "backend \"" + name + "\" is not configured"));
  const auto &backend = *it->second;
  state_->backend = it->second;
  state_->attempts++;
  if (auto route = attribute(req, kRouteAttribute)) state_->route = *route;
  // Re-translated from the original body on every attempt.
  state_->translator = translate::make_translator(backend.schema_kind, state_->endpoint);
  if (!state_->translator || !translate::schema_serves(backend.schema_kind, state_->endpoint))
    return immediate(501, "application/json",
                     pipeline::error_body("NotImplemented", 501,
                                          "backend " + name + " (schema " + backend.schema +
                                              ") does not serve " + state_->original_path));
  std::string_view model = backend.model_name_override.empty()
                               ? std::string_view(state_->parsed.model)
                               : std::string_view(backend.model_name_override);
  state_->request_model = std::string(model);
  bool inject_usage = state_->endpoint == pipeline::Endpoint::kChatCompletions &&
                      state_->parsed.stream && !state_->parsed.include_usage &&
                      (!cfg_->global_costs.empty() || !cfg_->route_costs.empty());
  translate::TranslateInput in;
  in.endpoint = state_->endpoint;
  in.body = state_->body;
  in.parsed = &state_->parsed;
  in.model = model;
  in.model_override = backend.model_name_override;
  auto q = state_->original_path.find('?');
  if (q != std::string::npos) in.query = std::string_view(state_->original_path).substr(q);
  in.path_prefix = backend.path_prefix;
  in.version = backend.schema_version;
  in.inject_include_usage = inject_usage;
  in.request_id = state_->id;
  auto up = state_->translator->request(in);
  if (!up) {
    int code = up.error().code ? up.error().code : 422;
    return immediate(
        code, "application/json",
        pipeline::error_body(pipeline::local_error_type(code), code, up.error().message));
  }
  std::string path = up->path;
  if (!path.starts_with("/"))
    path = backend.gcp_project.empty() ? "/" + path
                                       : "/v1/projects/" + backend.gcp_project + "/locations/" +
                                             backend.gcp_region + "/" + path;
  std::string body = up->body ? std::move(*up->body) : state_->body;
  if (!backend.body_mutation.set.empty() || !backend.body_mutation.remove.empty())
    body = pipeline::apply_body_mutation(body, backend.body_mutation.set,
                                         backend.body_mutation.remove);
  std::string authorization;
  // SigV4 signs the endpoint Envoy will reach when it names it (as upstream: the endpoint's
  // metadata, else x-ai-eg-upstream-host), with the region corrected from that host.
  std::string upstream_host = header_value(h, "x-ai-eg-upstream-host");
  if (auto a = attribute(req, kUpstreamHostAttribute)) upstream_host = *a;
  const control::CompiledBackend *signer = &backend;
  control::CompiledBackend adjusted;
  if (!upstream_host.empty() && backend.auth_type == "AWSCredentials") {
    adjusted = backend;
    adjusted.host_header = upstream_host;
    auto colon = upstream_host.rfind(':');
    adjusted.aws_signing_region = auth::bedrock_region_from_host(
        colon == std::string::npos ? upstream_host : upstream_host.substr(0, colon),
        backend.aws_region);
    signer = &adjusted;
  }
  auto outcome = auth::apply_static_auth(*signer, "POST", path, body, unix_now(), authorization,
                                            up->headers);
  if (!outcome)
    return immediate(500, "application/json",
                     pipeline::error_body("InternalServerError", 500, outcome.error().message));
  state_->secrets = pipeline::sent_secrets(authorization, up->headers);
  pb::ProcessingResponse r;
  auto *common = r.mutable_request_headers()->mutable_response();
  auto *m = common->mutable_header_mutation();
  for (const auto &rm : backend.header_mutation.remove)
    m->add_remove_headers(rm);
  for (const auto &[k, v] : backend.header_mutation.set)
    set_header(m, k, v);
  m->add_remove_headers("x-ai-eg-upstream-host");
  set_header(m, ":path", path);
  set_header(m, "x-ai-eg-model", model);
  set_header(m, "content-length", std::to_string(body.size()));
  if (!authorization.empty()) set_header(m, "authorization", authorization);
  for (const auto &[k, v] : up->headers)
    set_header(m, k, v);
  common->set_status(pb::CommonResponse::CONTINUE_AND_REPLACE);
  common->mutable_body_mutation()->set_body(std::move(body));
  // Envoy drops content-length under CONTINUE_AND_REPLACE; upstream's header_mutation filter
  // restores it from this metadata.
  add_metadata(r, "content_length", static_cast<uint64_t>(common->body_mutation().body().size()));
  return r;
}

pb::ProcessingResponse Stream::response_headers(const pb::HttpHeaders &h) {
  pb::ProcessingResponse r;
  auto *m = r.mutable_response_headers()->mutable_response()->mutable_header_mutation();
  if (!state_ || !state_->translator) return r; // a local reply: untouched
  state_->status = std::atoi(header_value(h, ":status").c_str());
  state_->response_content_type = header_value(h, "content-type");
  state_->amzn_error_type = header_value(h, "x-amzn-errortype");
  state_->streaming = state_->parsed.stream && state_->status == 200;
  bool rewrites = state_->status >= 300 || state_->translator->rewrites_response();
  if (state_->streaming) {
    r.mutable_mode_override()->set_response_body_mode(
        envoy::extensions::filters::http::ext_proc::v3::ProcessingMode::STREAMED);
    m->add_remove_headers("content-length");
  }
  if (rewrites) {
    m->add_remove_headers("content-length");
    m->add_remove_headers("content-encoding");
    if (state_->status < 300)
      set_header(m, "content-type", state_->translator->response_content_type(state_->streaming));
  }
  return r;
}

pb::ProcessingResponse Stream::response_body(const pb::HttpBody &b) {
  pb::ProcessingResponse r;
  auto *common = r.mutable_response_body()->mutable_response();
  if (!state_ || !state_->translator) return r;
  auto &t = *state_->translator;
  bool end = b.end_of_stream();
  std::string out;
  bool replace = false;
  if (!state_->first_byte && !b.body().empty())
    state_->first_byte = std::chrono::steady_clock::now();
  if (state_->streaming) {
    if (t.rewrites_response()) {
      t.stream_chunk(b.body(), out);
      if (end) t.stream_end(out);
      replace = true;
    } else {
      state_->scanner.feed(b.body());
    }
  } else {
    state_->response_buffer += b.body();
    if (!end) {
      // Buffered mode delivers the body whole; a streamed non-stream answer is held back.
      common->set_status(pb::CommonResponse::CONTINUE_AND_REPLACE);
      common->mutable_body_mutation()->set_body("");
      return r;
    }
    if (state_->status >= 300) {
      auto [eb, ct] = t.error_body(state_->status, state_->response_content_type,
                                   state_->amzn_error_type, state_->response_buffer);
      out = std::move(eb);
      pipeline::scrub_secrets(out, state_->secrets); // a provider may echo what it was sent
      replace = true;
    } else if (t.rewrites_response()) {
      auto translated = t.response_body(state_->response_buffer);
      out = translated ? std::move(*translated)
                       : pipeline::error_body("BadGateway", 502, translated.error().message);
      replace = true;
    } else if (state_->response_buffer.size() != b.body().size()) {
      out = state_->response_buffer; // chunks were held back: release them whole
      replace = true;
    }
  }
  if (replace) {
    common->set_status(pb::CommonResponse::CONTINUE_AND_REPLACE);
    common->mutable_body_mutation()->set_body(std::move(out));
  }
  if (end && state_->status < 300) {
    // Usage and costs at the end of the response, as dynamic metadata.
    pipeline::TokenUsage usage;
    std::string response_model;
    if (t.rewrites_response()) {
      usage = t.usage();
      response_model = t.response_model();
    } else if (state_->streaming) {
      usage = state_->scanner.usage();
      response_model = state_->scanner.model();
    } else {
      auto facts = pipeline::extract_from_json(state_->response_buffer);
      usage = facts.usage;
      response_model = facts.model;
    }
    if (response_model.empty()) response_model = state_->request_model;
    std::vector<ratelimit::CostSpec> specs = cfg_->global_costs;
    auto rc = cfg_->route_costs.find(state_->route);
    if (rc != cfg_->route_costs.end())
      specs.insert(specs.end(), rc->second.begin(), rc->second.end());
    auto costs = ratelimit::compute_costs(
        specs, {usage, state_->request_model, state_->backend->key, state_->route}, nullptr);
    for (const auto &[k, v] : costs)
      add_metadata(r, k, v);
    if (metrics_) {
      // The configuration's models are always kept as labels (the cap is for client choices).
      auto generation = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(cfg_.get()));
      if (metrics_->known_models_generation() != generation) {
        std::vector<std::string> known;
        for (const auto &m : cfg_->models)
          known.push_back(m.id);
        for (const auto &[name, b] : cfg_->backends)
          if (!b->model_name_override.empty()) known.push_back(b->model_name_override);
        metrics_->set_known_models(generation, std::move(known));
      }
      observability::GenAILabels l;
      l.operation = pipeline::operation_name(state_->endpoint);
      l.provider = translate::provider_name(state_->backend->schema_kind);
      l.original_model = state_->parsed.model;
      l.request_model = state_->request_model;
      l.response_model = response_model;
      observability::Metrics::Completion c;
      auto now = std::chrono::steady_clock::now();
      c.seconds = std::chrono::duration<double>(now - state_->start).count();
      c.usage = &usage;
      if (state_->streaming && state_->first_byte) {
        c.ttft = std::chrono::duration<double>(*state_->first_byte - state_->start).count();
        if (usage.output && *usage.output > 1)
          c.tpot = (c.seconds - *c.ttft) / static_cast<double>(*usage.output - 1);
      }
      metrics_->record_completion(0, l, c);
      // Token latencies, as upstream puts them in the metadata (milliseconds).
      if (c.ttft) add_metadata(r, "token_latency_ttft", static_cast<uint64_t>(*c.ttft * 1000));
      if (c.tpot) add_metadata(r, "token_latency_itl", static_cast<uint64_t>(*c.tpot * 1000));
    }
    add_metadata(r, "model_name_override", state_->backend->model_name_override);
    add_metadata(r, "backend_name", state_->backend->key);
    add_metadata(r, "response_model", response_model);
    if (!state_->route.empty()) add_metadata(r, "route_name", state_->route);
  }
  return r;
}

} // namespace aigw::extproc
