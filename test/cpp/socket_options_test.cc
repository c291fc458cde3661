// The socket options every pool socket gets, read back from the client's own
// file descriptor with getsockopt: SO_KEEPALIVE only with keepAlive (as
// http.Agent does), its initial delay from keepAliveMsecs in whole seconds
// (rounded, 1 s at least), and TCP_NODELAY from noDelay.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdint>
#include <ostream>
#include <string>

#include "support/pool_harness.h"

namespace cpc_test {
namespace {

using cpc::Config;

struct SocketOptions {
  int keepalive = -1;
  int keepidle_s = -1;
  int nodelay = -1;
};

// The client socket of this process bound to 127.0.0.1:`port` (the server
// records each client's port), or -1. Bounded: the first 4096 descriptors.
int client_fd_bound_to(uint16_t port) {
  for (int fd = 0; fd < 4096; fd++) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) continue;
    if (ss.ss_family != AF_INET) continue;
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    if (ntohs(in->sin_port) == port && in->sin_addr.s_addr == htonl(INADDR_LOOPBACK)) return fd;
  }
  return -1;
}

int int_option(int fd, int level, int name) {
  int value = -1;
  socklen_t len = sizeof(value);
  EXPECT_EQ(getsockopt(fd, level, name, &value, &len), 0) << "getsockopt " << level << "/" << name;
  return value;
}

class SocketOptionsTest : public PoolTest {
 protected:
  // Starts a pool with `config`, holds one request at the server so its
  // socket stays open (keepAlive: false closes it after the answer), reads
  // the client socket's options, then lets the request finish.
  SocketOptions options_with(const Config& config) {
    SocketOptions got;
    start_pool(config);
    server_->script.hold = true;
    send(1);
    EXPECT_TRUE(run_until([&] { return server_->requests().size() == 1; }));
    if (server_->connections().size() != 1) return got;
    const int fd = client_fd_bound_to(server_->connections()[0].peer_port);
    EXPECT_GE(fd, 0) << "no client socket bound to the port the server saw";
    if (fd >= 0) {
      got.keepalive = int_option(fd, SOL_SOCKET, SO_KEEPALIVE);
      got.keepidle_s = int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE);
      got.nodelay = int_option(fd, IPPROTO_TCP, TCP_NODELAY);
    }
    server_->release();
    EXPECT_TRUE(wait_results(1));
    EXPECT_TRUE(sink_.results[0].error.ok()) << sink_.results[0].error.message;
    return got;
  }
};

TEST_F(SocketOptionsTest, KeepAliveSocketsProbeAfterKeepAliveMsecs) {
  Config c;
  c.keep_alive_msecs = 5000;
  const SocketOptions got = options_with(c);
  EXPECT_EQ(got.keepalive, 1);
  EXPECT_EQ(got.keepidle_s, 5) << "keepAliveMsecs was not applied";
}

TEST_F(SocketOptionsTest, DefaultKeepAliveMsecsGivesOneSecond) {
  const SocketOptions got = options_with(Config{});
  EXPECT_EQ(got.keepalive, 1);
  EXPECT_EQ(got.keepidle_s, 1);
}

struct DelayCase {
  uint64_t msecs;
  int seconds;
};

void PrintTo(const DelayCase& c, std::ostream* os) { *os << c.msecs << " ms -> " << c.seconds << " s"; }

class KeepAliveDelayTest : public SocketOptionsTest,
                           public ::testing::WithParamInterface<DelayCase> {};

TEST_P(KeepAliveDelayTest, DelayIsRoundedToWholeSecondsAtLeastOne) {
  Config c;
  c.keep_alive_msecs = GetParam().msecs;
  const SocketOptions got = options_with(c);
  EXPECT_EQ(got.keepalive, 1);
  EXPECT_EQ(got.keepidle_s, GetParam().seconds) << "keepAliveMsecs " << GetParam().msecs;
}

INSTANTIATE_TEST_SUITE_P(Msecs, KeepAliveDelayTest,
                         ::testing::Values(DelayCase{0, 1}, DelayCase{400, 1}, DelayCase{1499, 1},
                                           DelayCase{1500, 2}, DelayCase{2600, 3},
                                           DelayCase{100000000, 32767}),
                         [](const ::testing::TestParamInfo<DelayCase>& info) {
                           return "ms" + std::to_string(info.param.msecs);
                         });

TEST_F(SocketOptionsTest, KeepAliveFalseLeavesSoKeepaliveOff) {
  Config c;
  c.keep_alive = false;
  c.keep_alive_msecs = 5000;
  const SocketOptions got = options_with(c);
  EXPECT_EQ(got.keepalive, 0) << "a keepAlive: false socket must not probe (http.Agent does not)";
}

TEST_F(SocketOptionsTest, NoDelayTrueSetsTcpNodelay) {
  Config c;
  c.no_delay = true;
  EXPECT_NE(options_with(c).nodelay, 0);
}

TEST_F(SocketOptionsTest, NoDelayFalseLeavesTcpNodelayOff) {
  Config c;
  c.no_delay = false;
  EXPECT_EQ(options_with(c).nodelay, 0);
}

}  // namespace
}  // namespace cpc_test
