// Where the built-in data sets are looked for: $TAPEGRAD_DATA, the working directory, then the
// source tree, so that a program run from build/ finds the MNIST that `make data` fetched.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "learner/data/datasets.h"
#include "test_util.h"

using namespace tg;

namespace {

// Runs f in dir with TAPEGRAD_DATA set to data_env (unset when null), then restores both.
template <typename F>
void in_dir(const std::filesystem::path& dir, const char* data_env, F f) {
  const auto cwd = std::filesystem::current_path();
  const char* old = std::getenv("TAPEGRAD_DATA");
  const std::string saved = old ? old : "";
  if (data_env)
    setenv("TAPEGRAD_DATA", data_env, 1);
  else
    unsetenv("TAPEGRAD_DATA");
  std::filesystem::current_path(dir);
  f();
  std::filesystem::current_path(cwd);
  if (old)
    setenv("TAPEGRAD_DATA", saved.c_str(), 1);
  else
    unsetenv("TAPEGRAD_DATA");
}

}  // namespace

TEST_CASE("datasets: mnist comes from TAPEGRAD_DATA, then ./data/mnist, then the source tree") {
  test::TempDir tmp;
  in_dir(tmp.dir, "/some/where",
         [] { CHECK(builtin_dataset_dir("mnist") == "/some/where/mnist"); });
  std::filesystem::create_directories(tmp.dir / "data/mnist");
  in_dir(tmp.dir, nullptr, [] { CHECK(builtin_dataset_dir("mnist") == "data/mnist"); });
  std::filesystem::remove_all(tmp.dir / "data");
  in_dir(tmp.dir, nullptr, [] {
    const std::string dir = builtin_dataset_dir("mnist");
    // Without a local copy: the source tree's when it has one, else the relative default
    // (which the trainer's "run make data" message then names).
    CHECK((dir == "data/mnist" ||
           (dir.ends_with("/data/mnist") && std::filesystem::is_directory(dir))));
  });
  CHECK(builtin_dataset_dir("fashion") == "/usr/share/datasets/fashion-mnist");
  CHECK(test::has(test::error_of([] { builtin_dataset_dir("cifar"); }), "known: mnist, fashion"));
}
