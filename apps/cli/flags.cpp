// tg::cli::Flags over CLI11: CLI11 splits the arguments and finds the flags; the values go
// through this file's strict parsers, and CLI11's few errors of its own (a missing value, a
// value after a switch) are reworded to name the flag the way the rest do.
#include "apps/cli/flags.h"

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <system_error>
#include <utility>

#include "base/format.h"

namespace tg::cli {

namespace {

[[noreturn]] void bad(const std::string& flag, std::string_view value, const std::string& want) {
  throw UsageError(flag + ": '" + std::string(value) + "' is not " + want);
}

template <typename T>
bool whole(std::string_view s, T& v) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

int64_t parse_int(const std::string& flag, std::string_view s, int64_t lo, int64_t hi) {
  int64_t v = 0;
  if (!whole(s, v) || v < lo)
    bad(flag, s,
        lo == 1   ? "a positive integer"
        : lo == 0 ? "a non-negative integer"
                  : "an integer >= " + std::to_string(lo));
  if (v > hi)
    throw UsageError(flag + ": at most " + std::to_string(hi) + ", got " + std::string(s));
  return v;
}

uint64_t parse_uint(const std::string& flag, std::string_view s) {
  uint64_t v = 0;
  if (!whole(s, v)) bad(flag, s, "a non-negative integer");
  return v;
}

double parse_real(const std::string& flag, std::string_view s) {
  double v = 0;
  if (!whole(s, v) || !std::isfinite(v)) bad(flag, s, "a finite number");
  return v;
}

std::string parse_choice(const std::string& flag, std::string_view s,
                         const std::vector<std::string>& choices) {
  std::string list;
  for (const auto& c : choices) {
    if (s == c) return c;
    list += (list.empty() ? "" : ", ") + c;
  }
  throw UsageError(flag + ": unknown value '" + std::string(s) + "' (choose one of: " + list + ")");
}

std::string wrap(const std::string& text, size_t indent, size_t width) {
  std::string out, word;
  size_t col = indent;
  std::istringstream words(text);
  while (words >> word) {
    if (col > indent && col + 1 + word.size() > width) {
      out += "\n" + std::string(indent, ' ');
      col = indent;
    } else if (col > indent) {
      out += ' ';
      ++col;
    }
    out += word;
    col += word.size();
  }
  return out;
}

Flags::Flags(std::string program, std::string about, std::string footer)
    : program_(std::move(program)), about_(std::move(about)), footer_(std::move(footer)) {}

Flags& Flags::add(Flag f) {
  if (f.name.size() < 3 || f.name.compare(0, 2, "--") != 0 || f.name == "--help")
    throw std::logic_error("tg::cli::Flags: bad flag name '" + f.name + "'");
  for (const Flag& g : flags_)
    if (g.name == f.name) throw std::logic_error("tg::cli::Flags: " + f.name + " declared twice");
  flags_.push_back(std::move(f));
  return *this;
}

Flags& Flags::option(std::string name, std::string metavar, std::string help, std::string shown,
                     Setter set) {
  return add({std::move(name), std::move(metavar), std::move(help), std::move(shown),
              std::move(set), nullptr});
}

Flags& Flags::toggle(std::string name, bool& on, std::string help) {
  return add({std::move(name), "", std::move(help), on ? "on" : "off", nullptr, &on});
}

Flags& Flags::integer(std::string name, int64_t& v, std::string help, int64_t min, int64_t max,
                      std::string zero_means) {
  std::string shown = v == 0 && !zero_means.empty() ? zero_means : std::to_string(v);
  return option(std::move(name), "N", std::move(help), std::move(shown),
                [&v, min, max](const std::string& flag, std::string_view s) {
                  v = parse_int(flag, s, min, max);
                });
}

Flags& Flags::integer(std::string name, int& v, std::string help, int min, int max,
                      std::string zero_means) {
  std::string shown = v == 0 && !zero_means.empty() ? zero_means : std::to_string(v);
  return option(std::move(name), "N", std::move(help), std::move(shown),
                [&v, min, max](const std::string& flag, std::string_view s) {
                  v = static_cast<int>(parse_int(flag, s, min, max));
                });
}

Flags& Flags::seed(std::string name, uint64_t& v, std::string help) {
  return option(std::move(name), "N", std::move(help), std::to_string(v),
                [&v](const std::string& flag, std::string_view s) { v = parse_uint(flag, s); });
}

Flags& Flags::real(std::string name, double& v, std::string help, Range range, std::string what) {
  return option(std::move(name), "X", std::move(help), tg::num(v),
                [&v, range, what](const std::string& flag, std::string_view s) {
                  const double x = parse_real(flag, s);
                  const char* rule = nullptr;  // "> 0": what the range asks, when x misses it
                  const char* want = nullptr;  // "a positive number"
                  if (range == Range::positive && !(x > 0)) {
                    rule = "> 0", want = "a positive number";
                  } else if (range == Range::non_negative && !(x >= 0)) {
                    rule = ">= 0", want = "a non-negative number";
                  } else if (range == Range::unit_interval && !(x >= 0 && x < 1)) {
                    rule = "in [0, 1)", want = "in [0, 1)";
                  }
                  if (rule == nullptr) {
                    v = x;
                    return;
                  }
                  if (what.empty()) bad(flag, s, want);
                  throw UsageError(flag + ": " + what + " must be " + rule + ", got " + tg::num(x));
                });
}

Flags& Flags::text(std::string name, std::string metavar, std::string& v, std::string help,
                   std::string shown) {
  if (shown.empty()) shown = v.empty() ? "none" : v;
  return option(std::move(name), std::move(metavar), std::move(help), std::move(shown),
                [&v](const std::string&, std::string_view s) { v = std::string(s); });
}

Flags& Flags::choice(std::string name, std::string& v, std::vector<std::string> choices,
                     std::string help) {
  return option(std::move(name), "NAME", std::move(help), v,
                [&v, choices = std::move(choices)](const std::string& flag, std::string_view s) {
                  v = parse_choice(flag, s, choices);
                });
}

// CLI11 names the option first in the messages this can get ("--epochs: 1 required N missing",
// "--quiet was given a disallowed flag override").
std::string Flags::translate(const std::string& message, int argc, const char* const* argv) const {
  // Some messages name the flag without its dashes ("quiet was given ...").
  const size_t dashes = message.compare(0, 2, "--") == 0 ? 0 : 2;
  const Flag* flag = nullptr;
  for (const Flag& f : flags_) {
    const std::string name = f.name.substr(dashes);
    const bool starts = message.compare(0, name.size(), name) == 0 &&
                        (message.size() == name.size() || message[name.size()] == ':' ||
                         message[name.size()] == ' ');
    if (starts && (flag == nullptr || f.name.size() > flag->name.size())) flag = &f;
  }
  if (flag == nullptr) return message;
  if (!flag->set) {  // a value after '=' on a switch
    std::string value;
    for (int i = 1; i < argc; ++i) {
      const std::string_view a = argv[i];
      if (a.size() > flag->name.size() && a.compare(0, flag->name.size(), flag->name) == 0 &&
          a[flag->name.size()] == '=')
        value = std::string(a.substr(flag->name.size() + 1));
    }
    return flag->name + " takes no value, got '" + value + "'";
  }
  return flag->name + " needs a value (" + flag->metavar + ")";
}

bool Flags::parse(int argc, const char* const* argv) {
  CLI::App app(about_, program_);
  app.allow_extras();  // unknown flags and stray words: reported below, in our words
  app.set_help_flag("-h,--help", "print this help and exit");
  given_.clear();
  for (Flag& f : flags_) {
    if (f.set) {
      app.add_option(f.name,
                     [this, &f](const CLI::results_t& r) {
                       const std::string& value = r.back();  // a repeated flag: the last
                       if (value.empty())
                         throw UsageError(f.name + " needs a non-empty value (" + f.metavar + ")");
                       f.set(f.name, value);
                       given_.insert(f.name);
                       return true;
                     })
          ->type_name(f.metavar)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    } else {
      bool* on = f.on;
      const std::string* name = &f.name;
      app.add_flag_callback(f.name,
                            [this, on, name] {
                              *on = true;
                              given_.insert(*name);
                            })
          ->disable_flag_override();
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return false;
  } catch (const CLI::ParseError& e) {
    throw UsageError(translate(e.what(), argc, argv));
  }
  const std::vector<std::string> rest = app.remaining();
  if (!rest.empty()) {
    const std::string& a = rest.front();
    if (a == "--") throw UsageError("unexpected '--' (this program takes flags only)");
    if (a.size() > 1 && a[0] == '-')
      throw UsageError("unknown flag '" + a.substr(0, a.find('=')) + "'");
    throw UsageError("unexpected argument '" + a + "' (flags start with --)");
  }
  return true;
}

std::optional<int> Flags::parse_or_exit(int argc, const char* const* argv) {
  try {
    if (parse(argc, argv)) return std::nullopt;
  } catch (const UsageError& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s (see --help)\n", program_.c_str(), e.what());
    return 2;
  }
  std::fputs(help().c_str(), stdout);
  return 0;
}

std::string Flags::help() const {
  constexpr size_t kIndent = 22, kWidth = 80;
  std::string out = "usage: " + program_ + (flags_.empty() ? " [-h]\n" : " [flags]\n");
  if (!about_.empty()) out += "\n" + wrap(about_, 0, kWidth) + "\n";
  out += flags_.empty() ? "\nflags:\n" : "\nflags (default in brackets):\n";
  auto line = [&](std::string left, std::string text) {
    left = "  " + left;
    if (left.size() < kIndent)
      left.resize(kIndent, ' ');
    else
      left += "\n" + std::string(kIndent, ' ');
    out += left + wrap(text, kIndent, kWidth) + "\n";
  };
  for (const Flag& f : flags_)
    line(f.name + (f.metavar.empty() ? "" : " " + f.metavar),
         f.help + (f.shown.empty() ? "" : " [" + f.shown + "]"));
  line("-h, --help", "print this help and exit");
  if (!footer_.empty()) out += "\n" + footer_ + (footer_.back() == '\n' ? "" : "\n");
  return out;
}

}  // namespace tg::cli
