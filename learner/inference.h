// What a practitioner reaches for first once a model trains (fastai's learn.summary(),
// learn.predict, get_preds with decoded classes, ClassificationInterpretation):
//
//   std::cout << tg::summary(learn);                  // every layer's output shape, params
//   tg::Prediction p = tg::predict(learn, raw_image);  // p.label, p.index, p.probs
//   auto interp = tg::ClassificationInterpretation::from_learner(learn);
//   std::cout << interp.str();                         // confusion matrix, most confused, top
//   losses tg::write_file_atomic("confusion.svg", interp.svg_confusion_matrix());
//
// Everything here runs the model in eval mode without the tape and puts the mode back.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "learner/learner.h"
#include "nn/module.h"

namespace tg {

// fastai's summary table for the model run on xb (a batch): one row per leaf layer, in the
// order the forward calls them, with its type, its output shape ("64 x 8 x 14 x 14"), its own
// parameter count and whether they train (True, False, or Partial; empty without
// parameters); then the totals (parameters shared between layers counted once).
std::string summary(nn::Module& model, const Tensor& xb);
// The model's table for the first batch of the training loader (the validation one when
// there is no training data; the batch as gathered, before any augmentation), then the optimizer,
// the loss and the callbacks, as fastai's learn.summary() prints them.
std::string summary(Learner& learn);

// One item's prediction: the class with the largest probability, its name (the DataBunch's
// vocab, or the index as text without one) and every class's probability (the model's outputs
// through the activation: softmax for a cross-entropy Learner; the raw outputs without one).
struct Prediction {
  int64_t index = -1;
  std::string label;
  std::vector<double> probs;
};
// model on one raw item (as read from the files: pixel values, any dtype), normalised with
// norm first; item's shape must be item_shape (e.g. [784]) or a batch of one of it (any
// shape when item_shape is empty). The model's device is used (the item is copied there).
Prediction predict(nn::Module& model, const Tensor& item, const Normalization& norm,
                   const std::vector<std::string>& vocab,
                   const std::function<Tensor(const Tensor&)>& activation,
                   const Shape& item_shape = {});
// learn.predict: with the DataBunch's normalisation, vocab and item shape, and the Learner's
// activation.
Prediction predict(Learner& learn, const Tensor& item);

// get_preds' predictions decoded: the argmax of each row of (n, classes) (int32, n).
Tensor decode_classes(const Tensor& preds);

// A classifier's errors on a data set (fastai's ClassificationInterpretation): the
// probabilities, the targets, the decoded classes and each item's own loss (the Learner's loss
// function on that item alone, so label smoothing or any other loss is the one trained with).
class ClassificationInterpretation {
 public:
  // From learn.get_preds on dl (default: the validation loader).
  static ClassificationInterpretation from_learner(Learner& learn, DataLoader* dl = nullptr);
  // From precomputed figures: probs (n, c) float, targets (n) int32 in [0, c), losses (n).
  ClassificationInterpretation(Tensor probs, Tensor targets, Tensor losses,
                               std::vector<std::string> vocab = {});

  int64_t classes() const { return c_; }
  int64_t size() const { return n_; }
  // counts[actual][predicted].
  std::vector<std::vector<int64_t>> confusion_matrix() const;
  struct Loss {
    int64_t index;      // of the item in the data set
    double loss, prob;  // its loss, the probability given to its actual class
    int64_t actual, predicted;
  };
  // The k items of largest loss, largest first (ties: lower index first).
  std::vector<Loss> top_losses(int64_t k) const;
  struct Confusion {
    int64_t actual, predicted, count;
  };
  // Off-diagonal cells with at least min_count items, most first (fastai's most_confused).
  std::vector<Confusion> most_confused(int64_t min_count = 1) const;
  double accuracy() const;
  std::string label(int64_t cls) const;  // vocab name, or the index

  // The confusion matrix, the most confused pairs and the k top losses as text.
  std::string str(int64_t k = 9) const;
  // The confusion matrix as an SVG heat map, counts in the cells (fastai's
  // plot_confusion_matrix); normalize: each row as fractions of the actual class.
  std::string svg_confusion_matrix(bool normalize = false) const;
  // The k top-loss items as images (x: the data set's inputs, (n, rows*cols) or (n, 1, rows,
  // cols), shown with each item's own min-max grey scale), titled "predicted / actual / loss /
  // prob" as fastai's plot_top_losses.
  std::string svg_top_losses(const Tensor& x, int64_t k, int64_t rows, int64_t cols) const;

  Tensor probs, targets, losses, decoded;
  std::vector<std::string> vocab;

 private:
  int64_t n_ = 0, c_ = 0;
  std::vector<float> p_, l_;
  std::vector<int32_t> t_, d_;
};

}  // namespace tg
