// tg::cuda::Graph: capture the kernels a piece of code queues, then replay them with one launch.
//
//   tg::cuda::Graph g;
//   g.capture([&] { step(); });   // runs nothing: records step()'s kernels
//   for (...) { update_inputs(); g.replay(); }
//
// The captured kernels keep the addresses they were recorded with: inputs must be written in
// place (copy_ into the same tensors) and outputs read from the tensors made during capture.
// Memory allocated during capture comes from a private pool (tensor/block_pool.h) that stays
// reserved until the Graph is destroyed. Code that synchronises (item(), a copy to the CPU)
// cannot run inside capture(); the error says so. Without the CUDA backend every method
// throws tg::Error.
#pragma once

#include <functional>
#include <memory>

namespace tg::cuda {

class Graph {
 public:
  Graph();
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Records what f queues on the current stream (f's host code runs once, its kernels do not).
  void capture(const std::function<void()>& f);
  void replay();  // queues the recorded kernels on the current stream
  bool captured() const;
  size_t num_nodes() const;  // kernels and copies in the graph

 private:
  void release_pool();  // hands the private memory pool back (nothing will replay)
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True while the current stream is being captured (ops that would synchronise check it).
bool is_capturing();

}  // namespace tg::cuda
