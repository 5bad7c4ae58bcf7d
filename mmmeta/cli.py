"""What the tools print when something is wrong: one sentence and a non-zero exit status,
not a traceback (``--verbose`` or ``MMMETA_VERBOSE=1`` shows the traceback as well).

* :func:`run_tool` wraps a tool's entry point and turns the errors users cause (a broken
  checkpoint, a diverged run, an unreadable image, a bad backbone argument, an unknown config
  key) into one ``error: ...`` line via :func:`explain`; anything else keeps its traceback.
* :class:`CfgOptionsAction` checks ``--cfg-options key=value`` items before mmengine parses
  them (no ``=``, unbalanced brackets).
* :func:`load_config_file` names the file and line of a config syntax error.
* :func:`check_config_keys` rejects keys that the class a config section builds does not
  take (``train_cfg.max_itres``), with the nearest valid names.
"""
import ast
import difflib
import inspect
import os
import re
import sys
import traceback
from typing import Any, Callable, Dict, Iterator, List, NoReturn, Optional, Sequence, Tuple

from mmengine.config import DictAction

from .checkpoint_keys import CheckpointError
from .hooks import DivergenceError

VERBOSE_ENV = 'MMMETA_VERBOSE'


def fail(message: str) -> NoReturn:
    """Stop with a one-paragraph message and exit status 1, without a traceback."""
    raise SystemExit(f'error: {message}')


def verbose_requested(argv: Optional[Sequence[str]] = None) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    return '--verbose' in argv or os.environ.get(VERBOSE_ENV, '') not in ('', '0')


# ----------------------------------------------------------------------------------------------
# Exceptions -> one sentence
# ----------------------------------------------------------------------------------------------
def _chain(err: BaseException) -> Iterator[BaseException]:
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _raised_in(err: BaseException, fragment: str) -> bool:
    tb = err.__traceback__
    while tb is not None:
        if fragment in tb.tb_frame.f_code.co_filename.replace(os.sep, '/'):
            return True
        tb = tb.tb_next
    return False


_IMAGE_FAIL = re.compile(r'failed to load image: (\S+)')
_REGISTRY_PREFIX = re.compile(r'^class `(\w+)` in [\w.]+: ')
_UNEXPECTED_KW = re.compile(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")


def explain(err: BaseException) -> Optional[str]:
    """One sentence for an error a user can fix, or None (keep the traceback)."""
    for e in _chain(err):
        if isinstance(e, (CheckpointError, DivergenceError)):
            return _REGISTRY_PREFIX.sub('', str(e)).rstrip('.') + '.'
        if isinstance(e, FileNotFoundError) and 'checkpoint not found' in str(e):
            return str(e)
        found = _IMAGE_FAIL.search(str(e))
        if found:
            return (f'cannot decode image {found.group(1)} (corrupt, truncated or not an '
                    'image): replace or remove it (and its annotation), or skip unreadable '
                    "images on purpose with type='LoadImageFromFileOrSkip' in place of "
                    'LoadImageFromFile in the training pipeline.')
        kw = _UNEXPECTED_KW.search(str(e))
        if kw:
            return (f'{kw.group(1)} got an unknown argument {kw.group(2)!r} from the config '
                    f'({_REGISTRY_PREFIX.sub("", str(e))}); remove or rename that key.')
        if isinstance(e, (ValueError, TypeError, KeyError)) and _raised_in(e, 'mmmeta/models/'):
            return f'bad backbone configuration: {_REGISTRY_PREFIX.sub("", str(e))}'
    return None


def run_tool(entry: Callable[[Optional[Sequence[str]]], Any],
             argv: Optional[Sequence[str]] = None) -> Any:
    """Run a tool's entry point; errors with an explanation exit 1 with one line."""
    try:
        return entry(argv)
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as err:
        message = explain(err)
        if message is None:
            raise
        if verbose_requested(argv):
            traceback.print_exc()
        else:
            message += f' (run with --verbose or {VERBOSE_ENV}=1 for the traceback)'
        print(f'error: {message}', file=sys.stderr, flush=True)
        raise SystemExit(1) from None


# ----------------------------------------------------------------------------------------------
# Config files and --cfg-options
# ----------------------------------------------------------------------------------------------
def _syntax_error_of(path: str) -> Optional[SyntaxError]:
    try:
        with open(path, encoding='utf-8') as f:
            ast.parse(f.read(), filename=path)
    except SyntaxError as err:
        return err
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _base_files(path: str) -> List[str]:
    """The local ``_base_`` files a (syntactically valid) config names."""
    try:
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, UnicodeDecodeError):
        return []
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            for name in [value] if isinstance(value, str) else list(value):
                if isinstance(name, str) and '::' not in name:
                    found.append(os.path.join(os.path.dirname(path), name))
    return found


def find_syntax_error(path: str, seen: Optional[set] = None) -> Optional[SyntaxError]:
    """The first syntax error in ``path`` or, recursively, in its ``_base_`` files."""
    seen = set() if seen is None else seen
    path = os.path.abspath(path)
    if path in seen:
        return None
    seen.add(path)
    err = _syntax_error_of(path)
    if err is not None:
        return err
    for base in _base_files(path):
        err = find_syntax_error(base, seen)
        if err is not None:
            return err
    return None


def load_config_file(path: str):
    """``Config.fromfile`` with one sentence for a syntax error (file and line), in the file
    itself or in one of its ``_base_`` files."""
    from mmengine.config import Config
    try:
        return Config.fromfile(path)
    except SyntaxError as raised:
        err = find_syntax_error(path)
        if err is None:
            fail(f'config {path} (or one of its _base_ files) has a Python syntax error: '
                 f'{raised}.')
    line = (err.text or '').strip()
    fail(f'config file {err.filename} has a Python syntax error on line {err.lineno}: '
         f'{err.msg}{f" (`{line}`)" if line else ""}; fix that line.')


def check_cfg_option(item: str) -> Tuple[str, str]:
    """Split one ``--cfg-options`` item, failing clearly when it is malformed."""
    if '=' not in item:
        fail(f'--cfg-options item {item!r} has no "=": write key=value, e.g. '
             f'{item or "train_cfg.max_iters"}=VALUE (no spaces around "=").')
    key, value = item.split('=', 1)
    if not key or key.startswith('.') or key.endswith('.') or '..' in key:
        fail(f'--cfg-options item {item!r} has an invalid key {key!r}: use dotted config '
             'names such as train_cfg.max_iters=100.')
    for opening, closing in ('()', '[]'):
        if value.count(opening) != value.count(closing):
            fail(f'--cfg-options value of {key} has unbalanced brackets: {value!r} has '
                 f'{value.count(opening)} "{opening}" and {value.count(closing)} "{closing}"; '
                 'quote the whole item and balance them, e.g. key="[1,2]".')
    return key, value


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` with one sentence for malformed items."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values or []:
            check_cfg_option(item)
        super().__call__(parser, namespace, values, option_string)


# ----------------------------------------------------------------------------------------------
# Unknown config keys
# ----------------------------------------------------------------------------------------------
_SPECIAL_KEYS = {'type', '_scope_', '_delete_'}


def _registries() -> Dict[str, Any]:
    from mmengine import registry as r
    return dict(model=r.MODELS, hook=r.HOOKS, loop=r.LOOPS, optim_wrapper=r.OPTIM_WRAPPERS,
                optimizer=r.OPTIMIZERS, sampler=r.DATA_SAMPLERS, metric=r.METRICS)


def _kind_of(path: Tuple) -> Optional[str]:
    """Which registry builds the typed dict at ``path`` (None: not checked). Layer configs
    (``norm_cfg``, ``init_cfg``, ...) and task utilities are not checked: they are consumed
    by builders that take extra keys."""
    top, depth = path[0], len(path)
    if any(isinstance(p, str) and p.endswith('_cfg') for p in path[1:]):
        return None
    if top == 'model' and depth <= 2:
        return 'model'
    if top in ('default_hooks', 'custom_hooks') and depth == 2:
        return 'hook'
    if top in ('train_cfg', 'val_cfg', 'test_cfg') and depth == 1:
        return 'loop'
    if top == 'optim_wrapper':
        return 'optim_wrapper' if depth == 1 else (
            'optimizer' if path[1:] == ('optimizer',) else None)
    if top.endswith('_dataloader') and depth == 2 and path[1] in ('sampler', 'batch_sampler'):
        return 'sampler'
    if top.endswith('_evaluator') and depth <= 2:
        return 'metric'
    return None


def _default_loop(path: Tuple, node: dict):
    from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop, TestLoop, ValLoop
    if path[0] == 'train_cfg':
        return EpochBasedTrainLoop if node.get('by_epoch', True) else IterBasedTrainLoop
    return ValLoop if path[0] == 'val_cfg' else TestLoop


def _class_of(path: Tuple, node: dict, scope: Optional[str]):
    kind = _kind_of(path)
    if kind is None:
        return None
    type_ = node.get('type')
    if type_ is None:
        return _default_loop(path, node) if kind == 'loop' else None
    if not isinstance(type_, str):
        return type_ if inspect.isclass(type_) else None
    registry = _registries()[kind]
    try:
        with registry.switch_scope_and_registry(scope) as reg:
            return reg.get(type_)
    except Exception:  # unknown type: the build reports it
        return None


def _accepted(cls) -> Optional[List[str]]:
    """Keyword names ``cls(...)`` takes, or None when it takes **kwargs (cannot tell)."""
    names = []
    for klass in inspect.getmro(cls):
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        if any(p.kind == p.VAR_KEYWORD for p in params):
            return None
        names += [p.name for p in params if p.name != 'self']
        return names
    return None


def _walk(node: Any, path: Tuple) -> Iterator[Tuple[Tuple, dict]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, path + (key,))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _walk(value, path + (i,))


def check_config_keys(cfg, scope: Optional[str] = None) -> None:
    """Fail with the nearest valid names when a config section has a key the class it builds
    does not take (only classes whose arguments are all named can be checked)."""
    for path, node in _walk(cfg._cfg_dict.to_dict() if hasattr(cfg, '_cfg_dict') else cfg, ()):
        if not path:
            continue
        cls = _class_of(path, node, scope)
        accepted = _accepted(cls) if cls is not None else None
        if accepted is None:
            continue
        accepted = set(accepted) | _SPECIAL_KEYS
        if path[0] == 'train_cfg':
            accepted |= {'by_epoch'}
        if path == ('optim_wrapper',):  # consumed by build_optim_wrapper
            accepted |= {'constructor', 'paramwise_cfg'}
        unknown = [k for k in node if isinstance(k, str) and k not in accepted
                   and k not in ('runner', 'dataloader')]
        if unknown:
            key = unknown[0]
            where = '.'.join(str(p) for p in path)
            near = difflib.get_close_matches(key, sorted(accepted - _SPECIAL_KEYS), n=3)
            hint = (f'did you mean {" or ".join(f"{where}.{n}" for n in near)}?' if near else
                    f'valid names: {", ".join(sorted(accepted - _SPECIAL_KEYS))}.')
            fail(f'unknown config key {where}.{key}: {cls.__name__} takes no argument '
                 f'{key!r}; {hint}')
