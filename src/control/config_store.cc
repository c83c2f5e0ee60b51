// File watching and reload; see config_store.h.
#include "control/config_store.h"

#include "control/loader.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

namespace aigw::control {

FileWatcher::FileWatcher(std::string path, EnvLookup env, ConfigStore *store,
                         std::chrono::milliseconds interval)
    : path_(std::move(path)), env_(std::move(env)), store_(store), interval_(interval) {
  last_content_ = read_config_source(path_).value_or("");
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
  while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
    lock.unlock();
    check_once();
    lock.lock();
  }
}

bool FileWatcher::check_once() {
  auto source = read_config_source(path_);
  if (!source) return false; // mid-rename by an editor: try again next tick
  std::string content = std::move(source).value();
  if (content == last_content_) return false;
  last_content_ = content;
  uint64_t generation = store_->current()->generation + 1;
  auto result = load_text(content, path_, env_, generation);
  for (const auto &w : result.diag.warnings())
    spdlog::warn("config: {}", w);
  if (!result.snapshot) {
    store_->reloads_rejected.fetch_add(1);
    for (const auto &e : result.diag.errors())
      spdlog::error("config: {}", e);
    spdlog::error("config: {} rejected; still serving generation {}", path_, generation - 1);
    return false;
  }
  auto old_ports = store_->current()->listener_ports;
  if (result.snapshot->listener_ports != old_ports)
    spdlog::warn("config: listener ports changed; restart aigw to listen on the new ports");
  store_->publish(result.snapshot);
  store_->reloads_ok.fetch_add(1);
  spdlog::info("config: reloaded {} (generation {})", path_, generation);
  return true;
}

} // namespace aigw::control
