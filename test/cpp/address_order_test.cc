// Multi-address hosts: connections spread over the addresses, refused ones last.
#include "core/address_order.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <string>
#include <vector>

namespace {

struct Addrs {
  std::vector<sockaddr_in> v4;
  std::vector<const sockaddr*> ptrs;
  explicit Addrs(std::vector<std::string> ips) : v4(ips.size()) {
    for (size_t i = 0; i < ips.size(); i++) {
      uv_ip4_addr(ips[i].c_str(), 8545, &v4[i]);
      ptrs.push_back(reinterpret_cast<const sockaddr*>(&v4[i]));
    }
  }
};

std::string ip(const sockaddr* a) {
  char buf[64];
  uv_ip4_name(reinterpret_cast<const sockaddr_in*>(a), buf, sizeof(buf));
  return buf;
}

std::vector<std::string> ips(const std::vector<const sockaddr*>& order) {
  std::vector<std::string> out;
  for (const sockaddr* a : order) out.push_back(ip(a));
  return out;
}

TEST(AddressOrder, SuccessiveConnectionsStartAtSuccessiveAddresses) {
  Addrs a({"10.0.0.1", "10.0.0.2", "10.0.0.3"});
  cpc::RefusedAddresses none;
  EXPECT_EQ(ips(cpc::order_addresses(a.ptrs, 0, none, 0)),
            (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  EXPECT_EQ(ips(cpc::order_addresses(a.ptrs, 1, none, 0)),
            (std::vector<std::string>{"10.0.0.2", "10.0.0.3", "10.0.0.1"}));
  EXPECT_EQ(ips(cpc::order_addresses(a.ptrs, 5, none, 0)),
            (std::vector<std::string>{"10.0.0.3", "10.0.0.1", "10.0.0.2"}));
}

TEST(AddressOrder, RecentlyRefusedAddressGoesLastUntilItIsForgotten) {
  Addrs a({"10.0.0.1", "10.0.0.2"});
  cpc::RefusedAddresses refused;
  refused.note(a.ptrs[0], 1000);
  EXPECT_EQ(ips(cpc::order_addresses(a.ptrs, 0, refused, 1500)),
            (std::vector<std::string>{"10.0.0.2", "10.0.0.1"}));
  const uint64_t later = 1000 + cpc::RefusedAddresses::kRememberMs;
  EXPECT_EQ(ips(cpc::order_addresses(a.ptrs, 0, refused, later)),
            (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
}

TEST(AddressOrder, RefusedListReusesExpiredEntriesAndDistinguishesPorts) {
  Addrs a({"10.0.0.1"});
  cpc::RefusedAddresses refused;
  refused.note(a.ptrs[0], 0);
  refused.note(a.ptrs[0], 5);  // same address: refreshed, not duplicated
  EXPECT_EQ(refused.size(), 1u);
  sockaddr_in other = a.v4[0];
  other.sin_port = htons(1);
  EXPECT_FALSE(refused.contains(reinterpret_cast<const sockaddr*>(&other), 10));
  refused.note(reinterpret_cast<const sockaddr*>(&other), 20000);  // first entry expired
  EXPECT_EQ(refused.size(), 1u);
  EXPECT_TRUE(refused.contains(reinterpret_cast<const sockaddr*>(&other), 20001));
}

}  // namespace
