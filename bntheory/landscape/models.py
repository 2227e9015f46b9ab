r"""The landscape models: an MLP, a VGG-style CNN and the paper's deep linear network.

Every linear/conv layer is followed by a :class:`bntheory.nn.Norm` (``"none"`` for the
standard network).  Weights use Glorot (Xavier) uniform initialization, as the paper's
protocol prescribes; biases start at zero.  :func:`weight_layers` lists the layers whose
weights the internal-covariate-shift probe follows, in forward order.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from bntheory.errors import InvalidArgumentError
from bntheory.nn import Norm

#: The paper's CIFAR-10 VGG (VGG-11 configuration: channels, and "M" for 2x2 max-pooling).
VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


def glorot_(module: nn.Module) -> None:
    """In place: Glorot (Xavier) uniform weights and zero biases for every Linear/Conv layer."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class MLP(nn.Module):
    """Flatten, then ``[Linear -> Norm -> ReLU] * len(hidden)``, then a Linear classifier."""

    def __init__(
        self, in_features: int, hidden: Sequence[int], out_features: int, norm: str = "none"
    ):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), Norm(norm, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)
        glorot_(self)

    def forward(self, x: Tensor) -> Tensor:
        """The logits of the inputs ``x`` (any shape ``(N, *)`` with ``in_features`` values)."""
        return self.net(x)


class VGG(nn.Module):
    """``cfg``: channel counts and ``"M"`` (max-pool); each conv is 3x3 -> Norm -> ReLU; the
    classifier is one Linear on the flattened features."""

    def __init__(
        self,
        cfg: Sequence[int | str],
        in_channels: int,
        num_classes: int,
        image_size: int,
        norm: str = "none",
    ):
        super().__init__()
        layers: list[nn.Module] = []
        c, size = in_channels, image_size
        for v in cfg:
            if v == "M":
                if size < 2:
                    raise InvalidArgumentError(
                        f"too many max-pools for {image_size}x{image_size} images in {cfg}"
                    )
                layers.append(nn.MaxPool2d(2))
                size //= 2
            else:
                layers += [nn.Conv2d(c, int(v), 3, padding=1), Norm(norm, int(v)), nn.ReLU()]
                c = int(v)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c * size * size, num_classes)
        glorot_(self)

    def forward(self, x: Tensor) -> Tensor:
        """The logits of the images ``x`` of shape ``(N, in_channels, image_size, image_size)``."""
        return self.classifier(self.features(x).flatten(1))


class DeepLinear(nn.Module):
    r"""The paper's deep linear network: ``depth`` bias-free ``dim x dim`` linear maps (a Norm
    after each but the last), loss :math:`\|W_1\cdots W_{depth}x - Ax\|^2`."""

    def __init__(self, dim: int = 10, depth: int = 25, norm: str = "none"):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers.append(nn.Linear(dim, dim, bias=False))
            if i < depth - 1:
                layers.append(Norm(norm, dim))
        self.net = nn.Sequential(*layers)
        glorot_(self)

    def forward(self, x: Tensor) -> Tensor:
        r"""The output for ``x: (N, dim)``; :math:`W_1\cdots W_{depth}x` when ``norm="none"``."""
        return self.net(x)


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``(name, weight)`` of every Linear/Conv layer, in forward (registration) order."""
    return [
        (f"{name}.weight", m.weight)
        for name, m in model.named_modules()
        if isinstance(m, (nn.Linear, nn.Conv2d))
    ]


def loss_fn(model_kind: str):
    """The loss ``(output, target) -> scalar`` of a ``model_kind``.

    Cross-entropy for classifiers; for the DLN the squared error summed over each sample's
    outputs and averaged over the samples.
    """
    if model_kind == "dln":
        return lambda out, target: ((out - target) ** 2).sum(dim=1).mean()
    return nn.functional.cross_entropy


def build(
    kind: str,
    norm: str,
    input_shape: tuple[int, ...],
    num_classes: int | None,
    hidden: Sequence[int] = (64, 64),
    cfg: Sequence[int | str] = (16, "M", 32, "M"),
    depth: int = 25,
) -> nn.Module:
    """A model of ``kind`` (``mlp``, ``vgg`` or ``dln``) for inputs of ``input_shape``."""
    if kind == "mlp":
        n = 1
        for s in input_shape:
            n *= s
        return MLP(n, hidden, num_classes, norm)
    if kind == "vgg":
        if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
            raise InvalidArgumentError(
                f"vgg needs square (C, H, W) images, got input shape {input_shape}"
            )
        return VGG(cfg, input_shape[0], num_classes, input_shape[1], norm)
    if kind == "dln":
        return DeepLinear(input_shape[0], depth, norm)
    raise InvalidArgumentError(f"model kind must be mlp, vgg or dln, got {kind!r}")
