// tether/when.hpp: awaiting several tasks at once, and bounding one in time.
//
//   auto [a, b] = co_await when_all(f(), g());      // both; a std::tuple (void -> monostate)
//   auto first  = co_await when_any(f(), g());      // the first to finish; a std::variant whose
//                                                   // index() says which; the others are stopped
//   auto r = co_await with_timeout(stream.read_some(buf), 2s);   // Errc-free: std::errc::timed_out
//
// Structured: every combinator waits until all of its children have finished before it returns,
// so no child outlives the call. when_all stops the remaining children when one throws, then
// rethrows the first exception; when_any stops the others as soon as one finishes, then returns
// that one's value (or rethrows its exception). Stopping is cooperative: each tether operation
// inside a stopped task ends with Errc::cancelled. Loop-thread only.
#pragma once

#include <tether/deadline.hpp>
#include <tether/detail/task_set.hpp>
#include <tether/error.hpp>
#include <tether/task.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <expected>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

namespace detail {

template <class T>
struct is_expected : std::false_type {};
template <class T, class E>
struct is_expected<std::expected<T, E>> : std::true_type {};

template <class... T, std::size_t... I>
void start_all(TaskSet& set, std::tuple<Outcome<T>...>& outs, std::tuple<Task<T>...>& tasks,
               std::index_sequence<I...>) {
  (set.start(std::move(std::get<I>(tasks)), std::get<I>(outs)), ...);
}

template <class... T>
std::exception_ptr first_error(std::tuple<Outcome<T>...>& outs) {
  std::exception_ptr e;
  std::apply([&](auto&... o) { ((e = e ? e : o.error), ...); }, outs);
  return e;
}

template <class V, class... T, std::size_t... I>
void take_index(std::optional<V>& result, std::tuple<Outcome<T>...>& outs, std::size_t index,
                std::index_sequence<I...>) {
  ((index == I ? (std::get<I>(outs).error ? std::rethrow_exception(std::get<I>(outs).error)
                                           : void(result.emplace(std::in_place_index<I>,
                                                                 std::move(*std::get<I>(outs).value))))
               : void()),
   ...);
}

struct SetStop {
  TaskSet* set;
  void operator()() const noexcept { set->request_stop(); }
};

template <class A>
using await_result_t = decltype(std::declval<A&>().await_resume());

template <class A>
Task<await_result_t<A>> as_task(A awaitable) {
  co_return co_await std::move(awaitable);
}

}  // namespace detail

template <class... T>
Task<std::tuple<detail::Wrap<T>...>> when_all(Task<T>... tasks) {
  std::tuple<detail::Outcome<T>...> outs;
  std::tuple<Task<T>...> owned(std::move(tasks)...);
  detail::TaskSet set(co_await current_stop_token{});
  detail::start_all(set, outs, owned, std::index_sequence_for<T...>{});
  std::exception_ptr error;
  while (set.running() > 0) {
    (void)co_await set.next();
    if (!error && (error = detail::first_error(outs))) set.request_stop();
  }
  if (error) std::rethrow_exception(error);
  co_return std::apply(
      [](auto&... o) { return std::tuple<detail::Wrap<T>...>(std::move(*o.value)...); }, outs);
}

template <class T>
Task<std::vector<detail::Wrap<T>>> when_all(std::vector<Task<T>> tasks) {
  std::vector<detail::Outcome<T>> outs(tasks.size());
  detail::TaskSet set(co_await current_stop_token{});
  for (std::size_t i = 0; i < tasks.size(); ++i) set.start(std::move(tasks[i]), outs[i]);
  std::exception_ptr error;
  while (set.running() > 0) {
    auto i = co_await set.next();
    if (!error && i && outs[*i].error) {
      error = outs[*i].error;
      set.request_stop();
    }
  }
  if (error) std::rethrow_exception(error);
  std::vector<detail::Wrap<T>> values;
  values.reserve(outs.size());
  for (auto& o : outs) values.push_back(std::move(*o.value));
  co_return values;
}

template <class... T>
Task<std::variant<detail::Wrap<T>...>> when_any(Task<T>... tasks) {
  static_assert(sizeof...(T) > 0, "when_any needs at least one task");
  std::tuple<detail::Outcome<T>...> outs;
  std::tuple<Task<T>...> owned(std::move(tasks)...);
  detail::TaskSet set(co_await current_stop_token{});
  detail::start_all(set, outs, owned, std::index_sequence_for<T...>{});
  std::optional<std::size_t> winner;
  while (set.running() > 0) {
    auto i = co_await set.next();
    if (!winner && i) {
      winner = i;
      set.request_stop();
    }
  }
  std::optional<std::variant<detail::Wrap<T>...>> result;
  detail::take_index(result, outs, *winner, std::index_sequence_for<T...>{});
  co_return std::move(*result);
}

/// The index of the first task to finish and its value.
template <class T>
Task<std::pair<std::size_t, detail::Wrap<T>>> when_any(std::vector<Task<T>> tasks) {
  if (tasks.empty()) throw std::invalid_argument("tether::when_any: no tasks");
  std::vector<detail::Outcome<T>> outs(tasks.size());
  detail::TaskSet set(co_await current_stop_token{});
  for (std::size_t i = 0; i < tasks.size(); ++i) set.start(std::move(tasks[i]), outs[i]);
  std::optional<std::size_t> winner;
  while (set.running() > 0) {
    auto i = co_await set.next();
    if (!winner && i) {
      winner = i;
      set.request_stop();
    }
  }
  auto& o = outs[*winner];
  if (o.error) std::rethrow_exception(o.error);
  co_return std::pair<std::size_t, detail::Wrap<T>>(*winner, std::move(*o.value));
}

/// Runs `task`; at `deadline` stops it, and a result of Errc::cancelled becomes
/// std::errc::timed_out. T must be a `Result<U>` or Status.
template <class T>
  requires detail::is_expected<T>::value
Task<T> with_deadline(Task<T> task, Deadline deadline) {
  detail::Outcome<T> out;
  detail::TaskSet set(co_await current_stop_token{});
  set.start(std::move(task), out);
  bool timed_out = false;
  if (!co_await set.next(deadline)) {
    timed_out = true;
    set.request_stop();
    (void)co_await set.next();
  }
  if (out.error) std::rethrow_exception(out.error);
  T result = std::move(*out.value);
  if (timed_out && !result && result.error() == make_error_code(Errc::cancelled)) {
    result = T(std::unexpect, std::make_error_code(std::errc::timed_out));
  }
  co_return result;
}

template <class T, class Rep, class Period>
  requires detail::is_expected<T>::value
Task<T> with_timeout(Task<T> task, std::chrono::duration<Rep, Period> timeout) {
  return with_deadline(std::move(task), Deadline(timeout));
}

/// with_timeout for a single operation (read_some, accept, ...): any awaitable whose result is a
/// `Result<U>` or Status.
template <class A, class Rep, class Period>
  requires(!std::is_void_v<detail::await_result_t<A>>)
Task<detail::await_result_t<A>> with_timeout(A awaitable, std::chrono::duration<Rep, Period> timeout) {
  return with_deadline(detail::as_task(std::move(awaitable)), Deadline(timeout));
}

/// Runs `task`, stopping it when `token` or the awaiting task's own token is stopped.
template <class T>
Task<T> with_stop_token(Task<T> task, std::stop_token token) {
  detail::Outcome<T> out;
  detail::TaskSet set(co_await current_stop_token{});
  std::optional<std::stop_callback<detail::SetStop>> link;
  if (token.stop_possible()) link.emplace(std::move(token), detail::SetStop{&set});
  set.start(std::move(task), out);
  (void)co_await set.next();
  link.reset();
  if (out.error) std::rethrow_exception(out.error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*out.value);
}

}  // namespace tether

#pragma GCC visibility pop
