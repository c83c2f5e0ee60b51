// Process-wide logging set-up (spdlog to stderr) and the structured request log line writer.
// Thread-safety: all functions may be called from any thread.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace aigw {

// level: "debug", "info", "warn", "error".
void init_logging(std::string_view level);

// Writes one complete line (a '\n' is appended) to stdout with a single write(2), so lines from
// several workers never interleave.
void write_stdout_line(std::string_view line);

// The access log: stdout unless a file was opened (appended to, created 0640). Returns false and
// says why in `error` when the file cannot be opened.
bool open_access_log(const std::string &path, std::string *error);
// Buffered: lines reach the destination within 50 ms; flush_access_log() writes what is waiting
// (called on shutdown).
void write_access_line(std::string_view line);
void flush_access_log();

} // namespace aigw
