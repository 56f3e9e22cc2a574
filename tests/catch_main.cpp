// The main() of every test executable: confut::Runtime first (a process pool's fork server,
// re-executed from this program, takes over there), then Catch2.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <confut/runtime.hpp>

int main(int argc, char* argv[]) {
  confut::Runtime runtime(argc, argv);
  return Catch::Session().run(argc, argv);
}
