// One command-line parser for the trainer and every example (tg_cli, over CLI11).
//
//   int64_t epochs = 3;  double lr = 0.1;  bool quiet = false;
//   tg::cli::Flags flags("04a_fit", "what the program shows");
//   flags.integer("--epochs", epochs, "epochs to train")     // >= 1
//        .real("--lr", lr, "learning rate")                   // finite, > 0
//        .toggle("--quiet", quiet, "print only the result");
//   if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;  // -h/--help: 0, a bad flag: 2
//
// The rules, the same in every program:
// - Flags are long (--name); a value follows as the next argument or after '=' (--bs 64,
//   --bs=64); a flag given twice keeps its last value; -h and --help print the help and exit 0.
// - Values are parsed strictly over the whole argument with std::from_chars: "3x", " 3", "0x10",
//   "" and "nan" are refused. Every error is a UsageError whose message names the flag and the
//   value ("--epochs: '3x' is not a positive integer"); parse_or_exit prints it as
//   "<program>: error: <message> (see --help)" on stderr and returns 2.
// - The help lists every flag with its default in brackets, read from the variable when the
//   flag is declared, so it cannot drift from the code.
// CLI11 does the tokenising (values after '=', negative numbers as values, "--"); this layer
// keeps the messages and the number rules of its own, which CLI11's do not match.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tg::cli {

// A mistake on the command line (exit code 2), as opposed to a runtime failure (exit code 1).
class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& what) : std::runtime_error(what) {}
};

// The strict value parsers; each throws UsageError naming `flag`.
// An integer in [lo, hi], the whole of s. The message says what was wanted ("a positive
// integer", "a non-negative integer", "an integer in [lo, hi]").
int64_t parse_int(const std::string& flag, std::string_view s, int64_t lo = 1,
                  int64_t hi = std::numeric_limits<int64_t>::max());
uint64_t parse_uint(const std::string& flag, std::string_view s);  // >= 0, up to 2^64-1
// A finite number, the whole of s ("0.1", "1e-3", ".5"; not "nan", "inf", "1e-3x").
double parse_real(const std::string& flag, std::string_view s);
// One of `choices`, or "unknown value 'x' (choose one of: a, b)".
std::string parse_choice(const std::string& flag, std::string_view s,
                         const std::vector<std::string>& choices);

// Where a real value must lie (checked after parse_real).
enum class Range { any, positive, non_negative, unit_interval };  // unit: [0, 1)

class Flags {
 public:
  // program: the name in "usage:" and in error messages; about: a paragraph under the usage
  // line; footer: text after the flag list (exit codes, an example).
  Flags(std::string program, std::string about, std::string footer = {});

  // A flag with a value: set(flag, value) parses it (throwing UsageError) and stores it.
  // shown: the default in --help ("" shows none).
  using Setter = std::function<void(const std::string& flag, std::string_view value)>;
  Flags& option(std::string name, std::string metavar, std::string help, std::string shown,
                Setter set);
  // A switch: no value ("--quiet=yes" is refused).
  Flags& toggle(std::string name, bool& on, std::string help);

  // Typed flags bound to a variable, whose value now is the default shown.
  // integer: in [min, max]; min 0 and `zero_means` set: 0 shows as that word ("all").
  Flags& integer(std::string name, int64_t& v, std::string help, int64_t min = 1,
                 int64_t max = std::numeric_limits<int64_t>::max(), std::string zero_means = {});
  Flags& integer(std::string name, int& v, std::string help, int min = 1,
                 int max = std::numeric_limits<int>::max(), std::string zero_means = {});
  Flags& seed(std::string name, uint64_t& v, std::string help);
  // what: a noun for the message when the range is not met ("the learning rate" gives "--lr:
  // the learning rate must be > 0, got 0"); empty: "--lr: '0' is not a positive number".
  Flags& real(std::string name, double& v, std::string help, Range range = Range::positive,
              std::string what = {});
  // Any non-empty text; shown: the default in --help ("" shows the value, or "none").
  Flags& text(std::string name, std::string metavar, std::string& v, std::string help,
              std::string shown = {});
  Flags& choice(std::string name, std::string& v, std::vector<std::string> choices,
                std::string help);

  // Parses argv[1..argc). true: go on; false: -h/--help was given (print help()).
  // Throws UsageError.
  bool parse(int argc, const char* const* argv);
  // For main(): nullopt to go on; 0 after printing help() on stdout; 2 after printing a usage
  // error on stderr.
  std::optional<int> parse_or_exit(int argc, const char* const* argv);

  // The flags the last parse() saw on the command line ("--epochs", ...), given or repeated.
  const std::set<std::string>& given() const { return given_; }

  // The --help text: usage line, about, every flag with its help and [default], footer.
  std::string help() const;
  const std::string& program() const { return program_; }

 private:
  struct Flag {
    std::string name, metavar, help, shown;
    Setter set;  // null for a switch
    bool* on;    // a switch's variable
  };
  Flags& add(Flag f);
  std::string translate(const std::string& cli11_message, int argc, const char* const* argv) const;

  std::string program_, about_, footer_;
  std::vector<Flag> flags_;
  std::set<std::string> given_;
};

// Word-wraps text into lines of at most `width` columns, the lines after the first indented by
// `indent` (the first is assumed to start at column `indent`).
std::string wrap(const std::string& text, size_t indent, size_t width);

}  // namespace tg::cli
