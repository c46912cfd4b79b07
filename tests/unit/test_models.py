"""Model registry, head replacement, offline ImageNet weights and their errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from gliograde import weights as W
from gliograde.errors import InputError, WeightsNotFoundError
from gliograde.models import create_model, get_spec, get_submodule, list_models
from gliograde.training.engine import normalise_batch


def test_registry_lists_the_required_models() -> None:
    assert set(list_models()) >= {"alexnet", "efficientnet_lite0", "resnet18", "resnet50", "convnext_tiny"}
    assert get_spec("alexnet").input_size == 227
    assert get_spec("efficientnet_lite0").mean == (0.5, 0.5, 0.5)
    with pytest.raises(InputError, match="unknown model 'vgg'"):
        get_spec("vgg")


@pytest.mark.parametrize("name", list_models())
def test_head_replaced_with_n_classes(name: str) -> None:
    model = create_model(name, num_classes=3, weights="none").eval()
    spec = model.spec
    head = get_submodule(model, spec.classifier)
    assert isinstance(head, torch.nn.Linear) and head.out_features == 3
    assert isinstance(get_submodule(model, spec.cam_layer), torch.nn.Module)
    with torch.inference_mode():
        out = model(torch.zeros(2, 3, 64, 64))
    assert out.shape == (2, 3)


def test_lite0_keys_rename_exactly_onto_timm() -> None:
    import timm

    sd = W.rename_lukemelas_lite(W.read_state_dict(W.lite0_package_file()))
    timm_keys = set(timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict())
    assert set(sd) == timm_keys


def test_lite0_imagenet_weights_see_a_cat_before_head_replacement() -> None:
    from skimage.data import chelsea

    model = create_model("efficientnet_lite0", num_classes=1000, weights="imagenet").eval()
    x = torch.from_numpy(chelsea()).permute(2, 0, 1)[None].contiguous()  # (1, 3, 300, 451) uint8
    with torch.inference_mode():
        top = int(model(normalise_batch(x, model.spec, 224)).argmax())
    assert 281 <= top <= 285, f"ImageNet class {top} is not a cat"
    assert get_submodule(model, "classifier").out_features == 1000


def test_missing_alexnet_weights_say_where_to_put_them(tmp_path, monkeypatch) -> None:
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    with pytest.raises(WeightsNotFoundError) as err:
        create_model("alexnet", num_classes=3, weights="imagenet")
    msg = str(err.value)
    assert str(hub / "checkpoints" / "alexnet-owt-7be5be79.pth") in msg
    assert "--weights PATH" in msg and "--allow-download" in msg
    assert not hub.exists()  # nothing was downloaded or created


def test_corrupt_hub_file_fails_the_hash_check(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "alexnet-owt-7be5be79.pth").write_bytes(b"not the weights")
    with pytest.raises(InputError, match="sha256"):
        create_model("alexnet", num_classes=3, weights="imagenet")


def test_weights_from_a_user_file_imagenet_head_and_own_head(tmp_path) -> None:
    torch.manual_seed(1)
    src = create_model("resnet18", num_classes=1000, weights="none")
    torch.save(src.state_dict(), tmp_path / "my-resnet18.pth")
    model = create_model("resnet18", num_classes=3, weights=tmp_path / "my-resnet18.pth")
    assert torch.equal(model.conv1.weight, src.conv1.weight)
    assert model.fc.out_features == 3
    # a gliograde checkpoint (3-class head, 4 input channels) reloads exactly
    four = create_model("resnet18", num_classes=3, weights="none", in_chans=4)
    save_file({k: v.contiguous() for k, v in four.state_dict().items()}, str(tmp_path / "weights.safetensors"))
    again = create_model("resnet18", num_classes=3, weights=tmp_path / "weights.safetensors", in_chans=4)
    for (k, a), b in zip(four.state_dict().items(), again.state_dict().values(), strict=False):
        assert torch.equal(a, b), k


def test_weights_for_another_architecture_are_refused(tmp_path) -> None:
    save_file({"foo.weight": torch.zeros(2, 2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(InputError, match="do not fit resnet18"):
        create_model("resnet18", num_classes=3, weights=tmp_path / "other.safetensors")
    with pytest.raises(FileNotFoundError, match="--weights"):
        create_model("resnet18", num_classes=3, weights=tmp_path / "missing.pth")


def test_four_channel_input_adapts_the_first_conv() -> None:
    model = create_model("efficientnet_lite0", num_classes=3, weights="imagenet", in_chans=4).eval()
    x = normalise_batch(torch.full((2, 4, 40, 40), 128, dtype=torch.uint8), model.spec, 64)
    assert x.shape == (2, 4, 64, 64)
    with torch.inference_mode():
        assert model(x).shape == (2, 3)
    assert np.isfinite(model.conv_stem.weight.detach().numpy()).all()
