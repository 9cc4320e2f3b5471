// tg::cli::Flags (apps/cli/flags.h): the one parser of the trainer and the examples.
#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "apps/cli/flags.h"

namespace {

using tg::cli::Flags;
using tg::cli::UsageError;

// argv from words; argv[0] is the program.
struct Argv {
  std::vector<std::string> words;
  std::vector<const char*> ptrs;
  Argv(std::initializer_list<std::string> w) : words{"prog"} {
    words.insert(words.end(), w);
    for (const auto& s : words) ptrs.push_back(s.c_str());
  }
  int argc() const { return static_cast<int>(ptrs.size()); }
  const char* const* argv() const { return ptrs.data(); }
};

struct Vars {
  int64_t epochs = 3, limit = 0;
  int threads = 0;
  uint64_t seed = 42;
  double lr = 0.1, momentum = 0.9, wd = 0;
  std::string data, device = "cpu";
  bool quiet = false;
};

void declare(Flags& f, Vars& v) {
  f.integer("--epochs", v.epochs, "epochs")
      .integer("--limit", v.limit, "examples", 0, INT64_MAX, "all")
      .integer("--threads", v.threads, "threads", 1, 64)
      .seed("--seed", v.seed, "seed")
      .real("--lr", v.lr, "learning rate", tg::cli::Range::positive, "the learning rate")
      .real("--momentum", v.momentum, "momentum", tg::cli::Range::unit_interval)
      .real("--wd", v.wd, "weight decay", tg::cli::Range::non_negative)
      .text("--data", "DIR", v.data, "folder")
      .choice("--device", v.device, {"cpu", "cuda"}, "device")
      .toggle("--quiet", v.quiet, "quiet");
}

// The message of the UsageError that parsing words gives ("" when it parses).
std::string error_of(std::initializer_list<std::string> words) {
  Vars v;
  Flags f("prog", "about");
  declare(f, v);
  Argv a(words);
  try {
    f.parse(a.argc(), a.argv());
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("cli: values after a space or '=', switches, and a repeated flag keeps its last value") {
  Vars v;
  Flags f("prog", "about");
  declare(f, v);
  Argv a{"--epochs",      "5",          "--lr=1e-3", "--seed", "0",          "--data", "d/x",
         "--device=cuda", "--quiet",    "--limit",   "0",      "--momentum", "0",      "--wd",
         "0.5",           "--epochs=7", "--threads", "64"};
  CHECK(f.parse(a.argc(), a.argv()));
  CHECK(v.epochs == 7);
  CHECK(v.lr == doctest::Approx(1e-3));
  CHECK(v.seed == 0);
  CHECK(v.data == "d/x");
  CHECK(v.device == "cuda");
  CHECK(v.quiet);
  CHECK(v.limit == 0);
  CHECK(v.momentum == 0);
  CHECK(v.wd == 0.5);
  CHECK(v.threads == 64);
  CHECK(f.given() == std::set<std::string>{"--epochs", "--lr", "--seed", "--data", "--device",
                                           "--quiet", "--limit", "--momentum", "--wd",
                                           "--threads"});
  Argv none{};
  CHECK(f.parse(none.argc(), none.argv()));
  CHECK(f.given().empty());  // each parse starts afresh
}

TEST_CASE("cli: numbers are the whole argument, finite and in range") {
  CHECK(error_of({"--epochs", "3x"}) == "--epochs: '3x' is not a positive integer");
  CHECK(error_of({"--epochs", " 3"}) == "--epochs: ' 3' is not a positive integer");
  CHECK(error_of({"--epochs", "0x10"}) == "--epochs: '0x10' is not a positive integer");
  CHECK(error_of({"--epochs", "0"}) == "--epochs: '0' is not a positive integer");
  CHECK(error_of({"--epochs", "-3"}) == "--epochs: '-3' is not a positive integer");
  CHECK(error_of({"--epochs", "99999999999999999999"}) ==
        "--epochs: '99999999999999999999' is not a positive integer");
  CHECK(error_of({"--limit=-5"}) == "--limit: '-5' is not a non-negative integer");
  CHECK(error_of({"--threads", "65"}) == "--threads: at most 64, got 65");
  CHECK(error_of({"--seed", "-1"}) == "--seed: '-1' is not a non-negative integer");
  CHECK(error_of({"--lr", "nan"}) == "--lr: 'nan' is not a finite number");
  CHECK(error_of({"--lr", "inf"}) == "--lr: 'inf' is not a finite number");
  CHECK(error_of({"--lr", "1e-3x"}) == "--lr: '1e-3x' is not a finite number");
  CHECK(error_of({"--lr", "0"}) == "--lr: the learning rate must be > 0, got 0");
  CHECK(error_of({"--momentum", "1"}) == "--momentum: '1' is not in [0, 1)");
  CHECK(error_of({"--wd", "-1e-4"}) == "--wd: '-1e-4' is not a non-negative number");
  CHECK(error_of({"--device", "tpu"}) ==
        "--device: unknown value 'tpu' (choose one of: cpu, cuda)");
}

TEST_CASE("cli: unknown flags, stray words, missing values and values on switches") {
  CHECK(error_of({"--bogus"}) == "unknown flag '--bogus'");
  CHECK(error_of({"--bogus=3"}) == "unknown flag '--bogus'");
  CHECK(error_of({"-x"}) == "unknown flag '-x'");
  CHECK(error_of({"mnist"}) == "unexpected argument 'mnist' (flags start with --)");
  CHECK(error_of({"--", "x"}) == "unexpected '--' (this program takes flags only)");
  CHECK(error_of({"--epochs"}) == "--epochs needs a value (N)");
  CHECK(error_of({"--data="}) == "--data needs a value (DIR)");
  CHECK(error_of({"--quiet=yes"}) == "--quiet takes no value, got 'yes'");
  CHECK(error_of({"--epochs", "2"}).empty());
}

TEST_CASE("cli: -h and --help ask for the help, which lists every flag with its default") {
  for (const char* h : {"-h", "--help"}) {
    Vars v;
    Flags f("prog", "what it does", "exit codes: 0, 1, 2");
    declare(f, v);
    Argv a{"--epochs", "9", h};
    CHECK_FALSE(f.parse(a.argc(), a.argv()));
  }
  Vars v;
  Flags f("prog", "what it does", "exit codes: 0, 1, 2");
  declare(f, v);
  const std::string help = f.help();
  CHECK(help.rfind("usage: prog [flags]\n\nwhat it does\n", 0) == 0);
  for (const char* line :
       {"  --epochs N          epochs [3]\n", "  --limit N           examples [all]\n",
        "  --lr X              learning rate [0.1]\n", "  --data DIR          folder [none]\n",
        "  --device NAME       device [cpu]\n", "  --quiet             quiet [off]\n",
        "  -h, --help          print this help and exit\n", "\nexit codes: 0, 1, 2\n"})
    CHECK_MESSAGE(help.find(line) != std::string::npos, line);
}

TEST_CASE("cli: parse_or_exit gives 0 after the help, 2 after a usage error, and goes on else") {
  Vars v;
  Flags f("prog", "about");
  declare(f, v);
  Argv good{"--epochs", "2"}, bad{"--epochs", "x"};
  CHECK_FALSE(f.parse_or_exit(good.argc(), good.argv()).has_value());
  CHECK(f.parse_or_exit(bad.argc(), bad.argv()) == 2);
  Flags none("prog", "takes nothing");
  Argv help{"-h"}, extra{"x"};
  CHECK(none.parse_or_exit(help.argc(), help.argv()) == 0);
  CHECK(none.parse_or_exit(extra.argc(), extra.argv()) == 2);
}

TEST_CASE("cli: a flag declared twice or without its dashes is a programming error") {
  Vars v;
  Flags f("prog", "about");
  f.integer("--epochs", v.epochs, "epochs");
  CHECK_THROWS_AS(f.integer("--epochs", v.epochs, "again"), std::logic_error);
  CHECK_THROWS_AS(f.integer("epochs", v.epochs, "no dashes"), std::logic_error);
  CHECK_THROWS_AS(f.toggle("--help", v.quiet, "reserved"), std::logic_error);
}
