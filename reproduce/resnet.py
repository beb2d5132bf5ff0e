"""The report's residual CNN (appendix 7.2.2, "RESNET Final Code"), ported from R.

Read it beside the R script: each section below carries the R chunk's header
and quotes the R lines it ports. ``build_resnet()`` is the model alone
(compiled with the R settings); ``run(args)`` is the whole script and is what
``python -m reproduce resnet`` calls. The stem (``## input CNN``), the top stack
(``## final CNN``) and the head (``## Output layer``) are separate functions
because the Neural ODE network (:mod:`reproduce.odenet`) reuses them unchanged.

Faithful details worth knowing:

* Both residual blocks add ``input_CNN``, the stem's output, not the running
  sum: ``r1 = f1(s) + s``, ``r2 = f2(r1) + s``. We keep that.
* ``layer_batch_normalization(momentum = 0.99)`` is Keras' default too
  (momentum 0.99, epsilon 1e-3, last axis); we write the values out anyway.
* ``metrics = c("accuracy")`` with binary cross-entropy was *binary* accuracy in
  R keras' Keras 2; Keras 3 would pick categorical accuracy for a 2-unit
  output, so we name ``BinaryAccuracy`` explicitly. On one-hot labels and a
  softmax they agree except when both outputs are exactly 0.5.
* The R script sets no seed before ``sample(1:1604, 1300)``, so its split is
  unknowable. We use the dense script's split, ``set.seed(seed); sample(...)``
  with ``--seed`` (default 1), and record it in ``metrics.json``.
* The script's last line, ``mean(round(predict(model_resNN, test_iceberg))[,2]
  == test_truth)``, compares a length-n vector with an n x 2 matrix. R
  recycles the vector over both columns, so the result is exactly 0.5 for any
  model (see :func:`r_style_accuracy`). We report it as
  ``r_style_test_accuracy`` next to the real ``test_accuracy``.

Parameter count (``model.count_params()``, which like R keras' summary
includes the batch-normalisation moving statistics): 5,578,574, of which
5,574,024 trainable; ``tests/test_models.py`` derives it from the layer sizes.
"""

from __future__ import annotations

import argparse

IMAGE_SHAPE = (75, 75, 3)
#: ``kernel_size = c(5,5)``
KERNEL_SIZE = (5, 5)
#: ``layer_batch_normalization(momentum = 0.99)``; epsilon is R keras' default.
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3
#: ``optimizer_adam(lr = 0.001)``
ADAM_LEARNING_RATE = 0.001
EPOCHS = 150
BATCH_SIZE = 32


def _batch_norm(name: str):
    import keras

    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def _conv(filters: int, name: str):
    import keras

    # layer_conv_2d(filters, kernel_size = kernel_size, padding = "same"): linear, with bias.
    return keras.layers.Conv2D(filters, KERNEL_SIZE, padding="same", name=name)


def input_cnn(input_img_norm):
    """``## input CNN``: two 5x5 conv stages, 75x75x3 -> 18x18x64.

    Each stage is conv -> BN -> ELU -> 2x2 max pooling -> dropout 0.25.
    """
    import keras

    x = input_img_norm
    # layer_conv_2d(32, kernel_size = kernel_size, padding = "same") %>%
    # layer_batch_normalization(momentum = 0.99) %>% layer_activation_elu() %>%
    # layer_max_pooling_2d(c(2,2)) %>% layer_dropout(0.25) %>%
    # layer_conv_2d(64, ...) %>% ... %>% layer_dropout(0.25)
    for stage, filters in enumerate((32, 64), start=1):
        x = _conv(filters, f"stem_conv{stage}")(x)
        x = _batch_norm(f"stem_bn{stage}")(x)
        x = keras.layers.ELU(name=f"stem_elu{stage}")(x)
        x = keras.layers.MaxPooling2D((2, 2), name=f"stem_pool{stage}")(x)
        x = keras.layers.Dropout(0.25, name=f"stem_dropout{stage}")(x)
    return x


def residual_branch(x, block: int):
    """The residual function of ``## first residual`` / ``## second residual``.

    BN -> conv 128 -> BN -> ELU -> dropout 0.25 -> conv 64 -> BN -> ELU
    (the caller adds ``input_CNN``).
    """
    import keras

    p = f"res{block}_"
    # layer_batch_normalization(momentum = 0.99) %>%
    x = _batch_norm(p + "bn_in")(x)
    # layer_conv_2d(128, kernel_size = kernel_size,padding = "same") %>%
    x = _conv(128, p + "conv1")(x)
    # layer_batch_normalization(momentum = 0.99) %>% layer_activation_elu() %>%
    x = _batch_norm(p + "bn1")(x)
    x = keras.layers.ELU(name=p + "elu1")(x)
    # layer_dropout(0.25) %>%
    x = keras.layers.Dropout(0.25, name=p + "dropout")(x)
    # layer_conv_2d(64, kernel_size = kernel_size, padding = "same") %>%
    x = _conv(64, p + "conv2")(x)
    # layer_batch_normalization(momentum = 0.99) %>% layer_activation_elu()
    x = _batch_norm(p + "bn2")(x)
    return keras.layers.ELU(name=p + "elu2")(x)


def top_cnn(x):
    """``## final CNN``: conv 128/256/512 stages, then global max pooling.

    Exactly as written in R: the 128 stage has no dropout, the 256 and 512
    stages put dropout *before* their max pooling.
    """
    import keras

    # layer_conv_2d(128, ...) %>% layer_batch_normalization(momentum = 0.99) %>%
    # layer_activation_elu() %>% layer_max_pooling_2d(c(2,2)) %>%
    x = _conv(128, "top_conv1")(x)
    x = _batch_norm("top_bn1")(x)
    x = keras.layers.ELU(name="top_elu1")(x)
    x = keras.layers.MaxPooling2D((2, 2), name="top_pool1")(x)
    # layer_conv_2d(256, ...) %>% layer_batch_normalization(momentum = 0.99) %>%
    # layer_activation_elu() %>% layer_dropout(0.25) %>% layer_max_pooling_2d(c(2,2)) %>%
    # layer_conv_2d(512, ...) %>% ... (the same) ...
    for stage, filters in ((2, 256), (3, 512)):
        x = _conv(filters, f"top_conv{stage}")(x)
        x = _batch_norm(f"top_bn{stage}")(x)
        x = keras.layers.ELU(name=f"top_elu{stage}")(x)
        x = keras.layers.Dropout(0.25, name=f"top_dropout{stage}")(x)
        x = keras.layers.MaxPooling2D((2, 2), name=f"top_pool{stage}")(x)
    # layer_global_max_pooling_2d()
    return keras.layers.GlobalMaxPooling2D(name="global_max_pool")(x)


def output_head(x):
    """``## Output layer``: Dense 512 and 256 with BN, ELU, dropout 0.5; 2-way softmax."""
    import keras

    # layer_dense(512,activation = NULL) %>% layer_batch_normalization(momentum = 0.99) %>%
    # layer_activation_elu() %>% layer_dropout(0.5) %>%
    # layer_dense(256,activation = NULL) %>% ... %>% layer_dropout(0.5) %>%
    for stage, units in enumerate((512, 256), start=1):
        x = keras.layers.Dense(units, activation=None, name=f"head_dense{stage}")(x)
        x = _batch_norm(f"head_bn{stage}")(x)
        x = keras.layers.ELU(name=f"head_elu{stage}")(x)
        x = keras.layers.Dropout(0.5, name=f"head_dropout{stage}")(x)
    # layer_dense(2,activation = "softmax")
    return keras.layers.Dense(2, activation="softmax", name="output")(x)


def input_layers():
    """``## Prepare model`` and ``## Normalizing data``: the image input and its batch norm."""
    import keras

    # input_img = layer_input(shape = c(75, 75, 3), name="img")
    input_img = keras.Input(shape=IMAGE_SHAPE, name="img")
    # input_img_norm = input_img %>% layer_batch_normalization(momentum = 0.99)
    input_img_norm = _batch_norm("input_bn")(input_img)
    return input_img, input_img_norm


def compile_like_r(model):
    """``## Setting up functions for model evaluation and passes``: Adam(0.001), BCE, accuracy."""
    import keras

    # model_resNN %>% compile(optimizer = optimizer_adam(lr = 0.001),
    #                         loss="binary_crossentropy", metrics = c("accuracy"))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=ADAM_LEARNING_RATE),
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def build_resnet():
    """Return the R script's residual CNN, compiled as the script compiles it.

    Input ``[n, 75, 75, 3]`` (HH, HV and their mean, in dB), output a 2-way
    softmax over (not iceberg, iceberg). See the module docstring for the
    graph's particularities; seed Keras (``keras.utils.set_random_seed``)
    before calling for repeatable weights.
    """
    import keras

    input_img, input_img_norm = input_layers()
    input_CNN = input_cnn(input_img_norm)  # noqa: N806 - the R name

    # ## first residual
    # input_CNN_residual = layer_add(list(input_CNN_residual,input_CNN))
    residual = keras.layers.Add(name="res1_add")([residual_branch(input_CNN, 1), input_CNN])
    # ## second residual: the branch reads the first sum, but adds input_CNN again
    # input_CNN_residual = layer_add(list(input_CNN_residual,input_CNN))
    residual = keras.layers.Add(name="res2_add")([residual_branch(residual, 2), input_CNN])

    outputs = output_head(top_cnn(residual))
    # model_resNN <- keras_model(inputs = list(input_img), outputs = list(outputs))
    model = keras.Model(inputs=input_img, outputs=outputs, name="model_resNN")
    return compile_like_r(model)


def r_style_accuracy(pred, y_onehot) -> float:
    """The report's last line, ``mean(round(predict(model, test))[,2] == test_truth)``, as R computes it.

    ``round(pred)[, 2]`` is a vector of length n; ``test_truth`` is the n x 2
    one-hot matrix. ``==`` between a vector and a matrix recycles the vector
    along the matrix's column-major storage, so element i is compared with
    ``truth[i, 1]`` *and* with ``truth[i, 2]``: the mean runs over 2n
    comparisons. For one-hot labels exactly one of the two matches whatever
    the prediction is (a rounded softmax column is 0 or 1), so the value is
    exactly 0.5 for every model: the line cannot measure accuracy. It is
    reported only to show what the report's code would have printed.

    Rounding is half-to-even like R's ``round`` (0.5 -> 0). A NaN prediction
    makes R's mean ``NA``; we return NaN.
    """
    import numpy as np

    pred = np.asarray(pred, dtype="float64")
    truth = np.asarray(y_onehot, dtype="float64")
    if pred.ndim != 2 or pred.shape[1] < 2:
        raise ValueError(f"pred must be an n x k matrix with k >= 2, got shape {pred.shape}")
    if truth.ndim != 2 or truth.shape[0] != pred.shape[0]:
        raise ValueError(f"y_onehot must be an n x k matrix with n = {pred.shape[0]}, got {truth.shape}")
    second_column = np.round(pred)[:, 1]  # round(predict(...))[,2]
    truth_storage = truth.ravel(order="F")  # a matrix is its column-major vector
    recycled = np.resize(second_column, truth_storage.shape)  # R's recycling rule
    if np.isnan(recycled).any() or np.isnan(truth_storage).any():
        return float("nan")
    return float(np.mean(recycled == truth_storage))


def prepare_data(df, *, preprocessing: str, seed: int, sample_kind: str,
                 limit_train: int | None = None, limit_test: int | None = None):
    """Turn the records into ``train_iceberg``/``test_iceberg`` and their one-hot truths.

    Runs the chunks from ``# Getting relevant information`` to ``# Organizing``
    (the script does not scale: its first layer is a batch normalisation).
    Returns ``(x_train, y_train, x_test, y_test)``: images ``[n, 75, 75, 3]``
    and labels ``[n, 2]``, float32. ``limit_*`` keep the first images of each
    side of the split (``--quick``, ``--limit-*``).
    """
    import numpy as np

    from reproduce import preprocess

    # # Getting relevant information
    # x = train %>% lapply(function(x){ c(x$band_1, x$band_2,
    #       apply(cbind(x$band_1,x$band_2), 1, mean))}) %>% unlist %>%
    #   array(dim=c(75,75,3,1604)) %>% aperm(c(4,1,2,3))
    # # Values for Output
    # y <- classvec2classmat(unlist(lapply (train, function(x) {x$is_iceberg})))
    x, y = preprocess.resnet_inputs(df, preprocessing=preprocessing)

    # # Training Set list
    # nums <- sample(1:1604, 1300)     (no set.seed in this script: we use --seed)
    n_train = preprocess.default_n_train(len(x))  # 1300 of the real 1604 records
    train_idx, test_idx = preprocess.split_indices(len(x), n_train, seed=seed, kind=sample_kind)
    train_idx, test_idx = train_idx[:limit_train], test_idx[:limit_test]

    # # Organizing
    # train_iceberg <- x[nums, , , ];  train_truth <- y[nums, ]
    # test_iceberg <- x[-nums, , , ];  test_truth <- y[-nums, ]
    as32 = lambda a: np.asarray(a, dtype="float32")  # noqa: E731
    return as32(x[train_idx]), as32(y[train_idx]), as32(x[test_idx]), as32(y[test_idx])


def evaluate_r_style(model, x_test, y_test) -> dict:
    """``## Trying on test data``: the report's own scoring line, for ``metrics.json``."""
    # predictions_resnet <- mean(round(predict(model_resNN, test_iceberg))[,2] == test_truth)
    pred = model.predict(x_test, verbose=0)
    return {"r_style_test_accuracy": r_style_accuracy(pred, y_test)}


def run(args: argparse.Namespace) -> dict:
    """The whole script: data -> inputs -> split -> model -> fit -> score; returns the metrics."""
    from reproduce import train

    # ## Loading data
    # train = fromJSON("train.json")
    df, source = train.load_data(args)

    # # Getting relevant information ... # Organizing
    data = prepare_data(df, preprocessing=args.preprocessing, seed=args.seed,
                        sample_kind=args.sample_kind,
                        limit_train=args.limit_train, limit_test=args.limit_test)

    # ## Prepare model ... ## Setting up functions for model evaluation and passes -> build_resnet()
    # ## Fitting the model
    # model_resNN %>% fit(train_iceberg, train_truth, epochs = 150)
    # ## Trying on test data
    # predictions_resnet <- mean(round(predict(model_resNN, test_iceberg))[,2] == test_truth)
    # paste("Test Accuracy (ResNN):", predictions_resnet)
    return train.fit_and_record(args, model_name="resnet", build_model=build_resnet,
                                data=data, source=source, evaluate_extra=evaluate_r_style)
