// The order in which a new connection tries the addresses a host name
// resolved to (issue: "new connections spread over them and a refused
// address is skipped"). Pure logic, so it is tested without DNS.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <vector>

namespace cpc {

// Addresses an origin recently saw refuse a connection, each until a
// deadline; they go last, not away (they may be back).
class RefusedAddresses {
 public:
  static constexpr uint64_t kRememberMs = 10000;
  void note(const sockaddr* addr, uint64_t now_ms);
  bool contains(const sockaddr* addr, uint64_t now_ms) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    sockaddr_storage addr;
    uint64_t until_ms;
  };
  std::vector<Entry> entries_;  // a handful at most: one per address of the origin
};

bool same_address(const sockaddr* a, const sockaddr* b);

// Rotates `addrs` by `turn` (so successive connections start at successive
// addresses) and moves the recently refused ones to the end.
std::vector<const sockaddr*> order_addresses(const std::vector<const sockaddr*>& addrs,
                                             uint64_t turn, const RefusedAddresses& refused,
                                             uint64_t now_ms);

}  // namespace cpc
