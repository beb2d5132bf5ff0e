"""The command line's commands, one module each: ``train`` (dense|resnet|odenet|all), ``data``, ``figures``, ``compare``."""
