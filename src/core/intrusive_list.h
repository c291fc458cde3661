// A doubly-linked intrusive list: O(1) insert and remove without allocation.
// An element embeds one ListHook per list it can be on; a hook is on at most
// one list at a time, and knows which (list_id), so the leak audit can compare
// an object's state with the list it is really on.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>

namespace cpc {

struct ListHook {
  ListHook* prev = nullptr;
  ListHook* next = nullptr;
  void* owner = nullptr;   // the element that embeds this hook
  uint8_t list_id = 0;     // id of the list holding the hook; 0 = none
  bool linked() const { return list_id != 0; }
};

template <typename T, ListHook T::*Hook>
class IntrusiveList {
 public:
  explicit IntrusiveList(uint8_t id) : id_(id) {
    head_.prev = head_.next = &head_;
  }
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;
  ~IntrusiveList() { assert(empty()); }

  uint8_t id() const { return id_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool contains(const T* t) const { return (t->*Hook).list_id == id_; }

  T* front() const { return empty() ? nullptr : owner(head_.next); }
  T* back() const { return empty() ? nullptr : owner(head_.prev); }
  // The element after `t`, or nullptr. Take it before removing `t`.
  T* next(const T* t) const {
    const ListHook* n = (t->*Hook).next;
    return n == &head_ ? nullptr : owner(n);
  }

  void push_back(T* t) { insert_before(&head_, t); }
  void push_front(T* t) { insert_before(head_.next, t); }

  void remove(T* t) {
    ListHook& h = t->*Hook;
    assert(h.list_id == id_);
    h.prev->next = h.next;
    h.next->prev = h.prev;
    h.prev = h.next = nullptr;
    h.list_id = 0;
    assert(size_ > 0);
    size_--;
  }
  T* pop_front() {
    T* t = front();
    if (t) remove(t);
    return t;
  }
  T* pop_back() {
    T* t = back();
    if (t) remove(t);
    return t;
  }

 private:
  static T* owner(const ListHook* h) { return static_cast<T*>(h->owner); }
  void insert_before(ListHook* pos, T* t) {
    ListHook& h = t->*Hook;
    assert(h.list_id == 0);
    h.owner = t;
    h.list_id = id_;
    h.next = pos;
    h.prev = pos->prev;
    pos->prev->next = &h;
    pos->prev = &h;
    size_++;
  }

  ListHook head_;
  size_t size_ = 0;
  uint8_t id_;
};

}  // namespace cpc
