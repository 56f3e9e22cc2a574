#pragma once
/// @file confut.hpp
/// The umbrella header: everything confut offers.
///
/// @code
/// #include <confut/confut.hpp>
///
/// confut::ThreadPoolExecutor ex(4);
/// auto x = ex.submit([](int i) { return i + 1; }, 10);
/// auto y = ex.submit([](int a) { return 2 * a; }, x);  // a future as an argument
/// std::cout << y.result() << "\n";                     // 22
/// @endcode

#include "as_completed.hpp"      // IWYU pragma: export
#include "dependencies.hpp"      // IWYU pragma: export
#include "error_handler.hpp"     // IWYU pragma: export
#include "errors.hpp"            // IWYU pragma: export
#include "executor.hpp"          // IWYU pragma: export
#include "future.hpp"            // IWYU pragma: export
#include "map.hpp"               // IWYU pragma: export
#include "named.hpp"             // IWYU pragma: export
#include "performance_report.hpp"  // IWYU pragma: export
#include "progress.hpp"          // IWYU pragma: export
#include "runtime.hpp"           // IWYU pragma: export
#include "serialization.hpp"     // IWYU pragma: export
#include "stats.hpp"             // IWYU pragma: export
#include "task_stream.hpp"       // IWYU pragma: export
#include "thread_pool.hpp"       // IWYU pragma: export
#include "wait.hpp"              // IWYU pragma: export
#if defined(__linux__)
#include "process_pool.hpp"      // IWYU pragma: export
#endif

static_assert(confut::Executor<confut::ThreadPoolExecutor>,
              "ThreadPoolExecutor must satisfy the Executor concept");
#if defined(__linux__)
static_assert(confut::Executor<confut::ProcessPoolExecutor>,
              "ProcessPoolExecutor must satisfy the Executor concept");
#endif
