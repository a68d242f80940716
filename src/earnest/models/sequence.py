"""An optional sequence model: an LSTM with additive attention pooling, on PyTorch (CPU only).

:class:`LSTMAttentionClassifier` and :class:`LSTMAttentionRegressor` follow scikit-learn's
conventions (``fit`` / ``predict`` / ``predict_proba``, ``get_params`` / ``clone``), so they run
inside :func:`earnest.models.train.walk_forward_predict` like any other estimator. Build them with
``make_estimator("lstm", task, params={"seq_len": ...})``. They need the ``deep`` extra
(``pip install 'earnest[deep]'``, PyTorch CPU); importing this module without PyTorch raises a
:class:`~earnest.core.errors.ConfigError` that says so.

**Input layout.** ``X`` is either 3-D, ``(n_samples, seq_len, n_features)``, or 2-D with the
``seq_len`` option set: its columns are ``seq_len`` consecutive blocks of ``n_features`` columns,
oldest step first. Column ``j`` is feature ``j % n_features`` at step ``j // n_features``; the last
block is the most recent step (for lagged features ``f_lag{L}``, the column order is
``f1_lag{L-1}, f2_lag{L-1}, ..., f1_lag0, f2_lag0``). The 2-D form is ``X3.reshape(n, -1)``, so the
two forms give identical predictions. Values must be finite (fill or drop missing values first).

**The network.** An LSTM reads the steps; additive (Bahdanau) attention scores each step's hidden
state ``h_t`` against the last one ``h_T``: ``e_t = v' tanh(W h_t + U h_T + b)``, the weights are
``softmax(e)`` over the steps (see :meth:`LSTMAttentionEstimator.attention_weights`), and a linear
head reads the weighted sum of the hidden states. Classification (binary) minimises binary
cross-entropy on the logit; regression minimises MSE or Huber loss on a standardised target.

**No leakage, by construction.** Each feature is standardised with the mean and standard deviation
of the training part of ``fit``'s data only (over samples and steps). Early stopping watches the
time-ordered *tail* of the training data (``validation_fraction`` of the rows, after a gap of
``validation_gap`` rows); the rows are taken in the order given, never shuffled across time. The
weights of the best validation epoch are kept.

**Deterministic.** ``fit`` runs with ``torch.manual_seed(seed)`` (on a forked RNG, so the caller's
global RNG is untouched), ``torch.use_deterministic_algorithms(True)`` and
``torch.set_num_threads(n_jobs)``, restoring the previous settings afterwards: the same seed and
thread count give bit-identical predictions. Pickling stores the weights as arrays (the network is
rebuilt on load), so ``pickle`` and ``mlflow.sklearn`` round trips predict identically.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin  # type: ignore[import-untyped]
from sklearn.utils.validation import check_is_fitted  # type: ignore[import-untyped]

from earnest.core.errors import ConfigError, DataError

try:
    import torch
    from torch import nn
except ImportError as _missing:  # pragma: no cover - exercised by hiding torch in a test
    raise ConfigError(
        "the 'lstm' estimator needs PyTorch, which is not installed",
        remedy="pip install 'earnest[deep]'",
        file="earnest.models.sequence",
    ) from _missing

__all__ = ["LSTMAttentionClassifier", "LSTMAttentionEstimator", "LSTMAttentionRegressor"]

_WHERE = "earnest.models.sequence"
_LOSSES = ("mse", "huber")
_PREDICT_BATCH = 4096

FloatArray = npt.NDArray[np.float64]


class _Network(nn.Module):
    """LSTM -> additive attention pooling over the steps -> dropout -> linear head (one output)."""

    def __init__(
        self, *, n_features: int, hidden_size: int, num_layers: int, attention_size: int, dropout: float
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            n_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.key = nn.Linear(hidden_size, attention_size)  # W h_t + b
        self.query = nn.Linear(hidden_size, attention_size, bias=False)  # U h_T
        self.energy = nn.Linear(attention_size, 1, bias=False)  # v'
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` is (batch, steps, features); returns the output (batch,) and weights (batch, steps)."""
        hidden, _ = self.lstm(x)
        query = self.query(hidden[:, -1, :]).unsqueeze(1)
        energy = self.energy(torch.tanh(self.key(hidden) + query)).squeeze(-1)
        weights = torch.softmax(energy, dim=1)
        context = torch.bmm(weights.unsqueeze(1), hidden).squeeze(1)
        return self.head(self.dropout(context)).squeeze(-1), weights


@dataclass(frozen=True)
class _TrainOptions:
    """How the network is trained (taken from the estimator's options)."""

    loss: str
    learning_rate: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    grad_clip: float | None
    seed: int


@dataclass
class _History:
    """Mean loss per epoch on the training part and on the validation tail; the epoch kept."""

    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0


@contextlib.contextmanager
def _torch_settings(*, n_jobs: int, seed: int | None = None) -> Iterator[None]:
    """Deterministic algorithms and ``n_jobs`` threads (and a forked, seeded RNG), then restore."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        torch.set_num_threads(n_jobs)
        torch.use_deterministic_algorithms(True)
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_num_threads(threads)


def _as_sequences(X: Any, seq_len: int | None) -> npt.NDArray[np.float32]:  # noqa: N803
    """``X`` as a float32 array (n, seq_len, n_features) (see the module docstring for the layout)."""
    arr = X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)
    if arr.ndim == 2:
        if seq_len is None:
            raise ConfigError(
                f"X is 2-D {arr.shape} but seq_len is not set",
                remedy="pass 3-D X (n, seq_len, n_features) or set seq_len (params={'seq_len': ...})",
                field="seq_len",
                file=_WHERE,
            )
        if arr.shape[1] % seq_len != 0:
            raise DataError(
                f"X has {arr.shape[1]} columns, not a multiple of seq_len={seq_len}",
                remedy="lay the columns out as seq_len blocks of n_features, oldest step first",
                field="X",
                file=_WHERE,
            )
        arr = arr.reshape(arr.shape[0], seq_len, arr.shape[1] // seq_len)
    elif arr.ndim != 3:
        raise DataError(f"X must be 2-D or 3-D, got shape {arr.shape}", field="X", file=_WHERE)
    elif seq_len is not None and arr.shape[1] != seq_len:
        raise DataError(f"X has {arr.shape[1]} steps but seq_len={seq_len}", field="X", file=_WHERE)
    out = np.asarray(arr, dtype=np.float32)
    if out.shape[0] == 0 or out.shape[1] == 0 or out.shape[2] == 0:
        raise DataError(f"X is empty (shape {out.shape})", field="X", file=_WHERE)
    if not np.isfinite(out).all():
        raise DataError(
            "X holds NaN or infinite values",
            remedy="fill or drop missing feature values before fitting the lstm estimator",
            field="X",
            file=_WHERE,
        )
    return out


def _loss_function(name: str) -> nn.Module:
    if name == "bce":
        return nn.BCEWithLogitsLoss()
    return nn.HuberLoss() if name == "huber" else nn.MSELoss()


def _mean_loss(network: _Network, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    network.eval()
    with torch.no_grad():
        out, _ = network(x)
        return float(loss_fn(out, y).item())


def _train(
    network: _Network,
    fit_part: tuple[torch.Tensor, torch.Tensor],
    validation: tuple[torch.Tensor, torch.Tensor] | None,
    opts: _TrainOptions,
) -> _History:
    """Adam on shuffled mini-batches of the training part; early stopping on the validation tail."""
    loss_fn = _loss_function(opts.loss)
    optimiser = torch.optim.Adam(network.parameters(), lr=opts.learning_rate, weight_decay=opts.weight_decay)
    generator = torch.Generator().manual_seed(opts.seed)
    x_fit, y_fit = fit_part
    history, best_loss = _History(), math.inf
    best_state = copy.deepcopy(network.state_dict())
    for epoch in range(opts.max_epochs):
        network.train()
        total = 0.0
        order = torch.randperm(len(x_fit), generator=generator)
        for start in range(0, len(x_fit), opts.batch_size):
            batch = order[start : start + opts.batch_size]
            optimiser.zero_grad()
            out, _ = network(x_fit[batch])
            loss = loss_fn(out, y_fit[batch])
            loss.backward()
            if opts.grad_clip is not None:
                nn.utils.clip_grad_norm_(network.parameters(), opts.grad_clip)
            optimiser.step()
            total += float(loss.item()) * len(batch)
        history.train_loss.append(total / len(x_fit))
        if validation is None:
            history.best_epoch = epoch
            continue
        val_loss = _mean_loss(network, loss_fn, *validation)
        history.validation_loss.append(val_loss)
        if val_loss < best_loss:
            best_loss, history.best_epoch = val_loss, epoch
            best_state = copy.deepcopy(network.state_dict())
        elif epoch - history.best_epoch >= opts.patience:
            break
    if validation is not None:
        network.load_state_dict(best_state)
    network.eval()
    return history


class LSTMAttentionEstimator(BaseEstimator):  # type: ignore[misc]
    """Shared options and machinery of the LSTM-with-attention classifier and regressor.

    ``seq_len``: steps per sample for 2-D ``X`` (``None``: ``X`` must be 3-D). Network:
    ``hidden_size`` LSTM units in ``num_layers`` layers, ``attention_size`` units in the attention
    scorer (default ``hidden_size``), ``dropout`` before the head (and between LSTM layers).
    Training: Adam with ``learning_rate`` and ``weight_decay``, mini-batches of ``batch_size``, at
    most ``max_epochs`` epochs, gradient norm clipped at ``grad_clip`` (``None``: no clipping).
    Early stopping: the last ``validation_fraction`` of the rows (in the order given, i.e. the
    most recent ones) after a gap of ``validation_gap`` rows (set it to the label horizon so no
    training label overlaps the validation rows) is the validation tail; training stops after
    ``patience`` epochs without a better validation loss and keeps the best epoch's weights. With
    ``validation_fraction=0`` (or too few rows for a tail) every epoch is used. ``seed`` and
    ``n_jobs`` (threads) make the result reproducible bit for bit.

    Fitted attributes: ``seq_len_``, ``n_features_`` (per step), ``feature_mean_`` and
    ``feature_scale_`` (per feature), ``network_``, ``n_epochs_``, ``best_epoch_``,
    ``train_loss_curve_`` and ``validation_loss_curve_``.
    """

    def __init__(
        self,
        *,
        seq_len: int | None = None,
        hidden_size: int = 32,
        num_layers: int = 1,
        attention_size: int | None = None,
        dropout: float = 0.0,
        learning_rate: float = 3e-3,
        weight_decay: float = 0.0,
        batch_size: int = 64,
        max_epochs: int = 50,
        patience: int = 5,
        validation_fraction: float = 0.1,
        validation_gap: int = 0,
        grad_clip: float | None = 1.0,
        seed: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.seq_len = seq_len
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.attention_size = attention_size
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.validation_gap = validation_gap
        self.grad_clip = grad_clip
        self.seed = seed
        self.n_jobs = n_jobs

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> Self:  # noqa: N803
        """Fit on ``X`` (see the module docstring for its layout) and target ``y``; returns self."""
        self._check_options()
        x = _as_sequences(X, self.seq_len)
        y_arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
        if y_arr.ndim != 1 or len(y_arr) != len(x):
            raise DataError(
                f"y must be 1-D with one value per sample ({len(x)}), got shape {y_arr.shape}",
                field="y",
                file=_WHERE,
            )
        n_fit, val_start = self._tail_split(len(x))
        target = self._encode_target(y_arr, n_fit=n_fit)
        self.seq_len_, self.n_features_ = int(x.shape[1]), int(x.shape[2])
        self.feature_mean_ = x[:n_fit].mean(axis=(0, 1), dtype=np.float64)
        std = x[:n_fit].std(axis=(0, 1), dtype=np.float64)
        self.feature_scale_ = np.where(std > 0, std, 1.0)
        xs = torch.from_numpy(self._standardise(x))
        ys = torch.from_numpy(target)
        validation = (xs[val_start:], ys[val_start:]) if val_start < len(x) else None
        with _torch_settings(n_jobs=self.n_jobs, seed=self.seed):
            network = self._new_network()
            history = _train(network, (xs[:n_fit], ys[:n_fit]), validation, self._train_options())
        self.network_ = network
        self.n_epochs_ = len(history.train_loss)
        self.best_epoch_ = history.best_epoch
        self.train_loss_curve_ = history.train_loss
        self.validation_loss_curve_ = history.validation_loss
        return self

    def _check_options(self) -> None:
        positive = {
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "batch_size": self.batch_size,
            "max_epochs": self.max_epochs,
            "patience": self.patience,
            "n_jobs": self.n_jobs,
            "seq_len": 1 if self.seq_len is None else self.seq_len,
            "attention_size": 1 if self.attention_size is None else self.attention_size,
        }
        for name, value in positive.items():
            if int(value) < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}", field=name, file=_WHERE)
        checks = [
            ("dropout", 0.0 <= self.dropout < 1.0, "in [0, 1)"),
            ("validation_fraction", 0.0 <= self.validation_fraction < 1.0, "in [0, 1)"),
            ("validation_gap", self.validation_gap >= 0, ">= 0"),
            ("learning_rate", self.learning_rate > 0, "> 0"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("grad_clip", self.grad_clip is None or self.grad_clip > 0, "> 0 or None"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise ConfigError(
                    f"{name} must be {rule}, got {getattr(self, name)!r}", field=name, file=_WHERE
                )

    def _tail_split(self, n: int) -> tuple[int, int]:
        """(rows in the training part, first validation row); no tail leaves ``(n, n)``."""
        n_val = math.floor(n * self.validation_fraction)
        n_fit = n - n_val - self.validation_gap
        if n_val < 1 or n_fit < 1:
            return n, n
        return n_fit, n - n_val

    def _encode_target(self, y: npt.NDArray[Any], *, n_fit: int) -> npt.NDArray[np.float32]:
        raise NotImplementedError  # pragma: no cover - the subclasses say how

    def _loss_name(self) -> str:
        raise NotImplementedError  # pragma: no cover - the subclasses say how

    def _train_options(self) -> _TrainOptions:
        return _TrainOptions(
            loss=self._loss_name(),
            learning_rate=float(self.learning_rate),
            weight_decay=float(self.weight_decay),
            batch_size=int(self.batch_size),
            max_epochs=int(self.max_epochs),
            patience=int(self.patience),
            grad_clip=None if self.grad_clip is None else float(self.grad_clip),
            seed=int(self.seed),
        )

    def _new_network(self) -> _Network:
        return _Network(
            n_features=self.n_features_,
            hidden_size=int(self.hidden_size),
            num_layers=int(self.num_layers),
            attention_size=int(self.attention_size or self.hidden_size),
            dropout=float(self.dropout),
        )

    def _standardise(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.asarray((x - self.feature_mean_) / self.feature_scale_, dtype=np.float32)

    # -- inference -----------------------------------------------------------------------------

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "network_")

    def _forward(self, X: Any) -> tuple[FloatArray, FloatArray]:  # noqa: N803
        """The network's raw output (logit or standardised value) and attention weights per row."""
        check_is_fitted(self)
        x = _as_sequences(X, self.seq_len if self.seq_len is not None else self.seq_len_)
        if x.shape[1:] != (self.seq_len_, self.n_features_):
            raise DataError(
                f"X has {x.shape[1]} steps of {x.shape[2]} features; the model was fitted on "
                f"{self.seq_len_} steps of {self.n_features_}",
                field="X",
                file=_WHERE,
            )
        xs = torch.from_numpy(self._standardise(x))
        outs, weights = [], []
        with _torch_settings(n_jobs=self.n_jobs), torch.no_grad():
            self.network_.eval()
            for start in range(0, len(xs), _PREDICT_BATCH):
                out, w = self.network_(xs[start : start + _PREDICT_BATCH])
                outs.append(out.numpy().astype(np.float64))
                weights.append(w.numpy().astype(np.float64))
        return np.concatenate(outs), np.concatenate(weights)

    def attention_weights(self, X: Any) -> FloatArray:  # noqa: N803
        """Attention weight of each step for each row, shape (n_samples, seq_len), oldest step first.

        Each row is a softmax over the steps: non-negative, summing to 1. A weight says how much of
        that step's LSTM state reached the head, not how much the step's raw features mattered.
        """
        return self._forward(X)[1]

    # -- pickling: weights as arrays, the network rebuilt on load ------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        network = state.pop("network_", None)
        if network is not None:
            state["network_weights_"] = {
                name: tensor.detach().cpu().numpy().copy() for name, tensor in network.state_dict().items()
            }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        weights = state.pop("network_weights_", None)
        super().__setstate__(state)
        if weights is not None:
            with torch.random.fork_rng(devices=[]):
                network = self._new_network()
            network.load_state_dict({name: torch.from_numpy(np.array(a)) for name, a in weights.items()})
            network.eval()
            self.network_ = network


class LSTMAttentionClassifier(ClassifierMixin, LSTMAttentionEstimator):  # type: ignore[misc]
    """Binary classifier: P(``classes_[1]``) is the sigmoid of the head's logit (BCE loss).

    ``y`` must hold exactly two distinct values; ``classes_`` is them sorted (e.g. ``[0, 1]``).
    """

    def _encode_target(self, y: npt.NDArray[Any], *, n_fit: int) -> npt.NDArray[np.float32]:
        classes = np.unique(y)
        if len(classes) != 2:
            raise DataError(
                f"the lstm classifier needs exactly 2 classes in y, got {len(classes)}",
                remedy="use a binary label, or a longer training window that holds both classes",
                field="y",
                file=_WHERE,
            )
        self.classes_ = classes
        return np.asarray(y == classes[1], dtype=np.float32)

    def _loss_name(self) -> str:
        return "bce"

    def predict_proba(self, X: Any) -> FloatArray:  # noqa: N803
        """Columns P(``classes_[0]``), P(``classes_[1]``) for each row."""
        logit = self._forward(X)[0]
        positive = 1.0 / (1.0 + np.exp(-logit))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: Any) -> npt.NDArray[Any]:  # noqa: N803
        """The more probable class of each row (``classes_[1]`` when P > 0.5)."""
        return np.asarray(self.classes_[(self._forward(X)[0] > 0).astype(np.int64)])


class LSTMAttentionRegressor(RegressorMixin, LSTMAttentionEstimator):  # type: ignore[misc]
    """Regressor on a standardised target (mean and scale of the training part, ``target_mean_``,
    ``target_scale_``), with ``loss="mse"`` or ``"huber"`` (Huber with delta 1 standard deviation).
    """

    def __init__(
        self,
        *,
        loss: str = "mse",
        seq_len: int | None = None,
        hidden_size: int = 32,
        num_layers: int = 1,
        attention_size: int | None = None,
        dropout: float = 0.0,
        learning_rate: float = 3e-3,
        weight_decay: float = 0.0,
        batch_size: int = 64,
        max_epochs: int = 50,
        patience: int = 5,
        validation_fraction: float = 0.1,
        validation_gap: int = 0,
        grad_clip: float | None = 1.0,
        seed: int = 0,
        n_jobs: int = 1,
    ) -> None:
        # Every option is spelled out: scikit-learn's get_params / clone read the signature.
        super().__init__(
            seq_len=seq_len,
            hidden_size=hidden_size,
            num_layers=num_layers,
            attention_size=attention_size,
            dropout=dropout,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            batch_size=batch_size,
            max_epochs=max_epochs,
            patience=patience,
            validation_fraction=validation_fraction,
            validation_gap=validation_gap,
            grad_clip=grad_clip,
            seed=seed,
            n_jobs=n_jobs,
        )
        self.loss = loss

    def _encode_target(self, y: npt.NDArray[Any], *, n_fit: int) -> npt.NDArray[np.float32]:
        if self.loss not in _LOSSES:
            raise ConfigError(
                f"unknown loss {self.loss!r}",
                remedy=f"use one of {', '.join(_LOSSES)}",
                field="loss",
                file=_WHERE,
            )
        values = np.asarray(y, dtype=np.float64)
        if not np.isfinite(values).all():
            raise DataError("y holds NaN or infinite values", field="y", file=_WHERE)
        self.target_mean_ = float(values[:n_fit].mean())
        std = float(values[:n_fit].std())
        self.target_scale_ = std if std > 0 else 1.0
        return np.asarray((values - self.target_mean_) / self.target_scale_, dtype=np.float32)

    def _loss_name(self) -> str:
        return str(self.loss)

    def predict(self, X: Any) -> FloatArray:  # noqa: N803
        """The predicted target of each row, in the target's units."""
        return self._forward(X)[0] * self.target_scale_ + self.target_mean_
