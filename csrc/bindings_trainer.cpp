// NativeTrainer: the native training loop (trainer.h) bound to Python. The constructor checks the layer
// stack, loss and optimizer once and keeps references to every array it trains in place; run_epoch and
// run_epochs check their data and then run without the GIL.
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "registry.h"
#include "trainer.h"

namespace pydl {
namespace {

constexpr const char* kCls = "NativeTrainer";

std::string str_of(const py::handle& h) { return py::str(h).cast<std::string>(); }

// Keyword-style dicts (the optimizer) reject unknown keys, so a typo never silently means a default.
double get_float(const py::dict& d, const char* key, double fallback) {
  return d.contains(key) ? d[key].cast<double>() : fallback;
}

class NativeTrainer {
 public:
  NativeTrainer(const py::sequence& layers, const std::string& loss, const py::dict& optimizer, double l2,
                int64_t step, double bce_eps)
      : step_(step) {
    if (layers.size() == 0) value_error(std::string(kCls) + ": layers is empty");
    if (!(l2 >= 0)) value_error(std::string(kCls) + ": l2 must be >= 0, got " + std::to_string(l2));
    if (step < 0) value_error(std::string(kCls) + ": step must be >= 0, got " + std::to_string(step));
    parse_loss(loss, bce_eps);
    parse_optimizer(optimizer);
    parse_layers(layers, l2);
    parse_state(optimizer);
    if (is_f32(dtype_ref_)) f32_ = std::make_unique<Trainer<float>>(build<float>(), loss_, bce_eps_, opt_);
    else f64_ = std::make_unique<Trainer<double>>(build<double>(), loss_, bce_eps_, opt_);
  }

  py::tuple run_epoch(const py::object& x_obj, const py::object& t_obj, const py::object& perm_obj,
                      const py::object& batch_size, const py::object& lr_obj) {
    const char* fn = "NativeTrainer.run_epoch";
    Data d = check_data(fn, x_obj, t_obj, batch_size, lr_obj);
    // A default py::array is an empty array, not a null handle: optional arrays travel as py::object.
    py::object perm;
    if (!perm_obj.is_none()) perm = check_indices(fn, "perm", perm_obj, {d.n}, d.n);
    TrainStats s = run(d, index_ptr(perm), 1, nullptr, nullptr);
    raise_on_nan(fn, s);
    return py::make_tuple(s.loss_sum / double(d.n), double(s.correct) / double(d.n));
  }

  // Several epochs in one call, for small problems where even one Python call per epoch is a cost.
  py::tuple run_epochs(const py::object& x_obj, const py::object& t_obj, const py::object& perms_obj, int64_t epochs,
                       const py::object& batch_size, const py::object& lr_obj) {
    const char* fn = "NativeTrainer.run_epochs";
    if (epochs < 0) value_error(std::string(fn) + ": epochs must be >= 0, got " + std::to_string(epochs));
    Data d = check_data(fn, x_obj, t_obj, batch_size, lr_obj);
    py::object perms;
    if (!perms_obj.is_none()) perms = check_indices(fn, "perms", perms_obj, {epochs, d.n}, d.n);
    py::array_t<double> losses(epochs), accuracies(epochs);
    TrainStats s = run(d, index_ptr(perms), epochs, losses.mutable_data(), accuracies.mutable_data());
    raise_on_nan(fn, s);
    return py::make_tuple(losses, accuracies);
  }

  int64_t step() const { return step_; }
  void set_step(int64_t s) {
    if (s < 0) value_error(std::string(kCls) + ": step must be >= 0, got " + std::to_string(s));
    step_ = s;
  }
  py::dtype dtype() const { return dtype_ref_.dtype(); }

 private:
  struct Param {
    std::string name;
    py::array data, grad;
    py::object state[3];  // null handle: no such state for this optimizer
    double weight_decay;
  };
  struct Layer {
    TrainOp op;
    int64_t in, out;
    double clip;
    int w = -1, b = -1;  // indices into params_
  };
  struct Data {
    py::array x;
    py::object target, labels;  // exactly one is set
    int64_t n, batch_size;
    double lr;
    bool binary_target = false;
  };

  void parse_loss(const std::string& loss, double bce_eps) {
    if (loss == "mse") loss_ = TrainLoss::mse;
    else if (loss == "bce") loss_ = TrainLoss::bce;
    else if (loss == "bce_with_logits") loss_ = TrainLoss::bce_with_logits;
    else if (loss == "cross_entropy") loss_ = TrainLoss::cross_entropy;
    else if (loss == "multi_bce") loss_ = TrainLoss::multi_bce;
    else
      value_error(std::string(kCls) + ": loss must be one of mse, bce, bce_with_logits, cross_entropy, multi_bce, got '" +
                  loss + "'");
    if (!(bce_eps > 0 && bce_eps < 0.5)) value_error(std::string(kCls) + ": bce_eps must lie in (0, 0.5), got " + std::to_string(bce_eps));
    bce_eps_ = bce_eps;
  }

  void parse_optimizer(const py::dict& o) {
    static const char* known[] = {"name", "lr", "momentum", "dampening", "nesterov", "weight_decay", "alpha", "eps",
                                  "centered", "betas", "state"};
    for (auto item : o) {
      std::string key = str_of(item.first);
      bool ok = false;
      for (const char* k : known) ok = ok || key == k;
      if (!ok) value_error(std::string(kCls) + ": unknown optimizer setting '" + key + "'");
    }
    if (!o.contains("name")) value_error(std::string(kCls) + ": optimizer needs a 'name' (sgd, rmsprop or adam)");
    const std::string name = str_of(o["name"]);
    if (name == "sgd") opt_.kind = TrainOptim::sgd;
    else if (name == "rmsprop") opt_.kind = TrainOptim::rmsprop;
    else if (name == "adam") opt_.kind = TrainOptim::adam;
    else value_error(std::string(kCls) + ": optimizer name must be sgd, rmsprop or adam, got '" + name + "'");
    lr_ = get_float(o, "lr", -1);
    opt_.momentum = get_float(o, "momentum", 0);
    opt_.dampening = get_float(o, "dampening", 0);
    opt_.nesterov = o.contains("nesterov") && o["nesterov"].cast<bool>();
    weight_decay_ = get_float(o, "weight_decay", 0);
    opt_.alpha = get_float(o, "alpha", 0.99);
    opt_.eps = get_float(o, "eps", 1e-8);
    opt_.centered = o.contains("centered") && o["centered"].cast<bool>();
    if (o.contains("betas")) {
      py::sequence betas = o["betas"].cast<py::sequence>();
      if (betas.size() != 2) value_error(std::string(kCls) + ": betas must be a pair");
      opt_.beta1 = betas[0].cast<double>();
      opt_.beta2 = betas[1].cast<double>();
    }
    if (!(opt_.momentum >= 0 && weight_decay_ >= 0 && opt_.eps >= 0 && opt_.alpha >= 0 && opt_.alpha <= 1 &&
          opt_.beta1 >= 0 && opt_.beta1 < 1 && opt_.beta2 >= 0 && opt_.beta2 < 1))
      value_error(std::string(kCls) + ": optimizer settings out of range (need momentum, weight_decay, eps >= 0, "
                  "alpha in [0, 1], betas in [0, 1))");
    if (opt_.nesterov && (opt_.momentum <= 0 || opt_.dampening != 0))
      value_error(std::string(kCls) + ": Nesterov momentum requires momentum > 0 and dampening = 0");
  }

  // Arrays the trainer writes in place must be the caller's own: contiguous, writeable, one dtype.
  py::array inout(const std::string& name, const py::handle& obj, const Shape& shape) {
    if (dtype_name_.empty()) {
      dtype_ref_ = float_input(kCls, name.c_str(), obj);
      dtype_name_ = name;
    }
    py::array a = float_input(kCls, name.c_str(), obj);
    same_dtype(kCls, name.c_str(), a, dtype_name_.c_str(), dtype_ref_);
    return float_inout(kCls, name.c_str(), a, dtype_ref_, shape);
  }

  int add_param(const std::string& name, const py::handle& data, const py::handle& grad, const Shape& shape,
                bool regularized, double l2) {
    Param p;
    p.name = name;
    p.data = inout(name, data, shape);
    p.grad = grad.is_none() ? py::array(dtype_ref_.dtype(), shape) : inout(name + " gradient", grad, shape);
    p.weight_decay = weight_decay_ + (regularized ? 2.0 * l2 : 0.0);
    params_.push_back(std::move(p));
    return int(params_.size()) - 1;
  }

  // layers: ("dense", W, b[, dW, db]) with W (in, out) and b (out,) or None; ("sigmoid"[, clip]), ("relu",),
  // ("tanh",), ("softmax",).
  void parse_layers(const py::sequence& layers, double l2) {
    int64_t width = -1;
    for (size_t i = 0; i < layers.size(); ++i) {
      const std::string where = "layers[" + std::to_string(i) + "]";
      py::sequence spec;
      if (!py::isinstance<py::tuple>(layers[i]) && !py::isinstance<py::list>(layers[i]))
        type_error(std::string(kCls) + ": " + where + " must be a tuple like ('dense', W, b) or ('relu',), got " +
                   str_of(py::type::of(layers[i]).attr("__name__")));
      spec = layers[i].cast<py::sequence>();
      if (spec.size() == 0 || !py::isinstance<py::str>(spec[0]))
        type_error(std::string(kCls) + ": " + where + " must start with the layer type, e.g. ('dense', W, b)");
      const std::string kind = str_of(spec[0]);
      Layer L{TrainOp::dense, width, width, 0.0};
      auto arity = [&](size_t lo, size_t hi) {
        if (spec.size() < lo || spec.size() > hi)
          value_error(std::string(kCls) + ": " + where + " ('" + kind + "', ...) takes " + std::to_string(lo - 1) +
                      (hi > lo ? " to " + std::to_string(hi - 1) : "") + " arguments, got " + std::to_string(spec.size() - 1));
      };
      if (kind == "dense") {
        arity(3, 5);
        py::array w = float_input(kCls, (where + " W").c_str(), spec[1], 2);
        L.in = w.shape(0);
        L.out = w.shape(1);
        if (width >= 0 && L.in != width)
          value_error(std::string(kCls) + ": " + where + " W has shape " + shape_of(w) + " but the layer before gives " +
                      std::to_string(width) + " features");
        py::object none = py::none();
        L.w = add_param(where + " W", spec[1], spec.size() > 3 ? py::object(spec[3]) : none, {L.in, L.out}, true, l2);
        if (!spec[2].is_none())
          L.b = add_param(where + " b", spec[2], spec.size() > 4 ? py::object(spec[4]) : none, {L.out}, false, l2);
        width = L.out;
      } else {
        if (width < 0) value_error(std::string(kCls) + ": " + where + " (" + kind + ") comes before any dense layer");
        if (kind == "sigmoid") {
          arity(1, 2);
          L.op = TrainOp::sigmoid;
          if (spec.size() > 1 && !spec[1].is_none()) {
            L.clip = spec[1].cast<double>();
            if (!(L.clip > 0 && L.clip < 0.5))
              value_error(std::string(kCls) + ": " + where + " sigmoid clip must lie in (0, 0.5), got " + std::to_string(L.clip));
          }
        } else if (kind == "relu" || kind == "tanh" || kind == "softmax") {
          arity(1, 1);
          L.op = kind == "relu" ? TrainOp::relu : kind == "tanh" ? TrainOp::tanh : TrainOp::softmax;
        } else {
          value_error(std::string(kCls) + ": " + where + " has unknown type '" + kind +
                      "' (dense, sigmoid, relu, tanh, softmax)");
        }
      }
      layers_.push_back(L);
    }
  }

  // optimizer["state"]: one dict per parameter (layer order, W before b) with pydl.optim's key names;
  // absent or None: the trainer keeps zero-initialised state of its own.
  void parse_state(const py::dict& o) {
    std::vector<const char*> keys;
    switch (opt_.kind) {
      case TrainOptim::sgd:
        keys = {opt_.momentum != 0 ? "momentum_buffer" : nullptr};
        break;
      case TrainOptim::rmsprop:
        keys = {"square_avg", opt_.momentum > 0 ? "momentum_buffer" : nullptr, opt_.centered ? "grad_avg" : nullptr};
        break;
      case TrainOptim::adam: keys = {"exp_avg", "exp_avg_sq"}; break;
    }
    const bool given = o.contains("state") && !o["state"].is_none();
    py::sequence state;
    if (given) {
      state = o["state"].cast<py::sequence>();
      if (state.size() != params_.size())
        value_error(std::string(kCls) + ": optimizer state has " + std::to_string(state.size()) + " entries but the layers have " +
                    std::to_string(params_.size()) + " parameters");
    }
    for (size_t i = 0; i < params_.size(); ++i) {
      Param& p = params_[i];
      for (size_t k = 0; k < keys.size(); ++k) {
        if (!keys[k]) continue;
        if (!given) {
          py::array zeros(dtype_ref_.dtype(), shape_vec(p.data));
          std::fill_n(static_cast<char*>(zeros.mutable_data()), zeros.nbytes(), 0);
          p.state[k] = zeros;
          continue;
        }
        py::dict entry = state[i].cast<py::dict>();
        if (!entry.contains(keys[k]))
          value_error(std::string(kCls) + ": optimizer state[" + std::to_string(i) + "] (" + p.name + ") lacks '" + keys[k] + "'");
        p.state[k] = inout(p.name + " " + keys[k], entry[keys[k]], shape_vec(p.data));
      }
    }
  }

  template <typename T>
  std::vector<TrainLayer<T>> build() {
    auto param = [&](int i) {
      TrainParam<T> t;
      if (i < 0) return t;
      Param& p = params_[i];
      t.data = ptr<T>(p.data);
      t.grad = ptr<T>(p.grad);
      for (int k = 0; k < 3; ++k)
        t.state[k] = p.state[k] ? static_cast<T*>(py::reinterpret_borrow<py::array>(p.state[k]).mutable_data()) : nullptr;
      t.size = p.data.size();
      t.weight_decay = p.weight_decay;
      return t;
    };
    std::vector<TrainLayer<T>> out;
    for (const Layer& L : layers_) out.push_back(TrainLayer<T>{L.op, L.in, L.out, L.clip, param(L.w), param(L.b)});
    return out;
  }

  static const int64_t* index_ptr(const py::object& a) {
    return a ? py::reinterpret_borrow<py::array_t<int64_t>>(a).data() : nullptr;
  }

  int64_t in_features() const { return layers_.front().in; }
  int64_t out_features() const { return layers_.back().out; }

  // Targets of the BCE losses must lie in [0, 1]; returns whether all are exactly 0 or 1.
  template <typename T>
  bool check_target_range(const char* fn, const py::array& t) {
    const T* p = cptr<T>(t);
    bool binary = true;
    for (int64_t i = 0; i < t.size(); ++i) {
      if (!(p[i] >= T(0) && p[i] <= T(1)))
        value_error(std::string(fn) + ": target values must lie in [0, 1] for this loss, got " + std::to_string(double(p[i])) +
                    " at flat index " + std::to_string(i));
      binary = binary && (p[i] == T(0) || p[i] == T(1));
    }
    return binary;
  }

  Data check_data(const char* fn, const py::object& x_obj, const py::object& t_obj, const py::object& batch_size,
                  const py::object& lr_obj) {
    Data d;
    d.x = float_input(fn, "x", x_obj);
    same_dtype(fn, "x", d.x, dtype_name_.c_str(), dtype_ref_);
    d.n = d.x.shape(0);
    if (d.x.ndim() < 2 || d.x.size() / d.n != in_features())
      value_error(std::string(fn) + ": x must have shape (N, " + std::to_string(in_features()) + ") (or (N, ...) with " +
                  std::to_string(in_features()) + " features per sample), got " + shape_of(d.x));
    reject_nan(fn, "x", d.x);
    const int64_t c = out_features();
    const bool class_loss = loss_ == TrainLoss::cross_entropy || loss_ == TrainLoss::multi_bce;
    py::array t_any = py::array::ensure(t_obj);
    if (!t_any) type_error(std::string(fn) + ": target must be a numpy.ndarray");
    const char kind = t_any.dtype().kind();
    if (kind == 'i' || kind == 'u' || kind == 'b') {
      if (!class_loss)
        type_error(std::string(fn) + ": integer target labels need loss cross_entropy or multi_bce; this loss takes a float "
                   "target of shape (N, " + std::to_string(c) + ")");
      d.labels = check_indices(fn, "target", t_obj, {d.n}, c);
    } else {
      py::array t = float_input(fn, "target", t_obj);
      same_dtype(fn, "target", t, "x", d.x);
      if (t.shape(0) != d.n || t.size() != d.n * c)
        value_error(std::string(fn) + ": target must have shape (" + std::to_string(d.n) + ", " + std::to_string(c) +
                    ") to match x " + shape_of(d.x) + " and the network output, got " + shape_of(t));
      reject_nan(fn, "target", t);
      if (loss_ != TrainLoss::mse)
        d.binary_target = is_f32(t) ? check_target_range<float>(fn, t) : check_target_range<double>(fn, t);
      d.target = t;
    }
    if (batch_size.is_none()) {
      d.batch_size = d.n;
    } else {
      d.batch_size = batch_size.cast<int64_t>();
      if (d.batch_size < 1) value_error(std::string(fn) + ": batch_size must be >= 1, got " + std::to_string(d.batch_size));
    }
    d.lr = lr_obj.is_none() ? lr_ : lr_obj.cast<double>();
    if (!(d.lr >= 0))
      value_error(std::string(fn) + ": lr must be >= 0 (pass lr= or put 'lr' in the optimizer settings), got " +
                  std::to_string(d.lr));
    return d;
  }

  // Integer indices (any integer dtype; converted to int64) of exactly `shape`, each in [0, bound).
  py::array_t<int64_t> check_indices(const char* fn, const char* name, const py::object& obj, const Shape& shape,
                                     int64_t bound) {
    py::array a = py::array::ensure(obj);
    if (!a || !(a.dtype().kind() == 'i' || a.dtype().kind() == 'u' || a.dtype().kind() == 'b'))
      type_error(std::string(fn) + ": " + name + " must be an integer numpy.ndarray, got " +
                 (a ? "dtype " + dtype_name(a) : str_of(py::type::of(obj).attr("__name__"))));
    auto idx = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
    same_shape(fn, name, idx, shape);
    const int64_t* p = idx.data();
    for (int64_t i = 0; i < idx.size(); ++i) {
      if (p[i] < 0 || p[i] >= bound)
        value_error(std::string(fn) + ": " + name + " value " + std::to_string(p[i]) + " at flat index " + std::to_string(i) +
                    " is out of range [0, " + std::to_string(bound) + ")");
    }
    return idx;
  }

  template <typename T>
  TrainStats run_typed(Trainer<T>& tr, const Data& d, const int64_t* perms, int64_t epochs, double* losses,
                       double* accs) {
    const T* target = d.target ? static_cast<const T*>(py::reinterpret_borrow<py::array>(d.target).data()) : nullptr;
    TrainEpoch<T> e{cptr<T>(d.x), d.n, in_features(), target, index_ptr(d.labels), nullptr, d.batch_size, d.lr, false,
                    d.binary_target};
    TrainStats s;
    for (int64_t k = 0; k < epochs; ++k) {
      e.perm = perms ? perms + k * d.n : nullptr;
      e.same_data = k > 0;  // Python cannot touch the arrays while this call runs
      s = tr.run_epoch(e, step_);
      if (losses) {
        losses[k] = s.loss_sum / double(d.n);
        accs[k] = double(s.correct) / double(d.n);
      }
      if (s.nan_param >= 0) break;
    }
    return s;
  }

  TrainStats run(const Data& d, const int64_t* perms, int64_t epochs, double* losses, double* accs) {
    if (busy_) value_error(std::string(kCls) + ": already running in another thread");
    busy_ = true;
    TrainStats s;
    {
      py::gil_scoped_release nogil;
      s = f32_ ? run_typed(*f32_, d, perms, epochs, losses, accs) : run_typed(*f64_, d, perms, epochs, losses, accs);
    }
    busy_ = false;
    return s;
  }

  void raise_on_nan(const char* fn, const TrainStats& s) {
    if (s.nan_param < 0) return;
    value_error(std::string(fn) + ": the gradient of " + params_[s.nan_param].name + " contains NaN at step " +
                std::to_string(step_) + " (training diverged? try a smaller learning rate)");
  }

  TrainLoss loss_;
  double bce_eps_ = 1e-7;
  TrainOptimConfig opt_;
  double weight_decay_ = 0, lr_ = -1;
  int64_t step_;
  py::array dtype_ref_;  // the first parameter: every other array must share its dtype
  std::string dtype_name_;
  std::vector<Param> params_;
  std::vector<Layer> layers_;
  std::unique_ptr<Trainer<float>> f32_;
  std::unique_ptr<Trainer<double>> f64_;
  bool busy_ = false;  // guards the buffers against a second thread while the GIL is released
};

}  // namespace

PYDL_BINDINGS(bind_trainer) {
  using py::arg;
  py::class_<NativeTrainer>(m, "NativeTrainer", R"doc(
A whole training loop in C++ for a stack of dense and activation layers (see pydl.native).

NativeTrainer(layers, loss, optimizer, *, l2=0.0, step=0, bce_eps=1e-7)

- layers: tuples ("dense", W, b[, dW, db]) with W (in, out) and b (out,) or None, trained in place
  (dW, db receive the last batch's gradients; None: internal buffers); ("sigmoid"[, clip]), ("relu",),
  ("tanh",), ("softmax",).
- loss: "mse", "bce" (probabilities clipped to [bce_eps, 1 - bce_eps]), "bce_with_logits",
  "cross_entropy" (softmax on logits), "multi_bce" (one sigmoid per class).
- optimizer: dict with "name" ("sgd", "rmsprop", "adam"), PyTorch hyper-parameters ("lr", "momentum",
  "dampening", "nesterov", "weight_decay", "alpha", "eps", "centered", "betas") and "state": one dict per
  parameter (layer order, W before b) with pydl.optim's arrays ("momentum_buffer", "square_avg",
  "grad_avg", "exp_avg", "exp_avg_sq"), updated in place; without it the trainer keeps its own.
- l2: lambda of lambda * sum ||W||^2 (gradient 2 lambda W on weights, added to weight_decay).
- step: the optimizer's step count so far (Adam's bias correction, SGD's first momentum step).
)doc")
      .def(py::init<const py::sequence&, const std::string&, const py::dict&, double, int64_t, double>(), arg("layers"),
           arg("loss"), arg("optimizer"), py::kw_only(), arg("l2") = 0.0, arg("step") = 0, arg("bce_eps") = 1e-7)
      .def("run_epoch", &NativeTrainer::run_epoch, arg("x"), arg("target"), arg("perm") = py::none(), py::kw_only(),
           arg("batch_size") = py::none(), arg("lr") = py::none(),
           "One epoch over (x, target) in batches perm[i:i+batch_size] (None: in order; batch_size None: full batch);\n"
           "target float (N, outputs), or integer labels (N,) for cross_entropy/multi_bce. Returns (loss, accuracy):\n"
           "the batches' mean losses (before each update) weighted by batch size, and the fraction classified right.")
      .def("run_epochs", &NativeTrainer::run_epochs, arg("x"), arg("target"), arg("perms") = py::none(), py::kw_only(),
           arg("epochs"), arg("batch_size") = py::none(), arg("lr") = py::none(),
           "run_epoch `epochs` times in one call; perms (epochs, N) or None. Returns (losses, accuracies) arrays.")
      .def_property("step", &NativeTrainer::step, &NativeTrainer::set_step, "optimizer steps taken so far")
      .def_property_readonly("dtype", &NativeTrainer::dtype);
}

}  // namespace pydl
