"""HTS-AT (Chen et al., ICASSP 2022): a Swin Transformer over a log-mel folded into a square image.

The module layout mirrors the published HTS-AT / LAION-CLAP / msclap-2023 checkpoints (``bn0``,
``patch_embed.proj``, ``layers.N.blocks.M.attn.qkv``, ``relative_position_bias_table``, ``norm``,
``tscam_conv``, ``head``, and LAION's fusion ``patch_embed.mel_conv2d`` / ``patch_embed.fusion_model``), so
converters only strip prefixes. ``relative_position_index`` and ``attn_mask`` are derived from the
geometry and are non-persistent buffers; converters check the stored copies against them.

Pipeline for one clip: log-mel [n_mels=64, T <= 1024] -> ``bn0`` -> bicubic time interpolation to 1024
frames -> 4 time chunks stacked along frequency -> 256 x 256 image -> 4 x 4 patches (64 x 64 tokens) ->
4 Swin stages (window 8, shifted windows in odd blocks, patch merging between stages) -> LayerNorm ->
``latent_output`` = mean over the 8 x 8 final tokens (the embedding) and, through the token-semantic
``tscam_conv``, the clipwise AudioSet output. ``head`` exists in the checkpoints but is unused there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from openclap import kernels
from openclap.audio.encoders.input_conv import InputConv2d


def relative_position_index(window: int) -> torch.Tensor:
    """[window², window²] int64 index into the (2w-1)² relative-position bias table."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)  # [N, N, 2]
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """[B, H, W, C] -> [B * nW, window², C] (windows in row-major order per image)."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def window_reverse(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """[B * nW, window², C] -> [B, H, W, C]."""
    c = windows.shape[-1]
    x = windows.view(-1, h // window, w // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def shifted_window_mask(h: int, w: int, window: int, shift: int) -> torch.Tensor:
    """[nW, window², window²] additive mask (0 / -100) separating regions that the cyclic shift glued."""
    region = torch.zeros(1, h, w, 1)
    label = 0
    for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            region[:, hs, ws, :] = label
            label += 1
    labels = window_partition(region, window).squeeze(-1)  # [nW, N]
    diff = labels.unsqueeze(1) - labels.unsqueeze(2)
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, with a learned relative-position bias."""

    def __init__(self, dim: int, window: int, num_heads: int) -> None:
        super().__init__()
        self.window = window
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window), persistent=False)
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        bw, n, c = x.shape  # [B * nW, N, C]
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(n, n, -1).permute(2, 0, 1).contiguous()  # [heads, N, N]
        qkv = self.qkv(x)
        if kernels.fusing() and kernels.window_attention_fits(n, c // self.num_heads, qkv.dtype, qkv.device):
            # a compiled package's trace: the same attention in one native pass (openclap.kernels)
            attention = torch.ops.openclap.swin_window_attention
            return self.proj(attention(qkv, bias, mask, self.num_heads, self.scale))
        qkv = qkv.reshape(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B * nW, heads, N, d]
        attn = (q * self.scale) @ k.transpose(-2, -1) + bias
        if mask is not None:
            nw = mask.shape[0]
            attn = (attn.view(bw // nw, nw, self.num_heads, n, n) + mask[None, :, None]).view(bw, -1, n, n)
        out = attn.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinBlock(nn.Module):
    """(Shifted-)window attention + MLP, both pre-norm residual; DropPath is identity at inference."""

    def __init__(
        self, dim: int, resolution: tuple[int, int], num_heads: int, window: int, shift: int, mlp_ratio: float
    ) -> None:
        super().__init__()
        self.resolution = resolution
        if min(resolution) <= window:  # the whole map is one window: nothing to shift
            window, shift = min(resolution), 0
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        mask = shifted_window_mask(*resolution, window, shift) if shift > 0 else None
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b, _, c = x.shape
        y = self.norm1(x).view(b, h, w, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = self.attn(window_partition(y, self.window), mask=self.attn_mask)
        y = window_reverse(y, self.window, h, w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2 x 2 neighbouring tokens -> one token with twice the channels."""

    def __init__(self, resolution: tuple[int, int], dim: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b, _, c = x.shape
        x = x.view(b, h, w, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class BasicLayer(nn.Module):
    """One Swin stage: ``depth`` blocks alternating plain / shifted windows, then optional merging."""

    def __init__(
        self,
        dim: int,
        resolution: tuple[int, int],
        depth: int,
        num_heads: int,
        window: int,
        mlp_ratio: float,
        downsample: bool,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, resolution, num_heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio)
            for i in range(depth)
        )
        self.downsample = PatchMerging(resolution, dim) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class AFF(nn.Module):
    """Attentional feature fusion (Dai et al., WACV 2021) as LAION-CLAP's ``aff_2d``: a sigmoid gate from
    local (1x1 conv) and global (pooled) attention mixes two feature maps, ``2·x·g + 2·r·(1 - g)``."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        inner = channels // reduction
        self.local_att = nn.Sequential(
            nn.Conv2d(channels, inner, 1),
            nn.BatchNorm2d(inner),
            nn.ReLU(inplace=True),
            nn.Conv2d(inner, channels, 1),
            nn.BatchNorm2d(channels),
        )
        self.global_att = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, inner, 1),
            nn.BatchNorm2d(inner),
            nn.ReLU(inplace=True),
            nn.Conv2d(inner, channels, 1),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        mixed = x + residual
        if self.training and mixed.shape[0] == 1:  # BatchNorm needs two samples in training
            gate = torch.sigmoid(
                self.local_att(mixed.repeat(2, 1, 1, 1)) + self.global_att(mixed.repeat(2, 1, 1, 1))
            )
            gate = gate[:1]
        else:
            gate = torch.sigmoid(self.local_att(mixed) + self.global_att(mixed))
        return 2 * x * gate + 2 * residual * (1 - gate)


class PatchEmbed(nn.Module):
    """4 x 4 patches -> tokens; with ``fusion``, the three local chunks of long clips (channels 1-3) are
    embedded by ``mel_conv2d`` (4 x 12 patches, concatenated along time) and fused into channel 0's map."""

    def __init__(self, patch_size: int, embed_dim: int, fusion: bool) -> None:
        super().__init__()
        self.proj = InputConv2d(1, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim)
        self.fusion = fusion
        if fusion:
            kernel = (patch_size, patch_size * 3)
            self.mel_conv2d = InputConv2d(1, embed_dim, kernel_size=kernel, stride=kernel)
            self.fusion_model = AFF(embed_dim)

    def forward(self, img: torch.Tensor, longer_idx: torch.Tensor | None = None) -> torch.Tensor:
        x = self.proj(img[:, :1])  # [B, D, H', W']
        if self.fusion and longer_idx is not None and longer_idx.numel() > 0:
            local = img[longer_idx, 1:]  # [L, 3, H, W]
            n, chunks, h, w = local.shape
            local = self.mel_conv2d(local.reshape(n * chunks, 1, h, w))  # [L * 3, D, H', W'']
            local = (
                local.view(n, chunks, *local.shape[1:]).permute(0, 2, 3, 1, 4).flatten(3)
            )  # [L, D, H', 3W'']
            width = x.shape[-1]
            if local.shape[-1] < width:
                local = F.pad(local, (0, width - local.shape[-1]))
            x = x.clone()
            x[longer_idx] = self.fusion_model(x[longer_idx], local[..., :width])
        return self.norm(x.flatten(2).transpose(1, 2))  # [B, H' * W', D]


class HTSAT(nn.Module):
    """HTS-AT encoder: log-mel -> pooled ``latent_output`` [B, out_dim].

    ``forward(mel)`` takes ``[B, n_mels, T]`` (T <= 1024 frames, shorter inputs are stretched in time) or,
    for the LAION fusion variant, ``[B, 4, n_mels, T]`` (channel 0: the whole clip / global view,
    channels 1-3: local chunks) with ``longer`` flags ``[B]``: clips that are not longer use channel 0 only.
    Tiny: embed 96, depths (2, 2, 6, 2); base: embed 128, depths (2, 2, 12, 2); heads (4, 8, 16, 32).
    """

    #: Clips per forward pass on a CPU at inference (``ClapModel.cpu_chunk``): a clip's first-stage
    #: activations are 4,096 tokens x 96-384 channels (up to 6.3 MB in fp32), so four clips keep the
    #: products' outputs near the 32 MB last-level cache. Compiled, batch 32, 2 threads, clips/s with
    #: chunks of 16 -> 4 (``benchmarks/chunk_size.py``): msclap-2023 fp32 22.8 -> 25.5, bf16 40.7 -> 46.1;
    #: hf-clap-htsat-unfused fp32 20.9 -> 23.1, bf16 40.5 -> 47.5.
    cpu_chunk: ClassVar[dict[str, int]] = {"fp32": 4, "bf16": 4}
    #: A compiled package computes the window attention with ``openclap.kernels`` (one native pass per
    #: window and head instead of two batched products and a softmax; docs/speed.md)
    native_kernels: ClassVar[bool] = True

    def __init__(
        self,
        n_mels: int = 64,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (4, 8, 16, 32),
        window_size: int = 8,
        patch_size: int = 4,
        spec_size: int = 256,
        mlp_ratio: float = 4.0,
        num_classes: int = 527,
        fusion: bool = False,
    ) -> None:
        super().__init__()
        if len(depths) != len(num_heads):
            raise ValueError(f"depths {list(depths)} and num_heads {list(num_heads)} differ in length")
        self.n_mels = n_mels
        self.freq_ratio = spec_size // n_mels  # time chunks stacked along frequency (4)
        self.target_frames = spec_size * self.freq_ratio  # 1024
        self.target_bins = spec_size // self.freq_ratio  # 64
        if n_mels > self.target_bins:
            raise ValueError(f"n_mels={n_mels} exceeds the {self.target_bins} bins of a {spec_size} image")
        self.fusion = fusion
        self.out_dim = int(embed_dim * 2 ** (len(depths) - 1))
        self.bn0 = nn.BatchNorm2d(n_mels)
        self.patch_embed = PatchEmbed(patch_size, embed_dim, fusion)
        grid = spec_size // patch_size
        self.layers = nn.ModuleList(
            BasicLayer(
                int(embed_dim * 2**i),
                (grid // 2**i, grid // 2**i),
                depth,
                num_heads[i],
                window_size,
                mlp_ratio,
                downsample=i < len(depths) - 1,
            )
            for i, depth in enumerate(depths)
        )
        self.norm = nn.LayerNorm(self.out_dim)
        self.final_grid = grid // 2 ** (len(depths) - 1)  # 8 x 8 tokens
        freq_rows = self.final_grid // self.freq_ratio  # token rows per time chunk (2)
        self.num_classes = num_classes
        if num_classes > 0:  # Hugging Face's conversion drops the tagging head: num_classes=0
            self.tscam_conv = nn.Conv2d(self.out_dim, num_classes, kernel_size=(freq_rows, 3), padding=(0, 1))
            self.head = nn.Linear(num_classes, num_classes)  # in the checkpoints, unused by the references

    def to_image(self, mel: torch.Tensor) -> torch.Tensor:
        """[B, C, n_mels, T] log-mel -> ``bn0`` -> [B, C, 256, 256] image (4 time chunks stacked)."""
        b, c, n_mels, frames = mel.shape
        if n_mels != self.n_mels:
            raise ValueError(f"expected {self.n_mels} mel bins, got {n_mels}")
        if frames > self.target_frames:
            raise ValueError(f"HTS-AT takes at most {self.target_frames} frames, got {frames}; crop the clip")
        x = self.bn0(mel.transpose(1, 2)).permute(0, 2, 3, 1)  # [B, C, T, n_mels], BatchNorm over mel bins
        if frames < self.target_frames:
            x = F.interpolate(x, (self.target_frames, n_mels), mode="bicubic", align_corners=True)
        if n_mels < self.target_bins:
            x = F.interpolate(x, (x.shape[2], self.target_bins), mode="bicubic", align_corners=True)
        x = x.permute(0, 1, 3, 2)  # [B, C, F, T]
        x = x.reshape(b, c, x.shape[2], self.freq_ratio, -1).permute(0, 1, 3, 2, 4)  # [B, C, 4, F, T/4]
        return x.reshape(b, c, -1, x.shape[-1])

    def forward_features(
        self, mel: torch.Tensor, longer: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """``{"embedding": [B, out_dim], "clipwise_output": [B, num_classes]}`` (sigmoid probabilities;
        absent when ``num_classes=0``)."""
        if mel.dim() == 3:
            mel = mel.unsqueeze(1)
        longer_idx = torch.nonzero(longer.reshape(-1)).flatten() if longer is not None else None
        x = self.patch_embed(self.to_image(mel), longer_idx if self.fusion else None)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)  # [B, 64, C]
        b, _, c = x.shape
        g, rows = self.final_grid, self.final_grid // self.freq_ratio
        x = x.transpose(1, 2).reshape(b, c, g, g)  # [B, C, F', T']
        # Token-semantic regrouping: each time chunk's frequency rows side by side -> [B, C, 2, 4 * T'].
        x = x.reshape(b, c, self.freq_ratio, rows, g).permute(0, 1, 3, 2, 4).reshape(b, c, rows, -1)
        out = {"embedding": x.flatten(2).mean(dim=2)}
        if self.num_classes > 0:
            out["clipwise_output"] = torch.sigmoid(self.tscam_conv(x).flatten(2).mean(dim=2))
        return out

    def forward(self, mel: torch.Tensor, longer: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_features(mel, longer)["embedding"]

    def clipwise(self, mel: torch.Tensor, longer: torch.Tensor | None = None) -> torch.Tensor:
        """The AudioSet tagging output (sigmoid over 527 classes) of the HTS-AT checkpoint."""
        if self.num_classes == 0:
            raise ValueError("this HTS-AT has no tagging head (num_classes=0, e.g. from Hugging Face)")
        return self.forward_features(mel, longer)["clipwise_output"]
