"""The servable manager: which versions of which models are loaded, and their labels.

Requests resolve a (name, version | label) to a `Servable` here. The state is an immutable
snapshot swapped under a lock, so a lookup takes no lock at all and inference never runs
under one. Everything that changes the state (start-up, base-path polling, a reloaded model
config) goes through `_reconcile`, one at a time: it loads and warms a version *before* the
snapshot that serves it is published, so no request ever sees a half-loaded version.

A version leaves the snapshot when its directory is gone, or when the policy no longer wants
it and every version the policy wants is loaded (a version that fails to load never takes the
place of one being served). Requests already running on it hold their own reference, so it
is only freed ("unloaded") once they have finished.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence

from tensorflow_serving.config import model_server_config_pb2

from serving import model_config
from serving.errors import (
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    ServingError,
)
from serving.servable import Servable

__all__ = ["LoadEvent", "ServableManager", "VersionState"]


@dataclasses.dataclass(frozen=True)
class VersionState:
    """One row of GetModelStatus: a version, its lifecycle state and the load status."""

    version: int
    state: str  # "LOADING", "AVAILABLE", "END", ... as ModelVersionStatus.State names them
    error_code: str = "OK"
    error_message: str = ""


@dataclasses.dataclass(frozen=True)
class LoadEvent:
    """A version loaded (code "OK"), failed to load (the error's code) or was unloaded."""

    model: str
    version: int
    kind: str  # "load" or "unload"
    code: str
    seconds: float


@dataclasses.dataclass(frozen=True)
class _ModelSnapshot:
    servables: dict[int, Servable]
    states: dict[int, VersionState]
    labels: dict[str, int]


_EMPTY = _ModelSnapshot({}, {}, {})


@dataclasses.dataclass
class _Failure:
    path: str
    attempts: int
    last_attempt: float


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _without_paths(message: str, model: model_server_config_pb2.ModelConfig) -> str:
    """`message` for clients: the model's base path, which says where the server's files
    are, becomes a placeholder; the log keeps the full text."""
    for path in sorted({model.base_path.rstrip("/"), os.path.realpath(model.base_path)}):
        if len(path) > 1:
            message = message.replace(path, f"<base path of {model.name}>")
    return message


class ServableManager:
    """Loads the versions a ModelServerConfig asks for and resolves requests to them.

    `prepare` runs on each freshly loaded servable before it is published (warm-up; it may
    raise ServingError to fail the load). `on_event` hears every load and unload (metrics);
    `on_change` is called after every change of what is served (health statuses).
    A version that fails to load is retried on later polls, at most `max_num_load_retries`
    times and no sooner than `load_retry_interval_s` after the previous try, as the real
    server's `--max_num_load_retries` / `--load_retry_interval_micros`.
    """

    def __init__(
        self,
        config: model_server_config_pb2.ModelServerConfig,
        saved_model_tags: Sequence[str] = ("serve",),
        allow_version_labels_for_unavailable_models: bool = False,
        prepare: Callable[[Servable], object] | None = None,
        on_event: Callable[[LoadEvent], None] | None = None,
        max_num_load_retries: int = 5,
        load_retry_interval_s: float = 60.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        model_config.validate_model_server_config(config)
        self.on_change = on_change
        self._config = config
        self._tags = tuple(saved_model_tags)
        self._allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self._prepare = prepare
        self._on_event = on_event
        self._max_retries = max_num_load_retries
        self._retry_interval_s = load_retry_interval_s
        self._lock = threading.Lock()  # guards swapping `_models`
        self._reconcile_lock = threading.Lock()  # one reconcile at a time
        self._models: dict[str, _ModelSnapshot] = {}
        self._failures: dict[tuple[str, int], _Failure] = {}
        self._names: tuple[object, frozenset[str]] | None = None

    # ---- changing the state --------------------------------------------------------------

    def load(self) -> None:
        """Load every configured model; raise the first load or label error, as the real
        server fails to start when an initial load fails."""
        with self._reconcile_lock:
            self._reconcile(strict=True)

    def poll(self) -> None:
        """One pass of base-path polling: load new versions, unload removed ones. Failures
        are recorded in status, never raised."""
        with self._reconcile_lock:
            self._reconcile(strict=False)

    def reload_config(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        """Replace the model list (HandleReloadConfigRequest): unlisted models unload, new
        ones load before this returns. Raises ServingError if a new model cannot load or a
        label names a version that is not available; models loaded so far stay."""
        try:
            model_config.validate_model_server_config(config)
        except ValueError as e:
            raise InvalidArgumentError(str(e)) from None
        with self._reconcile_lock:
            self._config = config
            self._reconcile(strict=True)

    def config(self) -> model_server_config_pb2.ModelServerConfig:
        return self._config

    def configured_names(self) -> frozenset[str]:
        """The names the current config lists (cached per config: metrics ask per request)."""
        config = self._config
        cached = self._names
        if cached is None or cached[0] is not config:
            cached = (config, frozenset(m.name for m in config.model_config_list.config))
            self._names = cached
        return cached[1]

    def _publish(self, name: str, snapshot: _ModelSnapshot | None) -> None:
        with self._lock:
            models = dict(self._models)
            if snapshot is None:
                models.pop(name, None)
            else:
                models[name] = snapshot
            self._models = models
        if self.on_change is not None:
            self.on_change()

    def _event(self, event: LoadEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def _reconcile(self, strict: bool) -> None:
        listed = {model.name for model in self._config.model_config_list.config}
        for name, snapshot in list(self._models.items()):
            if name not in listed:
                _log(f"Unloading model {name}: no longer in the model config")
                self._unload_all(name, snapshot)
        first_error: ServingError | None = None
        for model in self._config.model_config_list.config:
            try:
                self._reconcile_model(model, strict)
            except ServingError as e:
                if strict and first_error is None:
                    first_error = e
        if first_error is not None:
            raise first_error

    def _unload_all(self, name: str, snapshot: _ModelSnapshot) -> None:
        states = dict(snapshot.states)
        for version in snapshot.servables:
            states[version] = VersionState(version, "END")
            self._event(LoadEvent(name, version, "unload", "OK", 0.0))
        # Status keeps the END rows, as the real server's state monitor does.
        self._publish(name, _ModelSnapshot({}, states, {}))

    def _should_try(self, name: str, version: int, path: str) -> bool:
        failure = self._failures.get((name, version))
        if failure is None or failure.path != path:
            return True
        if failure.attempts > self._max_retries:
            return False
        return time.monotonic() - failure.last_attempt >= self._retry_interval_s

    def _load_version(self, name: str, version: int, path: str) -> Servable:
        start = time.monotonic()
        try:
            try:
                servable = Servable.load(name, version, path, self._tags)
                if self._prepare is not None:
                    self._prepare(servable)
            except ServingError:
                raise
            except Exception as e:  # noqa: BLE001 - any load failure becomes a status
                _log(f"Loading version {version} of model {name}: {type(e).__name__}: {e}")
                raise InternalError("Internal error while loading (see the server log)") from e
        except ServingError as e:
            failure = self._failures.get((name, version))
            attempts = failure.attempts + 1 if failure and failure.path == path else 1
            self._failures[(name, version)] = _Failure(path, attempts, time.monotonic())
            self._event(LoadEvent(name, version, "load", e.code, time.monotonic() - start))
            raise
        self._failures.pop((name, version), None)
        self._event(LoadEvent(name, version, "load", "OK", time.monotonic() - start))
        return servable

    def _reconcile_model(self, model: model_server_config_pb2.ModelConfig, strict: bool) -> None:
        name = model.name
        old = self._models.get(name, _EMPTY)
        try:
            available = model_config.read_versions(model.base_path)
        except OSError as e:
            # A listing that failed says nothing about the versions: keep serving what is
            # loaded and look again at the next poll (TF Serving's file-system source
            # likewise refuses to unload on a failed listing).
            _log(
                f"Cannot list the base path of servable {name} ({model.base_path}): "
                f"{e.strerror or e}; keeping its {len(old.servables)} loaded version(s), "
                "retrying at the next poll"
            )
            if name not in self._models:
                self._publish(name, _EMPTY)
            return
        wanted = model_config.select_versions(model.model_version_policy, available)
        if not wanted and not old.servables:
            _log(f"No versions of servable {name} found under base path {model.base_path}")
        servables = {
            v: s for v, s in old.servables.items() if v in available and s.path == available[v]
        }
        states = dict(old.states)
        error: ServingError | None = None
        for version in wanted:
            if version in servables or not self._should_try(name, version, available[version]):
                continue
            states[version] = VersionState(version, "LOADING")
            self._publish(name, _ModelSnapshot(servables, dict(states), old.labels))
            try:
                servable = self._load_version(name, version, available[version])
            except ServingError as e:
                message = (
                    f"Failed to load servable version {version} of model {name} from "
                    f"{available[version]}: {e.message}"
                )
                _log(message)
                states[version] = VersionState(
                    version, "END", e.code, _without_paths(e.message, model)
                )
                error = error or ServingError(message, code=e.code)
                continue
            servables = {**servables, version: servable}
            states[version] = VersionState(version, "AVAILABLE")
            _log(f"Successfully loaded servable version {version} of model {name}")
            # Publish at once: the new version serves while older ones are retired below.
            self._publish(name, _ModelSnapshot(servables, dict(states), old.labels))
        # Retire versions the policy no longer wants only once all it wants are serving.
        if all(v in servables for v in wanted):
            retired = [v for v in servables if v not in wanted]
        else:
            retired = []
        # A version whose directory is gone goes regardless (its servable is in memory).
        retired += [v for v in old.servables if v not in servables and v not in retired]
        servables = {v: s for v, s in servables.items() if v not in retired}
        for version in retired:
            states[version] = VersionState(version, "END")
            _log(f"Unloading servable version {version} of model {name}")
            self._event(LoadEvent(name, version, "unload", "OK", 0.0))
        labels = self._labels(model, servables, strict)
        self._publish(name, _ModelSnapshot(servables, states, labels))
        if error is not None:
            raise error

    def _labels(
        self, model: model_server_config_pb2.ModelConfig, servables: dict, strict: bool
    ) -> dict[str, int]:
        labels = {}
        for label, version in model.version_labels.items():
            if version not in servables and not self._allow_unavailable_labels:
                message = (
                    f"Request to assign label to version {version} of model {model.name}, "
                    "which is not currently available for inference"
                )
                if strict:
                    raise FailedPreconditionError(message)
                _log(message)
                continue
            labels[label] = version
        return labels

    # ---- reading the state ---------------------------------------------------------------

    def model_names(self) -> list[str]:
        return sorted(self._models)

    def is_ready(self, name: str) -> bool:
        """True once the model has a version loaded and warmed up."""
        snapshot = self._models.get(name)
        return snapshot is not None and bool(snapshot.servables)

    def loaded_versions(self, name: str) -> list[int]:
        """The versions of `name` that serve now, in increasing order."""
        snapshot = self._models.get(name)
        return sorted(snapshot.servables) if snapshot is not None else []

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
