// Reads a libFuzzer input front to back: control bytes first, payload after.
// Every read past the end yields zeros / empty, so any input is valid and
// the seed files stay readable (a header of a few bytes, then the raw HTTP
// response). The layouts are documented in each target and produced by
// make-corpus.js.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace cpc_fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  // Little-endian.
  uint16_t u16() {
    uint16_t lo = u8();
    return static_cast<uint16_t>(lo | (static_cast<uint16_t>(u8()) << 8));
  }
  // Up to n bytes (fewer at the end of the input).
  std::string bytes(size_t n) {
    if (n > size_ - pos_) n = size_ - pos_;
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  std::string rest() { return bytes(size_ - pos_); }
  size_t remaining() const { return size_ - pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Lets a run go on past a core bug that is already reported: the checks
// named in CPC_FUZZ_TOLERATE (comma-separated, e.g. "status-range") are
// skipped. Never set in CI: a known bug fails the fuzz run until it is fixed.
inline bool tolerated(const char* check) {
  static const char* list = getenv("CPC_FUZZ_TOLERATE");
  if (!list) return false;
  const size_t n = strlen(check);
  for (const char* p = list; (p = strstr(p, check)) != nullptr; p += n) {
    const bool starts = p == list || p[-1] == ',';
    const bool ends = p[n] == '\0' || p[n] == ',';
    if (starts && ends) return true;
  }
  return false;
}

}  // namespace cpc_fuzz

// A failed invariant: print what broke and abort, so libFuzzer saves the input.
#define FUZZ_CHECK(cond, ...)                                               \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n  ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                         \
      fprintf(stderr, "\n");                                                \
      abort();                                                              \
    }                                                                       \
  } while (0)
