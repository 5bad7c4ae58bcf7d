"""Weights by URL (:mod:`mmmeta.download`) against a loopback HTTP server started here: one
request then the cache, the mirror, published and first-use hashes, resumed transfers, and one
sentence for every failure. No test touches the network."""
import hashlib
import http.server
import io
import os
import socket
import threading

import pytest
import torch
from mmengine.config import Config

from mmmeta import MetaFormer, launch
from mmmeta.download import CACHE_ENV, MIRROR_ENV, DownloadError, fetch
from mmmeta.registry import MODELS
from mmmeta.weights import WEIGHTS, Weights

TINY = dict(arch='poolformer_s12', depths=(1, 1, 1, 1), dims=(8, 16, 32, 64))
NAME = 'tiny-poolformer_20220414-{}.pth'  # a hash-stamped name, as OpenMMLab's files


class Server(http.server.ThreadingHTTPServer):
    """Serves ``files`` (name -> bytes) with Range support; ``cut`` sends half a body then
    closes; ``ignore_range`` answers every request with the whole file (200)."""

    def __init__(self):
        super().__init__(('127.0.0.1', 0), Handler)
        self.files, self.requests = {}, []
        self.cut = self.ignore_range = False

    def url(self, name: str) -> str:
        return f'http://127.0.0.1:{self.server_address[1]}/weights/{name}'


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        srv, rng = self.server, self.headers.get('Range')
        name = self.path.rsplit('/', 1)[-1]
        srv.requests.append((name, rng))
        if name not in srv.files:
            return self.send_error(404)
        data, start = srv.files[name], 0
        if rng and not srv.ignore_range:
            start = int(rng[len('bytes='):-1])
            self.send_response(206)
            self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if srv.cut:
            srv.cut = False
            body = body[:len(body) // 2]
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def weights():
    """A real mmmeta-layout state dict (tiny PoolFormer) and its file's bytes."""
    torch.manual_seed(0)
    state = MetaFormer(**TINY).state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    return state, buf.getvalue()


@pytest.fixture
def server(weights, tmp_path, monkeypatch):
    """The loopback server holding the tiny file under a hash-stamped name that WEIGHTS
    lists; the weights cache in tmp_path, no mirror."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / 'cache'))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    data = weights[1]
    srv.name = NAME.format(hashlib.sha256(data).hexdigest()[:8])
    srv.files[srv.name] = data
    srv.cache = tmp_path / 'cache'
    monkeypatch.setitem(WEIGHTS, 'tiny', Weights(srv.url(srv.name), srv.name[-12:-4]))
    yield srv
    srv.shutdown()
    srv.server_close()


def error_of(call, *args) -> str:
    """The message of the DownloadError ``call`` raises: one line, no urllib exception behind."""
    with pytest.raises(DownloadError) as exc:
        call(*args)
    err = exc.value
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    msg = str(err)
    assert '\n' not in msg and 'Traceback' not in msg
    return msg


def assert_says_where_to_put_it(msg: str, url: str, cache) -> None:
    assert url in msg and url.rsplit('/', 1)[-1] in msg
    assert str(cache) in msg and MIRROR_ENV in msg


# ------------------------------------------------------------------------------------ cache
@pytest.mark.unit
def test_downloads_once_then_reads_the_cache(server, weights):
    url = server.url(server.name)
    path = fetch(url)
    assert path == str(server.cache / server.name)
    assert open(path, 'rb').read() == weights[1]
    assert fetch(url) == path
    assert server.requests == [(server.name, None)]  # the second call made no request
    assert sorted(os.listdir(server.cache)) == [server.name, server.name + '.lock']


@pytest.mark.unit
def test_wrong_hash_is_one_sentence_and_leaves_nothing(server, weights):
    server.files[server.name] = bytes([weights[1][0] ^ 1]) + weights[1][1:]
    url = server.url(server.name)
    msg = error_of(fetch, url)
    assert 'not the published' in msg and 'deleted' in msg
    assert_says_where_to_put_it(msg, url, server.cache)
    assert not [n for n in os.listdir(server.cache) if not n.endswith('.lock')]
    # a cached file damaged later is refused and deleted too; the next call fetches it again
    server.files[server.name] = weights[1]
    path = fetch(url)
    with open(path, 'r+b') as f:
        f.write(b'\0')
    assert 'not the published' in error_of(fetch, url) and not os.path.exists(path)
    assert open(fetch(url), 'rb').read() == weights[1]


# ------------------------------------------------------------------------------------ resume
@pytest.mark.unit
@pytest.mark.parametrize('ignore_range', [False, True])
def test_interrupted_transfer_resumes(server, weights, ignore_range):
    url, size = server.url(server.name), len(weights[1])
    server.cut = True
    msg = error_of(fetch, url)
    part = server.cache / (server.name + '.part')
    assert f'interrupted after {size // 2} of {size} bytes' in msg and str(part) in msg
    assert part.stat().st_size == size // 2
    server.ignore_range = ignore_range  # then the whole file comes again, from byte 0
    path = fetch(url)
    assert open(path, 'rb').read() == weights[1] and not part.exists()
    assert server.requests[-1] == (server.name, f'bytes={size // 2}-')


@pytest.mark.unit
def test_inconsistent_partial_file_starts_again(server, weights):
    """A .part that is not a prefix of the file fails the hash after resuming: it is
    downloaded again from the start."""
    server.cache.mkdir()
    (server.cache / (server.name + '.part')).write_bytes(b'x' * 100)
    assert open(fetch(server.url(server.name)), 'rb').read() == weights[1]
    assert server.requests == [(server.name, 'bytes=100-'), (server.name, None)]


# ------------------------------------------------------------------------------------ failures
@pytest.mark.unit
def test_server_down_and_http_errors(server):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    url = f'http://127.0.0.1:{port}/weights/{server.name}'
    msg = error_of(fetch, url)
    assert 'cannot be reached (Connection refused)' in msg
    assert_says_where_to_put_it(msg, url, server.cache)
    url = server.url('gone.pth')
    msg = error_of(fetch, url)
    assert 'HTTP 404' in msg
    assert_says_where_to_put_it(msg, url, server.cache)


@pytest.mark.unit
def test_training_fetches_before_building_the_model(server):
    """launch.check_pretrained fetches URLs up front; a failure is one `error:` line."""
    url = server.url(server.name)
    cfg = Config(dict(model=dict(backbone=dict(
        type='MetaFormer', init_cfg=dict(type='Pretrained', checkpoint=url)))))
    launch.check_pretrained(cfg)
    assert (server.cache / server.name).is_file()
    cfg.model.backbone.init_cfg.checkpoint = server.url('gone.pth')
    with pytest.raises(SystemExit) as exc:
        launch.check_pretrained(cfg)
    assert str(exc.value).startswith('error: cannot fetch pretrained weights')


# ------------------------------------------------------------------------------------ mirror
@pytest.mark.unit
def test_mirror_directory_is_used_without_a_request(server, weights, tmp_path, monkeypatch):
    mirror = tmp_path / 'mirror'
    mirror.mkdir()
    (mirror / server.name).write_bytes(weights[1])
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    url = server.url(server.name)
    assert fetch(url) == str(mirror / server.name)
    assert server.requests == []
    (mirror / server.name).write_bytes(weights[1][:-1])  # a bad mirror file is named, not deleted
    assert 'not the published' in error_of(fetch, url) and (mirror / server.name).exists()


# ------------------------------------------------------------------------------------ no hash
@pytest.mark.unit
def test_first_download_is_recorded_and_checked(server, weights):
    """Trust on first use: without a published hash the first download's sha256 is recorded
    next to the file; a file that differs later (changed in the cache or on the server) is
    refused."""
    name = 'unpublished.pth'
    server.files[name], url = weights[1], server.url(name)
    path = fetch(url)
    record = server.cache / (name + '.sha256')
    assert record.read_text() == f'{hashlib.sha256(weights[1]).hexdigest()}  {name}\n'
    with open(path, 'ab') as f:
        f.write(b'\0')
    msg = error_of(fetch, url)
    assert str(record) in msg and 'first download' in msg and not os.path.exists(path)
    assert fetch(url) == path  # downloaded again: it matches the record
    os.remove(path)
    server.files[name] = weights[1] + b'\0'  # the server's file changed
    assert str(record) in error_of(fetch, url) and not os.path.exists(path)


# ------------------------------------------------------------------------------------ end to end
@pytest.mark.unit
def test_init_weights_loads_a_url(server, weights):
    """A backbone config whose init_cfg names a URL is fetched and loaded through the same
    safe loader as a local file."""
    url = server.url(server.name)
    model = MODELS.build(dict(type='MetaFormer', **TINY,
                              init_cfg=dict(type='Pretrained', checkpoint=url)))
    model.init_weights()
    got = model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in weights[0].items())
    assert len(server.requests) == 1
