// Logging set-up; see log.h.
#include "core/log.h"

#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <cstring>

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

void write_line(int fd, std::string_view line) {
  std::string buf;
  buf.reserve(line.size() + 1);
  buf.append(line);
  buf.push_back('\n');
  const char *p = buf.data();
  size_t left = buf.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n <= 0) return; // closed or full: nothing sensible to do
    p += n;
    left -= static_cast<size_t>(n);
  }
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

void write_access_line(std::string_view line) { write_line(g_access_fd.load(), line); }

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
