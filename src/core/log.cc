// Logging set-up; see log.h.
#include "core/log.h"

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
