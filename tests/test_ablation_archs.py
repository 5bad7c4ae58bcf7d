"""The v1 paper's ablation models (sail-sg/poolformer ``models/metaformer.py``) are exact.

``AuthorsMetaFormer`` below is rebuilt from the authors' published structure (module names,
order of the ``network`` list, norms, attention formula, init) independently of mmmeta's code.
A file in their layout loads into ``MetaFormer('metaformer_*_s12')`` with every backbone tensor,
and the stage maps agree within 1e-5 relative at 224x224.
"""
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmmeta import MetaFormer
from mmmeta.checkpoint import load_pretrained
from mmmeta.models.layers import PositionEmbedding


# ------------------------------------------------------------------ the authors' structure
class LayerNormChannel(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(dim)), \
            nn.Parameter(torch.zeros(dim)), eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GroupNorm(nn.GroupNorm):
    def __init__(self, dim):
        super().__init__(1, dim)


class Pool(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)

    def forward(self, x):
        return self.pool(x) - x


class Attn(nn.Module):
    def __init__(self, dim, head_dim=32):
        super().__init__()
        self.heads, self.hd = dim // head_dim, head_dim
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        q, k, v = self.qkv(t).reshape(b, h * w, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
        a = ((q * self.hd ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        t = self.proj((a @ v).transpose(1, 2).reshape(b, h * w, c))
        return t.transpose(1, 2).reshape(b, c, h, w)


class SpatialFc(nn.Module):
    def __init__(self, dim, grid):
        super().__init__()
        self.fc = nn.Linear(grid * grid, grid * grid, bias=False)

    def forward(self, x):
        return self.fc(x.flatten(2)).reshape(x.shape)


class Ident(nn.Module):
    def __init__(self, dim):
        super().__init__()

    def forward(self, x):
        return x


class PosEmb(nn.Module):
    def __init__(self, dim, grid):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, dim, grid, grid))

    def forward(self, x):
        return x + self.pos_embed


class Mlp(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Conv2d(dim, 4 * dim, 1), nn.GELU(), \
            nn.Conv2d(4 * dim, dim, 1)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, mixer, norm):
        super().__init__()
        self.norm1, self.token_mixer, self.norm2, self.mlp = norm(dim), mixer(dim), norm(dim), \
            Mlp(dim)
        self.layer_scale_1 = nn.Parameter(1e-5 * torch.ones(dim))
        self.layer_scale_2 = nn.Parameter(1e-5 * torch.ones(dim))

    def forward(self, x):
        x = x + self.layer_scale_1[:, None, None] * self.token_mixer(self.norm1(x))
        return x + self.layer_scale_2[:, None, None] * self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, cin, cout, k, s, p):
        super().__init__()
        self.proj = nn.Conv2d(cin, cout, k, s, p)

    def forward(self, x):
        return self.proj(x)


class AuthorsMetaFormer(nn.Module):
    """``network`` = [blocks0, down, blocks1, down, (pos,) blocks2, down, (pos,) blocks3]."""

    def __init__(self, mixers, norm, pos=(None,) * 4, layers=(2, 2, 6, 2),
                 dims=(64, 128, 320, 512)):
        super().__init__()
        self.patch_embed = PatchEmbed(3, dims[0], 7, 4, 2)
        net = []
        for i in range(4):
            if pos[i]:
                net.append(PosEmb(dims[i], pos[i]))
            net.append(nn.Sequential(*[Block(dims[i], mixers[i], norm) for _ in range(layers[i])]))
            if i < 3:
                net.append(PatchEmbed(dims[i], dims[i + 1], 3, 2, 1))
        self.network = nn.ModuleList(net)
        self.norm = norm(dims[-1])
        self.head = nn.Linear(dims[-1], 1000)

    def stage_outputs(self, x):
        x, outs = self.patch_embed(x), []
        for m in self.network:
            x = m(x)
            if isinstance(m, nn.Sequential):
                outs.append(x)
        return outs


P, A, I = Pool, Attn, Ident  # noqa: E741


def fc(grid):
    return lambda dim: SpatialFc(dim, grid)


AUTHORS = {  # name: (mixers, norm, position embedding grid per stage)
    'metaformer_id_s12': ((I, I, I, I), GroupNorm, (None,) * 4),
    'metaformer_pppa_s12': ((P, P, P, A), LayerNormChannel, (None, None, None, 7)),
    'metaformer_ppaa_s12': ((P, P, A, A), LayerNormChannel, (None, None, 14, None)),
    'metaformer_pppf_s12': ((P, P, P, fc(7)), GroupNorm, (None,) * 4),
    'metaformer_ppff_s12': ((P, P, fc(14), fc(7)), GroupNorm, (None,) * 4),
}


def authors_model(name):
    torch.manual_seed(0)
    m = AuthorsMetaFormer(*AUTHORS[name])
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for n, p in m.named_parameters():
            if 'layer_scale' in n:
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.25)
            else:
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return m.eval()


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(AUTHORS))
def test_authors_file_loads_completely_and_matches(name, tmp_path):
    theirs = authors_model(name)
    path = tmp_path / f'{name}_224.pth.tar'
    torch.save(theirs.state_dict(), path)
    ours = MetaFormer(name + '_224', out_norm=False).eval()  # the authors' name works too
    report = load_pretrained(ours, str(path), logger='silent')
    n = len(ours.state_dict())
    assert f'loaded {n}/{n} tensors' in report, report
    assert 'dropped 2' in report and 'norm.*' in report  # head and the classifier's norm
    own = ours.state_dict()
    if any(AUTHORS[name][2]):
        key = next(k for k in own if k.endswith('pos_embed'))
        net = next(k for k in theirs.state_dict() if k.endswith('pos_embed'))
        assert torch.equal(own[key], theirs.state_dict()[net]), (key, net)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for i, (a, b) in enumerate(zip(ours(x), theirs.stage_outputs(x))):
            assert rel(a, b) < 1e-5, (name, i, rel(a, b))


@pytest.mark.slow
def test_structure_follows_the_authors():
    bb = MetaFormer('metaformer_ppaa_s12')
    first_blocks = (bb.stages[0].blocks[0], bb.stages[2].blocks[0])
    assert [type(b.token_mixer).__name__ for b in first_blocks] == ['Pooling', 'Attention']
    assert type(bb.stages[0].blocks[0].norm1).__name__ == 'LayerNorm2d'
    assert bb.stages[0].blocks[0].norm1.eps == 1e-5
    assert bb.stages[2].pos_embed.pos_embed.shape == (1, 320, 14, 14)
    assert not hasattr(bb.stages[3], 'pos_embed')
    assert MetaFormer('metaformer_pppa_s12').stages[3].pos_embed.pos_embed.shape == (1, 512, 7, 7)
    assert bb.stages[2].blocks[0].token_mixer.proj.bias is not None
    assert bb.stages[2].blocks[0].token_mixer.qkv.bias is None
    ff = MetaFormer('metaformer_ppff_s12')
    assert ff.stages[2].blocks[0].token_mixer.fc.weight.shape == (196, 196)
    assert ff.stages[3].blocks[0].token_mixer.fc.weight.shape == (49, 49)
    assert type(ff.stages[0].blocks[0].norm1).__name__ == 'GroupNorm1'
    # the old name of the hybrid is the authors' ppaa model
    assert MetaFormer('poolformer_hybrid_s12').arch_settings == bb.arch_settings


@pytest.mark.slow
def test_position_embedding_is_resized_bicubically():
    pe = PositionEmbedding(8, 14)
    with torch.no_grad():
        pe.pos_embed.normal_()
    x = torch.zeros(1, 8, 14, 14)
    assert torch.equal(pe(x), pe.pos_embed)  # at the learned grid: added unchanged
    x = torch.zeros(2, 8, 20, 33)
    want = F.interpolate(pe.pos_embed, size=(20, 33), mode='bicubic', align_corners=False)
    assert torch.equal(pe(x), want.expand(2, -1, -1, -1))
    with torch.no_grad():
        pe.pos_embed.fill_(0.5)  # a constant embedding stays constant at any size
    assert torch.allclose(pe(torch.zeros(1, 8, 9, 40)), torch.full((1, 8, 9, 40), 0.5))
    # dense inputs run end to end, with a gradient for the embedding
    bb = MetaFormer('metaformer_ppaa_s12')
    sum(o.sum() for o in bb(torch.randn(1, 3, 320, 288))).backward()
    assert bb.stages[2].pos_embed.pos_embed.grad.abs().sum() > 0


@pytest.mark.unit
@pytest.mark.parametrize('name', ['poolformer_s12', 'metaformer_ppaa_s12'])
def test_v1_init_leaves_stem_and_downsampling_at_pytorch_default(name):
    torch.manual_seed(0)
    bb = MetaFormer(name)
    # PyTorch's default conv init is kaiming-uniform(a=sqrt(5)): |w| <= 1/sqrt(fan_in)
    for conv in [bb.stem.conv] + [bb.stages[i].downsample.conv for i in (1, 2, 3)]:
        bound = 1 / conv.weight[0].numel() ** 0.5
        assert conv.weight.abs().max() <= bound and conv.weight.std() > 0.5 * bound / 3 ** 0.5
        assert conv.bias.abs().max() > 0  # default bias init, not zeros
    fc1 = bb.stages[0].blocks[0].mlp.fc1
    assert fc1.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert torch.equal(fc1.bias, torch.zeros_like(fc1.bias))
    v2 = MetaFormer('poolformerv2_s12')
    assert v2.stem.conv.weight.std().item() == pytest.approx(0.02, rel=0.15)


@pytest.mark.unit
def test_random_mixing_draws_a_matrix_per_layer():
    torch.manual_seed(0)
    bb = MetaFormer('randformer_s12')
    mats = [b.token_mixer.random_matrix for s in bb.stages[2:] for b in s.blocks]
    assert len(mats) == 8
    assert all(not torch.equal(mats[0], m) for m in mats[1:6])  # stage 3: 14x14 tokens
    assert not torch.equal(mats[6], mats[7])
    torch.manual_seed(0)
    again = MetaFormer('randformer_s12')
    assert torch.equal(again.stages[2].blocks[3].token_mixer.random_matrix, mats[3])
    assert all(not m.requires_grad for m in mats)
    assert re.match(r'stages\.2\.blocks\.0\.token_mixer\.random_matrix',
                    next(k for k in bb.state_dict() if 'random_matrix' in k))
