// The tape: reverse-mode automatic differentiation by an explicit, ordered record of ops.
//
// Every differentiable op that runs while grad mode is on and one of its inputs requires grad
// appends one Node to the thread's tape: its inputs, a weak reference to its output, and a
// backward function mapping the output's gradient to the inputs' gradients. backward(loss)
// walks the tape from loss's node down to the first, so each node runs after every node that
// used its output: no topological sort is needed, because the tape is already in execution
// order. The nodes a backward visits are then removed (the tape is consumed); a second
// backward through them is an error unless retain_graph was asked for.
//
//   auto w = tg::randn({3, 2}).requires_grad_();
//   auto loss = tg::sum(tg::relu(tg::matmul(x, w)));
//   tg::backward(loss);              // w.grad() now holds d(loss)/dw
//   std::cout << tg::tape().str();   // what is recorded (empty again after backward)
//
// Nodes whose output no one holds any more can never receive a gradient; the tape drops them
// as it grows, so a forward that is never followed by backward does not leak.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/grad_mode.h"
#include "tensor/tensor.h"

namespace tg {

// Maps the gradient of the output to one gradient per input (undefined: no gradient).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out)>;

struct Node {
  uint64_t seq = 0;
  const char* name = "";
  std::vector<Tensor> inputs;
  std::weak_ptr<TensorImpl> output;
  BackwardFn backward;
};

class Tape {
 public:
  // Appends a node and marks out as its output; returns out.
  Tensor record(const char* name, Tensor out, std::vector<Tensor> inputs, BackwardFn fn);
  size_t size() const { return nodes_.size(); }
  const std::vector<Node>& nodes() const { return nodes_; }
  void clear() { nodes_.clear(); }
  std::string str() const;  // one line per node: seq, op, input and output shapes

  // Used by backward(): the index of the node with this sequence number, or -1.
  int64_t find(uint64_t seq) const;
  std::vector<Node>& mutable_nodes() { return nodes_; }

 private:
  void prune();  // drops nodes whose output is gone, newest first
  std::vector<Node> nodes_;
  uint64_t next_seq_ = 1;
  size_t prune_at_ = 1024;
};

// The calling thread's tape.
Tape& tape();

// True when grad mode is on and any of the tensors requires grad: the op must be recorded.
bool needs_grad(std::initializer_list<const Tensor*> inputs);

// Computes the gradient of `root` with respect to every tensor that requires grad and led to
// it, accumulating into their .grad() (leaves only). root must be a single element unless
// grad_root (of root's shape) is given.
void backward(const Tensor& root, const Tensor& grad_root = Tensor(), bool retain_graph = false);

// Sets every gradient to zero in place, keeping the buffers; or, with set_to_none, drops them
// (grad() is then undefined, as after construction): the next backward makes each leaf's
// gradient its .grad without zeroing or adding, which saves two passes over every parameter.
// An optimizer skips a parameter whose gradient is undefined.
void zero_grad(const std::vector<Tensor>& params, bool set_to_none = false);

}  // namespace tg
