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


def test_quiet_and_non_terminals_print_nothing(capsys):
    out = io.StringIO()
    assert not run(Console(file=out, force_terminal=True), quiet=True).active
    assert not run(Console(file=out, force_terminal=False)).active
    assert not run(None).active  # pytest's captured stdout is not a terminal
    assert out.getvalue() == "" and capsys.readouterr().out == ""


def test_format_puts_losses_first_and_caps_the_count():
    text = format_metrics({"accuracy": 0.9, "loss": 0.1, "val_loss": 0.2, "a": 1, "b": 2}, limit=3)
    assert text == "loss 0.1  val_loss 0.2  accuracy 0.9"
    assert format_metrics({"loss": 1.5e-5}) == "loss 1.50e-05"
