"""What the lanes show: one panel per lane (header, world view, funnel), the overlays on
each frame, the live plots and the status bar.

Everything here paints the worker's latest :class:`~simulator.gui.race.RaceView`
(``self.shown``) of the shown run, live or replayed alike; frames come from
:mod:`simulator.render` through each panel's :class:`~simulator.gui.world_view.WorldView`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from simulator.gui.lanes import LanePanel
from simulator.gui.playback import FLASH_SECONDS
from simulator.gui.plots import LaneSeries
from simulator.gui.race import LaneView, describe_internals
from simulator.render import Flash, Overlays


class LaneViewsMixin:
    """The main window's lane panels, overlays, plots and status (mixed into
    :class:`~.main_window.MainWindow`)."""

    def _build_panels(self, n_lanes: int) -> None:
        for panel in self.panels:  # out of the layout now; freed when the loop gets to it
            self.lanes_layout.removeWidget(panel)
            panel.hide()
            panel.deleteLater()
        self.panels = []
        self.placeholder.setVisible(n_lanes == 0)
        for i in range(n_lanes):
            panel = LanePanel(i, lambda i=i: self._frame(i), self.theme)
            panel.view.pressed.connect(self._on_press)
            panel.view.dragged.connect(self._on_drag)
            panel.view.released.connect(self._on_release)
            panel.view.hovered.connect(self._on_hover)
            panel.view.painted.connect(self._on_painted)
            panel.funnel.set_dark(self.theme == "dark")
            self.lanes_layout.addWidget(panel, 1)
            self.panels.append(panel)

    # --- frames ----------------------------------------------------------------------------
    def _shown_lane(self, lane: int) -> LaneView | None:
        """Lane ``lane`` as shown (None with no such lane)."""
        if self.run is None or self.shown is None or lane >= len(self.shown.lanes):
            return None
        return self.shown.lanes[lane]

    def _frame(self, lane: int) -> tuple[str, Any, Any, Overlays] | None:
        """What lane ``lane``'s view shows now: (world kind, scene, state, overlays)."""
        shown = self._shown_lane(lane)
        if shown is None:
            return None
        return self.run.world, self.run.scene, shown.state, self._overlays(lane)

    def _overlays(self, lane: int) -> Overlays:
        now = time.perf_counter()
        flashes = [Flash(where, 1.0 - (now - t0) / FLASH_SECONDS)
                   for l, where, t0 in self._flashes if l == lane]
        overlays = Overlays(ghosts=self.ghosts_action.isChecked(), flashes=flashes,
                            hover=self._hover.get(lane))
        shown = self._shown_lane(lane)
        if shown is None:
            return overlays
        overlays.flashes += self.run.flashes(lane, self.shown.step)
        if self.internals_action.isChecked():
            overlays.internals = self._internals_lines(lane)
            overlays.expanded = self._expanded_cells(lane, shown)
        if int(shown.state.status[0]) == 0:
            # Logged for the shown step or later: not applied in the shown world yet. (Only
            # this thread logs events, so reading the log needs no lock.)
            overlays.pending = list(self.run.pending(lane, now=self.shown.step))
            if self.tool is not None and self._gesture_lane == lane:
                overlays.pending += self.tool.preview()
            heater = shown.internals.get("heater")
            if heater is not None:
                overlays.heater = bool(np.any(heater))
        return overlays

    def _expanded_cells(self, lane: int, shown: LaneView) -> np.ndarray | None:
        """(H, W) bool cells lane ``lane``'s search expands for its next move from the shown
        state (None without a searching agent); one search per lane and shown step."""
        if int(shown.state.status[0]) != 0:
            return None
        key = (id(self.run), lane, self.shown.step)
        if self._expanded_key.get(lane) != key:
            cells = self.run.session.expanded_cells(lane, shown.state)
            self._expanded_key[lane], self._expanded[lane] = key, cells
        return self._expanded.get(lane)

    def _internals_lines(self, lane: int) -> list[str]:
        """One line per agent of the lane: the rule that fired, the nodes searched, ..."""
        shown = self._shown_lane(lane)
        if shown is None or not shown.acted:
            return []  # copy 0 had already stopped: its agent did nothing
        return describe_internals(self.run.session.lanes[lane].agents, shown.internals)

    # --- refreshing ------------------------------------------------------------------------
    def _refresh_views(self) -> None:
        for panel in self.panels:
            panel.view.invalidate()
        self._refresh_headers()

    def _refresh_all(self) -> None:
        self._refresh_views()
        self._plots_dirty = True
        self._refresh_plots()
        if self.run is not None:
            low, high = self.run.funnel_range()
            for panel in self.panels:
                panel.funnel.set_frame(self.run.horizon, low, high)

    def _refresh_headers(self) -> None:
        if self.run is None or self.shown is None:
            return
        for panel, shown in zip(self.panels, self.shown.lanes, strict=False):
            title, agents, note = self.run.header(panel.index)
            panel.set_header(title, agents, note, self._outcome_text(shown))

    @staticmethod
    def _outcome_text(shown: LaneView) -> str:
        """Copy 0's status (once for a lane whose agents are all still running) and the
        ensemble's F and OP now."""
        outcomes = shown.outcomes
        if all(out.status == "running" for out in outcomes):
            parts = [f"running · step {outcomes[0].steps}"]
        else:
            parts = []
            for out in outcomes:
                prefix = f"{out.agent}: " if len(outcomes) > 1 else ""
                if out.status == "running":
                    parts.append(f"{prefix}running")
                    continue
                mark = "✔" if out.achieved_objective else "✘"
                base = "✔" if out.achieved_base else "✘"
                parts.append(f"{prefix}{out.detail or out.status}: own {mark} base {base}")
        if shown.f_now is not None and shown.op_now is not None:
            parts.append(f"F {shown.f_now:.2f} · OP {shown.op_now:+.2f} bits")
        return " · ".join(parts)

    def _refresh_plots(self) -> None:
        self._plots_dirty = False
        self._last_plot = time.perf_counter()
        shown = self.shown
        if self.run is None or shown is None or any(lane.plot is None for lane in shown.lanes):
            return  # no metrics, or a view without the plotted series
        lanes = []
        for i, lane in enumerate(shown.lanes):
            # One row per step of the run (the tracker's own step labels follow copy 0,
            # which stops when its episode ends while the rest of the ensemble goes on).
            values = lane.plot.values
            steps = np.arange(len(values["F"]) if "F" in values else 0, dtype=np.float64)
            lanes.append(LaneSeries(self.run.header(i)[0], steps, values, lane.plot.funnel,
                                    lane.plot.recovery))
        baseline = None
        if shown.baseline is not None:
            base = shown.baseline
            baseline = LaneSeries("null", np.arange(len(base["F"]), dtype=np.float64), base)
        self.plots.update_series(lanes, baseline, self.run.horizon)
        for panel, lane in zip(self.panels, lanes, strict=False):
            panel.funnel.set_density(lane.funnel)

    def _refresh_status(self, now: float) -> None:
        paints = [t for t in self._paint_times if now - t < 1.0]
        self.fps_label.setText(f"{len(paints)} frames/s")
        steps = sum(n for t, n in self._step_times if now - t < 1.0)
        self.rate_label.setText(f"{steps} steps/s")
        if self.run is not None:
            kind = "" if self.run.live else "replay · "
            self.step_label.setText(f"{kind}step {self.run.step_index} / {self.run.horizon}")
        if self.click_latencies:
            self.latency_label.setText(f"click→frame {self.click_latencies[-1] * 1000:.0f} ms")
        self.rec_label.setText("<b style='color:#d00'>REC</b>" if self.recorder else "")

    def _on_painted(self, lane: int, when: float) -> None:
        self._last_paint = when
        if lane == 0:
            self._paint_times.append(when)
        if self._click_time is not None:
            self.click_latencies.append(when - self._click_time)
            self._click_time = None

    def _views_changed(self, *_args: Any) -> None:
        self.settings.setValue("view/ghosts", "true" if self.ghosts_action.isChecked()
                               else "false")
        self.settings.setValue("view/internals", "true" if self.internals_action.isChecked()
                               else "false")
        for panel in self.panels:
            panel.view.invalidate()
