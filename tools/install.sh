#!/usr/bin/env bash
# Idempotent installer for mmmeta and the pinned OpenMMLab stack.
#
# Creates a virtual environment (default: ./.venv), installs torch/torchvision first, builds
# mmcv with its compiled ops once per (mmcv, torch, CUDA, Python, platform) and caches the
# wheel, then installs mmengine/mmdet/mmseg/mmpretrain, the test tools and mmmeta (editable).
#
# Variables:
#   VENV=path            virtual environment to create/use (default .venv in the repo)
#   PYTHON=python3       interpreter that creates the venv
#   TORCH_SPEC="..."     torch requirement(s), e.g. "torch==2.4.1 torchvision==0.19.1"
#   TORCH_INDEX_URL=url  extra index for torch builds (e.g. https://download.pytorch.org/whl/cu121)
#   MMMETA_CACHE=dir     wheel cache (default ~/.cache/mmmeta)
#   MMCV_JOBS=n          parallel compile jobs (default: number of cores)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
CACHE="${MMMETA_CACHE:-$HOME/.cache/mmmeta}"
CONSTRAINTS="$ROOT/constraints.txt"

say()  { printf '\033[1m[mmmeta install]\033[0m %s\n' "$*"; }
fail() { printf '\033[31m[mmmeta install] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }
pin()  { grep -E "^$1==" "$CONSTRAINTS" | head -n1 || fail "no pin for $1 in constraints.txt"; }

command -v "$PYTHON" >/dev/null || fail "'$PYTHON' not found. Install Python 3.9-3.11 or set PYTHON=/path/to/python3."

# 1. virtual environment --------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV" || fail "could not create a venv with $PYTHON (on Debian/Ubuntu: apt-get install python3-venv)."
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
"$PY" -c 'import sys; assert sys.version_info >= (3, 8)' || fail "Python >= 3.8 is required in $VENV."

# Everything below is skipped when nothing it depends on changed since the last success.
STAMP="$VENV/.mmmeta-install-stamp"
KEY="$(cat "$CONSTRAINTS" "$ROOT/setup.py" "$0" | sha256sum | cut -c1-16)-${TORCH_SPEC:-default}"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ] && \
   "$PY" -c 'import mmcv._ext, mmmeta' 2>/dev/null; then
  say "environment $VENV is up to date"
  exit 0
fi

# 2. torch first ------------------------------------------------------------------------------
TORCH_SPEC="${TORCH_SPEC:-$(pin torch) $(pin torchvision)}"
TORCH_ARGS=()
[ -n "${TORCH_INDEX_URL:-}" ] && TORCH_ARGS=(--extra-index-url "$TORCH_INDEX_URL")
if ! "$PY" - "$TORCH_SPEC" <<'PY' 2>/dev/null
import sys, importlib.metadata as md
for req in sys.argv[1].split():
    name, _, ver = req.partition('==')
    have = md.version(name)
    assert not ver or have.split('+')[0] == ver.split('+')[0], (name, have, ver)
PY
then
  say "installing $TORCH_SPEC"
  # shellcheck disable=SC2086
  "${PIP[@]}" install $TORCH_SPEC "${TORCH_ARGS[@]}" \
    || fail "could not install '$TORCH_SPEC'. Set TORCH_SPEC (and TORCH_INDEX_URL) to a torch/torchvision pair that exists for your Python and platform."
fi
"$PY" -c 'import torch, torchvision' || fail "torch/torchvision do not import together; choose a matching pair with TORCH_SPEC."

# 3. build tools for mmcv ---------------------------------------------------------------------
"${PIP[@]}" install -q wheel ninja numpy packaging \
  || fail "could not install build tools (wheel, ninja, numpy)."

# 4. pins for everything else: constraints.txt plus the torch/torchvision now installed, so pip
#    can never swap torch (a conflict once made it backtrack to an older one, which broke the
#    compiled mmcv ops) ------------------------------------------------------------------------
REST="$(mktemp)"
grep -vE '^(torch|torchvision)==' "$CONSTRAINTS" > "$REST"
"$PY" -c 'import importlib.metadata as m; [print(f"{n}=={m.version(n)}") for n in ("torch", "torchvision")]' >> "$REST"

# 5. mmcv with compiled ops, cached per torch/CUDA/Python/platform ----------------------------
MMCV_VER="$(pin mmcv | cut -d= -f3)"
TAG="$("$PY" - <<'PY'
import platform, sys, torch
cuda = torch.version.cuda if torch.cuda.is_available() else None
print(f"torch{torch.__version__.replace('+', '_')}-{'cu' + cuda.replace('.', '') if cuda else 'cpu'}"
      f"-cp{sys.version_info[0]}{sys.version_info[1]}-{platform.system().lower()}_{platform.machine()}")
PY
)"
WHEEL_DIR="$CACHE/mmcv-$MMCV_VER/$TAG"
install_mmcv() {  # the wheel with its runtime deps (opencv, ...), then the wheel itself again
  "${PIP[@]}" install -q -c "$REST" "$1" && \
    "${PIP[@]}" install -q --no-deps --force-reinstall "$1"
}
if "$PY" -c "import mmcv, mmcv._ext; assert mmcv.__version__ == '$MMCV_VER'" 2>/dev/null; then
  say "mmcv $MMCV_VER with ops already installed"
else
  if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    say "building mmcv $MMCV_VER with compiled ops for $TAG (about 17 minutes on 2 cores; cached afterwards)"
    # mmcv's setup.py imports pkg_resources; the runtime setuptools pin is restored in step 6.
    "${PIP[@]}" install -q 'setuptools<70' || fail "could not install setuptools<70 for the mmcv build."
    BUILD="$(mktemp -d)"
    trap 'rm -rf "$BUILD"' EXIT
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_VER" -d "$BUILD" \
      || fail "could not download the mmcv $MMCV_VER source from PyPI (network?)."
    tar -xzf "$BUILD"/mmcv-"$MMCV_VER".tar.gz -C "$BUILD"
    SRC="$BUILD/mmcv-$MMCV_VER"
    # torch >= 2.10 headers need C++20; mmcv's setup.py hard-codes -std=c++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
    ( cd "$SRC" && MMCV_WITH_OPS=1 MAX_JOBS="${MMCV_JOBS:-$(nproc)}" \
        "${PIP[@]}" wheel -q --no-build-isolation --no-deps --no-cache-dir . -w "$BUILD/out" ) \
      || fail "building mmcv failed (see the compiler output above). It needs gcc/g++ >= 10 and the Python headers (apt-get install build-essential python3-dev)."
    mkdir -p "$WHEEL_DIR" && cp "$BUILD"/out/mmcv-*.whl "$WHEEL_DIR/"  # kept even if a later step fails
  else
    say "installing the cached mmcv wheel from $WHEEL_DIR"
  fi
  install_mmcv "$(ls "$WHEEL_DIR"/mmcv-*.whl | head -n1)" \
    || fail "could not install the mmcv wheel from $WHEEL_DIR; delete that folder and re-run."
  "$PY" -c 'import mmcv._ext' \
    || fail "mmcv's compiled ops do not import (see above); delete $WHEEL_DIR and re-run to rebuild them."
fi

# 6. the rest of the stack, test tools (openmim too) and mmmeta (editable) ------------------
say "installing mmengine, mmdet, mmsegmentation, mmpretrain, test tools and mmmeta"
"${PIP[@]}" install -q -c "$REST" "$(pin setuptools)" -e "$ROOT[tests]" \
  || fail "installing the OpenMMLab packages failed; see pip's message above."
rm -f "$REST"
# The start-up hook that lets the stock mmdet/mmseg/mmpretrain tools (which never import mmmeta)
# load mmengine checkpoints under torch's weights_only default: a wheel install carries it, an
# editable one does not (see _mmmeta_safe_load.py).
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cp "$ROOT/mmmeta-safe-load.pth" "$SITE/" || fail "could not write $SITE/mmmeta-safe-load.pth."

# 7. verify -----------------------------------------------------------------------------------
say "verifying imports"
"$PY" - <<'PY' || fail "the import check failed (see above)."
import sys, _mmmeta_safe_load as hook  # noqa: E401  (the start-up hook of mmmeta-safe-load.pth)
assert any(isinstance(f, hook._AfterCheckpointModule) for f in sys.meta_path), 'no start-up hook'
import torch
import mmcv._ext  # noqa: F401  compiled ops
from mmcv.ops import nms, RoIAlign
import mmdet.models, mmseg.models, mmpretrain.models  # noqa: F401
import mmmeta
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [50., 50., 60., 60.]])
_, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
assert keep.tolist() == [0, 2], keep
feat = RoIAlign((2, 2), 1.0, 0)(torch.ones(1, 1, 8, 8), torch.tensor([[0., 0., 0., 4., 4.]]))
assert feat.shape == (1, 1, 2, 2)
print('torch', torch.__version__, '| mmcv', mmcv.__version__, '| mmmeta', mmmeta.__version__, '| ok')
PY
echo "$KEY" > "$STAMP"
say "done: activate with 'source $VENV/bin/activate'"
