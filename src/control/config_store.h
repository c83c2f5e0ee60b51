// ConfigStore publishes the active Snapshot; FileWatcher reloads it when the files change.
// Thread-safety: current() and publish() may be called from any thread; a reader keeps the
// snapshot it loaded alive for as long as it holds the shared_ptr.
#pragma once

#include "control/env_expand.h"
#include "control/snapshot.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace aigw::control {

// A mutex, not std::atomic<std::shared_ptr>: libstdc++'s lock-bit implementation of the latter
// synchronises through fences ThreadSanitizer cannot follow, and a lock held for one pointer copy
// costs the same uncontended.
class ConfigStore {
public:
  explicit ConfigStore(std::shared_ptr<const Snapshot> initial)
      : generation_(initial ? initial->generation : 0), current_(std::move(initial)) {}

  std::shared_ptr<const Snapshot> current() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  void publish(std::shared_ptr<const Snapshot> s) {
    uint64_t generation = s ? s->generation : 0;
    {
      std::lock_guard lock(mu_);
      current_.swap(s);
    }
    generation_.store(generation, std::memory_order_release);
    // `s` (the old snapshot) is released here, outside the lock.
  }
  // The generation of the current snapshot, without taking it.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  std::atomic<uint64_t> reloads_ok{0};
  std::atomic<uint64_t> reloads_rejected{0};

private:
  mutable std::mutex mu_;
  std::atomic<uint64_t> generation_;
  std::shared_ptr<const Snapshot> current_;
};

// Polls the configuration paths (files or directories, read together as one configuration) and
// publishes a new snapshot on every valid change. A change is applied only once the content has
// read the same twice, `settle` apart, so an editor's save or `cat > file` is not caught half
// written. An invalid change, one that would drop every route of a configuration that had some
// (an empty or truncated file), and one that changes the listener ports (the listeners cannot
// move while running) are logged as errors, counted in reloads_rejected, and the last good
// snapshot keeps serving.
class FileWatcher {
public:
  FileWatcher(std::vector<std::string> paths, EnvLookup env, ConfigStore *store,
              std::chrono::milliseconds interval = std::chrono::milliseconds(200),
              std::chrono::milliseconds settle = std::chrono::milliseconds(100));
  ~FileWatcher();
  FileWatcher(const FileWatcher &) = delete;
  FileWatcher &operator=(const FileWatcher &) = delete;

private:
  void run();
  // One poll; returns true when a change is waiting to settle (poll again after `settle_`).
  bool check_once();
  void apply(const std::string &content);

  std::vector<std::string> paths_;
  std::string source_; // the paths, as messages name them
  EnvLookup env_;
  ConfigStore *store_;
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds settle_;
  std::string last_content_;           // the content last applied or rejected
  std::optional<std::string> pending_; // a changed content seen once, waiting to settle
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

} // namespace aigw::control
