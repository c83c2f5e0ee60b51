// ConfigStore publishes the active Snapshot; FileWatcher reloads it when the file changes.
// Thread-safety: current() and publish() may be called from any thread; a reader keeps the
// snapshot it loaded alive for as long as it holds the shared_ptr.
#pragma once

#include "control/env_expand.h"
#include "control/snapshot.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace aigw::control {

class ConfigStore {
public:
  explicit ConfigStore(std::shared_ptr<const Snapshot> initial) : current_(std::move(initial)) {}

  std::shared_ptr<const Snapshot> current() const {
    return current_.load(std::memory_order_acquire);
  }
  void publish(std::shared_ptr<const Snapshot> s) {
    current_.store(std::move(s), std::memory_order_release);
  }

  std::atomic<uint64_t> reloads_ok{0};
  std::atomic<uint64_t> reloads_rejected{0};

private:
  std::atomic<std::shared_ptr<const Snapshot>> current_;
};

// Polls the file (modification time, size and content) and publishes a new snapshot on every
// valid change; an invalid change is logged and the last good snapshot keeps serving.
class FileWatcher {
public:
  FileWatcher(std::string path, EnvLookup env, ConfigStore *store,
              std::chrono::milliseconds interval = std::chrono::milliseconds(200));
  ~FileWatcher();
  FileWatcher(const FileWatcher &) = delete;
  FileWatcher &operator=(const FileWatcher &) = delete;

private:
  void run();
  bool check_once();

  std::string path_;
  EnvLookup env_;
  ConfigStore *store_;
  std::chrono::milliseconds interval_;
  std::string last_content_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

} // namespace aigw::control
