// What the pool keeps after a burst: request slots grown by a burst are
// freed once it ends (at once when the pool goes quiet, else by the sweep),
// their indices are reused without reusing a handle, and steady traffic
// keeps the slots it needs.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "support/pool_harness.h"

namespace cpc_test {
namespace {

using cpc::Config;

constexpr uint32_t slot_of(uint64_t handle) { return static_cast<uint32_t>(handle & 0xFFFFFFFFu); }

Config burst_config() {
  Config c;
  c.max_sockets = 8;             // the burst queues: 8 sockets, many live slots
  c.cleanup_period_ms = 60000;   // only sweep_now() sweeps
  return c;
}

TEST_F(PoolTest, SlotsGrownByABurstAreFreedWhenItEndsAndTheirIndicesReused) {
  start_pool(burst_config(), false);
  send(1);
  ASSERT_TRUE(wait_results(1));
  const uint64_t base = metrics().native_memory;

  std::vector<uint64_t> first;
  for (uintptr_t i = 0; i < 300; i++) first.push_back(send(100 + i, "/a" + std::to_string(i)));
  const uint64_t peak = metrics().native_memory;
  EXPECT_GT(peak, base + 200 * 1024) << "300 live slots should weigh more than this";
  ASSERT_TRUE(wait_results(301));
  for (const Result& r : sink_.results) ASSERT_TRUE(r.error.ok()) << r.error.message;

  // The last delivery left the pool quiet: spare slots close their timers
  // and are freed from the close callbacks.
  ASSERT_TRUE(run_until([&] { return metrics().native_memory <= base + 64 * 1024; }))
      << "native memory after the burst: " << metrics().native_memory << ", before: " << base
      << ", at its peak: " << peak;

  // A second burst reuses the freed indices, never a handle of the first.
  std::vector<uint64_t> second;
  for (uintptr_t i = 0; i < 300; i++) second.push_back(send(1000 + i, "/b" + std::to_string(i)));
  const std::set<uint64_t> old(first.begin(), first.end());
  uint32_t max_slot = 0;
  for (uint64_t h : second) {
    EXPECT_EQ(old.count(h), 0u) << "handle " << h << " was used by the first burst";
    max_slot = std::max(max_slot, slot_of(h));
  }
  EXPECT_LE(max_slot, 300u) << "the second burst grew new indices instead of reusing freed ones";
  // A stale handle whose index is live again must not reach the new request.
  for (uint64_t h : first) EXPECT_FALSE(pool().abort(h, cpc::make_error(cpc::ErrorCode::kAborted, "stale")));
  ASSERT_TRUE(wait_results(601));
  for (const Result& r : sink_.results) {
    ASSERT_TRUE(r.error.ok()) << r.error.message;
    EXPECT_EQ(r.status, 200);
  }
  EXPECT_EQ(sink_.find(1299)->body, "/b299");  // each answer reached its own request
}

TEST_F(PoolTest, SweepKeepsWhatTheLastPeriodNeededAndTrimsTheRest) {
  start_pool(burst_config(), false);
  send(1);
  ASSERT_TRUE(wait_results(1));
  const uint64_t base = metrics().native_memory;
  // 100 live slots: below the quiet-trim threshold, so only the sweep frees them.
  for (uintptr_t i = 0; i < 100; i++) send(100 + i);
  ASSERT_TRUE(wait_results(101));
  const uint64_t grown = metrics().native_memory;
  EXPECT_GT(grown, base + 60 * 1024);

  // The first sweep sees the burst in its period: nothing is freed.
  pool().sweep_now();
  send(2);  // a round trip: any close callback of a trim would have run
  ASSERT_TRUE(wait_results(102));
  EXPECT_GE(metrics().native_memory, grown) << "a sweep freed slots its own period needed";

  // A quiet period later the next sweep frees all but a few spares.
  pool().sweep_now();
  ASSERT_TRUE(run_until([&] { return metrics().native_memory <= base + 64 * 1024; }))
      << "native memory after the second sweep: " << metrics().native_memory
      << ", before the burst: " << base;
  send(3);
  ASSERT_TRUE(wait_results(103));
  EXPECT_TRUE(sink_.results.back().error.ok());
}

TEST_F(PoolTest, ShutdownWhileTrimmedSlotsAreClosingClosesEverything) {
  start_pool(burst_config(), false);
  for (uintptr_t i = 0; i < 200; i++) send(1 + i);
  // Delivery of the last result trims; TearDown shuts the pool down at once,
  // while the trimmed slots' timers may still be closing, and checks that
  // every handle was closed exactly once (uv_loop_close returns 0).
  ASSERT_TRUE(wait_results(200));
  for (const Result& r : sink_.results) EXPECT_TRUE(r.error.ok()) << r.error.message;
}

// An idle socket carries no write queue and no connect state; both come
// back when needed: a body too big for one write queues (and is freed when
// the socket goes idle), and the socket is reused for the next big body.
TEST_F(PoolTest, BigBodiesQueueAndTheIdleSocketIsReusedForTheNext) {
  Config c;
  c.max_sockets = 1;
  start_pool(c, false);
  send(1);
  ASSERT_TRUE(wait_results(1));
  const uint64_t idle_memory = metrics().native_memory;
  const std::string big(8 * 1024 * 1024, 'x');  // more than a socket buffer takes at once
  for (uintptr_t i = 2; i <= 3; i++) {
    send(i, "/up" + std::to_string(i), "POST", big + std::to_string(i));
    ASSERT_TRUE(wait_results(i));
    const Result& r = sink_.results.back();
    ASSERT_TRUE(r.error.ok()) << r.error.message;
    EXPECT_EQ(r.body, "/up" + std::to_string(i));
    EXPECT_TRUE(r.reused);
  }
  ASSERT_EQ(server_->requests().size(), 3u);
  EXPECT_EQ(server_->requests()[1].body, big + "2");
  EXPECT_EQ(server_->requests()[2].body, big + "3");
  EXPECT_EQ(server_->connections().size(), 1u);
  // The request slot gives a body this big back when released, and the
  // idle socket drops its write queue (kept, it would add ~290 bytes).
  EXPECT_LE(metrics().native_memory, idle_memory + 128);
}

}  // namespace
}  // namespace cpc_test
