// Balancer (BalancedPool's core, API.md "BalancedPool") decisions.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/balancer.h"

namespace cpc_test {
namespace {

using cpc::parse_retry_after_ms;

// 1994-11-06T08:49:37Z, the RFC's example date, in Unix ms.
constexpr int64_t kRfcExampleMs = 784111777000;

TEST(RetryAfter, DelaySeconds) {
  EXPECT_EQ(parse_retry_after_ms("0", kRfcExampleMs), 0u);
  EXPECT_EQ(parse_retry_after_ms("1", kRfcExampleMs), 1000u);
  EXPECT_EQ(parse_retry_after_ms(" 120 ", kRfcExampleMs), 120000u);
  EXPECT_EQ(parse_retry_after_ms("", kRfcExampleMs), 0u);
  EXPECT_EQ(parse_retry_after_ms("1.5", kRfcExampleMs), 0u);
  EXPECT_EQ(parse_retry_after_ms("-1", kRfcExampleMs), 0u);
  EXPECT_EQ(parse_retry_after_ms("1234567890", kRfcExampleMs), 0u);  // absurd: ignored
}

TEST(RetryAfter, ImfFixdateIsRelativeToNow) {
  const char* date = "Sun, 06 Nov 1994 08:49:37 GMT";
  EXPECT_EQ(parse_retry_after_ms(date, kRfcExampleMs - 3000), 3000u);
  EXPECT_EQ(parse_retry_after_ms(date, kRfcExampleMs - 250), 250u);
  EXPECT_EQ(parse_retry_after_ms(date, kRfcExampleMs - 86400000), 86400000u);
  // Now or past: no wait.
  EXPECT_EQ(parse_retry_after_ms(date, kRfcExampleMs), 0u);
  EXPECT_EQ(parse_retry_after_ms(date, kRfcExampleMs + 5000), 0u);
  // Leap day and month/year ends.
  EXPECT_EQ(parse_retry_after_ms("Thu, 29 Feb 2024 00:00:00 GMT", 1709164800000 - 1), 1u);
  EXPECT_EQ(parse_retry_after_ms("Fri, 01 Jan 2100 00:00:10 GMT", 4102444800000), 10000u);
}

TEST(RetryAfter, MalformedDatesAreIgnored) {
  const int64_t long_ago = 0;
  for (const char* bad : {
           "Sun, 06 Nov 1994 08:49:37 UTC",     // not GMT
           "Sun 06 Nov 1994 08:49:37 GMT",      // no comma
           "Sun, 6 Nov 1994 08:49:37 GMT",      // one-digit day
           "Sun, 06 Foo 1994 08:49:37 GMT",     // month
           "Xyz, 06 Nov 1994 08:49:37 GMT",     // weekday
           "Sun, 06 Nov 1994 25:49:37 GMT",     // hour
           "Sunday, 06-Nov-94 08:49:37 GMT",    // RFC 850 (obsolete)
           "Sun Nov  6 08:49:37 1994",          // asctime (obsolete)
           "Sun, 06 Nov 1994 08:49:37 GMTX",
       }) {
    EXPECT_EQ(parse_retry_after_ms(bad, long_ago), 0u) << bad;
  }
}

}  // namespace
}  // namespace cpc_test
