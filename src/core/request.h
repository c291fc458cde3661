// A request slot. Slots are allocated once and reused (free list in Pool),
// so strings keep their capacity and a request in steady state allocates
// nothing. A slot's timer handle lives as long as the slot.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "core/errors.h"
#include "core/intrusive_list.h"
#include "core/response.h"

namespace cpc {

class Connection;
class OriginPool;
class Pool;
struct BalancedAttempt;

struct Request {
  enum class Phase : uint8_t {
    kFree,          // in the pool's free list
    kQueued,        // in OriginPool::queue_, waiting for a socket
    kWaitingFresh,  // retry: waiting for the fresh connection reserved for it
    kInFlight,      // bound to `conn`
    kBackoff,       // balanced: waiting on retry_timer for its next attempt
    kDone,          // finished; waiting to be delivered to the sink
  };

  explicit Request(Pool* owner, uint32_t index);
  ~Request();

  Pool* const pool;            // Borrowed; the pool owns every slot.
  const uint32_t slot;         // index in Pool::slots_
  uint32_t generation = 0;     // bumped on every reuse; part of the handle
  Phase phase = Phase::kFree;

  OriginPool* origin = nullptr;  // Borrowed; set while the request is live.
  Connection* conn = nullptr;    // Borrowed; set only while kInFlight (conn->request == this).

  std::string head;            // serialised request line + headers
  std::string body;
  bool idempotent = false;
  bool head_request = false;
  bool close_after = false;    // do not reuse the socket after this request
  uint8_t attempt = 0;         // 1 after the idle-socket race retry
  bool sent = false;           // this attempt's bytes were handed to a socket
  uint8_t trim_closes = 0;     // trim_slots(): timers still closing before the slot is freed

  // Whole-request timeout. Owned by the slot: initialised with it, closed
  // only when the pool shuts down. timer.data == this.
  uv_timer_t timer;
  bool timer_armed = false;
  // Balanced requests: the backoff before the next attempt. Owned like
  // `timer`. retry_timer.data == this.
  uv_timer_t retry_timer;
  // Balanced requests (balancer.h): set while this use of the slot is one.
  // The storage is allocated on the slot's first balanced use and kept.
  bool is_balanced = false;
  std::unique_ptr<BalancedAttempt> balanced;

  // Timings, uv_hrtime() nanoseconds.
  uint64_t start_ns = 0;
  uint64_t assigned_ns = 0;
  uint64_t first_byte_ns = 0;
  uint64_t done_ns = 0;
  double connect_ms = 0;       // connect time of a new socket; 0 when reused
  bool reused = false;

  Response response;
  Error error;
  void* user = nullptr;        // the binding's per-request state (opaque here)

  ListHook queue_hook;         // OriginPool::queue_ or Pool::free_slots_

  // Identifies this use of the slot; fits a JS number (< 2^53).
  static constexpr uint32_t kGenerationMask = 0xFFFFF;
  uint64_t handle() const {
    return (static_cast<uint64_t>(generation & kGenerationMask) << 32) | slot;
  }
  size_t capacity_bytes() const {
    return sizeof(Request) + head.capacity() + body.capacity() + response.capacity_bytes();
  }
};

}  // namespace cpc
