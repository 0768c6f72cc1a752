"""How each command runs and shows its help (the classes the typer app builds its commands from).

Help pages are plain text: `Usage: nngraph train [OPTIONS] SPEC`, each option with its value's name and help.
typer's own pages change with its version (0.29 prints `{spec}` for a required argument and a type column
with `<bool>` after every flag), so they are formatted here, through click's `HelpFormatter`, the same under
every typer the project accepts.

click turns a KeyboardInterrupt or an EOFError raised inside a command into an exit code or an `Abort`, in
ways that differ between versions (an EOFError from `np.load` on an empty file became a silent exit 130), so
a command's body hands them on as `CommandInterrupted` and `CommandFailed`, which `app.run` reports. A
BrokenPipeError (the reader of stdout went away) is handed on as `CommandFailed` too: click would exit 1.
"""

from __future__ import annotations

from typer.core import TyperCommand, TyperGroup

from nngraph.cli import EXIT_CODES


class CommandInterrupted(Exception):
    """Ctrl-C inside a command."""


class CommandFailed(Exception):
    """An EOFError inside a command (a bug: a reader that did not expect an empty file), or a BrokenPipeError
    (stdout's reader went away); its cause is what `nngraph.cli.run` reports."""

SUMMARY_LIMIT = 200  # a command's summary in the top-level list: its first sentence, wrapped, not cut


class PlainGroup(TyperGroup):
    """The top level: usage, what nngraph is, its options, its commands, the exit codes."""

    def format_help(self, ctx, formatter) -> None:
        self.format_usage(ctx, formatter)
        _write_help_text(self.help, formatter)
        _write_options(self, ctx, formatter)
        rows = [(name, command.get_short_help_str(SUMMARY_LIMIT))
                for name, command in ((n, self.get_command(ctx, n)) for n in self.list_commands(ctx))
                if command is not None and not command.hidden]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
        with formatter.section("Exit codes"):
            formatter.write_dl([(str(code), meaning) for code, meaning in EXIT_CODES])


class PlainCommand(TyperCommand):
    """One command: usage with its arguments by name, its help, its arguments and options."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as e:
            raise CommandInterrupted() from e
        except (EOFError, BrokenPipeError) as e:
            raise CommandFailed() from e

    def collect_usage_pieces(self, ctx) -> list[str]:
        return ["[OPTIONS]"] + [_metavar(p) for p in self.get_params(ctx) if p.param_type_name == "argument"]

    def format_help(self, ctx, formatter) -> None:
        self.format_usage(ctx, formatter)
        _write_help_text(self.help, formatter)
        arguments = [(_metavar(p), p.help or "") for p in self.get_params(ctx) if p.param_type_name == "argument"]
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        _write_options(self, ctx, formatter)


def _write_help_text(text: str | None, formatter) -> None:
    if text:
        formatter.write_paragraph()
        with formatter.indentation():
            formatter.write_text(text.strip())


def _write_options(command, ctx, formatter) -> None:
    rows = [_option_row(p) for p in command.get_params(ctx)
            if p.param_type_name == "option" and not getattr(p, "hidden", False)]
    with formatter.section("Options"):
        formatter.write_dl(rows)


def _option_row(option) -> tuple[str, str]:
    names = ", ".join(sorted(option.opts, key=len))  # `-q, --quiet`
    if not option.is_flag:
        names += f" {_metavar(option)}"
    notes = [text for text in (_range_text(option), _default_text(option)) if text]
    return names, " ".join([option.help or ""] + [f"[{note}]" for note in notes]).strip()


def _metavar(param) -> str:
    return param.metavar or param.name.upper()


def _range_text(option) -> str | None:
    bounds = option if hasattr(option, "min") else getattr(option, "type", None)  # typer >= 0.2x, or click's IntRange
    low, high = getattr(bounds, "min", None), getattr(bounds, "max", None)
    if low is not None and high is not None:
        return f"{low:g} to {high:g}"
    if low is not None:
        return f"at least {low:g}"
    return f"at most {high:g}" if high is not None else None


def _default_text(option) -> str | None:
    if option.is_flag or option.required or option.default in (None, (), []) or not option.show_default:
        return None
    return f"default: {option.default}"
