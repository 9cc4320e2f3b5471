// Module: parameter registration and dotted names, train/eval, zero_grad, state dicts, repr.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;
using tg::test::error_of;
using tg::test::has;

namespace {

// A custom module: children registered in the initialiser list, then its own parameter.
struct Block : nn::Module {
  std::shared_ptr<nn::Linear> l1, l2;
  Tensor scale;
  explicit Block(Generator& gen)
      : l1(register_module("l1", std::make_shared<nn::Linear>(3, 4, true, gen))),
        l2(register_module("l2", std::make_shared<nn::Linear>(4, 2, false, gen))) {
    scale = register_parameter("scale", ones({2}));
  }
  Tensor forward(const Tensor& x) override { return (*l2)(relu((*l1)(x))) * scale; }
  std::string name() const override { return "Block"; }
};

struct Outer : nn::Module {
  std::shared_ptr<Block> body;
  std::shared_ptr<nn::Sequential> head;
  explicit Outer(Generator& gen)
      : body(register_module("body", std::make_shared<Block>(gen))),
        head(register_module(
            "head",
            std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
                std::make_shared<nn::Linear>(2, 2, true, gen), std::make_shared<nn::ReLU>()}))) {}
  Tensor forward(const Tensor& x) override { return (*head)((*body)(x)); }
  std::string name() const override { return "Outer"; }
};

// Exposes the protected registration functions.
struct Open : nn::Module {
  using nn::Module::register_buffer;
  using nn::Module::register_module;
  using nn::Module::register_parameter;
  Tensor forward(const Tensor& x) override { return x; }
};

std::vector<std::string> names_of(const nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [n, p] : m.named_parameters()) out.push_back(n);
  return out;
}

bool same_values(const nn::Module& a, const nn::Module& b) {
  auto pa = a.parameters(), pb = b.parameters();
  if (pa.size() != pb.size()) return false;
  for (size_t i = 0; i < pa.size(); ++i)
    if (!equal(pa[i].detach(), pb[i].detach())) return false;
  return true;
}

}  // namespace

TEST_CASE("Sequential names its parameters 0.weight, 0.bias, 2.weight, 2.bias") {
  Generator gen(1);
  auto model = nn::mlp({4, 3, 2}, gen);
  CHECK(names_of(*model) == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  auto np = model->named_parameters();
  CHECK(np[0].second.shape() == Shape{3, 4});
  CHECK(np[1].second.shape() == Shape{3});
  CHECK(np[2].second.shape() == Shape{2, 3});
  CHECK(np[3].second.shape() == Shape{2});
  for (const auto& item : np) {  // not a structured binding: clang 14 cannot capture one
    const std::string& n = item.first;
    const Tensor& p = item.second;
    CHECK_MESSAGE(p.requires_grad(), n);
    CHECK_MESSAGE(p.dtype() == DType::f32, n);
    CHECK_MESSAGE(p.is_leaf(), n);
  }
}

TEST_CASE("a nested custom module names parameters by dotted path, own ones first") {
  Generator gen(1);
  Outer m(gen);
  CHECK(names_of(m) == std::vector<std::string>{"body.scale", "body.l1.weight", "body.l1.bias",
                                                "body.l2.weight", "head.0.weight", "head.0.bias"});
  auto children = m.named_children();
  REQUIRE(children.size() == 2);
  CHECK(children[0].first == "body");
  CHECK(children[1].first == "head");
  CHECK(names_of(*m.body) ==
        std::vector<std::string>{"scale", "l1.weight", "l1.bias", "l2.weight"});
}

TEST_CASE("parameters() are the named parameters' tensors, sharing the layers' storage") {
  Generator gen(2);
  Outer m(gen);
  auto params = m.parameters();
  auto named = m.named_parameters();
  REQUIRE(params.size() == named.size());
  for (size_t i = 0; i < params.size(); ++i) CHECK(params[i].impl() == named[i].second.impl());
  CHECK(params[0].impl() == m.body->scale.impl());
  CHECK(params[1].impl() == m.body->l1->weight.impl());
}

TEST_CASE("a tied parameter is listed once by parameters() and under each name in state_dict") {
  Generator gen(3);
  auto shared = std::make_shared<nn::Linear>(2, 2, true, gen);
  nn::Sequential seq{shared, std::make_shared<nn::ReLU>(), shared};
  CHECK(names_of(seq) == std::vector<std::string>{"0.weight", "0.bias"});
  auto sd = seq.state_dict();
  CHECK(sd.size() == 4);
  CHECK(sd.count("2.weight") == 1);
}

TEST_CASE("mlp({784, 50, 10}) has 39760 parameters in Linear, ReLU, Linear") {
  Generator gen(0);
  auto model = nn::mlp({784, 50, 10}, gen);
  int64_t count = 0;
  for (const auto& p : model->parameters()) count += p.numel();
  CHECK(count == 784 * 50 + 50 + 50 * 10 + 10);
  CHECK(count == 39760);
  REQUIRE(model->size() == 3);
  CHECK(dynamic_cast<nn::Linear*>(&(*model)[0]) != nullptr);
  CHECK(dynamic_cast<nn::ReLU*>(&(*model)[1]) != nullptr);
  CHECK(dynamic_cast<nn::Linear*>(&(*model)[2]) != nullptr);
  auto deep = nn::mlp({5, 4, 3, 2}, gen);
  CHECK(deep->size() == 5);
}

TEST_CASE("mlp refuses fewer than two sizes and non-positive sizes") {
  Generator gen(0);
  CHECK_THROWS_WITH_AS(nn::mlp({10}, gen), doctest::Contains("at least 2"), Error);
  CHECK_THROWS_WITH_AS(nn::mlp({10, 0, 3}, gen), doctest::Contains("must be positive, got 0"),
                       Error);
  CHECK_THROWS_AS(nn::mlp({-1, 3}, gen), Error);
}

TEST_CASE("train() and eval() reach every descendant") {
  Generator gen(1);
  Outer m(gen);
  CHECK(m.is_training());
  m.eval();
  CHECK_FALSE(m.is_training());
  CHECK_FALSE(m.body->is_training());
  CHECK_FALSE(m.body->l2->is_training());
  CHECK_FALSE((*m.head)[1].is_training());
  m.train();
  CHECK(m.body->l1->is_training());
  CHECK((*m.head)[0].is_training());
  m.body->train(false);  // a subtree alone
  CHECK(m.is_training());
  CHECK_FALSE(m.body->l1->is_training());
}

TEST_CASE("zero_grad zeroes every defined gradient in place") {
  Generator gen(4);
  auto model = nn::mlp({3, 5, 2}, gen);
  Tensor x = randn({6, 3}, gen);
  backward(sum((*model)(x)));
  std::vector<const void*> buffers;
  for (const auto& p : model->parameters()) {
    REQUIRE(p.grad().defined());
    CHECK(max_abs_diff(p.grad(), zeros_like(p.grad())) > 0);
    buffers.push_back(p.grad().raw_data());
  }
  model->zero_grad();
  auto params = model->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    CHECK(equal(params[i].grad(), zeros_like(params[i].grad())));
    CHECK(params[i].grad().raw_data() == buffers[i]);  // same buffer: nothing reallocated
  }
  Generator gen2(5);
  nn::Linear fresh(2, 2, true, gen2);
  fresh.zero_grad();  // no gradient yet: nothing to do
  CHECK_FALSE(fresh.weight.grad().defined());
}

TEST_CASE(
    "zero_grad with set_to_none drops every gradient, and an optimizer step then skips them") {
  Generator gen(4);
  auto model = nn::mlp({3, 5, 2}, gen);
  backward(sum((*model)(randn({6, 3}, gen))));
  for (const auto& p : model->parameters()) REQUIRE(p.grad().defined());
  model->zero_grad(/*set_to_none=*/true);
  for (const auto& p : model->parameters()) CHECK_FALSE(p.grad().defined());
  // Through the optimizer too, and a step with no gradients leaves the weights alone.
  optim::SGD opt(model->parameters(), {.lr = 0.5, .momentum = 0.9});
  backward(sum((*model)(randn({6, 3}, gen))));
  opt.zero_grad(/*set_to_none=*/true);
  std::vector<Tensor> before;
  for (const auto& p : model->parameters()) {
    CHECK_FALSE(p.grad().defined());
    before.push_back(p.detach().clone());
  }
  opt.step();
  auto params = model->parameters();
  for (size_t i = 0; i < params.size(); ++i) CHECK(equal(params[i], before[i]));
}

TEST_CASE("state_dict holds detached tensors sharing the parameters' storage") {
  Generator gen(6);
  auto model = nn::mlp({3, 4, 2}, gen);
  auto sd = model->state_dict();
  REQUIRE(sd.size() == 4);
  auto named = model->named_parameters();
  for (const auto& [n, p] : named) {
    REQUIRE(sd.count(n) == 1);
    CHECK(sd[n].shares_storage(p));
    CHECK_FALSE(sd[n].requires_grad());
    CHECK(sd[n].shape() == p.shape());
  }
  sd["2.bias"].fill_(7);  // allowed without NoGrad: detached
  auto& last = dynamic_cast<nn::Linear&>((*model)[2]);
  CHECK(last.bias.detach().to_vector<float>() == std::vector<float>{7, 7});
}

TEST_CASE("load_state_dict copies a model into a fresh one bit for bit") {
  Generator ga(10), gb(20);
  auto a = nn::mlp({5, 7, 3}, ga);
  auto b = nn::mlp({5, 7, 3}, gb);
  REQUIRE_FALSE(same_values(*a, *b));
  b->load_state_dict(a->state_dict());
  CHECK(same_values(*a, *b));
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    CHECK_FALSE(pa[i].shares_storage(pb[i]));  // values copied, not aliased
    CHECK(pb[i].requires_grad());
  }
  Tensor x = randn({4, 5}, ga);
  NoGrad guard;
  CHECK(equal((*a)(x), (*b)(x)));
}

TEST_CASE("load_state_dict with strict names missing keys and changes nothing") {
  Generator ga(1), gb(2);
  auto a = nn::mlp({3, 4, 2}, ga);
  auto b = nn::mlp({3, 4, 2}, gb);
  auto before = b->state_dict();
  std::vector<Tensor> saved;
  for (const auto& p : b->parameters()) saved.push_back(p.detach().clone());
  auto sd = a->state_dict();
  sd.erase("2.bias");
  CHECK_THROWS_WITH_AS(b->load_state_dict(sd), doctest::Contains("missing keys: [2.bias]"), Error);
  auto params = b->parameters();
  for (size_t i = 0; i < params.size(); ++i) CHECK(equal(params[i].detach(), saved[i]));
  b->load_state_dict(sd, /*strict=*/false);  // loads the others
  CHECK(equal(b->parameters()[0].detach(), a->parameters()[0].detach()));
  CHECK(equal(b->parameters()[3].detach(), saved[3]));
}

TEST_CASE("load_state_dict with strict names unexpected keys") {
  Generator ga(1), gb(2);
  auto a = nn::mlp({3, 4, 2}, ga);
  auto b = nn::mlp({3, 4, 2}, gb);
  auto sd = a->state_dict();
  sd["4.weight"] = zeros({2, 2});
  CHECK_THROWS_WITH_AS(b->load_state_dict(sd),
                       doctest::Contains("missing keys: []; unexpected keys: [4.weight]"), Error);
  b->load_state_dict(sd, false);
  CHECK(same_values(*a, *b));
}

TEST_CASE("load_state_dict names the key and both shapes on a shape mismatch") {
  Generator ga(1), gb(2);
  auto a = nn::mlp({3, 4, 2}, ga);
  auto b = nn::mlp({3, 4, 2}, gb);
  auto sd = a->state_dict();
  sd["0.weight"] = zeros({5, 3});
  for (bool strict : {true, false}) {
    CHECK_THROWS_WITH_AS(
        b->load_state_dict(sd, strict),
        "Module.load_state_dict: size mismatch for '0.weight': the model has [4, 3], the state "
        "dict has [5, 3]",
        Error);
  }
}

TEST_CASE("load_state_dict converts a tensor of another dtype, as PyTorch's copy does") {
  Generator ga(1);
  auto a = nn::mlp({3, 4, 2}, ga);
  auto sd = a->state_dict();
  sd["0.bias"] = from_vector<double>({0.5, -1.25, 3, 1e-3}, {4});
  sd["2.bias"] = from_vector<int32_t>({7, -2}, {2});
  a->load_state_dict(sd);
  CHECK(a->state_dict().at("0.bias").dtype() == DType::f32);
  CHECK(a->state_dict().at("0.bias").to_vector<float>() ==
        std::vector<float>{0.5f, -1.25f, 3.0f, 1e-3f});
  CHECK(a->state_dict().at("2.bias").to_vector<float>() == std::vector<float>{7.0f, -2.0f});
}

TEST_CASE("register_parameter refuses duplicate, empty or dotted names and integer tensors") {
  Open m;
  Tensor& w = m.register_parameter("w", zeros({2}));
  CHECK(w.requires_grad());  // registration makes it a parameter
  CHECK_THROWS_WITH_AS(m.register_parameter("w", zeros({2})),
                       doctest::Contains("parameter 'w' exists"), Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("", zeros({2})), doctest::Contains("empty"), Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("a.b", zeros({2})), doctest::Contains("'.'"), Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("i", zeros({2}, DType::i32)),
                       doctest::Contains("got int32"), Error);
  CHECK_THROWS_AS(m.register_parameter("u", Tensor()), Error);
  CHECK(m.named_parameters().size() == 1);
}

TEST_CASE("register_module refuses duplicate names, names of parameters and null modules") {
  Open m;
  m.register_parameter("w", zeros({2}));
  m.register_module("c", std::make_shared<nn::ReLU>());
  CHECK_THROWS_WITH_AS(m.register_module("c", std::make_shared<nn::ReLU>()),
                       doctest::Contains("child 'c' exists"), Error);
  CHECK_THROWS_AS(m.register_module("w", std::make_shared<nn::ReLU>()), Error);
  CHECK_THROWS_AS(m.register_parameter("c", zeros({1})), Error);
  CHECK_THROWS_AS(m.register_module("n", std::shared_ptr<nn::ReLU>()), Error);
  CHECK(m.named_children().size() == 1);
}

TEST_CASE("register_buffer: in the state dict and named_buffers, not in parameters()") {
  auto inner = std::make_shared<Open>();
  inner->register_parameter("w", zeros({2}));
  Tensor& count = inner->register_buffer("count", zeros({}, DType::i32));
  Open outer;
  outer.register_buffer("scale", ones({3}));
  outer.register_module("inner", inner);
  CHECK(outer.parameters().size() == 1);
  std::vector<std::string> bufs;
  for (const auto& [n, b] : outer.named_buffers()) bufs.push_back(n);
  CHECK(bufs == std::vector<std::string>{"scale", "inner.count"});
  nn::StateDict sd = outer.state_dict();
  std::vector<std::string> keys;
  for (const auto& [k, v] : sd) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"inner.count", "inner.w", "scale"});
  CHECK(sd.at("inner.count").dtype() == DType::i32);
  CHECK(sd.at("inner.count").shares_storage(count));  // a view of the buffer, not a copy
  // load_state_dict copies buffers in (converting the dtype) and names them when missing.
  nn::StateDict in = {{"scale", tensor({1, 2, 3})},
                      {"inner.w", tensor({4, 5})},
                      {"inner.count", tensor({7}, DType::f64).reshape({})}};
  outer.load_state_dict(in);
  CHECK(count.item<int32_t>() == 7);
  CHECK(outer.named_buffers()[0].second.to_vector<float>() == std::vector<float>{1, 2, 3});
  in.erase("inner.count");
  CHECK(has(error_of([&] { outer.load_state_dict(in); }), "missing keys: [inner.count]"));
  outer.load_state_dict(in, false);
  CHECK(count.item<int32_t>() == 7);
  // zero_grad and parameters() leave buffers alone; to() on the same device keeps them.
  outer.zero_grad();
  outer.to(Device::cpu());
  CHECK(count.item<int32_t>() == 7);
}

TEST_CASE("register_buffer refuses names in use, tensors that require grad and undefined ones") {
  Open m;
  m.register_parameter("w", zeros({2}));
  m.register_buffer("b", zeros({2}));
  m.register_module("c", std::make_shared<nn::ReLU>());
  CHECK(has(error_of([&] { m.register_buffer("b", zeros({1})); }), "buffer 'b' exists"));
  CHECK(has(error_of([&] { m.register_buffer("w", zeros({1})); }), "parameter 'w' exists"));
  CHECK(has(error_of([&] { m.register_buffer("c", zeros({1})); }), "child 'c' exists"));
  CHECK(has(error_of([&] { m.register_parameter("b", zeros({1})); }), "buffer 'b' exists"));
  CHECK(has(error_of([&] { m.register_module("b", std::make_shared<nn::ReLU>()); }),
            "buffer 'b' exists"));
  CHECK(has(error_of([&] { m.register_buffer("g", zeros({1}).requires_grad_()); }),
            "must not require grad"));
  CHECK(has(error_of([&] { m.register_buffer("u", Tensor()); }), "undefined"));
  CHECK(has(error_of([&] { m.register_buffer("a.b", zeros({1})); }), "'.'"));
  CHECK(m.named_buffers().size() == 1);
}

TEST_CASE("str() gives PyTorch's repr") {
  Generator gen(0);
  auto model = nn::mlp({784, 50, 10}, gen);
  CHECK(model->str() ==
        "Sequential(\n"
        "  (0): Linear(in_features=784, out_features=50, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=50, out_features=10, bias=True)\n"
        ")");
  CHECK(nn::Linear(3, 2, false, gen).str() == "Linear(in_features=3, out_features=2, bias=False)");
  CHECK(nn::Flatten().str() == "Flatten(start_dim=1, end_dim=-1)");
  CHECK(nn::Sequential().str() == "Sequential()");
  Outer m(gen);
  CHECK(m.str() ==
        "Outer(\n"
        "  (body): Block(\n"
        "    (l1): Linear(in_features=3, out_features=4, bias=True)\n"
        "    (l2): Linear(in_features=4, out_features=2, bias=False)\n"
        "  )\n"
        "  (head): Sequential(\n"
        "    (0): Linear(in_features=2, out_features=2, bias=True)\n"
        "    (1): ReLU()\n"
        "  )\n"
        ")");
}

TEST_CASE("Sequential indexing is bounds-checked and a null layer is refused") {
  nn::Sequential seq{std::make_shared<nn::ReLU>(), std::make_shared<nn::Flatten>()};
  CHECK(seq.size() == 2);
  CHECK(seq[1].name() == "Flatten");
  CHECK_THROWS_WITH_AS(seq[2], "Sequential: index 2 is out of range for 2 layers", Error);
  CHECK_THROWS_AS(seq.push_back(nullptr), Error);
  seq.push_back(std::make_shared<nn::ReLU>());
  CHECK(seq.named_children().back().first == "2");
}
