import io

from rich.console import Console

from nngraph.train.progress import TrainingProgress, format_metrics


def run(console, quiet=False):
    with TrainingProgress(3, quiet=quiet, console=console) as bar:
        for epoch in range(1, 4):
            bar.epoch_done(epoch, {"accuracy": 0.5, "loss": 0.25, "val_loss": float("nan")})
    return bar


def test_terminal_shows_epochs_and_metrics():
    out = io.StringIO()
    bar = run(Console(file=out, force_terminal=True, width=100))
    assert bar.active
    text = out.getvalue()
    assert "3/3" in text and "loss 0.25" in text


def test_quiet_prints_nothing(capsys):
    out = io.StringIO()
    assert not run(Console(file=out, force_terminal=True), quiet=True).active
    assert not run(Console(file=out, force_terminal=False), quiet=True).active
    assert out.getvalue() == "" and capsys.readouterr() == ("", "")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_without_a_terminal_plain_lines_go_to_stderr_every_few_seconds(capsys):
    clock = Clock()
    with TrainingProgress(100, quiet=False, clock=clock) as progress:  # pytest's stderr is not a terminal
        for epoch in range(1, 101):
            clock.now += 0.5  # 2 epochs a second: a line every LINE_SECONDS = 10 epochs
            progress.epoch_done(epoch, {"loss": 1.0 / epoch})
    assert progress.mode == "lines"
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and "\x1b" not in err
    assert lines[0] == "epoch 1/100  loss 1  (0.5s)" and lines[-1] == "epoch 100/100  loss 0.01  (50.0s)"
    assert [int(line.split()[1].split("/")[0]) for line in lines] == [1, *range(11, 100, 10), 100]


def test_format_puts_losses_first_and_caps_the_count():
    text = format_metrics({"accuracy": 0.9, "loss": 0.1, "val_loss": 0.2, "a": 1, "b": 2}, limit=3)
    assert text == "loss 0.1  val_loss 0.2  accuracy 0.9"
    assert format_metrics({"loss": 1.5e-5}) == "loss 1.50e-05"
