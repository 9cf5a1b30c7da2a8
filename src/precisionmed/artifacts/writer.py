"""Write a model directory atomically: a locked staging sibling, swapped into place at the end.

::

    with ModelWriter("runs/model", overwrite=False) as writer:   # checks --out, takes the lock
        train(...)                                                # writes into writer.staging
        save_artifact(writer.staging, ...)
    # here runs/model is the new model, complete; on an exception the old one is untouched

Hand-written because no library we use offers a directory-level atomic replace: skops,
safetensors and Lightning each write single files. Staging happens in ``.<name>.tmp-<pid>-<rand>``
beside the target (same file system, so renames are atomic). On Linux the finished staging
folder and the old model are exchanged in one ``renameat2(RENAME_EXCHANGE)`` call, so a kill -9 at
any moment leaves either the old model or the new one at the path, never a mix. Where that call
is missing (another OS, an old kernel or a file system without it) the old model is renamed
aside to ``.<name>.old-<pid>-<rand>`` and the new one renamed in: a kill between the two renames
leaves no model at the path, and :func:`precisionmed.artifacts.read_artifact` then says which
folder to rename back (the next writer does it by itself). Leftover staging folders are never
read by loaders and are removed by the next writer of that path.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from precisionmed.artifacts.manifest import MANIFEST
from precisionmed.errors import ArtifactError, ConfigError

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2``); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise ArtifactError(f"{b}: cannot swap in the new model ({os.strerror(err)}).")


def check_outside_model_dir(out: str | Path, model_dir: str | Path) -> None:
    """Refuse an output path inside a model directory.

    A model directory holds only the files it was saved with (its manifest refuses any other),
    so writing a report, a heat map or a mask into it would make the model unloadable.

    Raises
    ------
    ConfigError
        ``out`` is ``model_dir`` or lies inside it.
    """
    if Path(out).resolve().is_relative_to(Path(model_dir).resolve()):
        raise ConfigError(
            f"--out {out}: inside the model directory {model_dir}, whose manifest would then "
            "refuse it; expected a path outside it (e.g. next to it)."
        )


def staging_prefix(target: Path) -> str:
    """Name prefix of the staging folders of ``target`` (``.<name>.tmp-``)."""
    return f".{target.name}.tmp-"


def aside_prefix(target: Path) -> str:
    """Name prefix of an old model renamed aside by the fallback swap (``.<name>.old-``)."""
    return f".{target.name}.old-"


def is_model_dir(path: Path) -> bool:
    """Whether ``path`` is a folder holding a saved model (a manifest, or an older config)."""
    return path.is_dir() and ((path / MANIFEST).is_file() or (path / "config.json").is_file())


def _distributed_rank() -> int:
    """This process's global rank when launched for distributed training (0 otherwise)."""
    for var in ("RANK", "LOCAL_RANK", "NODE_RANK"):
        value = os.environ.get(var, "0")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 0


def _fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ModelWriter:
    """Context manager that checks a model path, locks it, stages the new model and commits it.

    Parameters
    ----------
    out_dir : str or Path
        The model directory to write (``--out``).
    overwrite : bool
        Replace a model (or a non-empty folder) already at ``out_dir``; refused otherwise.

    Attributes
    ----------
    path : Path
        The final model directory (absolute).
    staging : Path
        The folder to write every file of the model into (valid inside the ``with`` block).

    Raises
    ------
    ArtifactError
        On entering: ``out_dir`` is a file or lies under one, cannot be created or written, holds
        a model or other files and ``overwrite`` is False, or another process is writing it. On
        leaving: nothing was saved into the staging folder (no ``manifest.json``).

    Notes
    -----
    In a distributed run only rank 0 writes; other ranks get a private scratch folder that is
    discarded (ranks are read from ``RANK`` / ``LOCAL_RANK`` / ``NODE_RANK``).
    """

    def __init__(self, out_dir: str | Path, *, overwrite: bool = False) -> None:
        target = Path(out_dir).expanduser()
        self.path = Path(os.path.abspath(target))
        self.overwrite = overwrite
        self.staging = self.path  # replaced on entering
        self._lock_fd: int | None = None
        self._scratch = False

    @property
    def lock_path(self) -> Path:
        """The sibling lock file (``.<name>.lock``)."""
        return self.path.parent / f".{self.path.name}.lock"

    def __enter__(self) -> ModelWriter:
        if _distributed_rank() > 0:
            self._scratch = True
            self.staging = Path(tempfile.mkdtemp(prefix="precisionmed-rank-"))
            return self
        self._check_parent()
        self._lock()
        try:
            self._recover_and_clean()
            self._check_target()
            self.staging = self.path.parent / (
                f"{staging_prefix(self.path)}{os.getpid()}-{secrets.token_hex(4)}"
            )
            self.staging.mkdir()
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None or self._scratch:
                shutil.rmtree(self.staging, ignore_errors=True)
                return
            if not (self.staging / MANIFEST).is_file():
                shutil.rmtree(self.staging, ignore_errors=True)
                raise ArtifactError(
                    f"{self.path}: nothing was saved (no {MANIFEST} in the staging folder); "
                    "the previous content is unchanged."
                )
            self._commit()
        finally:
            self._unlock()

    # -- entering -------------------------------------------------------------------------
    def _check_parent(self) -> None:
        for ancestor in [self.path, *self.path.parents]:
            if ancestor.exists() or ancestor.is_symlink():
                if ancestor != self.path and not ancestor.is_dir():
                    raise ArtifactError(
                        f"{self.path}: cannot create the model directory: {ancestor} is a "
                        "file, not a folder; choose another --out."
                    )
                break
        if self.path.exists() and not self.path.is_dir():
            raise ArtifactError(
                f"{self.path}: is a file, not a model directory; choose another --out."
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArtifactError(
                f"{self.path}: cannot create its parent folder ({exc.strerror}); "
                "choose another --out."
            ) from exc
        if not os.access(self.path.parent, os.W_OK | os.X_OK):
            raise ArtifactError(
                f"{self.path}: its folder {self.path.parent} is not writable; choose another --out."
            )

    def _lock(self) -> None:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ArtifactError(
                f"{self.path}: cannot create the lock file {self.lock_path} ({exc.strerror}); "
                "choose another --out."
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ArtifactError(
                    f"{self.path}: another process is writing a model there (lock "
                    f"{self.lock_path} is held); wait for it to finish or choose another --out."
                ) from None
            raise ArtifactError(f"{self.lock_path}: cannot lock ({exc.strerror}).") from exc
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _recover_and_clean(self) -> None:
        """Under the lock: put back a model left aside by an interrupted fallback swap, and
        remove staging folders of writers that died (any holder of the lock is gone)."""
        parent = self.path.parent
        asides = sorted(parent.glob(f"{aside_prefix(self.path)}*"), key=os.path.getmtime)
        if asides and not self.path.exists():
            os.rename(asides.pop(), self.path)
        for stale in [*asides, *parent.glob(f"{staging_prefix(self.path)}*")]:
            shutil.rmtree(stale, ignore_errors=True)

    def _check_target(self) -> None:
        if not self.path.exists() or self.overwrite:
            return
        if is_model_dir(self.path):
            raise ArtifactError(
                f"{self.path}: already holds a model; use --overwrite (overwrite=True) to "
                "replace it, or choose another --out."
            )
        if any(self.path.iterdir()):
            raise ArtifactError(
                f"{self.path}: is a folder with other files in it, not a model directory; "
                "choose an empty or new --out, or use --overwrite to replace the folder."
            )

    # -- leaving --------------------------------------------------------------------------
    def _commit(self) -> None:
        _fsync_tree(self.staging)
        if not self.path.exists():
            os.rename(self.staging, self.path)
        elif _exchange(self.staging, self.path):
            shutil.rmtree(self.staging, ignore_errors=True)  # now the old model
        else:
            aside = self.path.parent / (
                f"{aside_prefix(self.path)}{os.getpid()}-{secrets.token_hex(4)}"
            )
            os.rename(self.path, aside)
            os.rename(self.staging, self.path)
            shutil.rmtree(aside, ignore_errors=True)
        with contextlib.suppress(OSError):
            _fsync_dir(self.path.parent)
