"""Model registry and one factory, timm style: ``create_model(name, num_classes, weights)``.

Each model carries its defaults in a :class:`ModelSpec` (input size, mean/std, the classifier
layer replaced for the new head, the Grad-CAM target layer), and preprocessing is resolved from
it (see :func:`gliograde.training.engine.normalise_batch`).

>>> sorted(list_models())
['alexnet', 'convnext_tiny', 'efficientnet_lite0', 'resnet18', 'resnet50']
>>> get_spec("alexnet").input_size
227
>>> # model = create_model("efficientnet_lite0", num_classes=3)            # ImageNet start, offline
>>> # model = create_model("alexnet", num_classes=3, weights="none")         # random start (ablation)
>>> # model = create_model("alexnet", num_classes=3, weights="alexnet-owt-7be5be79.pth")
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gliograde import weights as W
from gliograde.errors import InputError

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_CLASSES = 1000


@dataclass(frozen=True)
class ModelSpec:
    """A model's defaults.

    Attributes:
        name: registry name.
        input_size: square input side in pixels the weights were trained at.
        mean, std: per-channel normalisation of inputs scaled to [0, 1] (RGB order).
        classifier: dotted name of the final ``nn.Linear`` (replaced by the new head).
        cam_layer: dotted name of the Grad-CAM target layer (last spatial feature map).
        first_conv: dotted name of the first convolution (adapted when ``in_chans != 3``).
    """

    name: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    classifier: str
    cam_layer: str
    first_conv: str = ""


Builder = Callable[[], nn.Module]
_REGISTRY: dict[str, tuple[ModelSpec, Builder]] = {}


def register(name: str, *, input_size: int, mean: tuple[float, float, float], std: tuple[float, float, float],
             classifier: str, cam_layer: str, first_conv: str = "") -> Callable[[Builder], Builder]:
    """Register a builder that returns the architecture with its original 1000-class head.

    Args:
        name: registry name.
        input_size, mean, std, classifier, cam_layer, first_conv: the other :class:`ModelSpec` fields.
    """
    spec = ModelSpec(name=name, input_size=input_size, mean=mean, std=std, classifier=classifier,
                     cam_layer=cam_layer, first_conv=first_conv)

    def deco(fn: Builder) -> Builder:
        _REGISTRY[name] = (spec, fn)
        return fn

    return deco


def list_models() -> list[str]:
    """Registered model names."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a registered model.

    Raises:
        InputError: unknown name (the message lists the known ones).
    """
    if name not in _REGISTRY:
        raise InputError(f"unknown model {name!r}; choose one of {list_models()}")
    return _REGISTRY[name][0]


def model_spec(model: nn.Module) -> ModelSpec:
    """The :class:`ModelSpec` that :func:`create_model` attached to ``model`` as ``model.spec``.

    Raises:
        AttributeError: ``model`` was not built by :func:`create_model` (no ``spec``).
    """
    spec = getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise AttributeError(f"{type(model).__name__} has no ModelSpec `spec`; build it with "
                             "gliograde.models.create_model(name, num_classes, weights=...)")
    return spec


def get_submodule(model: nn.Module, dotted: str) -> nn.Module:
    """The submodule at ``dotted`` (e.g. ``"classifier.6"``); alias of ``model.get_submodule``."""
    return model.get_submodule(dotted)


@register("alexnet", input_size=227, mean=IMAGENET_MEAN, std=IMAGENET_STD,
          classifier="classifier.6", cam_layer="features.11", first_conv="features.0")
def _alexnet() -> nn.Module:
    from torchvision.models import alexnet  # torchvision.models is slow to import: only when building

    model: nn.Module = alexnet(weights=None)
    return model


@register("efficientnet_lite0", input_size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
          classifier="classifier", cam_layer="bn2", first_conv="conv_stem")
def _efficientnet_lite0() -> nn.Module:
    import timm  # slow to import: only when building a timm model

    model: nn.Module = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=IMAGENET_CLASSES)
    return model


@register("resnet18", input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
          classifier="fc", cam_layer="layer4", first_conv="conv1")
def _resnet18() -> nn.Module:
    from torchvision.models import resnet18  # torchvision.models is slow to import: only when building

    model: nn.Module = resnet18(weights=None)
    return model


@register("resnet50", input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
          classifier="fc", cam_layer="layer4", first_conv="conv1")
def _resnet50() -> nn.Module:
    from torchvision.models import resnet50  # torchvision.models is slow to import: only when building

    model: nn.Module = resnet50(weights=None)
    return model


@register("convnext_tiny", input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
          classifier="classifier.2", cam_layer="features.7", first_conv="features.0.0")
def _convnext_tiny() -> nn.Module:
    from torchvision.models import convnext_tiny  # torchvision.models is slow to import: only when building

    model: nn.Module = convnext_tiny(weights=None)
    return model


def create_model(
    name: str,
    num_classes: int,
    weights: str | Path | None = "imagenet",
    *,
    allow_download: bool = False,
    in_chans: int = 3,
) -> nn.Module:
    """Build a registered model with a ``num_classes`` head; ``model.spec`` holds its :class:`ModelSpec`.

    Args:
        name: one of :func:`list_models`.
        num_classes: outputs of the new head (1000 keeps the ImageNet head).
        weights: ``"imagenet"``, ``"none"``/None (random start: the no-pretraining ablation), or a
            path to a state dict (ImageNet file of this architecture, or a gliograde checkpoint
            with a ``num_classes`` head).
        allow_download: fetch missing ImageNet weights from the official address.
        in_chans: input channels; != 3 adapts the first convolution (timm ``adapt_input_conv``).

    Raises:
        InputError: unknown model, or a weights file that does not fit the architecture.
        WeightsNotFoundError: ImageNet weights are not on disk (the message says where to put them).
    """
    spec = get_spec(name)
    model = _REGISTRY[name][1]()
    sd = _resolve_state_dict(name, weights, allow_download)
    # A gliograde checkpoint already has the new head / adapted first conv: shape the model first.
    head_done = sd is not None and _rows(sd, spec.classifier, 0) == num_classes != IMAGENET_CLASSES
    conv_done = sd is not None and _rows(sd, spec.first_conv, 1) == in_chans != 3
    if head_done:
        _replace_head(model, spec, num_classes)
    if conv_done:
        _adapt_first_conv(model, spec, in_chans)
    if sd is not None:
        _load_strict(model, sd, name)
    if not head_done and num_classes != IMAGENET_CLASSES:
        _replace_head(model, spec, num_classes)
    if not conv_done and in_chans != 3:
        _adapt_first_conv(model, spec, in_chans)
    model.spec = spec  # type: ignore[assignment]  # nn.Module.__setattr__ is typed for Tensor/Module values only
    return model


def _resolve_state_dict(name: str, weights: str | Path | None, allow_download: bool) -> dict[str, torch.Tensor] | None:
    if weights is None or str(weights).lower() == "none":
        return None
    if str(weights).lower() == "imagenet":
        path = W.find_imagenet(name, allow_download=allow_download)
    else:
        path = Path(weights)
    sd = W.read_state_dict(path)
    logger.info("%s: weights from %s", name, path)
    return W.rename_lukemelas_lite(sd) if name == "efficientnet_lite0" else sd


def _rows(sd: dict[str, torch.Tensor], layer: str, dim: int) -> int:
    """Size of ``layer.weight`` along ``dim`` in ``sd`` (-1 when absent)."""
    w = sd.get(f"{layer}.weight")
    return int(w.shape[dim]) if w is not None and w.ndim > dim else -1


def _load_strict(model: nn.Module, sd: dict[str, torch.Tensor], name: str) -> None:
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[:3]
        raise InputError(
            f"weights do not fit {name}: {' '.join(first)}; pass weights saved from this architecture "
            "(--model must match the file)"
        ) from err


def _replace_head(model: nn.Module, spec: ModelSpec, num_classes: int) -> None:
    old = get_submodule(model, spec.classifier)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"{spec.name}.{spec.classifier} is {type(old).__name__}, expected nn.Linear")
    model.set_submodule(spec.classifier, nn.Linear(old.in_features, num_classes))


def _adapt_first_conv(model: nn.Module, spec: ModelSpec, in_chans: int) -> None:
    """Sum/repeat the RGB filters of the first conv so ``in_chans`` inputs keep pretrained features."""
    from timm.models import adapt_input_conv  # timm is slow to import

    conv = get_submodule(model, spec.first_conv)
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"{spec.name}.{spec.first_conv} is {type(conv).__name__}, expected nn.Conv2d")
    # Swap the weight in place so subclasses (timm's Conv2dSame) keep their own padding logic.
    conv.weight = nn.Parameter(adapt_input_conv(in_chans, conv.weight.detach()).contiguous())
    conv.in_channels = in_chans
