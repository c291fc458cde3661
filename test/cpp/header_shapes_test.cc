// HeaderShapes (src/addon/header_shapes.h): which responses share a shape,
// what JS is told about one, and the table's bounds.
#include "addon/header_shapes.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace {

using cpc_addon::HeaderShapes;

// A response with these (lower-case) names and values, laid out as the
// parser lays them out: name then value, back to back.
cpc::Response response(const std::vector<std::pair<std::string, std::string>>& headers) {
  cpc::Response r;
  for (const auto& [name, value] : headers) {
    cpc::HeaderSpan h{};
    h.name_offset = static_cast<uint32_t>(r.header_bytes.size());
    h.name_length = static_cast<uint32_t>(name.size());
    r.header_bytes += name;
    h.value_offset = static_cast<uint32_t>(r.header_bytes.size());
    h.value_length = static_cast<uint32_t>(value.size());
    r.header_bytes += value;
    r.headers.push_back(h);
  }
  return r;
}

std::string names_of(const HeaderShapes& shapes, int id) {
  std::string out;
  EXPECT_TRUE(shapes.names(id, &out));
  return out;
}

TEST(HeaderShapesTest, SameNamesShareAShapeWhateverTheValues) {
  HeaderShapes shapes;
  const int a = shapes.find_or_add(response({{"server", "x"}, {"date", "Mon"}}));
  const int b = shapes.find_or_add(response({{"server", "yy"}, {"date", "Tuesday"}}));
  EXPECT_EQ(a, 0);
  EXPECT_EQ(a, b);
  EXPECT_EQ(shapes.size(), 1u);
  EXPECT_EQ(names_of(shapes, a), std::string("server\0date", 11));
}

TEST(HeaderShapesTest, OrderCountAndNamesEachMakeADifferentShape) {
  HeaderShapes shapes;
  const int base = shapes.find_or_add(response({{"ab", "1"}, {"c", "2"}}));
  const int swapped = shapes.find_or_add(response({{"c", "2"}, {"ab", "1"}}));
  const int split = shapes.find_or_add(response({{"a", "1"}, {"bc", "2"}}));  // same bytes, other cut
  const int more = shapes.find_or_add(response({{"ab", "1"}, {"c", "2"}, {"c", "3"}}));
  const int none = shapes.find_or_add(response({}));
  EXPECT_EQ(shapes.size(), 5u);
  for (int id : {swapped, split, more, none}) EXPECT_NE(id, base);
  EXPECT_NE(split, swapped);
  EXPECT_EQ(names_of(shapes, none), "");
  EXPECT_EQ(names_of(shapes, more), std::string("ab\0c\0c", 6));
  // Every one is found again, not added twice.
  EXPECT_EQ(shapes.find_or_add(response({{"a", "x"}, {"bc", "y"}})), split);
  EXPECT_EQ(shapes.find_or_add(response({{"ab", "x"}, {"c", "y"}})), base);
  EXPECT_EQ(shapes.size(), 5u);
}

TEST(HeaderShapesTest, TheTableIsBoundedAndKeepsWhatItHas) {
  HeaderShapes shapes;
  for (size_t i = 0; i < HeaderShapes::kMaxShapes; i++) {
    EXPECT_EQ(shapes.find_or_add(response({{"x-" + std::to_string(i), "v"}})), static_cast<int>(i));
  }
  EXPECT_EQ(shapes.find_or_add(response({{"x-new", "v"}})), -1);
  EXPECT_EQ(shapes.size(), HeaderShapes::kMaxShapes);
  EXPECT_EQ(shapes.find_or_add(response({{"x-7", "other"}})), 7);
  std::string out;
  EXPECT_FALSE(shapes.names(static_cast<int>(HeaderShapes::kMaxShapes), &out));
  EXPECT_FALSE(shapes.names(-1, &out));
}

TEST(HeaderShapesTest, TooManyHeadersOrTooLongNamesGetNoShape) {
  HeaderShapes shapes;
  std::vector<std::pair<std::string, std::string>> many;
  for (size_t i = 0; i <= HeaderShapes::kMaxNames; i++) many.emplace_back("h" + std::to_string(i), "v");
  EXPECT_EQ(shapes.find_or_add(response(many)), -1);
  const std::string long_name(HeaderShapes::kMaxNameBytes + 1, 'n');
  EXPECT_EQ(shapes.find_or_add(response({{long_name, "v"}})), -1);
  EXPECT_EQ(shapes.size(), 0u);
}

}  // namespace
