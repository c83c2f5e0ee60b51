// Process-wide logging set-up (spdlog to stderr) and the structured request log line writer.
// Thread-safety: all functions may be called from any thread.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace aigw {

// level: "debug", "info", "warn", "error".
void init_logging(std::string_view level);

// Writes one complete line (a '\n' is appended) to stdout with a single write(2), so lines from
// several workers never interleave.
void write_stdout_line(std::string_view line);

} // namespace aigw
