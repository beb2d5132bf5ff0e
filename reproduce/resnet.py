"""The report's residual CNN (appendix 7.2.2, "RESNET Final Code"), ported from R.

Read top to bottom beside the R script: each section quotes the R lines it
ports; the model's chunks follow, one function each (the ODE-Net reuses them).
As written in R: both residual blocks add the stem's output, not the running
sum; ``accuracy`` is binary accuracy; the last line scores 0.5 for any model.
"""

import numpy as np

from reproduce._quiet import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402  (after the quiet import above, on purpose)

from reproduce import data, engine, keras22, preprocess, settings  # noqa: E402
from reproduce.engine import RunConfig  # noqa: E402

IMAGE_SHAPE = (75, 75, 3)
KERNEL_SIZE = (5, 5)  # kernel_size = c(5,5)
BN_MOMENTUM, BN_EPSILON = 0.99, 1e-3  # layer_batch_normalization(momentum = 0.99); R's epsilon
ADAM_LEARNING_RATE = 0.001  # optimizer_adam(lr = 0.001)


def main(config: RunConfig, model_chunk=None) -> dict:
    """The whole R script; returns the run's metrics. ``model_chunk(config)`` (the ODE-Net's) builds the model."""
    # (the R script sets no seed: we seed like the dense script's set.seed(1), with config.seed;
    #  weights, dropout and shuffling follow config.train_seed, by default the same number)
    engine.seed_everything(config.train_seed)

    # ## Loading data
    # train = fromJSON("train.json")
    train, source = data.resolve_data(config.data)
    print(f"data: {source.description}")
    if (finished := engine.finished_run(config, source.to_dict())) is not None:
        return finished

    # # Getting relevant information
    # x = train %>% lapply(function(x){ c(x$band_1, x$band_2,
    #       apply(cbind(x$band_1,x$band_2), 1, mean))}) %>% unlist %>%
    #   array(dim=c(75,75,3,1604)) %>% aperm(c(4,1,2,3))
    # # Values for Output
    # y <- classvec2classmat(unlist(lapply (train, function(x) {x$is_iceberg})))
    x, y = preprocess.resnet_inputs(train, preprocessing=config.preprocessing)

    # # Training Set list
    # nums <- sample(1:1604, 1300)
    nums, not_nums = preprocess.report_split(len(x), seed=config.seed, kind=config.sample_kind)
    # (--validation holds out training images in place of the test ones; --quick and
    # --limit-* keep the first images of each side)
    nums, not_nums = config.split(nums, not_nums)

    # # Organizing
    # train_iceberg <- x[nums, , , ];  train_truth <- y[nums, ]
    # test_iceberg <- x[-nums, , , ];  test_truth <- y[-nums, ]
    train_iceberg, train_truth = x[nums], y[nums]
    test_iceberg, test_truth = x[not_nums], y[not_nums]
    print(config.describe(len(train_iceberg), len(test_iceberg)))

    # ## Prepare model ... ## Output layer (functions below, one per chunk)
    with engine.model_scope(config.distribute):  # --distribute: a copy on every device
        # ## Setting up model
        # model_resNN <- keras_model(inputs = list(input_img), outputs = list(outputs))
        model_resNN = (model_chunk or (lambda c: create_model(c.semantics)))(config)  # noqa: N806
        # ## Setting up functions for model evaluation and passes
        compile_model(model_resNN, config.semantics)  # --semantics: keras22 (R's) or keras3

    with engine.Run(config, source.to_dict()) as run:
        # ## Fitting the model
        # model_resNN %>% fit(train_iceberg, train_truth, epochs = 150)
        run.fit(model_resNN, train_iceberg, train_truth, test_data=(test_iceberg, test_truth))

        # ## Trying on test data
        # predictions_resnet <- mean(round(predict(model_resNN, test_iceberg))[,2] == test_truth)
        predictions_resnet = r_style_accuracy(
            model_resNN.predict(test_iceberg, verbose=0), test_truth
        )
        run.record(r_style_test_accuracy=predictions_resnet)
        if config.trainable_t1:  # the ODE-Net's learned end time (history.csv: column t1)
            run.record(learned_t1=model_resNN.get_layer("ode_block").current_t1)
        score = run.evaluate(model_resNN, test_iceberg, test_truth)  # what the line meant to say
    print("Test accuracy:", score["accuracy"], " Test loss:", score["loss"])
    # paste("Test Accuracy (ResNN):", predictions_resnet): the report's line, which rounds both
    # columns of a softmax and so scores 0.5 for any model (see r_style_accuracy)
    name = "ODE-Net" if model_chunk else "ResNN"
    print(f"The report's scoring line, as printed: Test Accuracy ({name}): {predictions_resnet}")
    return run.metrics


def input_layers(semantics: str = settings.SEMANTICS):
    """``## Prepare model`` and ``## Normalizing data``: the image input and its batch norm."""
    # input_img = layer_input(shape = c(75, 75, 3), name="img")
    input_img = keras.Input(shape=IMAGE_SHAPE, name="img")
    # input_img_norm = input_img %>% layer_batch_normalization(momentum = 0.99)
    input_img_norm = batch_norm("input_bn", semantics)(input_img)
    return input_img, input_img_norm


def input_cnn(input_img_norm, semantics: str = settings.SEMANTICS):
    """``## input CNN``: two 5x5 conv stages, 75x75x3 -> 18x18x64."""
    x = input_img_norm
    # layer_conv_2d(32, kernel_size = kernel_size, padding = "same") %>%
    # layer_batch_normalization(momentum = 0.99) %>% layer_activation_elu() %>%
    # layer_max_pooling_2d(c(2,2)) %>% layer_dropout(0.25) %>%
    # layer_conv_2d(64, ...) %>% ... %>% layer_dropout(0.25)
    for stage, filters in enumerate((32, 64), start=1):
        x = _conv(filters, f"stem_conv{stage}")(x)
        x = batch_norm(f"stem_bn{stage}", semantics)(x)
        x = keras.layers.ELU(name=f"stem_elu{stage}")(x)
        x = keras.layers.MaxPooling2D((2, 2), name=f"stem_pool{stage}")(x)
        x = keras.layers.Dropout(0.25, name=f"stem_dropout{stage}")(x)
    return x


def residual_branch(x, block: int, semantics: str = settings.SEMANTICS):
    """The residual function of ``## first residual`` / ``## second residual`` (the caller adds
    ``input_CNN``)."""
    p = f"res{block}_"
    # layer_batch_normalization(momentum = 0.99) %>%
    x = batch_norm(p + "bn_in", semantics)(x)
    # layer_conv_2d(128, kernel_size = kernel_size,padding = "same") %>%
    x = _conv(128, p + "conv1")(x)
    # layer_batch_normalization(momentum = 0.99) %>% layer_activation_elu() %>%
    x = batch_norm(p + "bn1", semantics)(x)
    x = keras.layers.ELU(name=p + "elu1")(x)
    # layer_dropout(0.25) %>%
    x = keras.layers.Dropout(0.25, name=p + "dropout")(x)
    # layer_conv_2d(64, kernel_size = kernel_size, padding = "same") %>%
    x = _conv(64, p + "conv2")(x)
    # layer_batch_normalization(momentum = 0.99) %>% layer_activation_elu()
    x = batch_norm(p + "bn2", semantics)(x)
    return keras.layers.ELU(name=p + "elu2")(x)


def top_cnn(x, semantics: str = settings.SEMANTICS):
    """``## final CNN``: conv 128/256/512 stages, then global max pooling. As written in R, the
    128 stage has no dropout, the 256 and 512 stages put dropout *before* their max pooling."""
    # layer_conv_2d(128, ...) %>% layer_batch_normalization(momentum = 0.99) %>%
    # layer_activation_elu() %>% layer_max_pooling_2d(c(2,2)) %>%
    x = _conv(128, "top_conv1")(x)
    x = batch_norm("top_bn1", semantics)(x)
    x = keras.layers.ELU(name="top_elu1")(x)
    x = keras.layers.MaxPooling2D((2, 2), name="top_pool1")(x)
    # layer_conv_2d(256, ...) %>% layer_batch_normalization(momentum = 0.99) %>%
    # layer_activation_elu() %>% layer_dropout(0.25) %>% layer_max_pooling_2d(c(2,2)) %>%
    # layer_conv_2d(512, ...) %>% ... (the same) ...
    for stage, filters in ((2, 256), (3, 512)):
        x = _conv(filters, f"top_conv{stage}")(x)
        x = batch_norm(f"top_bn{stage}", semantics)(x)
        x = keras.layers.ELU(name=f"top_elu{stage}")(x)
        x = keras.layers.Dropout(0.25, name=f"top_dropout{stage}")(x)
        x = keras.layers.MaxPooling2D((2, 2), name=f"top_pool{stage}")(x)
    # layer_global_max_pooling_2d()
    return keras.layers.GlobalMaxPooling2D(name="global_max_pool")(x)


def output_head(x, semantics: str = settings.SEMANTICS):
    """``## Output layer``: Dense 512 and 256 with BN, ELU, dropout 0.5; 2-way softmax."""
    # layer_dense(512,activation = NULL) %>% layer_batch_normalization(momentum = 0.99) %>%
    # layer_activation_elu() %>% layer_dropout(0.5) %>%
    # layer_dense(256,activation = NULL) %>% ... %>% layer_dropout(0.5) %>%
    for stage, units in enumerate((512, 256), start=1):
        x = keras.layers.Dense(units, activation=None, name=f"head_dense{stage}")(x)
        x = batch_norm(f"head_bn{stage}", semantics)(x)
        x = keras.layers.ELU(name=f"head_elu{stage}")(x)
        x = keras.layers.Dropout(0.5, name=f"head_dropout{stage}")(x)
    # layer_dense(2,activation = "softmax")
    return keras.layers.Dense(2, activation="softmax", name="output")(x)


def create_model(semantics: str = settings.SEMANTICS):
    """``## Prepare model`` to ``## Setting up model``: the residual CNN, not yet compiled; input
    ``[n, 75, 75, 3]`` (HH, HV and their mean, in dB), 2-way softmax (not iceberg, iceberg)."""
    input_img, input_img_norm = input_layers(semantics)
    input_CNN = input_cnn(input_img_norm, semantics)  # noqa: N806 - the R name

    # ## first residual
    # input_CNN_residual = layer_add(list(input_CNN_residual,input_CNN))
    residual = keras.layers.Add(name="res1_add")(
        [residual_branch(input_CNN, 1, semantics), input_CNN]
    )
    # ## second residual: the branch reads the first sum, but adds input_CNN again
    # input_CNN_residual = layer_add(list(input_CNN_residual,input_CNN))
    residual = keras.layers.Add(name="res2_add")(
        [residual_branch(residual, 2, semantics), input_CNN]
    )

    outputs = output_head(top_cnn(residual, semantics), semantics)
    # model_resNN <- keras_model(inputs = list(input_img), outputs = list(outputs))
    return keras.Model(inputs=input_img, outputs=outputs, name="model_resNN")


def compile_model(model, semantics: str = settings.SEMANTICS):
    """``## Setting up functions for model evaluation and passes``: Adam(0.001), BCE, accuracy."""
    # model_resNN %>% compile(optimizer = optimizer_adam(lr = 0.001),
    #                         loss="binary_crossentropy", metrics = c("accuracy"))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=ADAM_LEARNING_RATE),
        loss=keras22.loss("binary_crossentropy", semantics),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def build_resnet(*, semantics: str = settings.SEMANTICS):
    """The R script's residual CNN, compiled as the script compiles it (seed Keras first)."""
    return compile_model(create_model(semantics), semantics)


# The layers the R script repeats, with its settings written out.
def batch_norm(name: str, semantics: str = settings.SEMANTICS):
    # layer_batch_normalization(momentum = 0.99): Keras 2.2's moving statistics under "keras22"
    return keras22.batch_normalization(
        semantics, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name
    )


def _conv(filters: int, name: str):
    # layer_conv_2d(filters, kernel_size = kernel_size, padding = "same"): linear, with bias.
    return keras.layers.Conv2D(filters, KERNEL_SIZE, padding="same", name=name)


# ## Trying on test data
def r_style_accuracy(pred, y_onehot) -> float:
    """The report's last line, ``mean(round(predict(model, test))[,2] == test_truth)``, as R computes it.

    ``==`` recycles the length-n vector along the n x 2 one-hot matrix's column-major storage:
    each prediction meets both columns, one of which matches whatever it is, so the value is 0.5
    for every model. Rounding is half-to-even like R's; a NaN prediction (R's ``NA``) gives NaN.
    """
    pred, truth = np.asarray(pred, dtype="float64"), np.asarray(y_onehot, dtype="float64")
    if pred.ndim != 2 or pred.shape[1] < 2:
        raise ValueError(f"pred must be an n x k matrix with k >= 2, got shape {pred.shape}")
    if truth.ndim != 2 or truth.shape[0] != pred.shape[0]:
        raise ValueError(
            f"y_onehot must be an n x k matrix with n = {pred.shape[0]}, got {truth.shape}"
        )
    truth_storage = truth.ravel(order="F")  # a matrix is its column-major vector
    # round(predict(...))[,2], recycled (R's rule) along the matrix
    recycled = np.resize(np.round(pred)[:, 1], truth_storage.shape)
    if np.isnan(recycled).any() or np.isnan(truth_storage).any():
        return float("nan")
    return float(np.mean(recycled == truth_storage))
