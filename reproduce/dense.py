"""The report's dense network (appendix 7.1.2, "Final NN Code Using Iceberg Dataset"), ported from R.

Read top to bottom beside the R script: each section quotes the R lines it ports. R keras defaults
the script relies on are written out: ``'sgd'`` is SGD(0.01) without momentum, ``fit()`` uses
batches of 32 and shuffles, and ``metrics = c('accuracy')`` with binary cross-entropy was *binary*
accuracy. ``preprocessing="r"`` keeps the script's two input bugs (:mod:`reproduce.preprocess`).
"""

from reproduce._quiet import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402  (after the quiet import above, on purpose)

from reproduce import data, engine, keras22, preprocess, settings  # noqa: E402
from reproduce.engine import RunConfig  # noqa: E402

IMAGE_SIDE = 75  # every band is a 75x75 radar image
HIDDEN_UNITS = (128, 128, 128, 128)  # layer_dense(units = 128, activation = 'relu'), four times
SGD_LEARNING_RATE = 0.01  # R keras' optimizer = 'sgd': optimizer_sgd(lr = 0.01, momentum = 0)


def main(config: RunConfig) -> dict:
    """The whole R script; returns the run's metrics (as written to ``metrics.json``)."""
    # ## Setting seed
    # set.seed(1)                   -> config.seed: the split below
    # (weights, dropout and shuffling: config.train_seed, by default the same number)
    engine.seed_everything(config.train_seed)

    # ## Reading in dataset
    # train = fromJSON("train.json")
    train, source = data.resolve_data(config.data)
    print(f"data: {source.description}")
    if (finished := engine.finished_run(config, source.to_dict())) is not None:
        return finished

    # # Getting relevant information
    # x <- train %>% lapply(function(x){c(x$band_1, x$band_2)}) %>% unlist %>%
    #   array(dim=c(75,75,1604)) %>% aperm(c(3,1,2))
    # # Values for Output
    # y <- classvec2classmat(unlist(lapply (train, function(x) {x$is_iceberg})))
    x, y = preprocess.dense_inputs(train, preprocessing=config.preprocessing)

    # # Training Set list
    # nums <- sample(1:1604, 1300)
    nums, not_nums = preprocess.report_split(len(x), seed=config.seed, kind=config.sample_kind)
    # (--validation holds out training images in place of the test ones; --quick and
    # --limit-* keep the first images of each side)
    nums, not_nums = config.split(nums, not_nums)

    # # Organizing
    # train_iceberg <- x[nums, , ];  train_truth <- y[nums, 2]
    # test_iceberg <- x[-nums, , ];  test_truth <- y[-nums, 2]
    train_iceberg, train_truth = x[nums], y[nums].astype("float32")
    test_iceberg, test_truth = x[not_nums], y[not_nums].astype("float32")

    # ## Need to scale data
    # train_iceberg <- train_iceberg/max(abs(train_iceberg))
    # test_iceberg <- test_iceberg/max(abs(train_iceberg))   (divides by 1: see preprocess)
    train_iceberg, test_iceberg = preprocess.scale_dense(
        train_iceberg, test_iceberg, config.preprocessing
    )
    print(config.describe(len(train_iceberg), len(test_iceberg)))

    with engine.model_scope(config.distribute):  # --distribute: a copy on every device
        # #### Creating model
        iceberg_nn = create_model()
        # ## Adding loss function and optimizer
        compile_model(iceberg_nn, config.semantics)  # --semantics: keras22 (R's) or keras3

    with engine.Run(config, source.to_dict()) as run:
        # ## Fitting the model
        # iceberg_nn %>% fit(train_iceberg, train_truth, epochs = 150)
        run.fit(iceberg_nn, train_iceberg, train_truth, test_data=(test_iceberg, test_truth))

        # ## Seeing the accuracy
        # score <- iceberg_nn %>% evaluate(test_iceberg, test_truth)
        score = run.evaluate(iceberg_nn, test_iceberg, test_truth)
    # cat('Test loss:', score$loss, "\n")
    # cat('Test accuracy:', score$acc, "\n")
    print("Test loss:", score["loss"])
    print("Test accuracy:", score["accuracy"])
    return run.metrics


def create_model():
    """``#### Creating model``: flatten 75x75 -> 4 x Dense(128, relu) -> Dense(1, sigmoid), 769,793
    parameters; weights from Keras' global random state (``engine.seed_everything``)."""
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
    return model


def compile_model(model, semantics: str = settings.SEMANTICS):
    """``## Adding loss function and optimizer``: SGD(0.01), binary cross-entropy, binary accuracy."""
    # iceberg_nn %>% compile(optimizer = 'sgd', loss = 'binary_crossentropy',
    #                        metrics = c('accuracy'))
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=SGD_LEARNING_RATE, momentum=0.0),
        loss=keras22.loss("binary_crossentropy", semantics),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def build_dense(*, semantics: str = settings.SEMANTICS):
    """The R script's dense network, compiled as the script compiles it (seed Keras first)."""
    return compile_model(create_model(), semantics)
