// The connection pool: origin pools by key, global limits, request slots,
// the cleanup sweep, and delivery of results to the binding.
//
// Threading: everything runs on the one uv_loop_t given to the constructor;
// no locks. Re-entry: results, events and notices are never handed out from
// inside a state change. Every entry point (uv callbacks and public calls)
// holds a Pool::Entry; when the outermost one ends, the pool is consistent
// and settle() hands the batch to the sink, which may call back into the
// pool (execute, close, destroy) from the continuation it runs.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/balancer.h"
#include "core/config.h"
#include "core/events.h"
#include "core/intrusive_list.h"
#include "core/metrics.h"
#include "core/origin_pool.h"
#include "core/request.h"
#include "core/request_writer.h"
#include "core/tls_context.h"

namespace cpc {

struct Notice {
  enum class Kind : uint8_t { kWarmupDone, kCloseDone };
  Kind kind;
  void* user;       // what the caller passed to warmup() / close()
  uint64_t value;   // kWarmupDone: idle sockets of the origin now
};

class PoolSink {
 public:
  virtual ~PoolSink() = default;
  // One batch of results. Each Request in `done` has either error.ok() and a
  // response, or an error; its slot is recycled after deliver() returns.
  // The sink may call into the pool from here.
  virtual void deliver(Request* const* done, size_t done_count, const Event* events,
                       size_t event_count, const Notice* notices, size_t notice_count) = 0;
  // Every handle is closed after shutdown(). The sink may delete the pool
  // from inside this call; the pool touches nothing after it returns.
  virtual void on_shutdown_complete() = 0;
};

struct BalancedArgs {
  uint32_t balancer = 0;
  std::string_view method;
  std::string_view target;      // "/path?query"
  const HeaderPair* headers = nullptr;
  size_t header_count = 0;
  const char* body = nullptr;
  size_t body_length = 0;
  int64_t timeout_ms = -1;      // < 0: the pool's timeout; 0: none
  bool idempotent = false;      // init.idempotent (or-ed with the method's)
  void* user = nullptr;
};

struct ExecuteArgs {
  std::string_view origin_key;  // "http://host:port", as URL.origin gives it
  std::string_view host;        // to resolve / connect; IPv6 without brackets
  uint16_t port = 0;
  bool https = false;
  std::string_view method;
  std::string_view target;      // "/path?query"
  std::string_view host_header;
  const HeaderPair* headers = nullptr;
  size_t header_count = 0;
  const char* body = nullptr;
  size_t body_length = 0;
  int64_t timeout_ms = -1;      // < 0: the pool's timeout; 0: none
  void* user = nullptr;
};

class Pool {
 public:
  // `tls` configures every https origin of this pool; its context (and the
  // process-wide default trust) is built on the first https connection.
  Pool(uv_loop_t* loop, const Config& config, PoolSink* sink, TlsOptions tls = {});
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Starts a request; *handle identifies it (for abort). The result, also a
  // failure found at once (invalid input, closed, queue full, https),
  // arrives through the sink from a later loop turn.
  void execute(const ExecuteArgs& args, uint64_t* handle);
  // BalancedPool (balancer.h): create one, then run requests through it.
  uint32_t create_balancer(BalancerConfig config);
  Balancer* balancer(uint32_t id) const;
  void execute_balanced(const BalancedArgs& args, uint64_t* handle);

  // Ends a live request with `err` (ABORT_ERR). False if it already ended.
  bool abort(uint64_t handle, Error err);
  // Opens up to `count` idle sockets (bounded by maxSockets); a kWarmupDone
  // notice with the origin's idle count follows (value 0 and no sockets
  // opened when the pool is closing).
  void warmup(std::string_view origin_key, std::string_view host, uint16_t port, bool https,
               uint64_t count, void* user);
  // Graceful: new work is refused, live work finishes, then every socket
  // closes; a kCloseDone notice follows once no socket is open.
  void close(void* user);
  // Immediate: live requests fail with `err`, every socket closes now.
  void destroy(Error err);
  // destroy() plus closing the pool's own handles; on_shutdown_complete()
  // follows once every handle is closed.
  void shutdown();
  bool closing() const { return closing_; }

  void set_events_enabled(bool enabled) { events_enabled_ = enabled; }
  bool events_enabled() const { return events_enabled_; }
  void metrics(MetricsSnapshot* out) const;
  // Runs the sweep now (idle expiry + leak audit); returns leaks found.
  uint64_t sweep_now();
  // Test hook: breaks one active socket's invariant so the audit finds a leak.
  bool corrupt_one_for_test();
  // Requests not yet delivered (queued, waiting, in flight or done).
  size_t live_requests() const { return live_requests_; }

  // Holds the pool consistent; the outermost Entry settles. A kCall entry
  // is a public call from the binding (JS on the stack): results it
  // produces are delivered from the next loop turn, never inside the call
  // (execute() never settles synchronously). kRead entries are socket read
  // callbacks: what they produce is delivered from the check phase of the
  // same loop turn, so every response read in one poll phase reaches JS in
  // one batch (one crossing, one microtask checkpoint). kLoop entries are
  // other uv callbacks and deliver as they end.
  enum class From : uint8_t { kLoop, kCall, kRead };
  class Entry {
   public:
    explicit Entry(Pool& pool, From from = From::kLoop) : pool_(pool) {
      if (pool_.depth_++ == 0) pool_.outer_from_ = from;
    }
    ~Entry() {
      if (--pool_.depth_ == 0) pool_.settle();
    }
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

   private:
    Pool& pool_;
  };

  // For OriginPool and Connection.
  uv_loop_t* loop() const { return loop_; }
  const Config& config() const { return config_; }
  Counters& counters() { return counters_; }
  uint64_t next_connection_id() { return ++last_connection_id_; }
  void complete(Request* req);           // queue a finished request for delivery
  void emit(Event&& event);              // queue an event (only if enabled)
  void notify(Notice notice) { notices_.push_back(notice); }
  void on_connection_created(Connection* c);
  void on_connection_freed(Connection* c);
  void on_socket_opened() { open_sockets_++; }
  void on_socket_released();             // a socket stopped counting as open
  bool total_limit_reached() const { return open_sockets_ >= config_.max_total_sockets; }
  bool evict_idle_elsewhere(OriginPool* except);
  void request_pump() { pump_needed_ = true; }
  void arm_sweep();
  OriginPool* origin_for(std::string_view key, std::string_view host, uint16_t port, bool https);
  // For Balancer: one attempt of a balanced request on `origin`.
  Error submit_attempt(Request* req, OriginPool* origin, std::string_view host_header);
  void finish_balanced(Request* req);  // deliver as it stands (no more attempts)
  bool start_probe(Balancer* b, int32_t endpoint, const BalancerConfig& config);
  void on_balancer_timer_closed(Balancer* b);
  static void on_retry_timer(uv_timer_t* t);
  // The pool's TLS context, created on first use; null with *err set when
  // the TLS options are unusable (bad PEM, key mismatch).
  TlsContext* tls_context(Error* err);

 private:
  using RequestList = IntrusiveList<Request, &Request::queue_hook>;
  using Registry = IntrusiveList<Connection, &Connection::registry_hook>;

  Request* acquire_slot();
  void release_slot(Request* req);
  // Frees free slots beyond `keep_free` (see kSpareSlots in pool.cc).
  void trim_slots(size_t keep_free);
  static void on_trimmed_timer_closed(uv_handle_t* h);
  Request* find_live(uint64_t handle) const;
  void settle();
  void maybe_finish_close();
  uint64_t audit();
  bool all_handles_closed() const { return open_handles_ == 0 && registry_.empty(); }
  static void on_request_timeout(uv_timer_t* t);
  static void on_sweep(uv_timer_t* t);
  static void on_sweep_closed(uv_handle_t* h);
  static void on_kick(uv_timer_t* t);
  static void on_kick_closed(uv_handle_t* h);
  static void on_check(uv_check_t* h);
  static void on_check_closed(uv_handle_t* h);
  bool has_output() const { return !done_.empty() || !events_.empty() || !notices_.empty(); }
  // Settles a request that never reached an origin (closed, invalid, full).
  void reject_now(Request* req, Error err);
  static void on_slot_timer_closed(uv_handle_t* h);

  uv_loop_t* const loop_;  // Borrowed; outlives the pool.
  const Config config_;
  PoolSink* const sink_;   // Borrowed; outlives the pool.
  const TlsOptions tls_options_;
  // Owned; created by the first https connection, freed with the pool
  // (after every TlsSession, which lives in a Connection).
  std::unique_ptr<TlsContext> tls_;
  Error tls_error_;        // why tls_ could not be created (repeated to each socket)

  std::unordered_map<std::string, std::unique_ptr<OriginPool>> origins_;
  // By id; closed ones stay (null) so ids are never reused. Freed after
  // their probe timer's close callback.
  std::vector<std::unique_ptr<Balancer>> balancers_;
  std::vector<HeaderPair> attempt_headers_;  // scratch for submit_attempt
  OriginPool* last_origin_ = nullptr;  // cache: consecutive requests to one origin

  // By index (the low half of a request handle). A slot freed by
  // trim_slots() leaves a null entry; its index goes to spare_indices_ with
  // the generation to continue from once both its timers have closed, so a
  // stale handle never matches the slot's next use.
  std::vector<std::unique_ptr<Request>> slots_;
  RequestList free_slots_{6};
  struct SpareIndex {
    uint32_t index;
    uint32_t generation;
  };
  std::vector<SpareIndex> spare_indices_;
  size_t peak_live_ = 0;   // most live requests since the last sweep
  Registry registry_{7};   // every Connection not yet freed, for the audit

  // Owned by Pool: the cleanup sweep. Unref'd; runs while sockets exist.
  // Closed in shutdown(). sweep_timer_.data == this.
  uv_timer_t sweep_timer_;
  bool sweep_armed_ = false;
  int open_handles_ = 0;   // pool-owned handles (sweep + slot timers) not yet closed

  Counters counters_;
  RequestHeadCache head_cache_;  // execute()'s heads
  uint64_t last_connection_id_ = 0;
  uint64_t open_sockets_ = 0;  // connecting + active + idle, all origins
  size_t live_requests_ = 0;

  // Delivery batches; two sets swapped so steady state allocates nothing.
  std::vector<Request*> done_, done_batch_;
  std::vector<Event> events_, events_batch_;
  std::vector<Notice> notices_, notices_batch_;
  // Owned by Pool: a zero-delay timer that delivers results produced inside
  // a kCall entry. Ref'd while armed (a pending promise must settle).
  // Closed in shutdown(). kick_timer_.data == this.
  uv_timer_t kick_timer_;
  // Owned by Pool: delivers, in the check phase, what read callbacks of the
  // poll phase produced. Unref'd (it only runs in the turn that armed it);
  // closed in shutdown(). check_.data == this.
  uv_check_t check_;
  bool check_armed_ = false;
  int depth_ = 0;
  From outer_from_ = From::kLoop;
  bool settling_ = false;
  bool pump_needed_ = false;
  bool events_enabled_ = false;

  bool closing_ = false;       // close() or destroy() called: new work refused
  bool close_pending_ = false;
  std::vector<void*> close_users_;  // close() callers waiting for kCloseDone
  bool shutting_down_ = false;
  bool shutdown_notified_ = false;
};

}  // namespace cpc
