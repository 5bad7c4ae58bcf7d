"""Reading checkpoint files with one clear sentence for every broken file, and writing them
so that a crash never leaves a partial file under a checkpoint's name.

Every entry that reads a checkpoint goes through :func:`load_checkpoint_file`: a backbone's
``init_cfg`` (via :func:`mmmeta.checkpoint.read_state_dict`), ``load_from``, ``--resume`` and
``tools/test.py CHECKPOINT`` (mmengine's ``CheckpointLoader`` for local paths is replaced by
:func:`load_from_local` on import of mmmeta), and ``tools/convert_checkpoint.py``. Files are
sniffed before they are parsed, so an empty, truncated or foreign file (an image, a JSON or
HTML page saved under a ``.pth`` name) is named as such instead of as an ``EOFError`` or an
unpickling error. Nothing here ever unpickles code: torch files are read with
``weights_only=True`` (plus the allow-list of :mod:`mmmeta.compat`).

Writing: :func:`atomic_write` writes to a temporary file in the same directory, flushes and
fsyncs it, and ``os.replace``-s it into place (atomic on POSIX), then fsyncs the directory.
"""
import contextlib
import json
import os
import os.path as osp
import pickle
import re
import struct
import tempfile
import zipfile
from typing import Any, Callable, Iterator, List, Optional

import torch

from .checkpoint_keys import CheckpointError

# Temporary files of atomic_write: hidden, and never matched by the checkpoint globs.
TMP_PREFIX = '.tmp-'
CKPT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')
RESAVE_HINT = ('If you trust the file, re-save only its weights from the code that made it, '
               'e.g. `torch.save({"state_dict": model.state_dict()}, new_path)` or '
               '`safetensors.torch.save_file(model.state_dict(), new_path)`, and use the new '
               'file')


class CheckpointFileError(CheckpointError):
    """A checkpoint file that cannot be read, with what is wrong and what to do."""


# ----------------------------------------------------------------------------------------------
# What a file is
# ----------------------------------------------------------------------------------------------
_SIGNATURES = (
    (b'\x89PNG\r\n\x1a\n', 'a PNG image'),
    (b'\xff\xd8\xff', 'a JPEG image'),
    (b'GIF8', 'a GIF image'),
    (b'BM', 'a BMP image'),
    (b'%PDF', 'a PDF document'),
    (b'\x1f\x8b', 'a gzip archive (unpack it first)'),
    (b'7z\xbc\xaf', 'a 7-zip archive (unpack it first)'),
    (b'Rar!', 'a RAR archive (unpack it first)'),
    (b'\x93NUMPY', 'a NumPy .npy array'),
    (b'\x89HDF', 'an HDF5 file (Keras/TensorFlow weights?)'),
    (b'version https://git-lfs', 'a Git LFS pointer (run `git lfs pull` to fetch the file)'),
)


def _sniff(head: bytes) -> Optional[str]:
    """Name a non-checkpoint file from its first bytes (None: might be a checkpoint)."""
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            return what
    text = head.lstrip()
    if text[:1] == b'<':
        return 'an HTML/XML page (a failed download?)'
    if text[:1] in (b'{', b'['):
        return 'a JSON/text file'
    if head and all(32 <= c < 127 or c in (9, 10, 13) for c in head[:64]):
        return 'a text file'
    return None


def _is_safetensors(path: str, head: bytes) -> bool:
    if path.endswith('.safetensors'):
        return True
    if len(head) < 9:
        return False
    (size,) = struct.unpack('<Q', head[:8])
    return 0 < size < 100_000_000 and head[8:9] == b'{'


def _safetensors_problem(path: str, file_size: int) -> Optional[str]:
    """Why a .safetensors file is unreadable (None: header and size are consistent)."""
    with open(path, 'rb') as f:
        raw = f.read(8)
        if len(raw) < 8:
            return f'it is only {file_size} bytes, shorter than a safetensors header'
        (size,) = struct.unpack('<Q', raw)
        if size > file_size - 8:
            return (f'its header claims {size} bytes but the file has {file_size}: it is '
                    'truncated or corrupt')
        try:
            header = json.loads(f.read(size))
        except ValueError:
            return 'its header is not valid JSON: the file is corrupt'
    ends = [v['data_offsets'][1] for k, v in header.items()
            if k != '__metadata__' and isinstance(v, dict) and 'data_offsets' in v]
    expected = 8 + size + max(ends, default=0)
    if file_size < expected:
        return (f'it is truncated: {file_size} bytes of the {expected} its header describes '
                '(an interrupted download or copy)')
    return None


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint file, cheaply (no tensor is read).

    None when it looks complete: a torch zip archive whose central directory (at the very end
    of the file) is readable, a safetensors file whose size matches its header, or a legacy
    torch pickle. Used to tell complete checkpoints from ones cut short by a crash.
    """
    if not osp.isfile(path):
        return 'it does not exist'
    size = osp.getsize(path)
    if size == 0:
        return 'it is empty (0 bytes)'
    with open(path, 'rb') as f:
        head = f.read(64)
    if head.startswith(b'PK'):
        try:
            with zipfile.ZipFile(path) as archive:
                archive.namelist()
        except (zipfile.BadZipFile, OSError, EOFError):
            return (f'it is a truncated or damaged torch file ({size} bytes, without the zip '
                    'directory a complete one ends with): the save or copy that wrote it was '
                    'interrupted')
        return None
    if _is_safetensors(path, head):
        return _safetensors_problem(path, size)
    if head[:1] == b'\x80':  # pickle protocol 2+: torch's legacy (non-zip) format
        return None
    what = _sniff(head)
    return f'it is {what}, not a checkpoint' if what else (
        f'it is not a torch or safetensors file (starts with {head[:8]!r})')


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------
def _fail(path: str, source: str, problem: str, fix: str) -> CheckpointFileError:
    where = f' ({source})' if source else ''
    return CheckpointFileError(f'cannot use checkpoint {path}{where}: {problem}. {fix}.')


_FIX_DAMAGED = ('Download or copy it again; for a checkpoint of an interrupted training run, '
                'resume with `--resume` (it falls back to the newest complete checkpoint)')
_FIX_FOREIGN = ('Point it at a .pth/.pth.tar file written by torch.save or tools/train.py, or a '
                '.safetensors file')


def load_checkpoint_file(path: str, map_location: Any = 'cpu', source: str = '') -> Any:
    """Read a checkpoint safely; every unreadable file raises one :class:`CheckpointFileError`
    sentence naming the problem and the fix. ``source`` says where the path came from
    (e.g. ``'load_from'``). Returns what the file holds (a dict for every checkpoint)."""
    path = osp.expanduser(str(path))
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'checkpoint not found: {path}{f" ({source})" if source else ""}. Check the path, '
            'or train first with tools/train.py, which writes checkpoints into the work '
            'directory.')
    problem = checkpoint_problem(path)
    if problem:
        foreign = problem.endswith('not a checkpoint') or problem.startswith('it is not a')
        fix = _FIX_FOREIGN if foreign else _FIX_DAMAGED
        raise _fail(path, source, problem, fix)
    with open(path, 'rb') as f:
        head = f.read(64)
    if _is_safetensors(path, head):
        from safetensors.torch import load_file
        device = map_location if isinstance(map_location, str) else 'cpu'
        try:
            return load_file(path, device=device)
        except Exception as err:  # SafetensorError and friends: one line of theirs
            raise _fail(path, source, f'the safetensors file is damaged ({_first_line(err)})',
                        _FIX_DAMAGED) from None
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise _fail(path, source,
                    'it holds pickled Python objects other than tensors and plain data '
                    f'({_refused_what(err)}), and mmmeta never runs pickled code',
                    RESAVE_HINT) from None
    except Exception as err:  # damaged inside (a bad zip member, a cut legacy pickle)
        raise _fail(path, source, f'it is damaged ({type(err).__name__}: {_first_line(err)})',
                    _FIX_DAMAGED) from None


def _refused_what(err: BaseException) -> str:
    """What torch's safe unpickler refused, without its advice to load unsafely."""
    found = re.search(r'(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)', str(err))
    if found:
        return f'a reference to {found.group(1)}'
    found = re.search(r'(Unsupported operand \d+|Unsupported class [\w.]+)', str(err))
    return found.group(1) if found else 'refused by the safe unpickler'


def _first_line(err: BaseException, last: bool = False) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    line = lines[-1] if last else lines[0]
    return line[:300]


def load_from_local(filename: str, map_location: Any = None) -> Any:
    """mmengine ``CheckpointLoader`` scheme for local paths: :func:`load_checkpoint_file`."""
    return load_checkpoint_file(filename, 'cpu' if map_location is None else map_location)


def register_checkpoint_loader() -> None:
    """Make mmengine read local checkpoints (load_from, resume, Pretrained init) through
    :func:`load_from_local` (the name matters: mmengine logs ``name[10:]`` as the backend)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------
def fsync_dir(directory: str) -> None:
    """Persist a rename in ``directory`` (no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_file(path: str) -> None:
    with open(path, 'rb+') as f:
        f.flush()
        os.fsync(f.fileno())


def temp_path_for(path: str) -> str:
    """A fresh temporary name next to ``path`` (same directory, so os.replace is atomic)."""
    directory, name = osp.split(osp.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f'{TMP_PREFIX}{name}.', dir=directory)
    os.close(fd)
    return tmp


def commit_file(tmp: str, path: str) -> None:
    """fsync ``tmp``, rename it to ``path`` atomically, fsync the directory."""
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(osp.dirname(osp.abspath(path)))


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """``write(tmp_path)`` then commit to ``path``; on any error the temp file is removed and
    ``path`` is untouched."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = temp_path_for(path)
    try:
        write(tmp)
        commit_file(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, 'w') as f:
            f.write(text)
    atomic_write(path, write)


# ----------------------------------------------------------------------------------------------
# Finding what to resume from
# ----------------------------------------------------------------------------------------------
def checkpoints_in(directory: str) -> List[str]:
    """``epoch_N.pth`` / ``iter_N.pth`` files in ``directory``, newest (largest N, then latest
    modification) first."""
    if not osp.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        m = CKPT_NAME.match(name)
        if m:
            path = osp.join(directory, name)
            found.append((int(m.group(2)), osp.getmtime(path), path))
    return [p for _, _, p in sorted(found, reverse=True)]


def stale_temp_files(directory: str) -> Iterator[str]:
    if osp.isdir(directory):
        for name in os.listdir(directory):
            if name.startswith(TMP_PREFIX):
                yield osp.join(directory, name)
