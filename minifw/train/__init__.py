"""Training: the Trainer, optimizers, minibatch samplers, checkpoints and progress reports."""
