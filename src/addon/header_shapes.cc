#include "addon/header_shapes.h"

#include <cstring>

namespace cpc_addon {

bool HeaderShapes::matches(const Shape& s, const cpc::Response& r, uint32_t name_bytes) const {
  if (s.count != r.headers.size() || s.name_bytes != name_bytes) return false;
  uint32_t begin = 0;
  for (size_t i = 0; i < r.headers.size(); i++) {
    const cpc::HeaderSpan& h = r.headers[i];
    const uint32_t end = s.ends[i];
    if (end - begin != h.name_length ||
        memcmp(s.names.data() + begin, r.header_bytes.data() + h.name_offset, h.name_length) != 0) {
      return false;
    }
    begin = end;
  }
  return true;
}

int HeaderShapes::find_or_add(const cpc::Response& r) {
  if (r.headers.size() > kMaxNames) return -1;
  uint32_t name_bytes = 0;
  for (const cpc::HeaderSpan& h : r.headers) name_bytes += h.name_length;
  if (last_ >= 0 && matches(shapes_[static_cast<size_t>(last_)], r, name_bytes)) return last_;
  for (size_t i = 0; i < shapes_.size(); i++) {
    if (matches(shapes_[i], r, name_bytes)) {
      last_ = static_cast<int>(i);
      return last_;
    }
  }
  if (shapes_.size() >= kMaxShapes || name_bytes > kMaxNameBytes) return -1;
  Shape s;
  s.count = static_cast<uint32_t>(r.headers.size());
  s.name_bytes = name_bytes;
  s.names.reserve(name_bytes);
  s.ends.reserve(r.headers.size());
  for (const cpc::HeaderSpan& h : r.headers) {
    s.names.append(r.header_bytes, h.name_offset, h.name_length);
    s.ends.push_back(static_cast<uint32_t>(s.names.size()));
  }
  shapes_.push_back(std::move(s));
  last_ = static_cast<int>(shapes_.size() - 1);
  return last_;
}

bool HeaderShapes::names(int id, std::string* out) const {
  if (id < 0 || static_cast<size_t>(id) >= shapes_.size()) return false;
  const Shape& s = shapes_[static_cast<size_t>(id)];
  out->clear();
  uint32_t begin = 0;
  for (uint32_t end : s.ends) {
    if (begin > 0) out->push_back('\0');
    out->append(s.names, begin, end - begin);
    begin = end;
  }
  return true;
}

}  // namespace cpc_addon
