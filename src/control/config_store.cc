// File watching and reload; see config_store.h.
#include "control/config_store.h"

#include "control/loader.h"

#include <spdlog/spdlog.h>

namespace aigw::control {

FileWatcher::FileWatcher(std::vector<std::string> paths, EnvLookup env, ConfigStore *store,
                         std::chrono::milliseconds interval, std::chrono::milliseconds settle)
    : paths_(std::move(paths)), source_(describe_paths(paths_)), env_(std::move(env)),
      store_(store), interval_(interval), settle_(settle) {
  last_content_ = read_config_sources(paths_).value_or("");
  thread_ = std::thread([this] { run(); });
}

FileWatcher::~FileWatcher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void FileWatcher::run() {
  std::unique_lock lock(mu_);
  bool settling = false;
  while (!cv_.wait_for(lock, settling ? settle_ : interval_, [this] { return stop_; })) {
    lock.unlock();
    settling = check_once();
    lock.lock();
  }
}

bool FileWatcher::check_once() {
  auto source = read_config_sources(paths_);
  if (!source) return false; // mid-rename by an editor: try again next tick
  std::string content = std::move(source).value();
  if (content == last_content_) {
    pending_.reset(); // changed and changed back
    return false;
  }
  if (pending_ != content) {
    // First sight of this content: a writer may still be at it. Read again after `settle_`.
    pending_ = std::move(content);
    return true;
  }
  pending_.reset();
  last_content_ = content;
  apply(content);
  return false;
}

void FileWatcher::apply(const std::string &content) {
  auto current = store_->current();
  uint64_t generation = current->generation + 1;
  auto result = load_text(content, source_, env_, generation);
  for (const auto &w : result.diag.warnings())
    spdlog::warn("config: {}", w);
  auto reject = [&](const std::string &why) {
    store_->reloads_rejected.fetch_add(1);
    spdlog::error("config: {} rejected: {}; still serving generation {}", source_, why,
                  current->generation);
  };
  if (!result.snapshot) {
    for (const auto &e : result.diag.errors())
      spdlog::error("config: {}", e);
    reject(std::to_string(result.diag.errors().size()) + " error(s)");
    return;
  }
  if (result.snapshot->rules.empty() && !current->rules.empty()) {
    reject("it has no routes while the running configuration has " +
           std::to_string(current->rules.size()) + " rule(s) (an empty or partly written file?)");
    return;
  }
  if (result.snapshot->listener_ports != current->listener_ports) {
    auto ports = [](const std::vector<uint16_t> &v) {
      std::string s;
      for (auto p : v)
        s += (s.empty() ? "" : ", ") + std::to_string(p);
      return s.empty() ? std::string("none") : s;
    };
    reject("its listener ports (" + ports(result.snapshot->listener_ports) +
           ") differ from the running ones (" + ports(current->listener_ports) +
           "); restart aigw to change them");
    return;
  }
  for (uint16_t port : current->listener_ports)
    if ((result.snapshot->tls_for(port) == nullptr) != (current->tls_for(port) == nullptr)) {
      reject("listener port " + std::to_string(port) + " would change between HTTP and HTTPS; " +
             "restart aigw to change it (certificates alone are reloaded)");
      return;
    }
  store_->publish(result.snapshot);
  store_->reloads_ok.fetch_add(1);
  spdlog::info("config: reloaded {} (generation {})", source_, generation);
}

} // namespace aigw::control
