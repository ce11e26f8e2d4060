"""The "Scene & lanes" dock: pick a scene, add and remove lanes, and set each lane's agent,
objective, parameters and ensemble size. Besides the archetypes, a lane's agent can be a
trained agent, ``trained:FILE#group/k``, from an agents file the user opened ("Agents
file…"), trained in the window, or named by the scene's own lanes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from agents.registry import AGENT_NAMES, TRAINED_PREFIX
from simulator.core.errors import UserError
from simulator.gui.plots import lane_color
from simulator.gui.race import LaneChoice, MemberChoice

AGENTS_FILTER = "Trained agents (*.h5 *.hdf5);;All files (*)"


def format_params(params: dict[str, Any]) -> str:
    """``{"budget": 2000.0, "depth": 40}`` → ``"budget=2000, depth=40"`` (lists are kept
    out of the text: they stay as the scene gave them)."""
    parts = []
    for key, value in params.items():
        if isinstance(value, list | tuple | dict):
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def parse_params(text: str) -> dict[str, Any]:
    """``"budget=2000, depth=40"`` → ``{"budget": 2000, "depth": 40}``; UserError naming the
    piece it cannot read."""
    out: dict[str, Any] = {}
    for piece in text.replace(";", ",").split(","):
        piece = piece.strip()
        if not piece:
            continue
        key, sep, raw = piece.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            raise UserError(f"parameters: cannot read {piece!r} (write name=value, ...)")
        value: Any = raw
        for convert in (int, float):
            try:
                value = convert(raw)
                break
            except ValueError:
                continue
        out[key] = value
    return out


def trained_file_name(path: str | Path, scene_dir: str | None = None) -> str:
    """How a lane names an agents file: relative to the scene's folder when the file lies
    there (as a shipped scene's lanes name theirs), else relative to the working directory
    when under it, else absolute. The agent store resolves it the same way back."""
    path = Path(path).resolve()
    if scene_dir is not None:
        try:
            rel = path.relative_to(Path(scene_dir).resolve())
        except ValueError:
            rel = None
        # The store looks in the working directory first: the short name must not find
        # another file there.
        if rel is not None and (not rel.exists() or rel.resolve() == path):
            return rel.as_posix()
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def trained_agent_name(file_name: str, group: str, index: int) -> str:
    return f"{TRAINED_PREFIX}{file_name}#{group}/{index}"


def is_trained(agent: str) -> bool:
    return agent.startswith(TRAINED_PREFIX)


def describe_agents_file(agents: Any, file_name: str) -> list[tuple[str, str]]:
    """(agent name, tooltip) of every agent of an open :class:`agents.store.AgentsFile`:
    its learner and kind, seed and final train return."""
    from agents.learners import LEARNER_KIND, final_return

    out = []
    for group, tr in agents.groups.items():
        final = final_return(tr.curve)
        for k in range(len(tr.seeds)):
            mix = f", trained with p = {tr.mix:g} deploy-like layouts" if tr.mix else ""
            tip = (f"{tr.learner} ({LEARNER_KIND.get(tr.learner, '')}) #{k} of"
                   f" {Path(file_name).name}{mix}\nseed {int(tr.seeds[k])} · final train"
                   f" return {final[k]:+.2f}")
            out.append((trained_agent_name(file_name, group, k), tip))
    return out


class LaneEditor(QtWidgets.QGroupBox):
    """One lane's settings. A lane of several agents (a competition) shows them read-only;
    its ensemble size stays editable."""

    remove_requested = QtCore.Signal(object)

    def __init__(self, index: int, choice: LaneChoice, base_objective: str,
                 parent: QtWidgets.QWidget | None = None,
                 trained: list[tuple[str, str]] | None = None):
        super().__init__(parent)
        self.choice = choice
        self.base_objective = base_objective
        form = QtWidgets.QFormLayout(self)
        form.setContentsMargins(6, 4, 6, 4)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.label_edit = QtWidgets.QLineEdit(choice.label)
        self.label_edit.setPlaceholderText("(agent → objective)")
        form.addRow("Label", self.label_edit)
        self.single = len(choice.members) == 1
        if self.single:
            member = choice.members[0]
            self.agent_box = QtWidgets.QComboBox()
            # Trained names are long: the box keeps the dock's width, the list is wider.
            self.agent_box.setSizeAdjustPolicy(
                QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            self.agent_box.setMinimumContentsLength(10)
            self.agent_box.view().setTextElideMode(QtCore.Qt.TextElideMode.ElideNone)
            # A file holds hundreds of agents: a scrolling list, not one screen-high.
            self.agent_box.setStyleSheet("QComboBox { combobox-popup: 0; }")
            self.agent_box.setMaxVisibleItems(16)
            self.agent_box.addItems(AGENT_NAMES)
            self.add_trained(trained or [])
            if is_trained(member.agent):
                self.add_trained([(member.agent, "trained agent named by the scene")])
            self.agent_box.setCurrentText(member.agent)
            self.objective_edit = QtWidgets.QLineEdit(member.objective)
            self.objective_edit.setPlaceholderText(base_objective)
            self.objective_edit.setToolTip("e.g. reach:door, reach:red, reach:red_door")
            self.params_edit = QtWidgets.QLineEdit(format_params(member.params))
            self.agent_box.currentTextChanged.connect(self._agent_changed)
            self._agent_changed(member.agent)
            self._hidden = {k: v for k, v in member.params.items()
                            if isinstance(v, list | tuple | dict)}
            form.addRow("Agent", self.agent_box)
            form.addRow("Objective", self.objective_edit)
            form.addRow("Params", self.params_edit)
        else:
            names = " vs ".join(f"{m.agent} → {m.objective}" for m in choice.members)
            info = QtWidgets.QLabel(names)
            info.setWordWrap(True)
            form.addRow("Agents", info)
        self.copies = QtWidgets.QSpinBox()
        self.copies.setRange(0, 65536)
        self.copies.setSingleStep(256)
        self.copies.setSpecialValueText("auto")
        self.copies.setValue(choice.n_copies or 0)
        self.copies.setToolTip("Ensemble size; auto = 4096, or 512 for a search lane")
        remove = QtWidgets.QToolButton()
        remove.setText("Remove")
        remove.clicked.connect(lambda: self.remove_requested.emit(self))
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.copies, 1)
        row.addWidget(remove)
        form.addRow("Copies", row)
        self.set_index(index)

    def _agent_changed(self, agent: str) -> None:
        hints = {"search": "budget=4000, depth=64", "heuristic": "(the default rule pile)"}
        trained = is_trained(agent)
        self.params_edit.setEnabled(not trained)
        self.params_edit.setPlaceholderText(
            "(a trained agent takes no parameters)" if trained
            else hints.get(agent, "(no parameters)"))
        self.objective_edit.setToolTip(
            "What the reports measure this trained agent against; its actions never read"
            " it" if trained else "e.g. reach:door, reach:red, reach:red_door")
        index = self.agent_box.findText(agent)
        tip = self.agent_box.itemData(index, QtCore.Qt.ItemDataRole.ToolTipRole)
        self.agent_box.setToolTip(f"{agent}\n{tip}" if trained and tip else agent)

    def add_trained(self, entries: list[tuple[str, str]]) -> None:
        """Offer trained agents (name, tooltip) in the agent box (each once)."""
        if not hasattr(self, "agent_box"):
            return  # a competition lane: its agents are not editable here
        for name, tip in entries:
            index = self.agent_box.findText(name)
            if index < 0:
                if self.agent_box.count() == len(AGENT_NAMES):
                    self.agent_box.insertSeparator(self.agent_box.count())
                self.agent_box.addItem(name)
                index = self.agent_box.count() - 1
            self.agent_box.setItemData(index, tip, QtCore.Qt.ItemDataRole.ToolTipRole)

    def set_agent(self, name: str, tip: str = "") -> bool:
        """Put agent ``name`` in this lane (False for a competition lane)."""
        if not self.single:
            return False
        if self.agent_box.findText(name) < 0:
            self.add_trained([(name, tip)])
        self.agent_box.setCurrentText(name)
        return True

    def set_index(self, index: int) -> None:
        self.setTitle(f"Lane {index + 1}")
        self.setStyleSheet(f"QGroupBox {{ border-left: 4px solid {lane_color(index)};"
                           " margin-top: 1.2em; padding-top: 2px; }"
                           " QGroupBox::title { subcontrol-origin: margin; left: 8px; }")

    def value(self) -> LaneChoice:
        """The lane as edited (UserError on unreadable parameters)."""
        members = self.choice.members
        label = self.label_edit.text().strip()
        if self.single:
            agent = self.agent_box.currentText()
            same = agent == self.choice.members[0].agent
            params = {} if is_trained(agent) else parse_params(self.params_edit.text())
            if same:
                params = {**self._hidden, **params}
            elif label == self.choice.label:
                label = ""  # the scene's label described the agent replaced: name the new one
            objective = self.objective_edit.text().strip() or self.base_objective
            members = [MemberChoice(agent, objective, params)]
        return LaneChoice(members, label, self.copies.value() or None)


class SceneDock(QtWidgets.QDockWidget):
    """Scene picker and lane editors. Emits ``scene_requested(name or path)``,
    ``lanes_applied(list[LaneChoice])`` and ``error_raised(message)``."""

    scene_requested = QtCore.Signal(str)
    open_requested = QtCore.Signal()
    lanes_applied = QtCore.Signal(list)
    error_raised = QtCore.Signal(str)
    agents_file_opened = QtCore.Signal(str)  # the path of an agents file just listed

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__("Scene && lanes", parent)
        self.setObjectName("scene_dock")
        body = QtWidgets.QWidget()
        outer = QtWidgets.QVBoxLayout(body)
        outer.setContentsMargins(6, 6, 6, 6)
        pick = QtWidgets.QHBoxLayout()
        self.scene_box = QtWidgets.QComboBox()
        self.scene_box.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.scene_box.setMinimumContentsLength(12)
        self.scene_box.activated.connect(
            lambda _i: self.scene_requested.emit(self.scene_box.currentText()))
        open_button = QtWidgets.QPushButton("Open…")
        open_button.setToolTip("Open a scene (.toml) or a recording (.h5)")
        open_button.clicked.connect(self.open_requested.emit)
        pick.addWidget(self.scene_box, 1)
        pick.addWidget(open_button)
        outer.addLayout(pick)
        self.agents_button = QtWidgets.QPushButton("Agents file…")
        self.agents_button.setToolTip("Open a trained-agents file (steersim train, or"
                                      " Agents ▸ Train): its agents join every lane's"
                                      " agent list")
        self.agents_button.clicked.connect(self.open_agents_dialog)
        self.agents_label = QtWidgets.QLabel()
        self.agents_label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                                        QtWidgets.QSizePolicy.Policy.Fixed)
        self.agents_label.setStyleSheet("font-size: small; color: #777")
        agents_row = QtWidgets.QHBoxLayout()
        agents_row.addWidget(self.agents_button)
        agents_row.addWidget(self.agents_label, 1)
        outer.addLayout(agents_row)
        self.about = QtWidgets.QLabel()
        self.about.setWordWrap(True)
        self.about.setTextFormat(QtCore.Qt.TextFormat.RichText)
        outer.addWidget(self.about)
        self.lane_area = QtWidgets.QScrollArea()
        self.lane_area.setWidgetResizable(True)
        self.lane_area.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        holder = QtWidgets.QWidget()
        self.lane_layout = QtWidgets.QVBoxLayout(holder)
        self.lane_layout.setContentsMargins(0, 0, 0, 0)
        self.lane_layout.addStretch(1)
        self.lane_area.setWidget(holder)
        outer.addWidget(self.lane_area, 1)
        buttons = QtWidgets.QHBoxLayout()
        add = QtWidgets.QPushButton("Add lane")
        add.clicked.connect(self._add_lane)
        self.add_button = add
        self.apply_button = QtWidgets.QPushButton("Apply && reset")
        self.apply_button.setDefault(True)
        self.apply_button.clicked.connect(self._apply)
        buttons.addWidget(add)
        buttons.addWidget(self.apply_button)
        outer.addLayout(buttons)
        self.setWidget(body)
        self.editors: list[LaneEditor] = []
        self.base_objective = ""
        self.world = ""
        self.scene_hash: str | None = None
        self.scene_dir: str | None = None
        self.trained: list[tuple[str, str]] = []  # (agent name, tooltip) offered in lanes
        self.agents_files: list[str] = []  # paths listed, in order
        self.agents_dir = "recordings"  # where "Agents file…" starts
    def set_scene_names(self, names: list[str], current: str | None) -> None:
        self.scene_box.clear()
        self.scene_box.addItems(names)
        if current is not None:
            if current not in names:
                self.scene_box.addItem(current)
            self.scene_box.setCurrentText(current)

    def set_scene(self, name: str, title: str, description: str, base_objective: str,
                  choices: list[LaneChoice], world: str = "", scene_hash: str | None = None,
                  scene_dir: str | None = None) -> None:
        """Show a scene's description and its lanes for editing. ``world``, ``scene_hash``
        and ``scene_dir`` say which agents files fit it; another scene's trained agents
        leave the lists."""
        self.base_objective = base_objective
        if (world, scene_hash) != (self.world, self.scene_hash):
            self.trained, self.agents_files = [], []
            self.agents_label.setText("")
        self.world, self.scene_hash, self.scene_dir = world, scene_hash, scene_dir
        if self.scene_box.findText(name) < 0:
            self.scene_box.addItem(name)
        self.scene_box.setCurrentText(name)
        text = f"<b>{title or name}</b>"
        if description:
            text += f"<br><span style='font-size:small'>{description}</span>"
        text += f"<br><span style='font-size:small'>base objective: {base_objective}</span>"
        self.about.setText(text)
        self._clear_editors()
        self.add_button.setEnabled(True)
        self.apply_button.setEnabled(True)
        self.agents_button.setEnabled(True)
        for choice in choices:
            self._insert(choice)

    def set_replay(self, scene_name: str, path: str) -> None:
        """While a recording replays: say so; its lanes are not editable."""
        if self.scene_box.findText(scene_name) < 0:
            self.scene_box.addItem(scene_name)
        self.scene_box.setCurrentText(scene_name)
        self.about.setText(f"<b>Replay</b> of <b>{scene_name}</b><br>"
                           f"<span style='font-size:small'>{path}</span><br>"
                           "<span style='font-size:small'>Choose a scene above to run it"
                           " live.</span>")
        self._clear_editors()
        self.add_button.setEnabled(False)
        self.apply_button.setEnabled(False)
        self.agents_button.setEnabled(False)

    def _clear_editors(self) -> None:
        for editor in self.editors:
            self.lane_layout.removeWidget(editor)
            editor.hide()
            editor.deleteLater()
        self.editors = []

    def _insert(self, choice: LaneChoice) -> None:
        editor = LaneEditor(len(self.editors), choice, self.base_objective,
                            trained=self.trained)
        editor.remove_requested.connect(self._remove)
        self.lane_layout.insertWidget(self.lane_layout.count() - 1, editor)
        self.editors.append(editor)

    def _add_lane(self) -> None:
        self._insert(LaneChoice([MemberChoice("null", self.base_objective)]))

    def _remove(self, editor: LaneEditor) -> None:
        if len(self.editors) <= 1:
            return  # a race needs a lane
        self.editors.remove(editor)
        self.lane_layout.removeWidget(editor)
        editor.hide()
        editor.deleteLater()
        for i, other in enumerate(self.editors):
            other.set_index(i)

    # --- trained agents ----------------------------------------------------------------
    def open_agents_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open a trained-agents file", self.agents_dir, AGENTS_FILTER)
        if path:
            self.add_agents_file(path)

    def add_agents_file(self, path: str) -> list[str]:
        """List the agents of the file at ``path`` in every lane's agent box and return
        their names. A file that cannot be read, or was trained on another world or scene,
        is reported once (``error_raised``) and changes nothing."""
        from agents.store import read_agents_file

        try:
            agents = read_agents_file(path)
            if self.world and agents.attrs.get("world") != self.world:
                raise UserError(f"{path}: agents of a {agents.attrs.get('world')} world"
                                f" cannot drive this {self.world} world")
            if self.scene_hash is not None and agents.scene_hash != self.scene_hash:
                raise UserError(
                    f"{path}: trained on scene {agents.attrs.get('scene_name')!r} (content"
                    f" hash {agents.scene_hash[:12]}), not this scene"
                    f" ({self.scene_hash[:12]}); train on this scene (Ctrl+T)")
        except UserError as exc:
            self.error_raised.emit(str(exc))
            return []
        entries = describe_agents_file(agents, trained_file_name(path, self.scene_dir))
        known = {name for name, _ in self.trained}
        self.trained += [e for e in entries if e[0] not in known]
        for editor in self.editors:
            editor.add_trained(entries)
        resolved = str(Path(path).resolve())
        if resolved not in self.agents_files:
            self.agents_files.append(resolved)
        self.agents_dir = str(Path(path).parent)
        n_files = len(self.agents_files)
        self.agents_label.setText(
            f"{len(self.trained)} trained agents from {n_files} file{'s' * (n_files > 1)}")
        self.agents_label.setToolTip("\n".join(self.agents_files))
        self.agents_file_opened.emit(resolved)
        return [name for name, _ in entries]

    def tooltip_of(self, name: str) -> str:
        return next((tip for n, tip in self.trained if n == name), "")

    def put_agent(self, name: str, lane: int | None = None) -> int:
        """Set lane ``lane``'s agent to ``name`` (None, out of range or a competition lane:
        a new lane); returns the lane's index. The lanes take effect on :meth:`apply`."""
        if lane is not None and 0 <= lane < len(self.editors) and \
                self.editors[lane].set_agent(name, self.tooltip_of(name)):
            return lane
        self._insert(LaneChoice([MemberChoice(name, self.base_objective)]))
        return len(self.editors) - 1

    def apply(self) -> None:
        """Emit the lanes as edited (``lanes_applied``), or the error."""
        self._apply()

    def choices(self) -> list[LaneChoice]:
        out = []
        for i, editor in enumerate(self.editors):
            try:
                out.append(editor.value())
            except UserError as exc:
                raise UserError(f"lane {i + 1}: {exc}") from None
        return out

    def _apply(self) -> None:
        try:
            choices = self.choices()
        except UserError as exc:
            self.error_raised.emit(str(exc))
            return
        self.lanes_applied.emit(choices)
