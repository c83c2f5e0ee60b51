// The admin dashboard's assets, served by the admin listener: the page at /dashboard, its script
// at /dashboard/app.js and its chart library at /dashboard/chart.js. The page reads
// /dashboard/data and /config_dump from the same listener and loads nothing from anywhere else.
#pragma once

#include <string_view>

namespace aigw::proxy {

std::string_view dashboard_html();     // text/html; charset=utf-8
std::string_view dashboard_app_js();   // text/javascript; charset=utf-8
std::string_view dashboard_chart_js(); // text/javascript; charset=utf-8

} // namespace aigw::proxy
