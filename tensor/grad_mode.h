// Grad mode: whether differentiable ops record on the tape. Thread-local, on by default.
//
//   { tg::NoGrad guard; auto pred = model.forward(x); }   // nothing recorded, no grads
#pragma once

namespace tg {

struct GradMode {
  static bool enabled();
  static void set_enabled(bool on);
};

// Scope guard that turns recording off and restores the previous mode.
class NoGrad {
 public:
  NoGrad() : prev_(GradMode::enabled()) { GradMode::set_enabled(false); }
  ~NoGrad() { GradMode::set_enabled(prev_); }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool prev_;
};

}  // namespace tg
