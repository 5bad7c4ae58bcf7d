"""Published weights by URL: fetched once into a cache, verified by sha256 on every read.

:func:`fetch` returns a local path for a URL so that every checkpoint, local or remote, is read
by the same safe loader (:func:`mmmeta.checkpoint.read_state_dict`). Where a file is looked
for, in order: the directory named by ``MMMETA_WEIGHTS_MIRROR`` (machines without internet),
the cache (``MMMETA_WEIGHTS_DIR``, else torch.hub's ``<hub dir>/checkpoints``, which mmengine
uses too), then the URL. A download goes to ``<name>.part``, resumes with an HTTP Range request
after an interruption and is renamed into place only once its hash is right.

The expected hash is the one given, else the one :data:`mmmeta.weights.WEIGHTS` records for the
URL: a full sha256 or the prefix the publisher put in the file name. Where none is published,
the digest of the first complete download is recorded next to the file (``<name>.sha256``,
``sha256sum`` format) and later reads must match it (trust on first use).
"""
import contextlib
import hashlib
import http.client
import os
import os.path as osp
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterator, Optional

from .checkpoint_keys import CheckpointError
from .files import atomic_write_text, commit_file
from .weights import WEIGHTS

CACHE_ENV = 'MMMETA_WEIGHTS_DIR'
MIRROR_ENV = 'MMMETA_WEIGHTS_MIRROR'
TIMEOUT_S = 30
CHUNK = 1 << 20
PROGRESS_MIN_BYTES = 32 << 20  # files this big log their progress every 10%
RECORD = '.sha256'  # trust-on-first-use record next to a cached file: <digest>  <name>


class DownloadError(CheckpointError):
    """A weight file that could not be fetched or verified, with where to put it by hand."""


def is_url(path) -> bool:
    return str(path).startswith(('http://', 'https://'))


def cache_dir() -> str:
    """Where downloaded weights live: ``$MMMETA_WEIGHTS_DIR``, else torch.hub's cache."""
    if os.environ.get(CACHE_ENV):
        return osp.expanduser(os.environ[CACHE_ENV])
    import torch.hub
    return osp.join(torch.hub.get_dir(), 'checkpoints')


def file_name(url: str) -> str:
    return osp.basename(urllib.parse.unquote(urllib.parse.urlparse(url).path))


def published_sha256(url: str) -> Optional[str]:
    """The hash :data:`mmmeta.weights.WEIGHTS` records for ``url`` (None: unknown URL or none
    published)."""
    return next((w.sha256 for w in WEIGHTS.values() if w.url == url), None)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(CHUNK), b''):
            digest.update(block)
    return digest.hexdigest()


def resolve(path: str) -> str:
    """A local path for ``path``: fetched first when it is an http(s) URL, else unchanged."""
    return fetch(path) if is_url(path) else path


# ----------------------------------------------------------------------------------------------
# fetch
# ----------------------------------------------------------------------------------------------
def fetch(url: str, sha256: Optional[str] = None, logger: Optional[str] = 'current') -> str:
    """Return a verified local copy of ``url`` (mirror, cache or a new download).

    Every failure (offline, server down, HTTP error, interrupted transfer, wrong hash) raises
    one :class:`DownloadError` sentence naming the URL, the file and where to put it by hand.
    """
    name, directory = file_name(url), cache_dir()
    expected = (sha256 or published_sha256(url) or '').lower() or None
    path = osp.join(directory, name)
    mirror = os.environ.get(MIRROR_ENV)
    if mirror and osp.isfile(osp.join(mirror, name)):
        _verify(osp.join(mirror, name), url, expected, path, logger, mirror=True)
        return osp.join(mirror, name)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as err:
        raise _error(url, f'the cache directory cannot be created ({err.strerror or err})',
                     f'set {CACHE_ENV} to a writable directory') from None
    with _locked(path):  # one download per file, also across processes and ranks
        if not osp.isfile(path):
            _download_verified(url, path, expected, logger)
        else:
            _verify(path, url, expected, path, logger)
    return path


def _download_verified(url: str, path: str, expected: Optional[str], logger) -> None:
    part, want = path + '.part', expected or _read_record(path + RECORD)
    resumed = _download(url, part, logger)
    if resumed and want and not sha256_of(part).startswith(want):
        _log(f'{file_name(url)}: the resumed download does not verify; downloading it again '
             'from the start', logger)
        os.remove(part)
        _download(url, part, logger)
    _verify(part, url, expected, path, logger)
    commit_file(part, path)


def _download(url: str, part: str, logger) -> bool:
    """Download ``url`` into ``part``, continuing a partial file with a Range request.
    Returns whether it resumed."""
    have = osp.getsize(part) if osp.isfile(part) else 0
    try:
        resp, start = _open(url, have)
        with resp:
            length = resp.headers.get('Content-Length')
            total = start + int(length) if length and length.isdigit() else None
            _log(f'downloading {url} to {part}' + (f' (from byte {start})' if start else ''),
                 logger)
            got = _copy(resp, part, start, total, logger)
    except urllib.error.HTTPError as err:
        raise _error(url, f'the server answered HTTP {err.code} {err.reason}') from None
    except urllib.error.URLError as err:
        raise _error(url, f'the server cannot be reached ({_reason(err.reason)})') from None
    except (OSError, http.client.HTTPException) as err:
        got = osp.getsize(part) if osp.isfile(part) else 0
        raise _interrupted(url, part, got, None, _reason(err)) from None
    if total is not None and got < total:
        raise _interrupted(url, part, got, total, 'the connection closed early')
    return start > 0


def _open(url: str, have: int):
    """Open ``url`` from byte ``have`` when the server can; returns (response, start byte).
    From zero when the server ignores Range (200) or the partial file does not fit (416, or
    another range than asked for)."""
    headers = {'User-Agent': 'mmmeta', **({'Range': f'bytes={have}-'} if have else {})}
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            return _open(url, 0)
        raise
    if not have or resp.status != 206:
        return resp, 0
    if resp.headers.get('Content-Range', '').startswith(f'bytes {have}-'):
        return resp, have
    resp.close()
    return _open(url, 0)


def _copy(resp, part: str, have: int, total: Optional[int], logger) -> int:
    """Append the response body to ``part`` (truncated to ``have`` bytes first); return the
    size of ``part``. Big files log their progress."""
    step = total // 10 if total and total >= PROGRESS_MIN_BYTES else None
    with open(part, 'r+b' if have else 'wb') as f:
        f.truncate(have)
        f.seek(have)
        done = have
        for block in iter(lambda: resp.read(CHUNK), b''):
            f.write(block)
            if step and (done + len(block)) // step > done // step:
                _log(f'{osp.basename(part)}: {(done + len(block)) >> 20} of {total >> 20} MiB',
                     logger)
            done += len(block)
    return done


# ----------------------------------------------------------------------------------------------
# verification
# ----------------------------------------------------------------------------------------------
def _verify(file: str, url: str, expected: Optional[str], path: str, logger,
            mirror: bool = False) -> None:
    """Check ``file`` against ``expected`` or, without one, against the digest recorded next
    to the cached ``path`` at the first download (recording it when there is none yet). A
    cache or download file that fails is deleted; a user's ``mirror`` file is not, and is never
    recorded."""
    digest, record = sha256_of(file), path + RECORD
    recorded = None if expected else _read_record(record)
    if (expected and digest.startswith(expected)) or (recorded and digest == recorded):
        return
    if not expected and not recorded:
        if not mirror:
            atomic_write_text(record, f'{digest}  {file_name(url)}\n')
        _log(f'{file_name(url)}: no sha256 is published for {url}; '
             + ('using the mirror file as it is' if mirror else
                f'recorded {digest} in {record} (trust on first use: later reads must match '
                'it)'), logger)
        return
    if expected:
        problem = f'its sha256 is {_short(digest)}, not the published {_short(expected)}'
    else:
        problem = (f'its sha256 {_short(digest)} differs from the {_short(recorded)} recorded '
                   f'at its first download in {record} (delete that record if the published '
                   'file changed on purpose)')
    what = ('the mirror file' if mirror else 'the cached file' if file == path else
            'the downloaded file')
    if not mirror:
        os.remove(file)
    raise _error(url, f'{what} {file} is corrupt or not the published file: {problem}; '
                      + ('replace it' if mirror else 'it was deleted'))


def _short(digest: str) -> str:
    return digest if len(digest) <= 16 else digest[:16] + '...'


def _read_record(record: str) -> Optional[str]:
    try:
        with open(record) as f:
            return f.read().split()[0].lower()
    except (OSError, IndexError):
        return None


# ----------------------------------------------------------------------------------------------
# messages
# ----------------------------------------------------------------------------------------------
def _error(url: str, problem: str, fix: Optional[str] = None) -> DownloadError:
    """One sentence: what failed for ``url``, and where to put the file by hand."""
    name = file_name(url)
    by_hand = (f'download {name} yourself into {cache_dir()} (or into a directory you name '
               f'with {MIRROR_ENV}=DIR)')
    return DownloadError(f'cannot fetch pretrained weights {url}: {problem}. Run again, '
                         f'{fix or by_hand}, or set model.backbone.init_cfg=None to train from '
                         'random weights.')


def _interrupted(url: str, part: str, got: int, total: Optional[int],
                 why: str) -> DownloadError:
    of = f' of {total}' if total else ''
    return _error(url, f'the transfer was interrupted after {got}{of} bytes ({why}); '
                       f'{part} is kept and the next run resumes it')


def _reason(reason) -> str:
    if isinstance(reason, BaseException):
        return getattr(reason, 'strerror', None) or str(reason) or type(reason).__name__
    return str(reason)


def _log(message: str, logger) -> None:
    from mmengine.logging import print_log
    print_log(message, logger=logger)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (POSIX; elsewhere a no-op)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path + '.lock', 'a') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
