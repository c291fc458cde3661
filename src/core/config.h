// Pool configuration: defaults, environment variables and options, with one
// validation table (config.cc) shared by all three layers.
//
// Layering (API.md): built-in defaults, then environment variables, then
// explicit options. The core validates both: parse_env() turns environment
// strings into typed settings, set_option() checks a typed value against the
// same table, so "MAX_SOCKETS=abc" and "maxSockets: -1" fail the same way.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace cpc {

// "No limit" for counts and durations (Infinity in JS).
constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

enum class Scheduling : uint8_t { kLifo, kFifo };

struct Config {
  bool keep_alive = true;                      // false: Connection: close, one request per socket
  // SO_KEEPALIVE initial delay, ms; used only when keep_alive. Applied in
  // whole seconds: rounded, at least 1 s, at most 32767 s (Linux's limit).
  uint64_t keep_alive_msecs = 1000;
  uint64_t max_sockets = 50;                   // per origin, active + idle + connecting
  uint64_t max_free_sockets = 256;             // idle sockets kept per origin
  uint64_t max_total_sockets = kUnlimited;     // across all origins
  uint64_t connect_timeout_ms = 10000;         // DNS + TCP connect (+ TLS); 0 = none
  uint64_t timeout_ms = 30000;                 // whole request incl. queue time; 0 = none
  uint64_t free_socket_timeout_ms = 4000;      // idle lifetime; shortened by Keep-Alive hints
  Scheduling scheduling = Scheduling::kLifo;   // which idle socket is reused first
  bool no_delay = true;                        // TCP_NODELAY
  uint64_t max_response_size = 10485760;       // body bytes; kUnlimited = no limit
  uint64_t cleanup_period_ms = 1000;           // sweep period (idle expiry + leak audit)
  uint64_t max_requests_per_socket = kUnlimited;
  uint64_t max_socket_lifetime_ms = kUnlimited;  // checked when a socket goes idle and by the sweep
  uint64_t max_queue = kUnlimited;             // waiting requests per origin
  uint64_t max_header_size = 16384;            // total response header bytes, like Node
};

enum class SettingKind : uint8_t { kBool, kCount, kScheduling };

// One typed setting, as produced from the environment or given as an option.
struct Setting {
  const char* option = nullptr;  // the option name: "maxSockets"
  SettingKind kind = SettingKind::kCount;
  bool boolean = false;
  double number = 0;             // kCount; +inf for Infinity
  Scheduling scheduling = Scheduling::kLifo;
};

// Kind of the named option, or false when the option is not one the core
// knows (unknown options are ignored, like http.Agent does).
bool option_kind(std::string_view option, SettingKind* kind);

// Validates a typed value against the table and stores it. On failure returns
// false and sets *err to a message naming the option and the bad value.
bool set_option(Config& config, const Setting& setting, std::string* err);

// Reads every known environment variable through `getenv` (returns nullptr
// for unset) and appends the validated settings to *out. On the first bad
// value returns false with *err naming the variable and the value.
using GetEnv = std::function<const char*(const char* name)>;
bool parse_env(const GetEnv& getenv, std::vector<Setting>* out, std::string* err);

// Convenience for the core's own users (tests, benchmarks): defaults, then env.
bool config_from_env(const GetEnv& getenv, Config* config, std::string* err);

}  // namespace cpc
