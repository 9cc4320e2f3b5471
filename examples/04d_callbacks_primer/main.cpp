// Course step 04d, "callbacks primer" (fastai notebook 05a_foundations, "Callbacks"): what a
// callback is, in C++ rather than Python — a function pointer, a lambda, a closure that keeps
// state, partial application (std::bind and a lambda), a callable class, before/after hooks
// around a slow calculation, optional hooks, a callback that stops the calculation early, and
// one that changes it. No training: a loop that sums squares stands for it.
//
//   build/bin/04d_callbacks_primer [--limit N] [--delay-ms MS]
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>

#include "examples/common/course.h"

namespace {

int64_t g_steps = 5;     // --limit: how many steps each calculation takes
int64_t g_delay_ms = 0;  // --delay-ms: how slow each step is (the notebook sleeps 1 s)

void work() {
  std::this_thread::sleep_for(std::chrono::milliseconds(g_delay_ms));
}

// --- 1. One callback: a function called after each step ------------------------------------

// std::function<void(int64_t)> holds anything callable with an int64_t: a function, a lambda,
// a bound function, an object with operator(). An empty one is the notebook's cb=None.
int64_t slow_calculation(const std::function<void(int64_t)>& cb = {}) {
  int64_t res = 0;
  for (int64_t i = 0; i < g_steps; ++i) {
    res += i * i;
    work();
    if (cb) cb(i);
  }
  return res;
}

void show_progress(int64_t epoch) {
  std::printf("  Awesome! We've finished epoch %lld!\n", static_cast<long long>(epoch));
}

void show_progress2(const std::string& exclamation, int64_t epoch) {
  std::printf("  %s! We've finished epoch %lld!\n", exclamation.c_str(),
              static_cast<long long>(epoch));
}

// A closure: the returned lambda keeps its own copy of exclamation (captured by value) after
// make_show_progress has returned. Capturing by reference ([&]) here would leave it pointing
// at a dead local: the C++ trap Python does not have.
std::function<void(int64_t)> make_show_progress(std::string exclamation) {
  return [exclamation](int64_t epoch) { show_progress2(exclamation, epoch); };
}

// A callable class: state in members, the call in operator().
class ProgressShowingCallback {
 public:
  explicit ProgressShowingCallback(std::string exclamation = "Awesome")
      : exclamation_(std::move(exclamation)) {}
  void operator()(int64_t epoch) {
    show_progress2(exclamation_, epoch);
    ++calls;
  }
  int calls = 0;

 private:
  std::string exclamation_;
};

// The same calculation as a template: the callback's type is known at compile time, so the
// call can be inlined — no std::function, no indirection. The price: the function must be in
// a header, and each callback type compiles its own copy.
template <typename F>
int64_t slow_calculation_t(F&& cb) {
  int64_t res = 0;
  for (int64_t i = 0; i < g_steps; ++i) {
    res += i * i;
    work();
    cb(i);
  }
  return res;
}

// --- 2. Several hooks: before and after each step ------------------------------------------

// A callback with two hooks. Python passes *args, **kwargs so a callback may ignore what it
// does not need; C++ fixes the signature, and a callback simply leaves a parameter unnamed.
class StepCallback {
 public:
  virtual ~StepCallback() = default;
  virtual void before_calc(int64_t epoch) = 0;
  virtual void after_calc(int64_t epoch, int64_t val) = 0;
};

int64_t slow_calculation_hooks(StepCallback* cb) {
  int64_t res = 0;
  for (int64_t i = 0; i < g_steps; ++i) {
    if (cb) cb->before_calc(i);
    res += i * i;
    work();
    if (cb) cb->after_calc(i, res);
  }
  return res;
}

class PrintStepCallback : public StepCallback {
 public:
  void before_calc(int64_t) override { std::printf("  About to start\n"); }
  void after_calc(int64_t, int64_t) override { std::printf("  Done step\n"); }
};

class PrintStatusCallback : public StepCallback {
 public:
  void before_calc(int64_t epoch) override {
    std::printf("  About to start: %lld\n", static_cast<long long>(epoch));
  }
  void after_calc(int64_t epoch, int64_t val) override {
    std::printf("  After %lld: %lld\n", static_cast<long long>(epoch), static_cast<long long>(val));
  }
};

// --- 3. Optional hooks, and hooks that steer ---------------------------------------------

// Python asks hasattr(cb, 'before_calc'). Two C++ answers: a struct of std::function members
// that may be left empty (below), or a base class whose virtual hooks do nothing by default
// (SlowCalculator's Callback further down — the shape the Learner's callbacks take).
// after_calc returns true to stop the calculation early.
struct Hooks {
  std::function<void(int64_t epoch)> before_calc;
  std::function<bool(int64_t epoch, int64_t val)> after_calc;
};

int64_t slow_calculation_optional(const Hooks& cb) {
  int64_t res = 0;
  for (int64_t i = 0; i < g_steps; ++i) {
    if (cb.before_calc) cb.before_calc(i);
    res += i * i;
    work();
    if (cb.after_calc && cb.after_calc(i, res)) {
      std::printf("  stopping early\n");
      break;
    }
  }
  return res;
}

// The calculation as an object that hands itself to its callback, so the callback can read
// and change its state (calc.res) — exactly what the Learner does with its callbacks.
class SlowCalculator {
 public:
  class Callback {
   public:
    virtual ~Callback() = default;
    virtual void before_calc(SlowCalculator&, int64_t) {}  // optional: does nothing by default
    virtual bool after_calc(SlowCalculator&, int64_t) { return false; }
  };

  explicit SlowCalculator(Callback* cb = nullptr) : cb_(cb) {}
  void calc() {
    for (int64_t i = 0; i < g_steps; ++i) {
      if (cb_) cb_->before_calc(*this, i);
      res += i * i;
      work();
      if (cb_ && cb_->after_calc(*this, i)) {
        std::printf("  stopping early\n");
        break;
      }
    }
  }
  int64_t res = 0;

 private:
  Callback* cb_;
};

class ModifyingCallback : public SlowCalculator::Callback {
 public:
  bool after_calc(SlowCalculator& calc, int64_t epoch) override {
    std::printf("  After %lld: %lld\n", static_cast<long long>(epoch),
                static_cast<long long>(calc.res));
    if (calc.res > 10) return true;
    if (calc.res < 3) calc.res *= 2;
    return false;
  }
};

}  // namespace

int main(int argc, char** argv) {
  course::Flags flags("04d_callbacks_primer",
                      "callbacks in C++: function pointers, lambdas, closures, partial "
                      "application, callable classes, before/after and optional hooks, hooks "
                      "that stop or change a calculation.");
  flags.integer("--limit", g_steps, "steps of each calculation")
      .integer("--delay-ms", g_delay_ms, "milliseconds each step sleeps", 0);
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    std::printf("1. a function pointer: slow_calculation(show_progress)\n");
    void (*fp)(int64_t) = show_progress;
    std::printf("  result %lld\n", static_cast<long long>(slow_calculation(fp)));

    std::printf("\n2. a lambda: slow_calculation([](int64_t o) { ... })\n");
    slow_calculation([](int64_t o) {
      std::printf("  Awesome! We've finished epoch %lld!\n", static_cast<long long>(o));
    });

    std::printf(
        "\n3. a lambda adapting a two-argument function: [](int64_t o) { "
        "show_progress2(\"OK I guess\", o); }\n");
    slow_calculation([](int64_t o) { show_progress2("OK I guess", o); });

    std::printf(
        "\n4. a closure: make_show_progress(\"Nice\") returns a lambda that keeps "
        "its exclamation\n");
    slow_calculation(make_show_progress("Nice"));
    auto f2 = make_show_progress("Terrific");
    slow_calculation(f2);

    std::printf(
        "\n5. partial application: std::bind(show_progress2, \"OK I guess\", _1), "
        "and the same with std::bind_front\n");
    using namespace std::placeholders;
    slow_calculation(std::bind(show_progress2, "OK I guess", _1));
    slow_calculation(std::bind_front(show_progress2, "Also OK"));

    std::printf("\n6. a callable class: ProgressShowingCallback(\"Just super\")\n");
    ProgressShowingCallback cb("Just super");
    // std::function copies what it is given: pass std::ref(cb) to call this very object.
    slow_calculation(std::ref(cb));
    std::printf("  cb was called %d times (its own state)\n", cb.calls);

    std::printf("\n7. the same with a template: slow_calculation_t(cb), no std::function\n");
    std::printf("  result %lld\n", static_cast<long long>(slow_calculation_t([](int64_t) {})));

    std::printf("\n8. before and after hooks: PrintStepCallback, then PrintStatusCallback\n");
    PrintStepCallback step;
    slow_calculation_hooks(&step);
    PrintStatusCallback status;
    slow_calculation_hooks(&status);

    std::printf("\n9. optional hooks: only after_calc set, and it stops when val > 10\n");
    Hooks only_after;
    only_after.after_calc = [](int64_t epoch, int64_t val) {
      std::printf("  After %lld: %lld\n", static_cast<long long>(epoch),
                  static_cast<long long>(val));
      return val > 10;
    };
    std::printf("  result %lld\n", static_cast<long long>(slow_calculation_optional(only_after)));

    std::printf(
        "\n10. a callback that changes the calculation: ModifyingCallback doubles "
        "res while it is below 3, stops above 10\n");
    ModifyingCallback modify;
    SlowCalculator calculator(&modify);
    calculator.calc();
    std::printf("  calculator.res = %lld\n", static_cast<long long>(calculator.res));
    return 0;
  });
}
