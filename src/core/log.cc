// Logging set-up; see log.h.
#include "core/log.h"

#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include <string>

namespace aigw {

void init_logging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("aigw");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

namespace {
std::atomic<int> g_access_fd{STDOUT_FILENO};

// The access log is written by a background thread: workers append to a buffer and go on (a
// write(2) per request would cost more than the rest of the logging), and the thread writes what
// gathered every 50 ms or as soon as 256 KiB are waiting. Memory is bounded: beyond 16 MiB
// waiting (the destination stopped taking lines) new lines are dropped and counted.
class AccessLogWriter {
public:
  AccessLogWriter() : thread_([this] { run(); }) {}
  ~AccessLogWriter() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  void append(std::string_view line) {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      if (pending_.size() + line.size() + 1 > kMaxPending) {
        ++dropped_;
        return;
      }
      pending_.append(line);
      pending_ += '\n';
      wake = pending_.size() >= kWakeBytes;
    }
    if (wake) cv_.notify_one();
  }

  void flush() {
    std::unique_lock lock(mu_);
    flush_requested_ = true;
    cv_.notify_one();
    flushed_cv_.wait(lock, [&] { return pending_.empty() && !writing_; });
  }

private:
  static constexpr size_t kWakeBytes = 256 * 1024;
  static constexpr size_t kMaxPending = 16 * 1024 * 1024;

  void run() {
    std::string out;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(50),
                     [&] { return stop_ || flush_requested_ || pending_.size() >= kWakeBytes; });
        out.swap(pending_);
        flush_requested_ = false;
        writing_ = !out.empty();
        if (out.empty()) {
          flushed_cv_.notify_all();
          if (stop_) return;
          continue;
        }
      }
      write_all(g_access_fd.load(), out);
      out.clear();
      {
        std::lock_guard lock(mu_);
        writing_ = false;
      }
      flushed_cv_.notify_all();
    }
  }

  static void write_all(int fd, std::string_view buf) {
    const char *p = buf.data();
    size_t left = buf.size();
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return; // closed: nothing sensible to do
      p += n;
      left -= static_cast<size_t>(n);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_, flushed_cv_;
  std::string pending_;
  bool stop_ = false, flush_requested_ = false, writing_ = false;
  uint64_t dropped_ = 0;
  std::thread thread_;
};

AccessLogWriter &access_writer() {
  static AccessLogWriter w;
  return w;
}

} // namespace

bool open_access_log(const std::string &path, std::string *error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    if (error) *error = std::strerror(errno);
    return false;
  }
  g_access_fd.store(fd);
  return true;
}

void write_access_line(std::string_view line) { access_writer().append(line); }

void flush_access_log() { access_writer().flush(); }

void write_stdout_line(std::string_view line) {
  std::string buf;
  buf.reserve(line.size() + 1);
  buf.append(line);
  buf.push_back('\n');
  const char *p = buf.data();
  size_t left = buf.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n <= 0) return; // stdout closed: nothing sensible to do
    p += n;
    left -= static_cast<size_t>(n);
  }
}

} // namespace aigw
