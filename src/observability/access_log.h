// The access log: one JSON line per request, from its ExchangeRecord (both hosts), with the keys
// of upstream's `aigw run` access log template beside ours.
#pragma once

#include "observability/exchange_record.h"

#include <string>

namespace aigw::observability {

// The line, without its newline.
std::string access_log_line(const ExchangeRecord &r);
// Writes it to the access log (core/log.h: stdout or --access-log-file).
void write_access_log(const ExchangeRecord &r);

} // namespace aigw::observability
