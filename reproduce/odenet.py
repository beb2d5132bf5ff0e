"""The Neural ODE counterpart of the report's residual CNN (section 4, described there, never trained).

The residual CNN (:mod:`reproduce.resnet`) with its two residual blocks replaced by one
:class:`odelayers.ODEBlock` integrating ``dh/dt = f(h, t)`` over [0, 1]. ``f`` is the R residual
branch made continuous: group norm instead of batch norm (batch statistics would make ``f`` depend
on the rest of the batch, Chen et al. 2018), no dropout (an adaptive solver cannot integrate noise),
the time as an extra input channel, 3x3 kernels with 32 hidden channels (cheaper to evaluate).
"""

import dataclasses

from reproduce._quiet import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402  (after the quiet import above, on purpose)

import odelayers  # noqa: E402
from reproduce import resnet, settings  # noqa: E402
from reproduce.engine import RunConfig  # noqa: E402

STATE_CHANNELS = 64  # feature maps entering the ODE block: the stem's output, 18x18x64
MAX_GROUPS = 32  # Chen et al.'s choice, GroupNorm(min(32, channels), channels)


def main(config: RunConfig) -> dict:
    """The residual CNN's script, its two residual blocks replaced by one ODE block."""
    interval = "[0, t1], t1 learned from 1" if config.trainable_t1 else "[0, 1]"
    if config.method in settings.FIXED_STEP_METHODS:
        solver = f"{config.method}, step {config.step_size}"
    else:
        solver = f"{config.method}, rtol {config.rtol}, atol {config.atol}"
    print(
        f"odenet: ODE block over {interval}, {solver}, {config.gradient} gradients, "
        f"{config.hidden_channels} hidden channels"
    )
    return resnet.main(config, model_chunk=create_model_from)


def create_model_from(config: RunConfig):
    """``## Setting up model``, THE DIFFERENCE: one ODE block for the two residual blocks."""
    options = {"hidden_channels": config.hidden_channels, "trainable_t1": config.trainable_t1}
    return create_model(config.solver, **options, semantics=config.semantics)


def create_model(solver: odelayers.SolverOptions | None = None, *,
                 hidden_channels: int = settings.ODENET_HIDDEN_CHANNELS,
                 kernel_size: int = settings.ODENET_KERNEL_SIZE, trainable_t1: bool = False,
                 semantics: str = settings.SEMANTICS):  # fmt: skip
    """The residual CNN's graph with one ODE block where its two residual blocks were; not compiled.
    ``trainable_t1`` makes the block's end time (1 at the start) a weight, logged as ``t1``."""
    solver = solver or odelayers.SolverOptions(**settings.ODENET_SOLVER)
    input_img, input_img_norm = resnet.input_layers(semantics)
    input_CNN = resnet.input_cnn(input_img_norm, semantics)  # noqa: N806 - the R name
    # ## first residual + ## second residual  ->  h(1) = h(0) + integral_0^1 f(h(t), t) dt
    dynamics = ResidualBranchDynamics(STATE_CHANNELS, hidden_channels, kernel_size, name="dynamics")
    block = odelayers.ODEBlock(
        dynamics, t0=0.0, t1=1.0, options=solver, trainable_t1=trainable_t1, name="ode_block"
    )
    outputs = resnet.output_head(resnet.top_cnn(block(input_CNN), semantics), semantics)
    return keras.Model(inputs=input_img, outputs=outputs, name="odenet")


def build_odenet(solver: odelayers.SolverOptions | None = None, *,
                 hidden_channels: int = settings.ODENET_HIDDEN_CHANNELS,
                 kernel_size: int = settings.ODENET_KERNEL_SIZE,
                 semantics: str = settings.SEMANTICS, **solver_options):  # fmt: skip
    """The ODE-Net, compiled like the residual CNN; its NFE shows as ``nfe`` in Keras' logs.
    ``solver`` (default ``settings.ODENET_SOLVER``) with ``solver_options``'
    :class:`odelayers.SolverOptions` fields replaced."""
    solver = solver or odelayers.SolverOptions(**settings.ODENET_SOLVER)
    solver = dataclasses.replace(solver, **solver_options)
    shape = {"hidden_channels": hidden_channels, "kernel_size": kernel_size}
    return resnet.compile_model(create_model(solver, **shape, semantics=semantics), semantics)


# The dynamics: the R residual branch made continuous (see the module docstring).
def _group_norm(channels: int, name: str):
    # Keras' group norm with faster statistics: same weights, names and maths.
    return odelayers.GroupNormalization(groups=min(MAX_GROUPS, channels), epsilon=1e-3, name=name)


@keras.saving.register_keras_serializable(package="reproduce")
class ResidualBranchDynamics(keras.layers.Layer):
    """``f(h, t)``: GroupNorm -> ConcatConv2D(hidden) -> GroupNorm -> ELU -> ConcatConv2D(channels)
    -> GroupNorm -> ELU, "same" padding, the time an extra input channel.

    Args:
        channels: channels of the state ``h`` (64 after the stem).
        hidden_channels: channels between the two convolutions (128 in R's branch).
        kernel_size: side of the square kernels (5 in R's branch).
    """

    def __init__(self, channels: int = STATE_CHANNELS,
                 hidden_channels: int = settings.ODENET_HIDDEN_CHANNELS,
                 kernel_size: int = settings.ODENET_KERNEL_SIZE, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.hidden_channels = int(hidden_channels)
        self.kernel_size = int(kernel_size)
        self.norm_in = _group_norm(self.channels, "norm_in")
        self.conv1 = odelayers.ConcatConv2D(
            self.hidden_channels, self.kernel_size, padding="same", name="conv1"
        )
        self.norm1 = _group_norm(self.hidden_channels, "norm1")
        self.conv2 = odelayers.ConcatConv2D(
            self.channels, self.kernel_size, padding="same", name="conv2"
        )
        self.norm2 = _group_norm(self.channels, "norm2")

    def build(self, input_shape):
        hidden_shape = (*input_shape[:-1], self.hidden_channels)
        self.norm_in.build(input_shape)
        self.conv1.build(input_shape)
        self.norm1.build(hidden_shape)
        self.conv2.build(hidden_shape)
        self.norm2.build(input_shape)
        super().build(input_shape)

    def call(self, h, t):
        x = self.norm_in(h)
        x = keras.activations.elu(self.norm1(self.conv1(x, t)))
        return keras.activations.elu(self.norm2(self.conv2(x, t)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        names = ("channels", "hidden_channels", "kernel_size")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}
