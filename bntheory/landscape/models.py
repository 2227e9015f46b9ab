r"""The landscape models: an MLP, a VGG-style CNN and the paper's deep linear network.

Every linear/conv layer is followed by a :class:`bntheory.nn.Norm` (``"none"`` for the
standard network).  Weights use Glorot (Xavier) uniform initialization, as the paper's
protocol prescribes; biases start at zero.  :func:`weight_layers` lists the layers whose
weights the internal-covariate-shift probe follows, in forward order.

``norm`` may also name a registered weight parametrization
(:mod:`bntheory.norms.parametrizations`; ``"weightnorm"``, Salimans & Kingma 2016): the
network then has no activation normalization (its Norm modules are ``"none"``, the identity,
so module names and the activation probes' hooks are those of the standard network), and the
weight of every *hidden* Linear/Conv2d layer -- exactly the layers a Norm follows -- is
reparametrized after the Glorot initialization (weight normalization starts at
:math:`g = \|w\|`, :math:`v = w`, so the initial network computes what the standard one
does).  The output layer (the classifier; the DLN's last map) is *not* normalized, as no
normalization layer follows it in the other networks either.  :func:`check_model_norm` and
:func:`model_norm_names` give the names the models accept.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from bntheory.errors import InvalidArgumentError, UnknownLayerError
from bntheory.nn import Norm, norm_names

#: The paper's CIFAR-10 VGG (VGG-11 configuration: channels, and "M" for 2x2 max-pooling).
VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


def model_norm_names() -> list[str]:
    """Every ``norm`` the models accept: the :class:`~bntheory.nn.Norm` names (``none`` and the
    registered layers) and the registered weight parametrizations (``weightnorm``)."""
    from bntheory.norms.parametrizations import parametrizations

    return [*norm_names(), *(p for p in parametrizations() if p not in norm_names())]


def check_model_norm(name: str) -> None:
    """Raise :class:`UnknownLayerError` (listing every accepted name) unless the models accept
    ``name``."""
    known = model_norm_names()
    if name not in known:
        raise UnknownLayerError(f"unknown normalization {name!r}; known: {', '.join(known)}")


def _split_norm(norm: str):
    """``(activation norm, weight parametrization or None)`` of a model's ``norm`` name."""
    from bntheory.norms.parametrizations import get_parametrization, parametrizations

    check_model_norm(norm)
    if norm in parametrizations() and norm not in norm_names():
        return "none", get_parametrization(norm)
    return norm, None


def _parametrize(layers: Sequence[nn.Module], parametrization) -> None:
    """Apply ``parametrization`` to the weight of each of ``layers`` (after initialization)."""
    if parametrization is not None:
        for layer in layers:
            parametrization(layer, "weight")


def glorot_(module: nn.Module) -> None:
    """In place: Glorot (Xavier) uniform weights and zero biases for every Linear/Conv layer."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


#: The MLP's nonlinearities.
ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


class MLP(nn.Module):
    """Flatten, then ``[Linear -> Norm -> activation] * len(hidden)``, then a Linear
    classifier; ``activation`` is ``relu`` (default), ``sigmoid`` or ``tanh``
    (``norm="weightnorm"``: every hidden Linear weight-normalized, no Norm; see the module)."""

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        norm: str = "none",
        activation: str = "relu",
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise InvalidArgumentError(
                f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}"
            )
        act, parametrization = _split_norm(norm)
        layers: list[nn.Module] = [nn.Flatten()]
        hidden_layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            hidden_layers.append(nn.Linear(width, h))
            layers += [hidden_layers[-1], Norm(act, h), ACTIVATIONS[activation]()]
            width = h
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)
        glorot_(self)
        _parametrize(hidden_layers, parametrization)

    def forward(self, x: Tensor) -> Tensor:
        """The logits of the inputs ``x`` (any shape ``(N, *)`` with ``in_features`` values)."""
        return self.net(x)


class VGG(nn.Module):
    """``cfg``: channel counts and ``"M"`` (max-pool); each conv is 3x3 -> Norm -> ReLU; the
    classifier is one Linear on the flattened features (``norm="weightnorm"``: every conv
    weight-normalized, one gain per output channel, no Norm; the classifier is not)."""

    def __init__(
        self,
        cfg: Sequence[int | str],
        in_channels: int,
        num_classes: int,
        image_size: int,
        norm: str = "none",
    ):
        super().__init__()
        act, parametrization = _split_norm(norm)
        layers: list[nn.Module] = []
        convs: list[nn.Module] = []
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
                convs.append(nn.Conv2d(c, int(v), 3, padding=1))
                layers += [convs[-1], Norm(act, int(v)), nn.ReLU()]
                c = int(v)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c * size * size, num_classes)
        glorot_(self)
        _parametrize(convs, parametrization)

    def forward(self, x: Tensor) -> Tensor:
        """The logits of the images ``x`` of shape ``(N, in_channels, image_size, image_size)``."""
        return self.classifier(self.features(x).flatten(1))


class DeepLinear(nn.Module):
    r"""The paper's deep linear network: ``depth`` bias-free ``dim x dim`` linear maps (a Norm
    after each but the last), loss :math:`\|W_1\cdots W_{depth}x - Ax\|^2`
    (``norm="weightnorm"``: every map but the last weight-normalized, no Norm)."""

    def __init__(self, dim: int = 10, depth: int = 25, norm: str = "none"):
        super().__init__()
        act, parametrization = _split_norm(norm)
        layers: list[nn.Module] = []
        hidden_layers: list[nn.Module] = []
        for i in range(depth):
            layers.append(nn.Linear(dim, dim, bias=False))
            if i < depth - 1:
                hidden_layers.append(layers[-1])
                layers.append(Norm(act, dim))
        self.net = nn.Sequential(*layers)
        glorot_(self)
        _parametrize(hidden_layers, parametrization)

    def forward(self, x: Tensor) -> Tensor:
        r"""The output for ``x: (N, dim)``; :math:`W_1\cdots W_{depth}x` when ``norm="none"``."""
        return self.net(x)


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``(name, weight)`` of every Linear/Conv layer, in forward (registration) order.

    For a layer whose weight is parametrized (``weightnorm``) the weight is computed, not a
    parameter: the layer's entry is then the tensor its parametrization trains in the
    weight's place (weight normalization's direction :math:`v`,
    ``<name>.parametrizations.weight.original1``; ``original`` for a parametrization of one
    tensor).  Its gain :math:`g` (``original0``) and the layer's bias are registered before
    it, so "every parameter before the layer" of the covariate-shift probe includes them.
    """
    out = []
    for name, m in model.named_modules():
        if not isinstance(m, (nn.Linear, nn.Conv2d)):
            continue
        plist = getattr(getattr(m, "parametrizations", None), "weight", None)
        if plist is None:
            out.append((f"{name}.weight", m.weight))
            continue
        key = "original1" if hasattr(plist, "original1") else "original"
        out.append((f"{name}.parametrizations.weight.{key}", getattr(plist, key)))
    return out


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
    activation: str = "relu",
) -> nn.Module:
    """A model of ``kind`` (``mlp``, ``vgg`` or ``dln``) for inputs of ``input_shape``, with the
    normalization ``norm`` (a :class:`~bntheory.nn.Norm` name or a weight parametrization:
    :func:`model_norm_names`; an unknown name raises :class:`UnknownLayerError`);
    ``activation`` is the MLP's nonlinearity (the CNNs and the DLN ignore it)."""
    if kind == "mlp":
        n = 1
        for s in input_shape:
            n *= s
        return MLP(n, hidden, num_classes, norm, activation)
    if kind == "vgg":
        if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
            raise InvalidArgumentError(
                f"vgg needs square (C, H, W) images, got input shape {input_shape}"
            )
        return VGG(cfg, input_shape[0], num_classes, input_shape[1], norm)
    if kind == "dln":
        return DeepLinear(input_shape[0], depth, norm)
    raise InvalidArgumentError(f"model kind must be mlp, vgg or dln, got {kind!r}")
