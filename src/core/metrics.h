// Counters of a pool (API.md getMetrics). Plain integers updated on the hot
// path; derived figures (percentages, averages) are computed on read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cpc {

struct Counters {
  uint64_t total_requests = 0;
  uint64_t completed_requests = 0;
  uint64_t failed_requests = 0;
  uint64_t total_connections = 0;     // sockets ever opened (attempted)
  uint64_t closed_connections = 0;
  uint64_t failed_connections = 0;    // connect (or DNS) failed
  uint64_t timed_out_connections = 0; // connect timed out
  uint64_t new_connections = 0;       // requests served on a fresh socket
  uint64_t reused_connections = 0;    // requests served on a reused socket
  uint64_t connect_count = 0;         // successful connects (for the average)
  double connect_ms_total = 0;
  double reuse_acquire_ms_total = 0;
  uint64_t socket_leaks = 0;
  uint64_t tls_handshakes = 0;        // completed, full + resumed
  uint64_t tls_resumed = 0;           // completed by resuming a cached session
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

struct OriginMetrics {
  std::string origin;
  uint64_t active = 0;
  uint64_t idle = 0;
  uint64_t pending = 0;  // queued + waiting for a fresh socket
  uint64_t total = 0;    // connecting + active + idle
};

struct MetricsSnapshot {
  Counters counters;
  uint64_t pending_requests = 0;
  uint64_t active_connections = 0;
  uint64_t idle_connections = 0;
  double socket_reuse_percentage = 0;
  double average_connection_time = 0;
  double average_reuse_time = 0;
  uint64_t native_memory = 0;
  std::vector<OriginMetrics> origins;
};

}  // namespace cpc
