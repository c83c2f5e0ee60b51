// OTLP/HTTP span export; see otlp_exporter.h.
#include "observability/otlp_exporter.h"

#include "proxy/beast_pch.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace aigw::observability {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct Url {
  bool tls = false;
  std::string host, port, target;
};

bool parse_url(const std::string &url, Url &u) {
  std::string_view s = url;
  if (s.starts_with("https://")) {
    u.tls = true;
    s.remove_prefix(8);
  } else if (s.starts_with("http://")) {
    s.remove_prefix(7);
  } else {
    return false;
  }
  auto slash = s.find('/');
  std::string_view authority = s.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(s.substr(slash));
  u.port = u.tls ? "443" : "80";
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return false;
    u.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      u.port = std::string(authority.substr(close + 2));
  } else {
    auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) u.port = std::string(authority.substr(colon + 1));
  }
  return !u.host.empty();
}

} // namespace

SpanExporter::SpanExporter(TracingConfig cfg) : cfg_(std::move(cfg)) {
  thread_ = std::thread([this] { run(); });
}

SpanExporter::~SpanExporter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SpanExporter::submit(Span span, OwnedSpanFacts facts) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueue) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.emplace_back(std::move(span), std::move(facts));
    wake = queue_.size() >= kMaxBatch;
  }
  if (wake) cv_.notify_one();
}

void SpanExporter::run() {
  for (;;) {
    std::vector<Span> batch;
    bool stopping;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(500),
                   [&] { return stop_ || queue_.size() >= kMaxBatch; });
      stopping = stop_;
      while (!queue_.empty() && batch.size() < kMaxBatch) {
        auto &[span, facts] = queue_.front();
        batch.push_back(std::move(span));
        facts_.push_back(std::move(facts));
        queue_.pop_front();
      }
    }
    for (size_t i = 0; i < batch.size(); ++i)
      observability::describe_span(batch[i], facts_[i].view(), cfg_);
    facts_.clear();
    if (!batch.empty()) {
      std::string body = cfg_.json ? observability::encode_otlp_json(batch, cfg_.service_name)
                                   : observability::encode_otlp_protobuf(batch, cfg_.service_name);
      if (post(body))
        exported_.fetch_add(batch.size(), std::memory_order_relaxed);
      else
        failed_.fetch_add(batch.size(), std::memory_order_relaxed);
    }
    if (stopping) {
      std::lock_guard lock(mu_);
      if (queue_.empty()) return;
    }
  }
}

bool SpanExporter::post(const std::string &body) {
  Url u;
  if (!parse_url(cfg_.endpoint, u)) {
    spdlog::warn("tracing: bad OTLP endpoint {}", cfg_.endpoint);
    return false;
  }
  try {
    net::io_context io;
    net::ip::tcp::resolver resolver(io);
    auto results = resolver.resolve(u.host, u.port);
    http::request<http::string_body> req{http::verb::post, u.target, 11};
    req.set(http::field::host, u.host + ":" + u.port);
    req.set(http::field::content_type, cfg_.json ? "application/json" : "application/x-protobuf");
    req.set(http::field::user_agent, "aigw");
    for (const auto &[k, v] : cfg_.headers)
      req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    http::response<http::string_body> res;
    beast::flat_buffer buf;
    if (u.tls) {
      net::ssl::context ctx(net::ssl::context::tls_client);
      ctx.set_default_verify_paths();
      ctx.set_verify_mode(net::ssl::verify_peer);
      beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
      SSL_set_tlsext_host_name(stream.native_handle(), u.host.c_str());
      stream.set_verify_callback(net::ssl::host_name_verification(u.host));
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
      beast::get_lowest_layer(stream).connect(results);
      stream.handshake(net::ssl::stream_base::client);
      http::write(stream, req);
      http::read(stream, buf, res);
    } else {
      beast::tcp_stream stream(io);
      stream.expires_after(std::chrono::seconds(10));
      stream.connect(results);
      http::write(stream, req);
      http::read(stream, buf, res);
    }
    if (res.result_int() / 100 != 2) {
      spdlog::warn("tracing: the OTLP endpoint answered {}", res.result_int());
      return false;
    }
    return true;
  } catch (const std::exception &e) {
    spdlog::warn("tracing: exporting spans to {} failed: {}", cfg_.endpoint, e.what());
    return false;
  }
}

} // namespace aigw::observability
