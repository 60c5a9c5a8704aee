"""What ``fit`` shows while it trains, Keras style.

On a terminal or in a notebook a bar per epoch, redrawn in place at most a few times a second::

    Epoch 3/10  1875/1875 [==============================] - 2.1s - loss: 0.2980 - accuracy: 0.9130

Elsewhere (a pipe, a log file) the same line once per epoch, without carriage-return frames. Epochs
shorter than half a second are overwritten by the next one on a terminal (the last one stays), so a
thousand toy epochs leave one line, not a thousand.
"""
import sys
import time

__all__ = ["Progress", "interactive"]

_REFRESH_S = 0.2
_KEEP_S = 0.5
_WIDTH = 30


def interactive(stream):
    """True when ``stream`` is a terminal or a Jupyter notebook's output (where \\r redraws a line)."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):
        return False
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    ip = shell.get_ipython() if hasattr(shell, "get_ipython") else None
    return type(ip).__name__ == "ZMQInteractiveShell"


def _format_logs(logs):
    """`` - loss: 0.1234 - accuracy: ...``; cost only where an L2 term makes it differ from the loss."""
    shown = {k: v for k, v in logs.items()
             if k not in ("lr", "time") and not (k.endswith("cost") and logs.get(k[:-4] + "loss") == v)}
    return "".join(f" - {k}: {v:.4f}" if abs(v) < 1e6 else f" - {k}: {v:.4e}" for k, v in shown.items())


def _format_seconds(s):
    if s < 1e-3:
        return f"{s * 1e6:.0f}us"
    return f"{s * 1e3:.0f}ms" if s < 1 else f"{s:.1f}s" if s < 60 else f"{int(s // 60)}m {s % 60:.0f}s"


class Progress:
    """Progress display for ``epochs`` epochs of ``samples`` samples each.

    ``verbose``: 0 nothing; 1 or None a bar where the stream is interactive and a line per epoch
    elsewhere; 2 a line per epoch always.
    """

    def __init__(self, epochs, samples, verbose, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.epochs, self.samples = epochs, samples
        if verbose == 0:
            self.mode = None
        elif verbose == 2 or not interactive(self.stream):
            self.mode = "line"
        else:
            self.mode = "bar"
        self._epoch = 0
        self._t0 = self._last = 0.0
        self._open = False  # a bar line is on screen without its newline
        self._width = 0

    def epoch_begin(self, epoch):
        self._epoch = epoch
        self._t0 = time.perf_counter()

    def update(self, done, logs):
        """``done`` samples of the current epoch trained; ``logs`` the running metrics."""
        if self.mode != "bar":
            return
        now = time.perf_counter()
        if now - self._last >= _REFRESH_S:
            self._last = now
            self._draw(done, logs, now - self._t0)

    def epoch_end(self, epoch, logs, seconds=None):
        if self.mode is None:
            return
        self._epoch = epoch
        seconds = time.perf_counter() - self._t0 if seconds is None else seconds
        if self.mode == "line":
            self.stream.write(self._line(self.samples, logs, seconds, bar=False) + "\n")
            self.stream.flush()
            return
        last = epoch + 1 == self.epochs
        if seconds >= _KEEP_S or last or time.perf_counter() - self._last >= _REFRESH_S:
            self._draw(self.samples, logs, seconds)
            self._last = time.perf_counter()
        if seconds >= _KEEP_S or last:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
            self._width = 0

    def close(self):
        """End an unfinished bar line (training stopped early or raised)."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
            self._width = 0

    def _line(self, done, logs, seconds, bar):
        width = len(str(self.epochs))
        head = f"Epoch {self._epoch + 1:>{width}}/{self.epochs}"
        count = f"{done:>{len(str(self.samples))}}/{self.samples}"
        if bar:
            filled = _WIDTH * done // max(self.samples, 1)
            arrow = ">" if filled < _WIDTH else ""
            count += " [" + "=" * filled + arrow + "." * (_WIDTH - filled - len(arrow)) + "]"
            return f"{head}  {count} - {_format_seconds(seconds)}{_format_logs(logs)}"
        return f"{head} - {count} - {_format_seconds(seconds)}{_format_logs(logs)}"

    def _draw(self, done, logs, seconds):
        line = self._line(done, logs, seconds, bar=True)
        # Spaces rather than an ANSI erase: notebooks honour \r but not every escape sequence.
        self.stream.write("\r" + line + " " * max(0, self._width - len(line)))
        self.stream.flush()
        self._width = len(line)
        self._open = True
