"""Training agents from the window: the Train dialog (learners, agents, seed, episodes,
diversification), a worker thread that trains in chunks of agents, a progress bar and a
live learning-curve plot.

The worker (:class:`TrainJob`) is Qt-free: it trains each learner in chunks of
:data:`CHUNK` agents through :func:`agents.learners.train` — agent ``i`` keeps the seed
:func:`simulator.training.train_scene` would give it, and a learner's result does not
depend on the chunk size, so the file is the one ``steersim train`` writes with the same
arguments — and after each chunk hands the curves trained so far to the dialog, which
plots the mean train return per iteration of every learner as it grows. Cancelling stops
after the chunk in flight; nothing is written then. The finished agents are written with
:func:`simulator.training.save` (atomically).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from agents.learners import LEARNER_KIND, LEARNERS, Trained
from simulator.core.errors import UserError
from simulator.gui.jobs import BackgroundJob
from simulator.gui.plots import lane_color
from simulator.scene import Scene
from simulator.training import TrainRequest, check_request

CHUNK = 8  # agents trained per kernel call: the curves and the cancel button's granularity
DEFAULT_LEARNERS = ("reinforce", "bc")


class Cancelled(Exception):
    """Raised inside a job's thread when the user cancelled it."""


def mean_curve(curve: np.ndarray) -> np.ndarray:
    """(I,) mean over agents of curves (N, I), ignoring NaN padding."""
    finite = np.isfinite(curve)
    counts = finite.sum(axis=0)
    total = np.where(finite, curve, 0.0).sum(axis=0)
    return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)


def default_output(folder: str | Path, scene_name: str) -> Path:
    """``<folder>/<scene>-agents.h5``, or ``-2``, ``-3`` ... if that exists."""
    folder = Path(folder)
    path = folder / f"{scene_name}-agents.h5"
    k = 2
    while path.exists():
        path = folder / f"{scene_name}-agents-{k}.h5"
        k += 1
    return path


@dataclass
class TrainProgress:
    """What the dialog shows after a chunk: agents done per learner and the curves (N, I)
    of the agents trained so far per learner."""

    done: dict[str, int]
    total: int
    curves: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_done(self) -> int:
        return sum(self.done.values())


class TrainJob(BackgroundJob):
    """Train ``req`` on ``scene`` on a daemon thread and write ``output``.

    ``on_progress(TrainProgress)`` after each chunk and ``on_done(path or None, error or
    None, traceback or None)`` once, both called on the worker thread (the dialog turns
    them into queued signals). ``kernel_threads``: the parallel kernels' thread count on
    the worker (numba's count is per thread; the window leaves a core for drawing).
    """

    def __init__(self, scene: Scene, req: TrainRequest, output: str | Path,
                 on_progress: Callable[[TrainProgress], None] | None = None,
                 on_done: Callable[[Path | None, str | None, str | None], None] | None = None,
                 kernel_threads: int | None = None, chunk: int = CHUNK):
        import numba

        check_request(scene, req)
        self.scene, self.req, self.output = scene, req, Path(output)
        self.on_progress, self.on_done = on_progress, on_done
        self.kernel_threads = kernel_threads or numba.get_num_threads()
        self.chunk = max(1, int(chunk))
        self.trained: list[Trained] = []
        self.result: Path | None = None
        self.error: str | None = None
        super().__init__("steersim-train")

    def _run(self) -> None:
        import numba

        numba.set_num_threads(self.kernel_threads)
        details = None
        try:
            self.trained = self.train()
            from simulator import training

            self.result = training.save(self.output, self.scene, self.req, self.trained)
        except Cancelled:
            self.error = "training cancelled: nothing was written"
        except UserError as exc:
            self.error = str(exc)
        except Exception as exc:  # shown to the user with the traceback; the window stays
            self.error = f"training failed: {exc}"
            details = traceback.format_exc()
        if self.on_done is not None:
            try:
                self.on_done(self.result, self.error, details)
            except RuntimeError:  # the dialog went away meanwhile
                pass

    def train(self) -> list[Trained]:
        """Every learner of the request, chunk by chunk (:func:`train_scene` with a hook
        that reports curves and honours Cancel between chunks)."""
        from simulator.training import train_scene

        total = self.req.n_agents * len(self.req.learners)
        progress = TrainProgress({name: 0 for name in self.req.learners}, total)

        def on_chunk(name: str, so_far: Trained) -> None:
            progress.done[name] = len(so_far.seeds)
            progress.curves[name] = so_far.curve
            if self.on_progress is not None:
                try:
                    self.on_progress(TrainProgress(dict(progress.done), total,
                                                   dict(progress.curves)))
                except RuntimeError:  # the dialog went away meanwhile
                    pass
            if self.cancelled.is_set():
                raise Cancelled

        if self.cancelled.is_set():
            raise Cancelled
        return train_scene(self.scene, self.req, chunk=self.chunk, on_chunk=on_chunk)


class CurvePlot(pg.PlotWidget):
    """Mean train return per iteration, one curve per learner. Learners run different
    numbers of iterations, so the x axis is each learner's progress through its own run."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent, background="w")
        self.setMinimumSize(420, 240)
        item = self.getPlotItem()
        item.setLabel("bottom", "training progress (fraction of each learner's iterations)")
        item.setLabel("left", "mean train return")
        item.getAxis("left").enableAutoSIPrefix(False)  # returns are ~1: no "x0.001"
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setXRange(0.0, 1.0, padding=0.02)
        item.addLegend(offset=(-10, -10))
        self.curves: dict[str, pg.PlotDataItem] = {}

    def set_learners(self, names: tuple[str, ...]) -> None:
        item = self.getPlotItem()
        for curve in self.curves.values():
            item.removeItem(curve)
        if item.legend is not None:
            item.legend.clear()
        self.curves = {}
        for name in names:
            colour = lane_color(LEARNERS.index(name))
            self.curves[name] = item.plot([], [], pen=pg.mkPen(colour, width=2), name=name,
                                          symbol="o", symbolSize=4, symbolBrush=colour,
                                          symbolPen=None)

    def show_curves(self, curves: dict[str, np.ndarray], done: dict[str, int]) -> None:
        for name, curve in curves.items():
            if name not in self.curves:
                continue
            mean = mean_curve(curve)
            keep = np.isfinite(mean)
            x = np.linspace(0.0, 1.0, len(mean)) if len(mean) > 1 else np.zeros(1)
            self.curves[name].setData(x[keep], mean[keep])
            legend = self.getPlotItem().legend
            if legend is not None:
                for sample, label in legend.items:
                    if sample.item is self.curves[name]:
                        label.setText(f"{name} ({done.get(name, 0)} agents)")

    def data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.curves[name].getData()
        return (np.asarray(x if x is not None else []), np.asarray(y if y is not None else []))


class TrainDialog(QtWidgets.QDialog):
    """Pick learners and a budget, train on a worker thread, watch the curves; emits
    ``trained(path)`` when a file is written and ``error_raised(message, details)``."""

    trained = QtCore.Signal(str)
    error_raised = QtCore.Signal(str, str)
    _progressed = QtCore.Signal(object)  # from the worker thread, queued
    _finished = QtCore.Signal(object, object, object)

    def __init__(self, scene: Scene, output_dir: str | Path = "recordings",
                 kernel_threads: int | None = None, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Train agents on {scene.name}")
        self.setObjectName("train_dialog")
        self.scene = scene
        self.output_dir = Path(output_dir)
        self.kernel_threads = kernel_threads
        self.job: TrainJob | None = None
        self.last_path: Path | None = None
        self._progressed.connect(self._on_progress)
        self._finished.connect(self._on_finished)

        outer = QtWidgets.QVBoxLayout(self)
        form_box = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(form_box)
        form.setContentsMargins(0, 0, 0, 0)
        learners_box = QtWidgets.QVBoxLayout()
        self.learner_checks: dict[str, QtWidgets.QCheckBox] = {}
        for name in LEARNERS:
            check = QtWidgets.QCheckBox(f"{name} — {LEARNER_KIND[name]}")
            check.setChecked(name in DEFAULT_LEARNERS)
            if name == "reward_search":
                check.setToolTip("Plans with the tree search on a learned reward model:"
                                 " slower than the others")
            learners_box.addWidget(check)
            self.learner_checks[name] = check
        form.addRow("Learners", learners_box)
        self.agents_spin = QtWidgets.QSpinBox()
        self.agents_spin.setRange(1, 100_000)
        self.agents_spin.setValue(16)
        self.agents_spin.setToolTip("Agents per learner, one per training seed")
        form.addRow("Agents", self.agents_spin)
        self.seed_spin = QtWidgets.QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Training seed; agent i's seed derives from it")
        form.addRow("Seed", self.seed_spin)
        self.episodes_spin = QtWidgets.QSpinBox()
        self.episodes_spin.setRange(0, 1_000_000)
        self.episodes_spin.setSingleStep(100)
        self.episodes_spin.setSpecialValueText("each learner's default")
        self.episodes_spin.setToolTip("Training episodes per agent")
        form.addRow("Episodes", self.episodes_spin)
        self.dist_box = QtWidgets.QComboBox()
        self.dist_box.addItems(scene.distributions)
        if "train" in scene.distributions:
            self.dist_box.setCurrentText("train")
        form.addRow("Train on", self.dist_box)
        mix_row = QtWidgets.QHBoxLayout()
        self.mix_spin = QtWidgets.QDoubleSpinBox()
        self.mix_spin.setRange(0.0, 1.0)
        self.mix_spin.setDecimals(3)
        self.mix_spin.setSingleStep(0.01)
        self.mix_spin.setToolTip("Diversification: the fraction p of training episodes drawn"
                                 " from the distribution on the right instead")
        self.mix_from_box = QtWidgets.QComboBox()
        self.mix_from_box.addItems(scene.distributions)
        if "deploy" in scene.distributions:
            self.mix_from_box.setCurrentText("deploy")
        mix_row.addWidget(self.mix_spin)
        mix_row.addWidget(QtWidgets.QLabel("from"))
        mix_row.addWidget(self.mix_from_box, 1)
        form.addRow("Mix p", mix_row)
        out_row = QtWidgets.QHBoxLayout()
        self.output_edit = QtWidgets.QLineEdit(str(default_output(self.output_dir, scene.name)))
        browse = QtWidgets.QToolButton()
        browse.setText("…")
        browse.clicked.connect(self._browse)
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(browse)
        form.addRow("Save to", out_row)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("%v / %m agents")
        self.progress.setValue(0)
        self.status = QtWidgets.QLabel("Choose learners and press Train.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setMinimumHeight(3 * self.status.fontMetrics().height())
        self.status.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop)
        buttons = QtWidgets.QHBoxLayout()
        self.train_button = QtWidgets.QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.clicked.connect(self.start)
        self.cancel_button = QtWidgets.QPushButton("Cancel training")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        close = QtWidgets.QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(form_box)
        self.plot = CurvePlot()
        top.addWidget(self.plot, 1)
        outer.addLayout(top, 1)
        outer.addWidget(self.progress)
        outer.addWidget(self.status)
        outer.addLayout(buttons)
        self.resize(1040, 520)

    # --- the request -----------------------------------------------------------------------
    def request(self) -> TrainRequest:
        learners = tuple(n for n, c in self.learner_checks.items() if c.isChecked())
        if not learners:
            raise UserError("train: choose at least one learner")
        return TrainRequest(learners, self.agents_spin.value(), self.seed_spin.value(),
                            self.episodes_spin.value() or None, self.dist_box.currentText(),
                            self.mix_spin.value(), self.mix_from_box.currentText())

    def _browse(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save the trained agents", self.output_edit.text(),
            "Trained agents (*.h5);;All files (*)")
        if path:
            self.output_edit.setText(path)

    def _output(self) -> Path:
        text = self.output_edit.text().strip()
        if not text:
            raise UserError("train: name the agents file to write")
        path = Path(text)
        if path.suffix.lower() not in (".h5", ".hdf5"):
            raise UserError(f"{path}: an agents file is HDF5 (name it .h5)")
        return path

    # --- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def start(self, confirm_overwrite: bool = True) -> bool:
        """Start training as the form says (False, with the reason shown, if it cannot)."""
        if self.running:
            return False
        try:
            req = self.request()
            output = self._output()
            if not output.parent.is_dir():
                output.parent.mkdir(parents=True, exist_ok=True)
            if output.exists() and confirm_overwrite:
                answer = QtWidgets.QMessageBox.question(
                    self, "steersim", f"{output} exists. Overwrite it?")
                if answer != QtWidgets.QMessageBox.StandardButton.Yes:
                    return False
            self.job = TrainJob(self.scene, req, output, on_progress=self._progressed.emit,
                                on_done=self._finished.emit,
                                kernel_threads=self.kernel_threads)
        except UserError as exc:
            self._fail(str(exc), "")
            return False
        except OSError as exc:
            self._fail(f"{self.output_edit.text()}: {exc.strerror or exc}", "")
            return False
        self.plot.set_learners(req.learners)
        self.progress.setRange(0, req.n_agents * len(req.learners))
        self.progress.setValue(0)
        self.status.setText(f"Training {', '.join(req.learners)} on"
                            f" {self.scene.name}:{req.distribution}…"
                            " (the first run compiles the learners, once)")
        self._set_running(True)
        self.job.start()
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling after the agents in flight…")

    def _set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for widget in (*self.learner_checks.values(), self.agents_spin, self.seed_spin,
                       self.episodes_spin, self.dist_box, self.mix_spin, self.mix_from_box,
                       self.output_edit):
            widget.setEnabled(not running)

    def _on_progress(self, progress: TrainProgress) -> None:
        self.progress.setValue(progress.n_done)
        self.plot.show_curves(progress.curves, progress.done)
        parts = []
        for name, curve in progress.curves.items():
            mean = mean_curve(curve)
            finite = mean[np.isfinite(mean)]
            last = f"{finite[-1]:+.2f}" if finite.size else "—"
            parts.append(f"{name}: {progress.done[name]} agents, final return {last}")
        self.status.setText(" · ".join(parts))

    def _on_finished(self, path: Path | None, error: str | None, details: str | None) -> None:
        self._set_running(False)
        if error is not None or path is None:
            self.status.setText(error or "training failed")
            if error and not error.startswith("training cancelled"):
                self._fail(error, details or "")
            return
        self.last_path = path
        self.status.setText(self.status.text() + f"\nWrote {path}; its agents are in the"
                            " lanes' agent lists.")
        self.output_edit.setText(str(default_output(path.parent, self.scene.name)))
        self.trained.emit(str(path))

    def _fail(self, message: str, details: str) -> None:
        self.status.setText(f"⚠ {message}")
        self.error_raised.emit(message, details)
