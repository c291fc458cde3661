// The sockets and waiting requests of one origin (scheme + host + port).
//
// State lives in lists: a Connection is on exactly the list that matches its
// State (connecting_, active_, idle_, closing_), and transition() is the only
// function that writes Connection::state and moves it. Waiting requests are
// in queue_ (FIFO). A socket that becomes free goes to the oldest waiter
// before it is filed as idle (Go's tryPutIdleConn).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/address_order.h"
#include "core/connection.h"
#include "core/errors.h"
#include "core/intrusive_list.h"
#include "core/request.h"

namespace cpc {

class Pool;

// A warmup() call: how many of its sockets are still connecting.
struct WarmupOp {
  void* user = nullptr;
  OriginPool* origin = nullptr;  // Borrowed.
  uint64_t remaining = 0;
};

class OriginPool {
 public:
  OriginPool(Pool* pool, std::string key, std::string host, uint16_t port, bool https);
  ~OriginPool();
  OriginPool(const OriginPool&) = delete;
  OriginPool& operator=(const OriginPool&) = delete;

  Pool* pool() const { return pool_; }
  const std::string& key() const { return key_; }
  const std::string& host() const { return host_; }
  const char* port_string() const { return port_str_; }
  uint16_t port() const { return port_; }
  bool https() const { return https_; }
  // Multi-address hosts: where the next connection starts, and the
  // addresses that recently refused (tried last).
  uint64_t take_address_turn() { return address_turn_++; }
  const RefusedAddresses& refused() const { return refused_; }
  void note_refused(const sockaddr* addr);

  // Queues a request and dispatches what can be dispatched. Returns
  // kQueueFull (request not queued) when maxQueue requests already wait.
  Error submit(Request* req);
  // Ends a live request with `err` (timeout, abort, destroy), wherever it is.
  void cancel(Request* req, Error err);
  // Opens sockets for a warmup() call; returns how many it opened.
  uint64_t warmup(uint64_t count, WarmupOp* op);
  // Gives idle sockets to waiters and opens sockets for the rest, within limits.
  void pump();
  // Closes idle sockets past their idle or lifetime limit.
  void sweep(uint64_t now_ms);
  // The leak audit for one socket: empty when its state matches the list it
  // is on (and an active one serves a live request), else what is wrong.
  std::string audit(const Connection* c) const;
  // Closes a socket the audit found in no valid state (and fails its request).
  void reclaim(Connection* c);
  // Test hooks: break an active socket's invariant so the audit has a leak to find.
  void corrupt_for_test(Connection* c);
  Connection* any_active_for_test() const;
  // Test hook: what the host "resolves" to, in order, in place of DNS (no
  // name resolves to several chosen addresses on a test machine). Set
  // before the first connection; empty (the default) resolves normally.
  void set_addresses_for_test(std::vector<sockaddr_storage> addrs) { test_addrs_ = std::move(addrs); }
  const std::vector<sockaddr_storage>& addresses_for_test() const { return test_addrs_; }
  // Closes the oldest idle socket (for maxTotalSockets). False if none.
  bool evict_one_idle();
  // Closes every socket now (destroy) or only the idle/unused ones (graceful close).
  void close_all(CloseReason reason);
  void close_unused();
  // Membership in BalancedPools (a count: several balancers of one Pool may
  // share an origin). When the last balancer removes an origin that nothing
  // else used, it drains: idle sockets close now, busy ones when their
  // request ends. Direct use (execute, warmup) makes it an ordinary origin
  // whose sockets a balancer's removal leaves alone; adding it again to a
  // balancer undoes a drain.
  void add_balancer_ref();
  void drop_balancer_ref();
  void note_direct_use() {
    if (!direct_use_) {
      direct_use_ = true;
      draining_ = false;
    }
  }
  bool draining() const { return draining_; }
  // Fails every queued or waiting request (destroy).
  void fail_all(const Error& err);

  // Reports from Connection.
  void on_connected(Connection* c);
  void on_connect_failed(Connection* c, Error err);
  void on_bytes(Connection* c, const char* data, size_t len);
  void on_eof(Connection* c, int uv_status);
  void on_write_error(Connection* c, Error err);
  // A failure below HTTP (TLS alert, bad record) on a connected socket.
  void on_transport_error(Connection* c, Error err);
  void on_handles_closed(Connection* c);

  size_t open_count() const { return connecting_.size() + active_.size() + idle_.size(); }
  size_t active_count() const { return active_.size(); }
  size_t idle_count() const { return idle_.size(); }
  size_t pending_count() const { return queue_.size() + waiting_fresh_; }
  bool has_live_work() const { return !queue_.empty() || waiting_fresh_ > 0 || !active_.empty(); }
  bool has_connections() const { return open_count() + closing_.size() > 0; }
  uint64_t connection_bytes() const;

 private:
  using ConnList = IntrusiveList<Connection, &Connection::state_hook>;
  using RequestList = IntrusiveList<Request, &Request::queue_hook>;

  void transition(Connection* c, Connection::State to, CloseReason reason = CloseReason::kNone);
  ConnList& list_for(Connection::State s);
  Connection* open_connection(Request* reserved, WarmupOp* warmup);
  // The next idle socket fit for reuse; closes the expired or dead ones it
  // passes on the way. Null when none is left.
  Connection* take_idle();
  // Why an idle socket must not be used at `now_ms` (loop clock): kIdleTimeout
  // past its idle limit, kLifetime past maxSocketLifetime, else kNone.
  CloseReason expiry(const Connection* c, uint64_t now_ms) const;
  void assign(Connection* c, Request* req, bool waited_for_connect = false);
  void release(Connection* c);
  void close_connection(Connection* c, CloseReason reason);
  void finish_response(Connection* c, bool extra_bytes);
  void fail_active(Connection* c, Error err, CloseReason reason);
  bool retry_on_fresh_socket(Connection* c, Request* req);
  void fail_request(Request* req, Error err);
  void warmup_settled(Connection* c);
  bool can_open() const;
  size_t unreserved_connecting() const { return connecting_.size() - reserved_connecting_; }

  Pool* const pool_;   // Borrowed; the Pool owns this OriginPool.
  const std::string key_;   // "http://127.0.0.1:8080"
  const std::string host_;  // host to resolve/connect, IPv6 without brackets
  const uint16_t port_;
  char port_str_[8];
  const bool https_;

  ConnList connecting_{1};
  ConnList active_{2};
  ConnList idle_{3};
  ConnList closing_{4};
  RequestList queue_{5};
  bool draining_ = false;
  uint32_t balancer_refs_ = 0;  // balancers that have this origin as a member
  bool direct_use_ = false;     // used by execute()/warmup() too
  uint64_t address_turn_ = 0;
  RefusedAddresses refused_;
  size_t waiting_fresh_ = 0;         // requests in Phase::kWaitingFresh
  size_t reserved_connecting_ = 0;   // connecting sockets with `reserved` set
  std::vector<sockaddr_storage> test_addrs_;  // set_addresses_for_test(); Connections borrow it
};

}  // namespace cpc
