"""Hooks the fit loop calls. Subclass :class:`Callback` and override what you need; set
``network.stop_training = True`` in a hook to end training after the current epoch."""


class Callback:
    def on_train_begin(self, network):
        pass

    def on_epoch_begin(self, epoch):
        pass

    def on_batch_end(self, batch, loss):
        pass

    def on_epoch_end(self, epoch, logs):
        """``logs``: this epoch's History values (loss, accuracy, cost, val_*, time, lr)."""

    def on_train_end(self, history):
        pass
