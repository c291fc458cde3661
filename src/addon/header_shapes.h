// Header shapes: the sequence of (lower-case) header names of a response.
//
// A service talks to a handful of backends, and each answers with the same
// header names in the same order on every response (only values change). So
// the batch sends each name sequence to JS once, as a numbered shape, and
// after that only the values: JS builds the headers object from a template
// with interned keys instead of interning every name of every response.
//
// Bounded: at most kMaxShapes shapes per pool, kept for the pool's life (a
// shape's number never changes meaning, so JS may cache it). A response
// whose shape is new once the table is full, or that has more than
// kMaxNames headers, goes without a shape and carries its names, as before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/response.h"

namespace cpc_addon {

class HeaderShapes {
 public:
  static constexpr size_t kMaxShapes = 128;
  static constexpr size_t kMaxNames = 64;
  static constexpr size_t kMaxNameBytes = 4096;  // all names of one shape

  // The shape of r's header names, added when new and there is room; -1 when
  // it has none.
  int find_or_add(const cpc::Response& r);
  // The names of shape `id` as "name\0name\0...name" (empty for no headers);
  // false when there is no such shape.
  bool names(int id, std::string* out) const;
  size_t size() const { return shapes_.size(); }

 private:
  struct Shape {
    uint32_t count = 0;
    uint32_t name_bytes = 0;     // sum of the name lengths
    std::string names;           // the names back to back, no separators
    std::vector<uint32_t> ends;  // end offset of each name in `names`
  };
  bool matches(const Shape& s, const cpc::Response& r, uint32_t name_bytes) const;

  std::vector<Shape> shapes_;
  int last_ = -1;  // the shape matched last: the usual answer
};

}  // namespace cpc_addon
