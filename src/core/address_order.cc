#include "core/address_order.h"

#include <netinet/in.h>

#include <cstring>

namespace cpc {

bool same_address(const sockaddr* a, const sockaddr* b) {
  if (a->sa_family != b->sa_family) return false;
  if (a->sa_family == AF_INET) {
    auto* x = reinterpret_cast<const sockaddr_in*>(a);
    auto* y = reinterpret_cast<const sockaddr_in*>(b);
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    auto* x = reinterpret_cast<const sockaddr_in6*>(a);
    auto* y = reinterpret_cast<const sockaddr_in6*>(b);
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
  }
  return false;
}

void RefusedAddresses::note(const sockaddr* addr, uint64_t now_ms) {
  const size_t len = addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  for (Entry& e : entries_) {
    if (same_address(reinterpret_cast<const sockaddr*>(&e.addr), addr)) {
      e.until_ms = now_ms + kRememberMs;
      return;
    }
  }
  // Expired entries make room before the list grows.
  for (Entry& e : entries_) {
    if (e.until_ms <= now_ms) {
      memset(&e.addr, 0, sizeof(e.addr));
      memcpy(&e.addr, addr, len);
      e.until_ms = now_ms + kRememberMs;
      return;
    }
  }
  Entry e;
  memset(&e.addr, 0, sizeof(e.addr));
  memcpy(&e.addr, addr, len);
  e.until_ms = now_ms + kRememberMs;
  entries_.push_back(e);
}

bool RefusedAddresses::contains(const sockaddr* addr, uint64_t now_ms) const {
  for (const Entry& e : entries_) {
    if (e.until_ms > now_ms && same_address(reinterpret_cast<const sockaddr*>(&e.addr), addr)) {
      return true;
    }
  }
  return false;
}

std::vector<const sockaddr*> order_addresses(const std::vector<const sockaddr*>& addrs,
                                             uint64_t turn, const RefusedAddresses& refused,
                                             uint64_t now_ms) {
  std::vector<const sockaddr*> fresh, stale;
  const size_t n = addrs.size();
  for (size_t k = 0; k < n; k++) {
    const sockaddr* a = addrs[(turn + k) % n];
    (refused.contains(a, now_ms) ? stale : fresh).push_back(a);
  }
  fresh.insert(fresh.end(), stale.begin(), stale.end());
  return fresh;
}

}  // namespace cpc
