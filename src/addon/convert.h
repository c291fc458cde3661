// JS values <-> core types, once each way (STYLE.md: convert at the border).
#pragma once

#include <napi.h>

#include <string>

#include "core/config.h"
#include "core/errors.h"
#include "core/events.h"
#include "core/metrics.h"
#include "core/request.h"
#include "core/tls_context.h"

namespace cpc_addon {

// Applies a JS options object over `config`. On a bad value returns false
// with *err naming the option and value.
bool read_options(Napi::Object options, cpc::Config* config, std::string* err);

// options.tls ({ ca, cert, key, rejectUnauthorized, servername, minVersion,
// sessionCache }) into TlsOptions; false with *err on a bad value.
bool read_tls_options(Napi::Value value, cpc::TlsOptions* tls, std::string* err);

// The typed settings of parse_env as a JS options object.
Napi::Object settings_to_object(Napi::Env env, const std::vector<cpc::Setting>& settings);

// The API.md response object of a finished request.
Napi::Object response_to_js(Napi::Env env, const cpc::Request& req);

// A PoolError for a core error; `origin` may be empty.
Napi::Value error_to_js(Napi::Env env, const cpc::Error& err, const std::string& origin);

Napi::Object metrics_to_js(Napi::Env env, const cpc::MetricsSnapshot& m);

// Event name and payload for an event.
const char* event_name(cpc::EventType type);
Napi::Object event_to_js(Napi::Env env, const cpc::Event& ev);

}  // namespace cpc_addon
