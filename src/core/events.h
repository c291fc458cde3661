// Pool events (API.md "Events"). The core queues them only while the
// binding says someone listens (Pool::set_events_enabled), and hands them
// over with the next delivery batch, never from inside a state change.
#pragma once

#include <cstdint>
#include <string>

#include "core/errors.h"

namespace cpc {

enum class CloseReason : uint8_t {
  kNone,
  kIdleTimeout,   // idle longer than freeSocketTimeout / the Keep-Alive hint
  kMaxFree,       // more idle sockets than maxFreeSockets
  kMaxRequests,   // maxRequestsPerSocket reached
  kLifetime,      // maxSocketLifetime reached
  kServerClosed,  // FIN/RST/bytes from the server, or it asked to close
  kError,         // a socket error, parse failure, timeout or abort
  kPoolClosed,    // close() / destroy()
  kNoKeepAlive,   // keepAlive: false
};

const char* close_reason_name(CloseReason reason);

enum class EventType : uint8_t {
  kSocketCreated,
  kSocketReused,
  kSocketClosed,
  kSocketError,
  kLeak,
  kEndpointHealth,   // BalancedPool: state -> detail (health classes), note = reason
  kEndpointBreaker,  // BalancedPool: state -> detail (breaker states)
};

struct Event {
  EventType type = EventType::kSocketCreated;
  uint64_t id = 0;           // connection id
  std::string origin;
  double connect_time_ms = 0;  // kSocketCreated
  uint64_t uses = 0;           // kSocketReused: requests served including this one
  CloseReason reason = CloseReason::kNone;  // kSocketClosed
  Error error;                 // kSocketError
  std::string state;           // kLeak; kEndpoint*: from
  std::string detail;          // kLeak; kEndpoint*: to
  std::string note;            // kEndpointHealth: reason
  uint32_t balancer = 0;       // kEndpoint*: which BalancedPool
};

}  // namespace cpc
