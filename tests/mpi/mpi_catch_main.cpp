// The main() of the MPI test programs: confut::Runtime first (ranks 1..N-1 serve tasks in
// there and never return), then Catch2 on rank 0.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <confut/mpi.hpp>

int main(int argc, char* argv[]) {
  confut::Runtime runtime(argc, argv);
  return Catch::Session().run(argc, argv);
}
