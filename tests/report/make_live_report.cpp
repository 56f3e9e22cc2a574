// Writes a performance_report of a real run, for tests/report/check_report.sh: 150 tasks on a
// ThreadPoolExecutor (a tree of futures among them) and 50 on a ProcessPoolExecutor, all of
// which run, so the page must draw exactly 200 task bars.
//   make_live_report REPORT.html

#include <confut/confut.hpp>

#include <cstdio>
#include <vector>

namespace live_report {
int square(int x) { return x * x; }
int add(int a, int b) { return a + b; }
}  // namespace live_report

int main(int argc, char** argv) {
  confut::Runtime runtime(argc, argv);  // before anything else: it may become the fork server
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s REPORT.html\n", argv[0]);
    return 2;
  }
  long long total = 0;
  {
    confut::performance_report report(argv[1], {.title = "live report (test)"});
    confut::ThreadPoolExecutor threads(2);
    // 100 leaves, then a pairwise reduction: 50 + 25 + ... = 150 tasks in all with the leaves
    // only when the levels add up, so count what is submitted instead of assuming.
    std::vector<confut::Future<int>> level;
    int submitted = 0;
    for (int i = 0; i < 100; ++i, ++submitted) level.push_back(threads.submit(live_report::square, i % 7));
    while (level.size() > 1 && submitted < 150) {
      std::vector<confut::Future<int>> next;
      for (std::size_t i = 0; i + 1 < level.size() && submitted < 150; i += 2, ++submitted) {
        next.push_back(threads.submit(live_report::add, level[i], level[i + 1]));
      }
      level = std::move(next);
    }
    for (auto& future : level) total += future.result();
#if defined(__linux__)
    confut::ProcessPoolExecutor processes(2);
    std::vector<confut::Future<int>> remote;
    for (int i = 0; i < 50; ++i) remote.push_back(processes.submit(live_report::square, i));
    for (auto& future : remote) total += future.result();
#endif
    report.close();
    std::printf("%zu tasks recorded, checksum %lld\n", report.task_stream().tasks.size(), total);
  }
  return 0;
}
