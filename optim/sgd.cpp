// SGD: torch.optim.SGD's recipe, validation and fused update. The recipe (l2_reg,
// momentum_buffer, sgd_momentum_step: optim/generic.h) names the hyper-parameters and the state,
// and is what set_fused(false) runs. On the CPU, one sgd_step kernel call per
// parameter; on CUDA, one multi-tensor launch per group (sgd_step_dev_multi), so a model's
// update is one kernel, or one CUDA Graph node. The momentum buffer of a parameter is created
// on its first update (first = true: the buffer takes the gradient itself) and reused
// afterwards, so a warm step allocates nothing.
//
// On CUDA the kernel reads lr, momentum, dampening and weight decay from a small device
// buffer per group, which step() refreshes from the host values before the kernels; under
// CUDA Graph capture it does not (a copy from the host cannot be captured), and whoever
// replays the graph calls before_replay() (upload_hyper) first, so a scheduler's changes still
// apply. The hyper-parameters were checked when they were set (Optimizer::set): step() reads
// its typed copy and validates nothing.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/sgd.h"
#include "optim/optimizer.h"
#include "tensor/cuda.h"
#include "tensor/cuda_graph.h"
#include "tensor/grad_mode.h"

namespace tg::optim {

namespace {

std::map<std::string, double> defaults(const SGDOptions& o) {
  return {{"lr", o.lr},
          {"momentum", o.momentum},
          {"dampening", o.dampening},
          {"weight_decay", o.weight_decay},
          {"nesterov", o.nesterov ? 1.0 : 0.0}};
}

const std::string& k_buffer() {
  static const std::string s = "momentum_buffer";
  return s;
}

// One group's values, checked as torch.optim.SGD checks them (NaN fails too).
kernels::SgdHyper typed(const StatefulOptimizer& o, const std::vector<double>& v) {
  kernels::SgdHyper h;
  h.lr = o.value(v, "lr");
  h.momentum = o.value(v, "momentum");
  h.dampening = o.value(v, "dampening");
  h.weight_decay = o.value(v, "weight_decay");
  const double nesterov = o.value(v, "nesterov");
  TG_CHECK(h.lr >= 0, "SGD", "invalid learning rate: ", h.lr, " (must be >= 0)");
  TG_CHECK(h.momentum >= 0, "SGD", "invalid momentum value: ", h.momentum, " (must be >= 0)");
  TG_CHECK(h.weight_decay >= 0, "SGD", "invalid weight_decay value: ", h.weight_decay,
           " (must be >= 0)");
  TG_CHECK(h.dampening == h.dampening, "SGD", "invalid dampening value: ", h.dampening);
  TG_CHECK(nesterov == 0 || nesterov == 1, "SGD", "nesterov must be 0 or 1, got ", nesterov);
  h.nesterov = nesterov == 1;
  TG_CHECK(!h.nesterov || (h.momentum > 0 && h.dampening == 0), "SGD",
           "nesterov momentum requires a momentum > 0 and zero dampening, got momentum=",
           h.momentum, ", dampening=", h.dampening);
  return h;
}

#if TG_WITH_CUDA
// One group's CUDA parameters, gathered so that the whole group is one multi-tensor launch
// per dtype (kernels::cuda::sgd_step_dev_multi) rather than one launch per parameter. The lists
// are reused, so a warm step allocates nothing on the host either.
class CudaBatch {
 public:
  CudaBatch() {
    list<float>().clear();
    list<double>().clear();
  }
  template <typename T>
  void add(T* p, const T* grad, T* buf, int64_t n, bool first) {
    list<T>().push_back(kernels::cuda::SgdTensor<T>{p, grad, buf, n, first});
  }
  bool empty() const { return list<float>().empty() && list<double>().empty(); }
  void launch(const float* hyper_dev, bool nesterov, const double* skip) {
    launch_one<float>(hyper_dev, nesterov, skip);
    launch_one<double>(hyper_dev, nesterov, skip);
  }

 private:
  template <typename T>
  static std::vector<kernels::cuda::SgdTensor<T>>& list() {
    thread_local std::vector<kernels::cuda::SgdTensor<T>> v;
    return v;
  }
  template <typename T>
  static void launch_one(const float* hyper_dev, bool nesterov, const double* skip) {
    const auto& v = list<T>();
    if (!v.empty())
      kernels::cuda::sgd_step_dev_multi<T>(v.data(), int64_t(v.size()), hyper_dev, nesterov, skip);
  }
};
#else
struct CudaBatch {};
#endif

}  // namespace

SGD::SGD(const std::vector<Tensor>& params, const SGDOptions& opt)
    : SGD(std::vector<ParamGroup>{ParamGroup{params, {}}}, opt) {}

// The hyper-parameters in the recipe's order: lr, momentum, dampening, weight_decay, nesterov.
SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults_)
    : StatefulOptimizer("SGD", {l2_reg(), sgd_momentum_step()}, {momentum_buffer()},
                        defaults(defaults_), /*has_fused=*/true) {
  for (auto& g : groups) add_param_group(std::move(g));
}

void SGD::check_hyper(const std::vector<double>& values) const {
  typed(*this, values);
}

void SGD::hyper_changed(size_t group) {
  if (typed_.size() <= group) typed_.resize(group + 1);
  typed_[group] = typed(*this, hyper(group));
}

void SGD::prepare_capture() {
  upload_hyper();
  for (size_t gi = 0; gi < num_groups(); ++gi) {
    if (typed_[gi].momentum == 0) continue;
    const auto& ps = params(gi);
    for (size_t i = 0; i < ps.size(); ++i)
      TG_CHECK(!ps[i].grad().defined() || state_[gi][i].count(k_buffer()), "SGD", "parameter ", i,
               " of group ", gi, " (shape ", ps[i].shape_str(),
               ") has no momentum buffer yet: run at least one eager step before capturing one "
               "(the first step creates the buffers; a captured first step would replay as a "
               "first step every time)");
  }
}

void SGD::upload_hyper() {
  hyper_dev_.resize(num_groups());
  hyper_sent_.resize(num_groups());
  for (size_t gi = 0; gi < num_groups(); ++gi) {
    const auto& ps = params(gi);
    if (ps.empty() || !ps.front().device().is_cuda()) continue;
    const kernels::SgdHyper& h = typed_[gi];
    const float host[4] = {static_cast<float>(h.lr), static_cast<float>(h.momentum),
                           static_cast<float>(h.dampening), static_cast<float>(h.weight_decay)};
    Tensor& dev = hyper_dev_[gi];
    if (!dev.defined() || dev.device() != ps.front().device()) {
      dev = empty({4}, DType::f32, ps.front().device());
    } else if (std::equal(host, host + 4, hyper_sent_[gi].begin())) {
      continue;  // a constant schedule: the device already holds these values
    }
    // A copy from pageable host memory is staged at once, so `host` may go out of scope.
    allocator_for(dev.device()).copy_bytes(dev.raw_data(), host, sizeof(host));
    std::copy(host, host + 4, hyper_sent_[gi].begin());
  }
}

void SGD::fused_step() {
  NoGrad guard;
  [[maybe_unused]] const bool capturing = cuda::is_capturing();  // read by the CUDA path only
  bool uploaded = false;
  for (size_t gi = 0; gi < num_groups(); ++gi) {
    const kernels::SgdHyper& h = typed_[gi];  // checked when it was set, not here
    const std::vector<Tensor>& ps = params(gi);
    CudaBatch multi;  // the group's CUDA parameters, updated by one launch per dtype
    for (size_t i = 0; i < ps.size(); ++i) {
      const Tensor& p = ps[i];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      TG_CHECK(p.device() == grad.device(), "SGD", "parameter ", i, " of group ", gi, " is on ",
               p.device().str(), " but its gradient is on ", grad.device().str());
      TG_CHECK(grad.shape() == p.shape() && grad.dtype() == p.dtype(), "SGD", "parameter ", i,
               " of group ", gi, " is ", p.shape_str(), " ", dtype_name(p.dtype()),
               " but its gradient is ", grad.shape_str(), " ", dtype_name(grad.dtype()));
      TG_CHECK(p.is_contiguous() && grad.is_contiguous(), "SGD", "parameter ", i, " of group ", gi,
               " (shape ", p.shape_str(), ") or its gradient is not contiguous");
      Tensor* buf = nullptr;
      bool first = false;
      if (h.momentum != 0) {
        auto& st = state_[gi][i];
        auto it = st.find(k_buffer());
        if (it == st.end()) {
          it = st.emplace(k_buffer(), empty(p.shape(), p.dtype(), p.device())).first;
          first = true;
        } else if (it->second.device() != p.device()) {
          it->second.to_(p.device());  // the model moved after the buffer was made
        }
        buf = &it->second;
      }
      if (p.device().is_cuda()) {
#if TG_WITH_CUDA
        if (!uploaded && !capturing) upload_hyper();
        uploaded = true;
        TG_CHECK(hyper_dev_.size() > gi && hyper_dev_[gi].defined(), "SGD",
                 "the device copy of the hyper-parameters of group ", gi,
                 " is missing: call upload_hyper() before capturing a step");
        TG_CHECK(p.device() == hyper_dev_[gi].device(), "SGD", "parameter ", i, " of group ", gi,
                 " is on ", p.device().str(), " but the group's first parameter is on ",
                 hyper_dev_[gi].device().str());
        TG_DISPATCH_FLOATING(p.dtype(), "SGD", [&] {
          multi.add(p.data<scalar_t>(), grad.data<scalar_t>(),
                    buf ? buf->data<scalar_t>() : nullptr, p.numel(), first);
        });
#else
        TG_FAIL("SGD", "CUDA parameter in a build without the CUDA backend");
#endif
        continue;
      }
      TG_DISPATCH_FLOATING(p.dtype(), "SGD", [&] {
        kernels::cpu::sgd_step<scalar_t>(p.data<scalar_t>(), grad.data<scalar_t>(),
                                         buf ? buf->data<scalar_t>() : nullptr, p.numel(), h,
                                         first);
      });
    }
#if TG_WITH_CUDA
    if (!multi.empty()) {
      const double* skip = nullptr;
      if (guard_.defined() && guard_.device().is_cuda()) {
        TG_CHECK(guard_.dtype() == DType::f64 && guard_.numel() == 1 &&
                     guard_.device() == hyper_dev_[gi].device(),
                 "SGD", "the non-finite guard must be one float64 on ",
                 hyper_dev_[gi].device().str(), ", got ", guard_.shape_str(), " ",
                 dtype_name(guard_.dtype()), " on ", guard_.device().str());
        skip = guard_.data<double>();
      }
      multi.launch(hyper_dev_[gi].data<float>(), h.nesterov, skip);
    }
#endif
  }
}

}  // namespace tg::optim
