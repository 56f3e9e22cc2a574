// A program run by test_process_lifecycle: a global filled by dynamic initialization, read in
// the workers of process pools created while another thread runs (so the fork server is
// re-executed from this program). With CONFUT_TEST_WITHOUT_RUNTIME set it has no
// confut::Runtime. Prints "sum=N" for each of its two pools.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <numeric>
#include <optional>
#include <thread>
#include <vector>

#include <confut/confut.hpp>

namespace {
std::vector<int> make_table() {
  std::vector<int> table(100);
  std::iota(table.begin(), table.end(), 1);
  return table;
}
const std::vector<int> table = make_table();  // dynamic initialization

long table_sum() { return std::accumulate(table.begin(), table.end(), 0L); }

int run() {
  using namespace std::chrono_literals;
  std::promise<void> stop;
  std::thread other([stopped = stop.get_future()] { stopped.wait(); });
  for (int pool = 0; pool < 2; ++pool) {
    confut::ProcessPoolExecutor ex(1);  // created while `other` runs
    std::printf("sum=%ld\n", ex.submit(table_sum).result(30s));
  }
  stop.set_value();
  other.join();
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  std::optional<confut::Runtime> runtime;
  if (std::getenv("CONFUT_TEST_WITHOUT_RUNTIME") == nullptr) runtime.emplace(argc, argv);
  return run();
}
