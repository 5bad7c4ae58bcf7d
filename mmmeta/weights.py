"""Where each architecture's published ImageNet weights live, and the hash they are checked against.

One row per released file. ``sha256`` is the full digest or the prefix the publisher put in the
file name (the torch.hub / OpenMMLab convention, ``...-f8d83051.pth``); ``None`` where the
publisher gives none (the authors' GitHub and Hugging Face releases) and no copy could be hashed
here: the first download is then recorded next to the file and later reads must match it.
``source`` is the authors' original file when ``url`` is a converted mirror.
"""
from typing import Dict, NamedTuple, Optional


class Weights(NamedTuple):
    url: str
    sha256: Optional[str] = None
    source: Optional[str] = None
    top1: Optional[float] = None  # ImageNet-1k top-1 (%) the authors report (shared/REFERENCE.md)


_V1 = 'https://github.com/sail-sg/poolformer/releases/download/v1.0/'
_MIRROR = 'https://download.openmmlab.com/mmclassification/v0/poolformer/'
_V2 = 'https://huggingface.co/sail/dl/resolve/main/'


def _mirror(arch: str, stamp: str, top1: float) -> Weights:
    size = arch.split('_')[1]
    sha = stamp.split('-')[1]
    return Weights(f'{_MIRROR}poolformer-{size}_3rdparty_32xb128_in1k_{stamp}.pth', sha,
                   f'{_V1}{arch}.pth.tar', top1)


WEIGHTS: Dict[str, Weights] = {
    # PoolFormer v1: OpenMMLab's copies of the authors' files (the ones mmseg's and mmpretrain's
    # PoolFormer configs load), which carry a sha256 prefix in their names.
    'poolformer_s12': _mirror('poolformer_s12', '20220414-f8d83051', 77.2),
    'poolformer_s24': _mirror('poolformer_s24', '20220414-d7055904', 80.3),
    'poolformer_s36': _mirror('poolformer_s36', '20220414-d78ff3e8', 81.4),
    'poolformer_m36': _mirror('poolformer_m36', '20220414-c55e0949', 82.1),
    'poolformer_m48': _mirror('poolformer_m48', '20220414-9378f3eb', 82.5),
    # The v1 paper's ablation models (sail-sg/poolformer models/metaformer.py).
    'metaformer_id_s12': Weights(f'{_V1}metaformer_id_s12.pth.tar', top1=74.3),
    'metaformer_pppa_s12': Weights(f'{_V1}metaformer_pppa_s12_224.pth.tar'),
    'metaformer_ppaa_s12': Weights(f'{_V1}metaformer_ppaa_s12_224.pth.tar', top1=81.0),
    'metaformer_pppf_s12': Weights(f'{_V1}metaformer_pppf_s12_224.pth.tar'),
    'metaformer_ppff_s12': Weights(f'{_V1}metaformer_ppff_s12_224.pth.tar'),
}
# MetaFormer baselines (sail-sg/metaformer), ImageNet-1k at 224.
_V2_TOP1 = {
    'identityformer': dict(s12=74.6, s24=78.2, s36=79.3, m36=80.0, m48=80.4),
    'randformer': dict(s12=76.6, s24=78.2, s36=79.5, m36=81.2, m48=81.4),
    'poolformerv2': dict(s12=78.0, s24=80.7, s36=81.6, m36=82.2, m48=82.6),
    'convformer': dict(s18=83.0, s36=84.1, m36=84.5, b36=84.8),
    'caformer': dict(s18=83.6, s36=84.5, m36=85.2, b36=85.5),
}
for _family, _sizes in _V2_TOP1.items():
    for _size, _top1 in _sizes.items():
        _arch = f'{_family}_{_size}'
        WEIGHTS[_arch] = Weights(f'{_V2}{_family}/{_arch}.pth', top1=_top1)
