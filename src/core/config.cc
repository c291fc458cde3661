#include "core/config.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace cpc {
namespace {

// One row per setting. Counts are integers >= min; `infinite_ok` allows
// Infinity (stored as kUnlimited).
struct Field {
  const char* option;
  const char* env;  // nullptr: no environment variable
  SettingKind kind;
  uint64_t min;
  bool infinite_ok;
  uint64_t Config::*count;  // kCount fields
  bool Config::*flag;       // kBool fields
};

constexpr double kMaxExact = 9007199254740991.0;  // Number.MAX_SAFE_INTEGER

const Field kFields[] = {
    {"keepAlive", "KEEP_ALIVE_ENABLED", SettingKind::kBool, 0, false, nullptr, &Config::keep_alive},
    {"keepAliveMsecs", "KEEP_ALIVE_MSECS", SettingKind::kCount, 0, false, &Config::keep_alive_msecs, nullptr},
    {"maxSockets", "MAX_SOCKETS", SettingKind::kCount, 1, true, &Config::max_sockets, nullptr},
    {"maxFreeSockets", "MAX_FREE_SOCKETS", SettingKind::kCount, 0, true, &Config::max_free_sockets, nullptr},
    {"maxTotalSockets", nullptr, SettingKind::kCount, 1, true, &Config::max_total_sockets, nullptr},
    {"connectTimeout", "CONNECTION_TIMEOUT", SettingKind::kCount, 0, false, &Config::connect_timeout_ms, nullptr},
    {"timeout", nullptr, SettingKind::kCount, 0, false, &Config::timeout_ms, nullptr},
    {"freeSocketTimeout", nullptr, SettingKind::kCount, 1, false, &Config::free_socket_timeout_ms, nullptr},
    {"scheduling", "SOCKET_SCHEDULING", SettingKind::kScheduling, 0, false, nullptr, nullptr},
    {"noDelay", "TCP_NO_DELAY", SettingKind::kBool, 0, false, nullptr, &Config::no_delay},
    {"maxResponseSize", "RESPONSE_SIZE_LIMIT", SettingKind::kCount, 0, true, &Config::max_response_size, nullptr},
    {"cleanupPeriodMs", "CLEANUP_PERIOD_MS", SettingKind::kCount, 1, false, &Config::cleanup_period_ms, nullptr},
    {"maxRequestsPerSocket", nullptr, SettingKind::kCount, 1, true, &Config::max_requests_per_socket, nullptr},
    {"maxSocketLifetime", nullptr, SettingKind::kCount, 1, true, &Config::max_socket_lifetime_ms, nullptr},
    {"maxQueue", nullptr, SettingKind::kCount, 0, true, &Config::max_queue, nullptr},
    {"maxHeaderSize", nullptr, SettingKind::kCount, 1, false, &Config::max_header_size, nullptr},
};

const Field* find_field(std::string_view option) {
  for (const Field& f : kFields) {
    if (option == f.option) return &f;
  }
  return nullptr;
}

std::string expectation(const Field& f) {
  switch (f.kind) {
    case SettingKind::kBool: return "a boolean (true/false/1/0/yes/no)";
    case SettingKind::kScheduling: return "'lifo' or 'fifo'";
    case SettingKind::kCount: break;
  }
  std::string s = "an integer >= " + std::to_string(f.min);
  if (f.infinite_ok) s += " or Infinity";
  return s;
}

std::string format_number(double v) {
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

bool equals_ignore_case(std::string_view a, const char* b) {
  size_t n = strlen(b);
  if (a.size() != n) return false;
  for (size_t i = 0; i < n; i++) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;
  }
  return true;
}

bool parse_bool(std::string_view s, bool* out) {
  for (const char* t : {"true", "1", "yes"}) {
    if (equals_ignore_case(s, t)) return *out = true, true;
  }
  for (const char* f : {"false", "0", "no"}) {
    if (equals_ignore_case(s, f)) return *out = false, true;
  }
  return false;
}

// Decimal integer or "Infinity"; no sign, no fraction, no spaces.
bool parse_count(std::string_view s, double* out) {
  if (s == "Infinity" || equals_ignore_case(s, "infinity")) return *out = INFINITY, true;
  if (s.empty() || s.size() > 16) return false;
  double v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

bool option_kind(std::string_view option, SettingKind* kind) {
  const Field* f = find_field(option);
  if (!f) return false;
  *kind = f->kind;
  return true;
}

bool set_option(Config& config, const Setting& s, std::string* err) {
  const Field* f = s.option ? find_field(s.option) : nullptr;
  if (!f) return true;  // unknown options are ignored
  if (f->kind != s.kind) {
    *err = std::string("Invalid value for option ") + f->option + ": expected " + expectation(*f);
    return false;
  }
  switch (f->kind) {
    case SettingKind::kBool:
      config.*(f->flag) = s.boolean;
      return true;
    case SettingKind::kScheduling:
      config.scheduling = s.scheduling;
      return true;
    case SettingKind::kCount: {
      double v = s.number;
      bool ok;
      if (std::isinf(v) && v > 0) {
        ok = f->infinite_ok;
      } else {
        ok = !std::isnan(v) && v == std::floor(v) && v >= static_cast<double>(f->min) && v <= kMaxExact;
      }
      if (!ok) {
        *err = std::string("Invalid value for option ") + f->option + ": " + format_number(v) +
               " (expected " + expectation(*f) + ")";
        return false;
      }
      config.*(f->count) = std::isinf(v) ? kUnlimited : static_cast<uint64_t>(v);
      return true;
    }
  }
  return true;
}

bool parse_env(const GetEnv& getenv, std::vector<Setting>* out, std::string* err) {
  for (const Field& f : kFields) {
    if (!f.env) continue;
    const char* raw = getenv(f.env);
    if (!raw) continue;
    std::string_view value(raw);
    Setting s;
    s.option = f.option;
    s.kind = f.kind;
    bool ok = false;
    switch (f.kind) {
      case SettingKind::kBool:
        ok = parse_bool(value, &s.boolean);
        break;
      case SettingKind::kScheduling:
        if (equals_ignore_case(value, "lifo")) {
          s.scheduling = Scheduling::kLifo;
          ok = true;
        } else if (equals_ignore_case(value, "fifo")) {
          s.scheduling = Scheduling::kFifo;
          ok = true;
        }
        break;
      case SettingKind::kCount:
        ok = parse_count(value, &s.number);
        break;
    }
    // The same rules as an option (one table): range, Infinity, 2^53.
    Config scratch;
    std::string ignored;
    ok = ok && set_option(scratch, s, &ignored);
    if (!ok) {
      *err = std::string("Invalid value for environment variable ") + f.env + ": \"" + raw +
             "\" (expected " + expectation(f) + ")";
      return false;
    }
    out->push_back(s);
  }
  return true;
}

bool config_from_env(const GetEnv& getenv, Config* config, std::string* err) {
  std::vector<Setting> settings;
  if (!parse_env(getenv, &settings, err)) return false;
  for (const Setting& s : settings) {
    if (!set_option(*config, s, err)) return false;
  }
  return true;
}

}  // namespace cpc
