"""A PyTorch twin of the report's residual CNN (``reproduce.resnet.build_resnet``).

Same layers in the same order with the same sizes and the same hyper-parameters
(Keras' BatchNormalization momentum 0.99 is PyTorch's momentum 0.01; epsilon 1e-3;
Adam lr 1e-3 with Keras' epsilon 1e-7; "same" 5x5 convolutions = padding 2;
2x2 max pooling with floor, as Keras' "valid"). Both residual blocks add the stem's
output, as the R script does. Input NCHW; :func:`to_layout` puts a model and its
inputs in PyTorch's ``channels_last`` memory format (same shapes, NHWC strides), which
its oneDNN convolutions prefer on CPU.

The parameter counts are compared with the Keras model's in the benchmark
(trainable, and trainable + batch-norm moving statistics).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

BN_MOMENTUM = 0.01  # = 1 - Keras' 0.99
BN_EPS = 1e-3
KERNEL = 5


def _conv(cin, cout):
    return nn.Conv2d(cin, cout, KERNEL, padding=KERNEL // 2)


def _bn2d(c):
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class ResidualBranch(nn.Module):
    """BN -> conv 128 -> BN -> ELU -> dropout 0.25 -> conv 64 -> BN -> ELU."""

    def __init__(self):
        super().__init__()
        self.bn_in = _bn2d(64)
        self.conv1 = _conv(64, 128)
        self.bn1 = _bn2d(128)
        self.drop = nn.Dropout(0.25)
        self.conv2 = _conv(128, 64)
        self.bn2 = _bn2d(64)

    def forward(self, x):
        x = F.elu(self.bn1(self.conv1(self.bn_in(x))))
        return F.elu(self.bn2(self.conv2(self.drop(x))))


class TorchResNet(nn.Module):
    """The residual CNN of appendix 7.2.2, layer for layer."""

    def __init__(self):
        super().__init__()
        self.input_bn = _bn2d(3)
        self.stem_conv1, self.stem_bn1 = _conv(3, 32), _bn2d(32)
        self.stem_conv2, self.stem_bn2 = _conv(32, 64), _bn2d(64)
        self.res1, self.res2 = ResidualBranch(), ResidualBranch()
        self.top_conv1, self.top_bn1 = _conv(64, 128), _bn2d(128)
        self.top_conv2, self.top_bn2 = _conv(128, 256), _bn2d(256)
        self.top_conv3, self.top_bn3 = _conv(256, 512), _bn2d(512)
        self.head_dense1 = nn.Linear(512, 512)
        self.head_bn1 = nn.BatchNorm1d(512, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.head_dense2 = nn.Linear(512, 256)
        self.head_bn2 = nn.BatchNorm1d(256, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.output = nn.Linear(256, 2)
        self.drop25, self.drop50 = nn.Dropout(0.25), nn.Dropout(0.5)

    def forward(self, x):
        x = self.input_bn(x)
        for conv, bn in ((self.stem_conv1, self.stem_bn1), (self.stem_conv2, self.stem_bn2)):
            x = self.drop25(F.max_pool2d(F.elu(bn(conv(x))), 2))
        stem = x
        r = self.res1(stem) + stem
        r = self.res2(r) + stem  # the R script adds input_CNN again
        x = F.max_pool2d(F.elu(self.top_bn1(self.top_conv1(r))), 2)
        for conv, bn in ((self.top_conv2, self.top_bn2), (self.top_conv3, self.top_bn3)):
            x = F.max_pool2d(self.drop25(F.elu(bn(conv(x)))), 2)
        x = torch.amax(x, dim=(2, 3))  # global max pooling
        x = self.drop50(F.elu(self.head_bn1(self.head_dense1(x))))
        x = self.drop50(F.elu(self.head_bn2(self.head_dense2(x))))
        return torch.softmax(self.output(x), dim=1)


def parameter_counts(model: nn.Module) -> dict:
    """Trainable parameters, and trainable + BN moving statistics (Keras' ``count_params``)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    stats = sum(
        b.numel()
        for name, b in model.named_buffers()
        if name.endswith(("running_mean", "running_var"))
    )
    return {"trainable": trainable, "total": trainable + stats}


def to_layout(model: nn.Module, x: torch.Tensor, layout: str):
    """The model and a batch of inputs in ``layout``: ``"nchw"`` or ``"channels_last"``."""
    if layout == "channels_last":
        return model.to(memory_format=torch.channels_last), x.contiguous(
            memory_format=torch.channels_last
        )
    if layout != "nchw":
        raise ValueError(f"layout must be 'nchw' or 'channels_last', not {layout!r}")
    return model, x.contiguous()


def make_trainer(model: nn.Module, foreach: bool | None = None, forward=None):
    """One training step as ``model.compile(Adam(1e-3), binary_crossentropy)`` + ``fit`` runs it.

    ``foreach``: Adam's multi-tensor implementation (PyTorch's default, None, is the
    per-parameter loop on CPU). ``forward``: what computes the probabilities, e.g.
    ``torch.compile(model)`` (default: the model itself).
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, foreach=foreach)
    forward = model if forward is None else forward

    def step(xb: torch.Tensor, yb: torch.Tensor) -> float:
        optimizer.zero_grad(set_to_none=True)
        prob = forward(xb)
        # Keras clips probabilities to [1e-7, 1 - 1e-7] before the log.
        prob = prob.clamp(1e-7, 1 - 1e-7)
        loss = F.binary_cross_entropy(prob, yb)
        loss.backward()
        optimizer.step()
        return loss

    return step


def train_epoch(
    model: nn.Module,
    step,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    max_batches: int | None = None,
) -> int:
    """One shuffled epoch (or its first ``max_batches`` batches), as Keras' fit does it.

    Returns the number of batches run.
    """
    model.train()
    order = torch.randperm(len(x), generator=generator)
    n_batches = 0
    for start in range(0, len(x), batch_size):
        if max_batches is not None and n_batches >= max_batches:
            break
        idx = order[start : start + batch_size]
        step(x[idx], y[idx])
        n_batches += 1
    return n_batches
