"""The "Scene & lanes" dock: pick a scene, add and remove lanes, and set each lane's agent,
objective, parameters and ensemble size."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets

from agents.registry import AGENT_NAMES
from simulator.errors import UserError
from simulator.gui.plots import lane_color
from simulator.gui.race import LaneChoice, MemberChoice


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


class LaneEditor(QtWidgets.QGroupBox):
    """One lane's settings. A lane of several agents (a competition) shows them read-only;
    its ensemble size stays editable."""

    remove_requested = QtCore.Signal(object)

    def __init__(self, index: int, choice: LaneChoice, base_objective: str,
                 parent: QtWidgets.QWidget | None = None):
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
            self.agent_box.addItems(AGENT_NAMES)
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
        self.params_edit.setPlaceholderText(hints.get(agent, "(no parameters)"))

    def set_index(self, index: int) -> None:
        self.setTitle(f"Lane {index + 1}")
        self.setStyleSheet(f"QGroupBox {{ border-left: 4px solid {lane_color(index)};"
                           " margin-top: 1.2em; padding-top: 2px; }"
                           " QGroupBox::title { subcontrol-origin: margin; left: 8px; }")

    def value(self) -> LaneChoice:
        """The lane as edited (UserError on unreadable parameters)."""
        members = self.choice.members
        if self.single:
            agent = self.agent_box.currentText()
            params = parse_params(self.params_edit.text())
            if agent == self.choice.members[0].agent:
                params = {**self._hidden, **params}
            objective = self.objective_edit.text().strip() or self.base_objective
            members = [MemberChoice(agent, objective, params)]
        return LaneChoice(members, self.label_edit.text().strip(), self.copies.value() or None)


class SceneDock(QtWidgets.QDockWidget):
    """Scene picker and lane editors. Emits ``scene_requested(name or path)``,
    ``lanes_applied(list[LaneChoice])`` and ``error_raised(message)``."""

    scene_requested = QtCore.Signal(str)
    open_requested = QtCore.Signal()
    lanes_applied = QtCore.Signal(list)
    error_raised = QtCore.Signal(str)

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

    def set_scene_names(self, names: list[str], current: str | None) -> None:
        self.scene_box.clear()
        self.scene_box.addItems(names)
        if current is not None:
            if current not in names:
                self.scene_box.addItem(current)
            self.scene_box.setCurrentText(current)

    def set_scene(self, name: str, title: str, description: str, base_objective: str,
                  choices: list[LaneChoice]) -> None:
        """Show a scene's description and its lanes for editing."""
        self.base_objective = base_objective
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

    def _clear_editors(self) -> None:
        for editor in self.editors:
            self.lane_layout.removeWidget(editor)
            editor.hide()
            editor.deleteLater()
        self.editors = []

    def _insert(self, choice: LaneChoice) -> None:
        editor = LaneEditor(len(self.editors), choice, self.base_objective)
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
