// libFuzzer target: configuration from environment strings and typed options
// (cpc::parse_env, cpc::set_option, cpc::config_from_env).
//
// Input layout:
//   u8  mode     bit0: also feed typed options (the tail of the input)
//   ...          NUL-separated environment values, assigned in turn to the
//                variables below ("" for a missing piece; 0xFF alone = unset)
//   (when mode bit0) after a 0xFE 0xFE marker, records of
//                u8 option index, u8 kind, u8 bool/scheduling, 8 bytes double
//
// Checked: parse_env either accepts, producing only known options of the
// right kind that set_option also accepts (the two layers agree), or fails
// with a message naming the variable; config_from_env agrees with
// parse_env + set_option; set_option stores exactly the value it accepted
// and names the option when it refuses.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "fuzz_input.h"

namespace {

using cpc::Config;
using cpc::Setting;
using cpc::SettingKind;

const char* const kEnvVars[] = {
    "KEEP_ALIVE_ENABLED", "KEEP_ALIVE_MSECS",  "MAX_SOCKETS",         "MAX_FREE_SOCKETS",
    "CONNECTION_TIMEOUT", "SOCKET_SCHEDULING", "TCP_NO_DELAY",        "RESPONSE_SIZE_LIMIT",
    "CLEANUP_PERIOD_MS",  "UNRELATED_VAR",
};

const char* const kOptions[] = {
    "keepAlive",       "keepAliveMsecs",       "maxSockets",        "maxFreeSockets",
    "maxTotalSockets", "connectTimeout",       "timeout",           "freeSocketTimeout",
    "scheduling",      "noDelay",              "maxResponseSize",   "cleanupPeriodMs",
    "maxRequestsPerSocket", "maxSocketLifetime", "maxQueue",        "maxHeaderSize",
    "notAnOption",
};

constexpr double kMaxSafe = 9007199254740991.0;

bool same_config(const Config& a, const Config& b) {
  return a.keep_alive == b.keep_alive && a.keep_alive_msecs == b.keep_alive_msecs &&
         a.max_sockets == b.max_sockets && a.max_free_sockets == b.max_free_sockets &&
         a.max_total_sockets == b.max_total_sockets && a.connect_timeout_ms == b.connect_timeout_ms &&
         a.timeout_ms == b.timeout_ms && a.free_socket_timeout_ms == b.free_socket_timeout_ms &&
         a.scheduling == b.scheduling && a.no_delay == b.no_delay &&
         a.max_response_size == b.max_response_size && a.cleanup_period_ms == b.cleanup_period_ms &&
         a.max_requests_per_socket == b.max_requests_per_socket &&
         a.max_socket_lifetime_ms == b.max_socket_lifetime_ms && a.max_queue == b.max_queue &&
         a.max_header_size == b.max_header_size;
}

// The Config field a count option writes, for checking the stored value.
uint64_t count_field(const Config& c, const std::string& option, bool* found) {
  *found = true;
  if (option == "keepAliveMsecs") return c.keep_alive_msecs;
  if (option == "maxSockets") return c.max_sockets;
  if (option == "maxFreeSockets") return c.max_free_sockets;
  if (option == "maxTotalSockets") return c.max_total_sockets;
  if (option == "connectTimeout") return c.connect_timeout_ms;
  if (option == "timeout") return c.timeout_ms;
  if (option == "freeSocketTimeout") return c.free_socket_timeout_ms;
  if (option == "maxResponseSize") return c.max_response_size;
  if (option == "cleanupPeriodMs") return c.cleanup_period_ms;
  if (option == "maxRequestsPerSocket") return c.max_requests_per_socket;
  if (option == "maxSocketLifetime") return c.max_socket_lifetime_ms;
  if (option == "maxQueue") return c.max_queue;
  if (option == "maxHeaderSize") return c.max_header_size;
  *found = false;
  return 0;
}

void check_env(const std::map<std::string, std::string>& env) {
  auto getenv = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  std::vector<Setting> settings;
  std::string err;
  const bool ok = cpc::parse_env(getenv, &settings, &err);
  Config via_settings;
  const bool settings_ok = ok;
  if (ok) {
    FUZZ_CHECK(err.empty(), "parse_env succeeded with an error message: %s", err.c_str());
    for (const Setting& s : settings) {
      SettingKind kind;
      FUZZ_CHECK(s.option && cpc::option_kind(s.option, &kind), "parse_env produced an unknown option");
      FUZZ_CHECK(kind == s.kind, "parse_env produced %s with the wrong kind", s.option);
      if (s.kind == SettingKind::kCount) {
        FUZZ_CHECK(!std::isnan(s.number) && s.number >= 0, "parse_env produced %s = %g", s.option,
                   s.number);
      }
      // The environment layer must never accept what the option layer refuses.
      std::string e;
      // (Found by this target: 16-digit counts above 2^53 - 1 passed parse_env and then
      // failed set_option; fixed in 14dda26, seed-above-safe-integer replays it.)
      FUZZ_CHECK(cpc::set_option(via_settings, s, &e),
                 "parse_env accepted %s = %.17g but set_option refuses it: %s", s.option, s.number,
                 e.c_str());
    }
  } else {
    FUZZ_CHECK(!err.empty(), "parse_env failed without a message");
    bool names_var = false;
    for (const auto& kv : env) {
      if (err.find(kv.first) != std::string::npos) names_var = true;
    }
    FUZZ_CHECK(names_var, "parse_env error names no variable: %s", err.c_str());
  }
  Config direct;
  std::string direct_err;
  const bool direct_ok = cpc::config_from_env(getenv, &direct, &direct_err);
  FUZZ_CHECK(direct_ok == settings_ok, "config_from_env %d vs parse_env+set_option %d (%s)", direct_ok,
             settings_ok, direct_err.c_str());
  if (direct_ok) FUZZ_CHECK(same_config(direct, via_settings), "config_from_env built another Config");
}

double read_double(cpc_fuzz::Input& in) {
  std::string b = in.bytes(8);
  b.resize(8, '\0');
  double v;
  memcpy(&v, b.data(), sizeof(v));
  return v;
}

void check_options(cpc_fuzz::Input& in) {
  Config config;
  for (int i = 0; i < 32 && in.remaining() > 0; i++) {
    const std::string option = kOptions[in.u8() % (sizeof(kOptions) / sizeof(kOptions[0]))];
    Setting s;
    s.option = option.c_str();
    const uint8_t k = in.u8();
    s.kind = static_cast<SettingKind>(k % 3);
    const uint8_t v = in.u8();
    s.boolean = v & 1;
    s.scheduling = (v & 2) ? cpc::Scheduling::kFifo : cpc::Scheduling::kLifo;
    s.number = read_double(in);
    if (k & 0x80) s.number = std::floor(std::fabs(s.number));  // mostly plausible counts
    const Config before = config;
    std::string err;
    const bool ok = cpc::set_option(config, s, &err);
    SettingKind kind;
    const bool known = cpc::option_kind(option, &kind);
    if (!known) {
      FUZZ_CHECK(ok && same_config(before, config), "unknown option %s was not ignored", s.option);
      continue;
    }
    if (!ok) {
      FUZZ_CHECK(err.find(option) != std::string::npos, "refusal does not name %s: %s", s.option,
                 err.c_str());
      FUZZ_CHECK(same_config(before, config), "a refused %s changed the Config", s.option);
      continue;
    }
    FUZZ_CHECK(kind == s.kind, "set_option accepted %s with the wrong kind", s.option);
    if (s.kind == SettingKind::kCount) {
      bool found = false;
      const uint64_t stored = count_field(config, option, &found);
      FUZZ_CHECK(found, "no Config field for count option %s", s.option);
      if (std::isinf(s.number)) {
        FUZZ_CHECK(s.number > 0 && stored == cpc::kUnlimited, "%s = Infinity stored as %llu",
                   s.option, static_cast<unsigned long long>(stored));
      } else {
        FUZZ_CHECK(s.number == std::floor(s.number) && s.number >= 0 && s.number <= kMaxSafe,
                   "set_option accepted %s = %.17g", s.option, s.number);
        FUZZ_CHECK(stored == static_cast<uint64_t>(s.number), "%s = %.17g stored as %llu", s.option,
                   s.number, static_cast<unsigned long long>(stored));
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cpc_fuzz::Input in(data, size);
  const uint8_t mode = in.u8();
  std::string all = in.rest();
  std::string options_tail;
  const size_t marker = all.find("\xFE\xFE");
  if (marker != std::string::npos) {
    options_tail = all.substr(marker + 2);
    all.resize(marker);
  }
  std::map<std::string, std::string> env;
  size_t start = 0;
  for (const char* var : kEnvVars) {
    if (start > all.size()) break;
    size_t end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    std::string value = all.substr(start, end - start);
    start = end + 1;
    if (value == "\xFF") continue;  // unset
    env[var] = value;
  }
  check_env(env);
  if ((mode & 1) && !options_tail.empty()) {
    cpc_fuzz::Input opts(reinterpret_cast<const uint8_t*>(options_tail.data()), options_tail.size());
    check_options(opts);
  }
  return 0;
}
