"""RUN_DIR on a local disk or behind a URI (s3://, gs://, file://, ...), through pyarrow's filesystems.

Clusters keep runs in shared storage; the driver writes sweep.yaml, environment.json and the result
tables there the same way it writes them to a local folder. Local writes are atomic (write, rename).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

RESULTS = "results"  # RUN_DIR/results/*.parquet


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

    def write_text(self, relative: str, text: str) -> None:
        self._write(relative, lambda target: _stream_text(self.fs, target, text))

    def write_table(self, relative: str, table: pa.Table) -> None:
        self._write(relative, lambda target: pq.write_table(table, target, filesystem=self.fs))

    def read_table(self, relative: str) -> pa.Table | None:
        if not self.exists(relative):
            return None
        return pq.read_table(self.path(relative), filesystem=self.fs)

    def _write(self, relative: str, write) -> None:
        target = self.path(relative)
        self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        if not self.local:          # object stores replace whole objects: no torn reads
            write(target)
            return
        partial = f"{target}.{os.getpid()}-{uuid.uuid4().hex[:6]}.tmp"
        write(partial)
        os.replace(partial, target)


def _stream_text(fs: pafs.FileSystem, target: str, text: str) -> None:
    with fs.open_output_stream(target) as stream:
        stream.write(text.encode())
