"""Where a sweep's files live, and how they are written: RUN_DIR on a local disk or behind a URI
(s3://, gs://, file://, ...), through pyarrow's filesystems.

    RUN_DIR/sweep.yaml, environment.json        the resolved sweep and the machines it ran on
    RUN_DIR/results/<table>.parquet/            the result tables (raycnn.sweep.results)
    RUN_DIR/tensorboard/<trial name>/           one TensorBoard run per trial (folder storage)
    RUN_DIR/checkpoints/<trial id>/epoch-NNNNN/ a trial's last two checkpoints, written by the trial
    RUN_DIR/<trial label>/                      Ray Tune's folder for the trial
    $TMPDIR/raycnn-work/<run key>/<trial id>/   a trial's scratch folder on its node (removed by the sweep)

Clusters keep runs in shared storage; the driver writes the run files there the same way it writes
them to a local folder. Local writes are atomic (write, rename); object stores replace whole objects.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raycnn.atomic import aside, written_whole
from raycnn.errors import ConfigError

RESULTS = "results"          # RUN_DIR/results/<table>.parquet
TENSORBOARD = "tensorboard"  # RUN_DIR/tensorboard/<trial name>/
CHECKPOINTS = "checkpoints"  # RUN_DIR/checkpoints/<trial id>/epoch-NNNNN/
WORK = "raycnn-work"         # $TMPDIR/raycnn-work/<run key>/<trial id>/ on each node
MIN_FREE_BYTES = 64 * 2**20  # less free space than this where runs are stored: refused before Ray starts
STORAGE_FULL = (errno.ENOSPC, errno.EDQUOT)   # a write failed for want of space (or quota)


def shared_board(run_dir: str) -> str | None:
    """RUN_DIR/tensorboard, where every trial writes its TensorBoard run; None with a bucket, where each
    trial writes into its own folder and Tune syncs it."""
    return None if "://" in run_dir else f"{run_dir}/{TENSORBOARD}"


def tensorboard_logdir(run_dir: str) -> str:
    """The --logdir that shows every trial of the sweep."""
    return shared_board(run_dir) or run_dir


def run_work_root(run_dir: str) -> Path:
    """This node's scratch folder for one sweep's trials: the same on every resume, its own per sweep."""
    key = hashlib.sha1(run_dir.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / WORK / f"{Path(run_dir).name[:40]}-{key}"


def remove_work_root(run_dir: str) -> bool:
    """Remove this node's scratch folders of the sweep (what killed or stopped trials left); True if any."""
    root = run_work_root(run_dir)
    found = root.exists()
    shutil.rmtree(root, ignore_errors=True)
    return found


class RunStorage:
    def __init__(self, location: str):
        if "://" in location:
            self.fs, self.root = pafs.FileSystem.from_uri(location)
            self.location = location.rstrip("/")
        else:
            self.fs, self.root = pafs.LocalFileSystem(), str(Path(location).expanduser().resolve())
            self.location = self.root
        self.local = isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, relative: str) -> str:
        return f"{self.root.rstrip('/')}/{relative}"

    def exists(self, relative: str) -> bool:
        return self.fs.get_file_info(self.path(relative)).type != pafs.FileType.NotFound

    def is_folder(self, relative: str) -> bool:
        return self.fs.get_file_info(self.path(relative)).type == pafs.FileType.Directory

    def list_files(self, folder: str, suffix: str = ".parquet") -> list[str]:
        """Names of the finished files in a folder (none half-written), sorted."""
        if not self.is_folder(folder):
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path(folder)))
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.File
                      and i.base_name.endswith(suffix) and not i.base_name.startswith((".", "_")))

    def delete(self, relative: str) -> None:
        try:
            self.fs.delete_file(self.path(relative))
        except FileNotFoundError:
            pass

    def list_folders(self, folder: str) -> list[str]:
        """Names of the finished subfolders of a folder (none being written), sorted."""
        if not self.is_folder(folder):
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path(folder)))
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory
                      and not i.base_name.startswith((".", "_")))

    def put_folder(self, local: Path, relative: str) -> None:
        """Copy a local folder to RELATIVE. On a disk it appears whole: copied under a hidden name, each file
        fsync'd, then renamed (a folder of that name already there is replaced). On a bucket, file by file."""
        target = self.path(relative)
        if not self.local:
            self.fs.create_dir(target, recursive=True)
            pafs.copy_files(str(local), target, destination_filesystem=self.fs)
            return
        partial = aside(target)
        try:
            shutil.copytree(local, partial)
            for path in partial.iterdir():
                with open(path, "rb+") as stream:
                    os.fsync(stream.fileno())
            shutil.rmtree(target, ignore_errors=True)
            os.replace(partial, target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise

    def get_folder(self, relative: str, local: Path) -> None:
        """Copy RELATIVE into a new local folder."""
        if self.local:
            shutil.copytree(self.path(relative), local)
        else:
            local.mkdir(parents=True)
            pafs.copy_files(self.path(relative), str(local), source_filesystem=self.fs)

    def delete_folder(self, relative: str) -> None:
        try:
            self.fs.delete_dir(self.path(relative))
        except FileNotFoundError:
            pass

    def remove_partial_folders(self, folder: str) -> None:
        """Remove what a killed `put_folder` left in a folder (hidden, never read)."""
        if self.local and self.is_folder(folder):
            for path in Path(self.path(folder)).glob(".*.tmp"):
                shutil.rmtree(path, ignore_errors=True)

    def read_text(self, relative: str) -> str:
        with self.fs.open_input_stream(self.path(relative)) as stream:
            return stream.read().decode()

    def write_text(self, relative: str, text: str) -> None:
        self._write(relative, lambda target: _stream_text(self.fs, target, text))

    def write_table(self, relative: str, table: pa.Table) -> None:
        self._write(relative, lambda target: pq.write_table(table, target, filesystem=self.fs))

    def read_table(self, relative: str, schema: pa.Schema | None = None) -> pa.Table | None:
        """A Parquet file, or a folder of them (one dataset); None when there is neither."""
        if not self.exists(relative):
            return None
        return pq.read_table(self.path(relative), filesystem=self.fs, schema=schema)

    def _write(self, relative: str, write) -> None:
        target = self.path(relative)
        self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        if not self.local:          # object stores replace whole objects: no torn reads
            write(target)
            return
        with written_whole(target) as partial:     # a full disk leaves the previous file, and no half one
            write(str(partial))


def is_storage_full(err: BaseException | str) -> bool:
    """A write failed because the disk (or the quota) is full, whatever layer raised it (or its message)."""
    if isinstance(err, OSError) and err.errno in STORAGE_FULL:
        return True
    text = str(err).lower()
    return "no space left on device" in text or "disk quota exceeded" in text


def check_writable(storage: RunStorage, what: str) -> None:
    """Refuse, before any work, a local storage folder whose parent is missing, that cannot be written,
    or whose disk is (nearly) full; a bucket is checked by its first write."""
    if not storage.local:
        return
    root = Path(storage.root)
    if not root.exists() and not root.parent.is_dir():
        raise ConfigError(f"{what} {root}: its parent folder {root.parent} does not exist (a typo, or a disk that "
                          f"is not mounted?); create it with mkdir -p {root}, or pass --storage FOLDER")
    probe = root / f".raycnn-write-check-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as stream:
            stream.write(b"raycnn")
            os.fsync(stream.fileno())
    except OSError as err:
        raise ConfigError(f"{what} {root} cannot be written ({err.strerror or err}); pass --storage with a "
                          f"folder you can write") from None
    finally:
        probe.unlink(missing_ok=True)
    free = shutil.disk_usage(root).free
    if free < MIN_FREE_BYTES:
        raise ConfigError(f"{what} {root}: its disk has {free / 2**20:.1f} MB free, and a sweep needs at least "
                          f"{MIN_FREE_BYTES // 2**20} MB (checkpoints, tables, TensorBoard); free some space or "
                          f"pass --storage FOLDER on another disk")


def _stream_text(fs: pafs.FileSystem, target: str, text: str) -> None:
    with fs.open_output_stream(target) as stream:
        stream.write(text.encode())
