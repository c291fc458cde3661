// Configuration: API.md's defaults, the environment variables, option
// validation, and the defaults -> env -> options layering.
#include "core/config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace cpc {
namespace {

using Env = std::map<std::string, std::string>;

GetEnv fake_env(const Env& env) {
  return [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
}

Setting count(const char* option, double value) {
  Setting s;
  s.option = option;
  s.kind = SettingKind::kCount;
  s.number = value;
  return s;
}

Setting boolean(const char* option, bool value) {
  Setting s;
  s.option = option;
  s.kind = SettingKind::kBool;
  s.boolean = value;
  return s;
}

// Parses one variable; returns the settings or fails with the message.
::testing::AssertionResult parse_one(const std::string& name, const std::string& value,
                                     std::vector<Setting>* out) {
  Env env{{name, value}};
  std::string err;
  if (!parse_env(fake_env(env), out, &err)) {
    return ::testing::AssertionFailure() << name << "=" << value << " rejected: " << err;
  }
  return ::testing::AssertionSuccess();
}

TEST(ConfigDefaults, MatchApiTable) {
  const Config c;
  EXPECT_TRUE(c.keep_alive);
  EXPECT_EQ(c.keep_alive_msecs, 1000u);
  EXPECT_EQ(c.max_sockets, 50u);
  EXPECT_EQ(c.max_free_sockets, 256u);
  EXPECT_EQ(c.max_total_sockets, kUnlimited);
  EXPECT_EQ(c.connect_timeout_ms, 10000u);
  EXPECT_EQ(c.timeout_ms, 30000u);
  EXPECT_EQ(c.free_socket_timeout_ms, 4000u);
  EXPECT_EQ(c.scheduling, Scheduling::kLifo);
  EXPECT_TRUE(c.no_delay);
  EXPECT_EQ(c.max_response_size, 10485760u);
  EXPECT_EQ(c.cleanup_period_ms, 1000u);
  EXPECT_EQ(c.max_requests_per_socket, kUnlimited);
  EXPECT_EQ(c.max_socket_lifetime_ms, kUnlimited);
  EXPECT_EQ(c.max_queue, kUnlimited);
  EXPECT_EQ(c.max_header_size, 16384u);  // 16 KiB total, like Node
}

TEST(ConfigEnv, EmptyEnvironmentLeavesDefaults) {
  Env env;
  Config c;
  std::string err;
  ASSERT_TRUE(config_from_env(fake_env(env), &c, &err)) << err;
  const Config d;
  EXPECT_EQ(c.max_sockets, d.max_sockets);
  EXPECT_EQ(c.keep_alive, d.keep_alive);
  EXPECT_EQ(c.scheduling, d.scheduling);
  EXPECT_EQ(c.max_response_size, d.max_response_size);
}

TEST(ConfigEnv, ReadsExactlyTheDocumentedVariables) {
  std::set<std::string> asked;
  GetEnv spy = [&asked](const char* name) -> const char* {
    asked.insert(name);
    return nullptr;
  };
  std::vector<Setting> out;
  std::string err;
  ASSERT_TRUE(parse_env(spy, &out, &err)) << err;
  EXPECT_TRUE(out.empty());
  const std::set<std::string> documented{
      "KEEP_ALIVE_ENABLED", "KEEP_ALIVE_MSECS", "MAX_SOCKETS",    "MAX_FREE_SOCKETS",
      "CONNECTION_TIMEOUT", "SOCKET_SCHEDULING", "TCP_NO_DELAY", "RESPONSE_SIZE_LIMIT",
      "CLEANUP_PERIOD_MS"};
  EXPECT_EQ(asked, documented);
}

// Each numeric variable lands in its field under its option's name.
struct CountVar {
  const char* env;
  const char* option;
  uint64_t Config::*field;
};

TEST(ConfigEnv, EachNumericVariableSetsItsOption) {
  const CountVar vars[] = {
      {"KEEP_ALIVE_MSECS", "keepAliveMsecs", &Config::keep_alive_msecs},
      {"MAX_SOCKETS", "maxSockets", &Config::max_sockets},
      {"MAX_FREE_SOCKETS", "maxFreeSockets", &Config::max_free_sockets},
      {"CONNECTION_TIMEOUT", "connectTimeout", &Config::connect_timeout_ms},
      {"RESPONSE_SIZE_LIMIT", "maxResponseSize", &Config::max_response_size},
      {"CLEANUP_PERIOD_MS", "cleanupPeriodMs", &Config::cleanup_period_ms},
  };
  for (const CountVar& v : vars) {
    SCOPED_TRACE(v.env);
    std::vector<Setting> out;
    ASSERT_TRUE(parse_one(v.env, "1234", &out));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_STREQ(out[0].option, v.option);
    EXPECT_EQ(out[0].kind, SettingKind::kCount);
    EXPECT_EQ(out[0].number, 1234.0);

    Env env{{v.env, "1234"}};
    Config c;
    std::string err;
    ASSERT_TRUE(config_from_env(fake_env(env), &c, &err)) << err;
    EXPECT_EQ(c.*(v.field), 1234u);
  }
}

TEST(ConfigEnv, BooleansAcceptTrueFalseOneZeroYesNoInAnyCase) {
  const std::vector<std::pair<std::string, bool>> values{
      {"true", true},   {"TRUE", true},   {"True", true}, {"1", true},   {"yes", true},
      {"YES", true},    {"yEs", true},    {"false", false}, {"FALSE", false}, {"False", false},
      {"0", false},     {"no", false},    {"NO", false},  {"nO", false}};
  for (const char* var : {"KEEP_ALIVE_ENABLED", "TCP_NO_DELAY"}) {
    for (const auto& [text, expected] : values) {
      SCOPED_TRACE(std::string(var) + "=" + text);
      Env env{{var, text}};
      Config c;
      c.keep_alive = !expected;
      c.no_delay = !expected;
      std::string err;
      ASSERT_TRUE(config_from_env(fake_env(env), &c, &err)) << err;
      const bool got = std::string(var) == "KEEP_ALIVE_ENABLED" ? c.keep_alive : c.no_delay;
      EXPECT_EQ(got, expected);
    }
  }
}

TEST(ConfigEnv, SchedulingAcceptsLifoAndFifoInAnyCase) {
  for (const auto& [text, expected] :
       std::vector<std::pair<std::string, Scheduling>>{{"fifo", Scheduling::kFifo},
                                                       {"FIFO", Scheduling::kFifo},
                                                       {"lifo", Scheduling::kLifo},
                                                       {"Lifo", Scheduling::kLifo}}) {
    SCOPED_TRACE(text);
    Env env{{"SOCKET_SCHEDULING", text}};
    Config c;
    c.scheduling = expected == Scheduling::kFifo ? Scheduling::kLifo : Scheduling::kFifo;
    std::string err;
    ASSERT_TRUE(config_from_env(fake_env(env), &c, &err)) << err;
    EXPECT_EQ(c.scheduling, expected);
  }
}

TEST(ConfigEnv, BadValuesFailNamingTheVariableAndTheValue) {
  const std::vector<std::pair<std::string, std::string>> bad{
      {"MAX_SOCKETS", "abc"},          {"MAX_SOCKETS", "-1"},
      {"MAX_SOCKETS", "0"},            {"MAX_SOCKETS", "1.5"},
      {"MAX_SOCKETS", "12abc"},        {"SOCKET_SCHEDULING", "random"},
      {"KEEP_ALIVE_ENABLED", "maybe"}, {"TCP_NO_DELAY", "2"},
      {"KEEP_ALIVE_MSECS", "Infinity"}, {"CONNECTION_TIMEOUT", "-5"},
      {"CLEANUP_PERIOD_MS", "0"},      {"RESPONSE_SIZE_LIMIT", "ten"},
      {"MAX_FREE_SOCKETS", "99999999999999999999"}};
  for (const auto& [name, value] : bad) {
    SCOPED_TRACE(name + "=" + value);
    Env env{{name, value}};
    std::vector<Setting> out;
    std::string err;
    EXPECT_FALSE(parse_env(fake_env(env), &out, &err));
    EXPECT_NE(err.find(name), std::string::npos) << err;
    EXPECT_NE(err.find(value), std::string::npos) << err;

    Config c;
    std::string err2;
    EXPECT_FALSE(config_from_env(fake_env(env), &c, &err2));
    EXPECT_NE(err2.find(name), std::string::npos) << err2;
  }
}

// A value parse_env accepts but the option table refuses (more than
// Number.MAX_SAFE_INTEGER) must still be reported under the variable's name:
// API.md says the message names the variable.
TEST(ConfigEnv, ValueAboveSafeIntegerFailsNamingTheVariable) {
  Env env{{"MAX_SOCKETS", "9007199254740993"}};
  Config c;
  std::string err;
  EXPECT_FALSE(config_from_env(fake_env(env), &c, &err));
  EXPECT_NE(err.find("MAX_SOCKETS"), std::string::npos) << err;
  EXPECT_NE(err.find("9007199254740993"), std::string::npos) << err;
}

TEST(ConfigEnv, InfinityAllowedOnlyWhereUnlimitedMakesSense) {
  for (const char* var : {"MAX_SOCKETS", "MAX_FREE_SOCKETS", "RESPONSE_SIZE_LIMIT"}) {
    SCOPED_TRACE(var);
    Env env{{var, "Infinity"}};
    Config c;
    std::string err;
    ASSERT_TRUE(config_from_env(fake_env(env), &c, &err)) << err;
  }
  Env env{{"RESPONSE_SIZE_LIMIT", "Infinity"}};
  Config c;
  std::string err;
  ASSERT_TRUE(config_from_env(fake_env(env), &c, &err)) << err;
  EXPECT_EQ(c.max_response_size, kUnlimited);
  for (const char* var : {"KEEP_ALIVE_MSECS", "CONNECTION_TIMEOUT", "CLEANUP_PERIOD_MS"}) {
    SCOPED_TRACE(var);
    Env bad{{var, "Infinity"}};
    Config d;
    std::string e;
    EXPECT_FALSE(config_from_env(fake_env(bad), &d, &e));
    EXPECT_NE(e.find(var), std::string::npos) << e;
  }
}

TEST(ConfigEnv, FirstBadVariableStopsParsingAndLeavesNoPartialResultInConfig) {
  Env env{{"MAX_SOCKETS", "7"}, {"SOCKET_SCHEDULING", "random"}};
  std::vector<Setting> out;
  std::string err;
  EXPECT_FALSE(parse_env(fake_env(env), &out, &err));
  EXPECT_NE(err.find("SOCKET_SCHEDULING"), std::string::npos) << err;
  Config c;
  EXPECT_FALSE(config_from_env(fake_env(env), &c, &err));
  EXPECT_EQ(c.max_sockets, 50u) << "a failed environment must not half-apply";
}

TEST(ConfigOption, RejectsBadNumbersNamingTheOption) {
  struct Bad {
    const char* option;
    double value;
    const char* shown;
  };
  const Bad bad[] = {
      {"maxSockets", -1, "-1"},
      {"maxSockets", 0, "0"},
      {"maxSockets", 1.5, "1.5"},
      {"maxSockets", NAN, "NaN"},
      {"maxSockets", -INFINITY, "-Infinity"},
      {"maxSockets", 9007199254740992.0 * 2, "18014398509481984"},
      {"keepAliveMsecs", INFINITY, "Infinity"},
      {"connectTimeout", INFINITY, "Infinity"},
      {"timeout", -1, "-1"},
      {"timeout", INFINITY, "Infinity"},
      {"freeSocketTimeout", 0, "0"},
      {"freeSocketTimeout", INFINITY, "Infinity"},
      {"cleanupPeriodMs", 0, "0"},
      {"cleanupPeriodMs", 0.5, "0.5"},
      {"maxQueue", -1, "-1"},
      {"maxResponseSize", NAN, "NaN"},
      {"maxHeaderSize", INFINITY, "Infinity"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(std::string(b.option) + " = " + b.shown);
    Config c;
    const Config before;
    std::string err;
    EXPECT_FALSE(set_option(c, count(b.option, b.value), &err));
    EXPECT_NE(err.find(b.option), std::string::npos) << err;
    EXPECT_NE(err.find(b.shown), std::string::npos) << err;
    EXPECT_EQ(c.max_sockets, before.max_sockets);
    EXPECT_EQ(c.timeout_ms, before.timeout_ms);
  }
}

TEST(ConfigOption, InfinityMeansUnlimitedWhereTheApiAllowsIt) {
  struct Field {
    const char* option;
    uint64_t Config::*field;
  };
  // API.md: maxTotalSockets, maxRequestsPerSocket, maxSocketLifetime and
  // maxQueue default to Infinity; maxResponseSize documents "Infinity = no limit".
  const Field fields[] = {
      {"maxTotalSockets", &Config::max_total_sockets},
      {"maxResponseSize", &Config::max_response_size},
      {"maxRequestsPerSocket", &Config::max_requests_per_socket},
      {"maxSocketLifetime", &Config::max_socket_lifetime_ms},
      {"maxQueue", &Config::max_queue},
      {"maxSockets", &Config::max_sockets},
      {"maxFreeSockets", &Config::max_free_sockets},
  };
  for (const Field& f : fields) {
    SCOPED_TRACE(f.option);
    Config c;
    c.*(f.field) = 3;
    std::string err;
    ASSERT_TRUE(set_option(c, count(f.option, INFINITY), &err)) << err;
    EXPECT_EQ(c.*(f.field), kUnlimited);
  }
}

TEST(ConfigOption, AcceptsZeroWhereZeroHasAMeaning) {
  // timeout 0 = none; maxFreeSockets 0 = keep nothing idle; maxQueue 0 = never wait.
  for (const char* option : {"timeout", "connectTimeout", "maxFreeSockets", "maxQueue",
                             "keepAliveMsecs", "maxResponseSize"}) {
    SCOPED_TRACE(option);
    Config c;
    std::string err;
    EXPECT_TRUE(set_option(c, count(option, 0), &err)) << err;
  }
  Config c;
  std::string err;
  ASSERT_TRUE(set_option(c, count("timeout", 0), &err));
  EXPECT_EQ(c.timeout_ms, 0u);
}

TEST(ConfigOption, StoresValidValues) {
  Config c;
  std::string err;
  ASSERT_TRUE(set_option(c, count("maxSockets", 7), &err)) << err;
  ASSERT_TRUE(set_option(c, count("freeSocketTimeout", 250), &err)) << err;
  ASSERT_TRUE(set_option(c, boolean("keepAlive", false), &err)) << err;
  ASSERT_TRUE(set_option(c, boolean("noDelay", false), &err)) << err;
  Setting fifo;
  fifo.option = "scheduling";
  fifo.kind = SettingKind::kScheduling;
  fifo.scheduling = Scheduling::kFifo;
  ASSERT_TRUE(set_option(c, fifo, &err)) << err;
  EXPECT_EQ(c.max_sockets, 7u);
  EXPECT_EQ(c.free_socket_timeout_ms, 250u);
  EXPECT_FALSE(c.keep_alive);
  EXPECT_FALSE(c.no_delay);
  EXPECT_EQ(c.scheduling, Scheduling::kFifo);
}

TEST(ConfigOption, WrongKindFailsNamingTheOption) {
  Config c;
  std::string err;
  EXPECT_FALSE(set_option(c, boolean("maxSockets", true), &err));
  EXPECT_NE(err.find("maxSockets"), std::string::npos) << err;
  err.clear();
  EXPECT_FALSE(set_option(c, count("keepAlive", 1), &err));
  EXPECT_NE(err.find("keepAlive"), std::string::npos) << err;
  err.clear();
  EXPECT_FALSE(set_option(c, count("scheduling", 1), &err));
  EXPECT_NE(err.find("scheduling"), std::string::npos) << err;
}

TEST(ConfigOption, UnknownOptionsAreIgnoredLikeHttpAgent) {
  Config c;
  std::string err;
  EXPECT_TRUE(set_option(c, count("notAnOption", -1), &err));
  EXPECT_TRUE(err.empty());
  SettingKind kind;
  EXPECT_FALSE(option_kind("notAnOption", &kind));
  ASSERT_TRUE(option_kind("maxSockets", &kind));
  EXPECT_EQ(kind, SettingKind::kCount);
  ASSERT_TRUE(option_kind("keepAlive", &kind));
  EXPECT_EQ(kind, SettingKind::kBool);
  ASSERT_TRUE(option_kind("scheduling", &kind));
  EXPECT_EQ(kind, SettingKind::kScheduling);
}

TEST(ConfigLayering, OptionsWinOverEnvironmentWhichWinsOverDefaults) {
  Env env{{"MAX_SOCKETS", "10"}, {"SOCKET_SCHEDULING", "fifo"}, {"KEEP_ALIVE_ENABLED", "no"}};
  Config c;
  std::string err;
  ASSERT_TRUE(config_from_env(fake_env(env), &c, &err)) << err;
  EXPECT_EQ(c.max_sockets, 10u);                 // env
  EXPECT_EQ(c.scheduling, Scheduling::kFifo);    // env
  EXPECT_FALSE(c.keep_alive);                    // env
  EXPECT_EQ(c.max_free_sockets, 256u);           // default
  ASSERT_TRUE(set_option(c, count("maxSockets", 20), &err)) << err;
  ASSERT_TRUE(set_option(c, boolean("keepAlive", true), &err)) << err;
  EXPECT_EQ(c.max_sockets, 20u);                 // option beats env
  EXPECT_TRUE(c.keep_alive);                     // option beats env
  EXPECT_EQ(c.scheduling, Scheduling::kFifo);    // env kept where no option given
}

}  // namespace
}  // namespace cpc
