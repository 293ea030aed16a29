"""The servable manager: which versions of which models are loaded, and their labels.

Requests resolve a (name, version | label) to a `Servable` here. The state is an immutable
snapshot swapped under a lock, so a lookup takes no lock at all and inference never runs
under one; a future reloader (base-path polling, `HandleReloadConfigRequest`) builds a new
snapshot and swaps it in the same way.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Sequence

from tensorflow_serving.config import model_server_config_pb2

from serving import model_config
from serving.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ServingError,
)
from serving.servable import Servable

__all__ = ["ServableManager", "VersionState"]


@dataclasses.dataclass(frozen=True)
class VersionState:
    """One row of GetModelStatus: a version, its lifecycle state and the load status."""

    version: int
    state: str  # "LOADING", "AVAILABLE", "END", ... as ModelVersionStatus.State names them
    error_code: str = "OK"
    error_message: str = ""


@dataclasses.dataclass(frozen=True)
class _ModelSnapshot:
    servables: dict[int, Servable]
    states: dict[int, VersionState]
    labels: dict[str, int]


class ServableManager:
    """Loads the versions a ModelServerConfig asks for and resolves requests to them."""

    def __init__(
        self,
        config: model_server_config_pb2.ModelServerConfig,
        saved_model_tags: Sequence[str] = ("serve",),
        allow_version_labels_for_unavailable_models: bool = False,
    ) -> None:
        model_config.validate_model_server_config(config)
        self._config = config
        self._tags = tuple(saved_model_tags)
        self._allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self._lock = threading.Lock()
        self._models: dict[str, _ModelSnapshot] = {}

    def load(self) -> None:
        """Load every configured model; raise the first load or label error, as the real
        server fails to start when an initial load fails."""
        models = {}
        for model in self._config.model_config_list.config:
            models[model.name] = self._load_model(model)
        with self._lock:
            self._models = models

    def _load_model(self, model: model_server_config_pb2.ModelConfig) -> _ModelSnapshot:
        available = model_config.list_versions(model.base_path)
        wanted = model_config.select_versions(model.model_version_policy, available)
        if not wanted:
            print(
                f"No versions of servable {model.name} found under base path {model.base_path}",
                file=sys.stderr,
            )
        servables, states = {}, {}
        for version in wanted:
            try:
                servables[version] = Servable.load(
                    model.name, version, available[version], self._tags
                )
            except ServingError as e:
                states[version] = VersionState(version, "END", e.code, e.message)
                raise ServingError(
                    f"Failed to load servable version {version} of model {model.name} "
                    f"from {available[version]}: {e.message}",
                    code=e.code,
                ) from e
            states[version] = VersionState(version, "AVAILABLE")
        labels = {}
        for label, version in model.version_labels.items():
            if version not in servables and not self._allow_unavailable_labels:
                raise FailedPreconditionError(
                    f"Request to assign label to version {version} of model {model.name}, "
                    "which is not currently available for inference"
                )
            labels[label] = version
        return _ModelSnapshot(servables, states, labels)

    def model_names(self) -> list[str]:
        return sorted(self._models)

    def get(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable a request names; errors read exactly as the real server's."""
        models = self._models  # one snapshot for the whole lookup
        if version is not None and label is not None:
            raise InvalidArgumentError(
                f"Both model version ({version}) and model version label ({label}) cannot be "
                "supplied."
            )
        snapshot = models.get(name)
        if label is not None:
            if snapshot is None or label not in snapshot.labels:
                raise InvalidArgumentError(f"Unrecognized servable version label: {label}")
            version = snapshot.labels[label]
        if version is not None:
            if snapshot is None or version not in snapshot.servables:
                raise NotFoundError(f"Servable not found for request: Specific({name}, {version})")
            return snapshot.servables[version]
        if snapshot is None or not snapshot.servables:
            raise NotFoundError(f"Servable not found for request: Latest({name})")
        return snapshot.servables[max(snapshot.servables)]

    def version_states(self, name: str, version: int | None = None) -> list[VersionState]:
        """GetModelStatus rows for one model, or one version of it."""
        snapshot = self._models.get(name)
        states = snapshot.states if snapshot is not None else {}
        if version is not None:
            if version not in states:
                raise NotFoundError(f"Could not find version {version} of model {name}")
            return [states[version]]
        if not states:
            raise NotFoundError(f"Could not find any versions of model {name}")
        return [states[v] for v in sorted(states)]
