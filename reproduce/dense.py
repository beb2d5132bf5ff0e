"""The report's dense network (appendix 7.1.2, "Final NN Code Using Iceberg Dataset"), ported from R.

Read it beside the R script: each section below carries the R chunk's header
and quotes the R lines it ports. ``build_dense()`` is the model alone (compiled
with the R settings); ``run(args)`` is the whole script, from reading the data
to scoring the test set, and is what ``python -m reproduce dense`` calls.

R keras defaults the script relies on (and which we therefore write out):

* ``optimizer = 'sgd'`` is SGD with learning rate 0.01 and no momentum;
* ``fit()`` trains with ``batch_size = 32`` and shuffles every epoch;
* ``metrics = c('accuracy')`` with a binary cross-entropy loss resolved to
  *binary* accuracy in the Keras 2 that R keras wrapped in 2019, so we name
  ``BinaryAccuracy`` explicitly instead of letting Keras 3 guess.

The preprocessing (``--preprocessing r`` reproduces the script's two bugs: the
``array(dim=c(75,75,1604))`` that interleaves bands and drops half the records,
and the test set that is divided by 1; ``corrected`` fixes both) lives in
:mod:`reproduce.preprocess`; this module only calls it, in the script's order.
"""

from __future__ import annotations

import argparse

#: Image side in pixels; every band is a 75x75 radar image.
IMAGE_SIDE = 75
#: The four hidden layers of the R script, ``layer_dense(units = 128, activation = 'relu')``.
HIDDEN_UNITS = (128, 128, 128, 128)
#: R keras' ``optimizer = 'sgd'``: ``optimizer_sgd(lr = 0.01, momentum = 0)``.
SGD_LEARNING_RATE = 0.01
#: ``fit(train_iceberg, train_truth, epochs = 150)``; batch size is R keras' default.
EPOCHS = 150
BATCH_SIZE = 32


def build_dense():
    """Return the R script's dense network, compiled as the script compiles it.

    Layers (``#### Creating model``)::

        layer_flatten(input_shape = c(75, 75))       -> 5625 inputs
        4 x layer_dense(units = 128, activation = 'relu')
        layer_dense(units = 1, activation = 'sigmoid')

    Compiled (``## Adding loss function and optimizer``) with SGD at learning
    rate 0.01 without momentum, binary cross-entropy and binary accuracy
    (reported as ``accuracy``). Parameters:
    ``(5625*128 + 128) + 3*(128*128 + 128) + (128 + 1) = 769,793``.

    Weights are initialised from Keras' global random state: call
    ``keras.utils.set_random_seed`` first for a repeatable model.
    """
    import keras

    # iceberg_nn <- keras_model_sequential()
    model = keras.Sequential(name="iceberg_nn")
    # layer_flatten(input_shape = c(75, 75)) %>% # Turning image into 784 input variables
    model.add(keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE), name="image"))
    model.add(keras.layers.Flatten(name="flatten"))
    # layer_dense(units = 128, activation = 'relu') %>%   (four times)
    for i, units in enumerate(HIDDEN_UNITS, start=1):
        model.add(keras.layers.Dense(units, activation="relu", name=f"dense_{i}"))
    # layer_dense(units = 1, activation = 'sigmoid') # Output layer
    model.add(keras.layers.Dense(1, activation="sigmoid", name="output"))

    # iceberg_nn %>% compile(optimizer = 'sgd', loss = 'binary_crossentropy',
    #                        metrics = c('accuracy'))
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=SGD_LEARNING_RATE, momentum=0.0),
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def prepare_data(df, *, preprocessing: str, seed: int, sample_kind: str,
                 limit_train: int | None = None, limit_test: int | None = None):
    """Turn the records into the script's ``train_iceberg``/``test_iceberg`` arrays.

    Runs the script's chunks from ``# Getting relevant information`` to
    ``## Need to scale data``. Returns ``(x_train, y_train, x_test, y_test)``
    with images ``[n, 75, 75]`` float32 and labels ``[n]`` float32 (0/1).

    ``limit_train``/``limit_test`` keep only the first images of each side of
    the split (``--quick`` and ``--limit-*``); they apply before scaling, so
    the scale is that of the images actually trained on.
    """
    import numpy as np

    from reproduce import preprocess

    # ## Getting relevant information
    # x <- train %>% lapply(function(x){c(x$band_1, x$band_2)}) %>% unlist %>%
    #   array(dim=c(75,75,1604)) %>% aperm(c(3,1,2))
    # ## Values for Output
    # y <- classvec2classmat(unlist(lapply(train, function(x) {x$is_iceberg})))
    x, y = preprocess.dense_inputs(df, preprocessing=preprocessing)

    # ## Training Set list
    # nums <- sample(1:1604, 1300)          (after set.seed(1) at the top of the script)
    n_train = preprocess.default_n_train(len(x))  # 1300 of the real 1604 records
    train_idx, test_idx = preprocess.split_indices(len(x), n_train, seed=seed, kind=sample_kind)
    train_idx, test_idx = train_idx[:limit_train], test_idx[:limit_test]

    # ## Organizing
    # train_iceberg <- x[nums, , ];  train_truth <- y[nums, 2]
    # test_iceberg <- x[-nums, , ];  test_truth <- y[-nums, 2]
    x_train, y_train = x[train_idx], np.asarray(y[train_idx], dtype="float32")
    x_test, y_test = x[test_idx], np.asarray(y[test_idx], dtype="float32")

    # ## Need to scale data
    # train_iceberg <- train_iceberg/max(abs(train_iceberg))
    # test_iceberg <- test_iceberg/max(abs(train_iceberg))   (divides by 1: see preprocess)
    x_train, x_test = preprocess.scale_dense(x_train, x_test, preprocessing)
    return (np.asarray(x_train, dtype="float32"), y_train,
            np.asarray(x_test, dtype="float32"), y_test)


def run(args: argparse.Namespace) -> dict:
    """The whole script: data -> inputs -> split -> scaling -> model -> fit -> score.

    ``args`` are those of ``python -m reproduce dense`` (see
    :mod:`reproduce.train`). Returns the run's metrics (as written to
    ``metrics.json``).
    """
    from reproduce import train

    # ## Setting seed
    # set.seed(1)                 -> --seed, used by the split and by Keras' weight init
    # ## Reading in dataset
    # train = fromJSON("train.json")
    df, source = train.load_data(args)

    # ## Getting relevant information ... ## Need to scale data
    data = prepare_data(df, preprocessing=args.preprocessing, seed=args.seed,
                        sample_kind=args.sample_kind,
                        limit_train=args.limit_train, limit_test=args.limit_test)

    # #### Creating model  /  ## Adding loss function and optimizer  -> build_dense()
    # ## Fitting the model
    # iceberg_nn %>% fit(train_iceberg, train_truth, epochs = 150)
    # ## Seeing the accuracy
    # score <- iceberg_nn %>% evaluate(test_iceberg, test_truth)
    # cat('Test loss:', score$loss, "\n"); cat('Test accuracy:', score$acc, "\n")
    return train.fit_and_record(args, model_name="dense", build_model=build_dense,
                                data=data, source=source)
