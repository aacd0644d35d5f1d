"""The transform names laion_clap imports (image preprocessing, the fusion model's ``Resize``); using any
of them raises."""

from . import unavailable

Normalize, Compose, RandomResizedCrop, ToTensor, Resize, CenterCrop = (
    unavailable(n) for n in ("Normalize", "Compose", "RandomResizedCrop", "ToTensor", "Resize", "CenterCrop")
)


class InterpolationMode:
    BICUBIC = "bicubic"
    BILINEAR = "bilinear"
